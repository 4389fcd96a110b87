"""EvalCallback inside a plain TRL SFTTrainer: training is unchanged, and the per-step numbers are the ones
`evalsuite run` gives for the same weights."""

from __future__ import annotations

import json
import sqlite3

import pytest

from .conftest import shared_data_dir

pytest.importorskip("trl")

SMALL = {"every": 2, "subjects": 2, "items": 2, "prompts": 2, "samples": 2, "max_new_tokens": 6, "n_boot": 20}


@pytest.fixture(scope="module")
def real_data():
    folder = shared_data_dir()
    if folder is None or not (folder / "benchmarks" / "mmlu").is_dir():
        pytest.skip("needs the shared data folder (MMLU and AlpacaEval prompts)")
    return folder


def _train(model_dir, out_dir, callbacks_for=lambda trainer: [], steps=6):
    """A plain TRL SFTTrainer (not evalsuite's wrapper) on a tiny model with dropout, across an epoch boundary."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Dropout makes the weights depend on the torch RNG: a callback that disturbed it would change them.
    model = AutoModelForCausalLM.from_pretrained(model_dir, attention_dropout=0.2)
    words = "the cat sat on a red mat and ran".split()
    dataset = Dataset.from_list([{"prompt": f"say {w}", "completion": f" {w} {w} {w}"} for w in words[:8]])
    args = SFTConfig(output_dir=str(out_dir), max_steps=steps, per_device_train_batch_size=2, learning_rate=5e-3,
                     report_to="none", use_cpu=True, logging_steps=1, save_strategy="no", disable_tqdm=True,
                     max_length=32, seed=7, data_seed=7)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    for callback in callbacks_for(trainer):
        trainer.add_callback(callback)
    trainer.train()
    return trainer


def _weights(trainer):
    return {name: p.detach().clone() for name, p in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def runs(tiny_model, real_data, tmp_path_factory):
    """The same training without a callback, with EvalCallback, and with a callback that draws random numbers."""
    import torch
    from transformers import TrainerCallback

    from evalsuite.trainers import EvalCallback

    root = tmp_path_factory.mktemp("evalcb")
    store = root / "store.sqlite"

    class Disturb(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            torch.rand(3)

    settings = {**SMALL, "store": str(store), "tasks": ["mmlu", "generate"]}
    plain = _train(tiny_model, root / "plain")
    made = []

    def judge(context):
        """A stand-in for a judge over this step's samples: the number of characters answered."""
        from evalsuite.jsonl import read_jsonl

        assert context.runs["generate"].backend_config["step"] == context.step
        return {"characters": sum(len(s["response"]) for s in read_jsonl(context.folder / "generate" / "samples.jsonl"))}

    def evaluator(trainer):
        made.append(EvalCallback(settings, trainer=trainer, stage="sft", data_dir=real_data, hooks=(judge,)))
        return made

    evaluated = _train(tiny_model, root / "evaluated", evaluator)
    disturbed = _train(tiny_model, root / "disturbed", lambda trainer: [Disturb()])
    return {"plain": plain, "evaluated": evaluated, "disturbed": disturbed, "callback": made[0], "root": root,
            "store": store}


def test_training_with_the_callback_gives_bitwise_identical_weights(runs):
    import torch

    plain, evaluated = _weights(runs["plain"]), _weights(runs["evaluated"])
    assert plain.keys() == evaluated.keys()
    assert all(torch.equal(plain[k], evaluated[k]) for k in plain)
    assert evaluated["model.norm.weight"].ne(1).any(), "training did not move the weights"
    # The comparison can fail: one extra draw from the torch RNG per step changes the weights.
    disturbed = _weights(runs["disturbed"])
    assert not all(torch.equal(plain[k], disturbed[k]) for k in plain)
    assert runs["evaluated"].model.training == runs["plain"].model.training


def test_records_per_step_in_the_store_on_disk_and_in_the_trainer_log(runs):
    from evalsuite.results import load_result, load_run

    callback, out = runs["callback"], runs["root"] / "evaluated"
    assert [r.step for r in callback.records] == [0, 2, 4, 6]
    for record in callback.records:
        folder = out / "evals" / f"step-{record.step:06d}"
        again = load_result(folder / "summary.json")
        assert again.kind == "train_eval" and again.step == record.step and again.stage == "sft"
        assert {m.metric for m in again.metrics} >= {"acc", "distinct_2.within", "self_bleu_4.across"}
        for task in ("mmlu", "generate"):
            run = load_run(folder / again.runs[task])
            assert run.backend_config["step"] == record.step and run.backend_config["stage"] == "sft"
        assert again.model["weights_sha256"] == record.model["weights_sha256"]
    # Different weights, different store keys: four steps x two tasks, every item stored under its own run.
    with sqlite3.connect(runs["store"]) as db:
        keys = {row[0] for row in db.execute("SELECT model FROM runs")}
        items = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert len(keys) == 4
    assert items == 4 * (2 * 2 + 2)  # per step: 2 subjects x 2 questions + 2 prompts
    from evalsuite.jsonl import read_jsonl

    for record in callback.records:  # the hook's number joins the step's metrics and the log
        samples = read_jsonl(out / "evals" / f"step-{record.step:06d}" / "generate" / "samples.jsonl")
        assert record.value("characters", "judge").value == sum(len(s["response"]) for s in samples)
    logged = [h for h in runs["evaluated"].state.log_history if "eval_mmlu/acc" in h]
    assert all("eval_judge/characters" in h for h in logged)
    assert [h["step"] for h in logged] == [0, 2, 4, 6]
    assert logged[-1]["eval_generate/distinct_2.within"] == callback.records[-1].value("distinct_2.within").value
    # The trainer's own lines are those of the run without the callback: it logs through the base class, so
    # TRL's log() does not flush the metrics it averages (entropy, token accuracy) into the callback's lines.
    def own(trainer):
        return [{k: v for k, v in h.items() if not k.startswith("train_")} for h in trainer.state.log_history
                if not any(k.startswith("eval_") for k in h)]

    assert own(runs["evaluated"]) == own(runs["plain"])
    assert any("mean_token_accuracy" in h for h in own(runs["plain"]))


def test_last_step_numbers_equal_evalsuite_run_on_the_saved_checkpoint(runs, real_data, tmp_path):
    """Same exactness as `evalsuite run`: the step-6 numbers equal a separate run on the saved weights."""
    from evalsuite.backends import load_backend
    from evalsuite.data import DataRoots
    from evalsuite.jsonl import read_jsonl
    from evalsuite.runner import evaluate
    from evalsuite.store import ResultStore
    from evalsuite.trainers.eval_steps import build_tasks
    from evalsuite.trainers.settings import EvalSettings

    trainer, callback = runs["evaluated"], runs["callback"]
    trainer.model.save_pretrained(tmp_path / "ckpt", safe_serialization=True)
    trainer.processing_class.save_pretrained(tmp_path / "ckpt")
    backend = load_backend("hf", {"model": str(tmp_path / "ckpt")})
    tasks = build_tasks(EvalSettings(**SMALL), DataRoots.from_root(real_data), chat_template=False)
    step = runs["root"] / "evaluated" / "evals" / "step-000006"
    with ResultStore(tmp_path / "fresh.sqlite") as store:
        for name, task in tasks.items():
            record = evaluate(task, backend, store, out_dir=tmp_path / name)
            assert record.timings.items_computed == record.timings.items_total  # nothing reused
            live, saved = read_jsonl(step / name / "samples.jsonl"), read_jsonl(tmp_path / name / "samples.jsonl")
            assert len(live) == len(saved) > 0
            if name == "mmlu":
                assert [s["prediction"] for s in live] == [s["prediction"] for s in saved]
                assert all(abs(a - b) < 1e-5 for x, y in zip(live, saved) for a, b in zip(x["loglikelihoods"], y["loglikelihoods"]))
            else:
                assert [s["response"] for s in live] == [s["response"] for s in saved]
    last = callback.records[-1]
    assert last.value("acc").value == pytest.approx(json.loads((tmp_path / "mmlu" / "results.json").read_text())["scores"]["overall"]["acc"])


def test_fingerprint_follows_the_weights_or_the_run_and_step(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    from evalsuite.trainers import EvalCallback

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    by_weights = EvalCallback({"fingerprint": "weights"})
    same = by_weights._fingerprint(model, 2).weights_sha256
    assert by_weights._fingerprint(model, 4).weights_sha256 == same  # same weights: stored rows are reused
    with torch.no_grad():
        weight = model.model.norm.weight
        weight[0] = torch.nextafter(weight[0], torch.tensor(2.0))  # one ulp
    assert by_weights._fingerprint(model, 2).weights_sha256 != same
    by_step, other_run = EvalCallback({"fingerprint": "step"}), EvalCallback({"fingerprint": "step"})
    keys = {by_step._fingerprint(model, 2).weights_sha256, by_step._fingerprint(model, 4).weights_sha256,
            other_run._fingerprint(model, 2).weights_sha256}
    assert len(keys) == 3
