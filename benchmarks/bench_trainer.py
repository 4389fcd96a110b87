"""Trainer benchmarks, measured in one run so the ratios hold on a busy machine.

1. Wrapper overhead: SFT and DPO through ``evalsuite.trainers`` against calling TRL directly with the same
   model, data, and settings. Both sides report training tokens per second over TRL's own
   ``train_runtime``; the wrapper should cost < 5%. Runs alternate (wrapper, direct, wrapper, ...) and the
   best of each is kept.
2. Pretraining tokens/second per model size preset on this machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_trainer.py            # full
    OMP_NUM_THREADS=1 python benchmarks/bench_trainer.py --quick    # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

WORDS = "the cat dog sat on a mat ran fast slow red blue green big small house tree".split()


def _write_data(root: Path, rows: int) -> None:
    rng = random.Random(0)
    (root / "corpus.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(400)))
    sft = [{"instruction": " ".join(rng.choice(WORDS) for _ in range(12)), "input": "",
            "output": " ".join(rng.choice(WORDS) for _ in range(40))} for _ in range(rows)]
    (root / "sft.json").write_text(json.dumps(sft))
    prefs = [{"prompt": s["instruction"], "chosen": s["output"], "rejected": " ".join(reversed(s["output"].split()))}
             for s in sft]
    (root / "prefs.json").write_text(json.dumps(prefs))


@contextlib.contextmanager
def _quiet():
    """TRL prints every log line and a progress bar; keep the benchmark's table readable."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _tokens_per_second(log: list[dict]) -> tuple[float, float]:
    tokens = max(r["num_tokens"] for r in log if "num_tokens" in r)
    runtime = next(r["train_runtime"] for r in log if "train_runtime" in r)
    return tokens / runtime, runtime


def _wrapper(method: str, stage_cfg: dict, root: Path, parent: str, out: Path) -> tuple[float, float]:
    from evalsuite.trainers import checkpoint as ckpt
    from evalsuite.trainers.recipe import load_recipe
    from evalsuite.trainers.stage import run_stage

    recipe = load_recipe({"data_dir": str(root), "runtime": {"device": "cpu"},
                          "stages": {method: {"method": method, "parent": parent, **stage_cfg}}})
    run_stage(method, recipe.stages[method], recipe.runtime, out, recipe=recipe, force=True)
    return _tokens_per_second(ckpt.read_log(out))


def _direct(method: str, stage_cfg: dict, root: Path, parent: str, out: Path) -> tuple[float, float]:
    """The same training written against TRL alone, as a user without evalsuite would."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from evalsuite.trainers import trl_compat

    rows = json.loads((root / stage_cfg["data"][0]).read_text())
    tokenizer = AutoTokenizer.from_pretrained(parent)
    model = AutoModelForCausalLM.from_pretrained(parent, dtype=torch.float32)
    common = dict(output_dir=str(out), learning_rate=stage_cfg["learning_rate"], max_steps=stage_cfg["max_steps"],
                  per_device_train_batch_size=stage_cfg["batch_size"], logging_steps=stage_cfg["logging_steps"],
                  save_strategy="no", seed=1234, data_seed=1234, bf16=False, fp16=False, use_cpu=True,
                  report_to="none", gradient_checkpointing=False, max_length=stage_cfg["max_length"])
    records: list[dict] = []

    class Keep(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            records.append(dict(logs or {}))

    if method == "sft":
        data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["instruction"]}],
                                   "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows])
        Config, Trainer = trl_compat.sft()
        trainer = Trainer(model=model, args=Config(**common, completion_only_loss=True), train_dataset=data,
                          processing_class=tokenizer, callbacks=[Keep()])
    else:
        data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                                   "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                   "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
        Config, Trainer = trl_compat.dpo()
        ref = AutoModelForCausalLM.from_pretrained(parent, dtype=torch.float32).eval()
        trainer = Trainer(model=model, ref_model=ref, args=Config(**common, beta=0.1, loss_type=["sigmoid"]),
                          train_dataset=data, processing_class=tokenizer, callbacks=[Keep()])
    trainer.train()
    return _tokens_per_second(records)


def bench_wrapper(root: Path, work: Path, parent: str, steps: int, repeats: int) -> None:
    print(f"\n== wrapper vs TRL direct ({steps} steps, best of {repeats}) ==")
    print(f"{'method':<8}{'wrapper tok/s':>15}{'direct tok/s':>15}{'wrapper/direct':>16}")
    for method, data in (("sft", "sft.json"), ("dpo", "prefs.json")):
        cfg = {"data": [data], "max_steps": steps, "batch_size": 8, "learning_rate": 1e-4, "logging_steps": 1,
               "max_length": 256, "max_prompt_length": 128, "save_steps": 10_000}
        best = {"wrapper": 0.0, "direct": 0.0}
        for i in range(repeats):
            for name, fn in (("wrapper", _wrapper), ("direct", _direct)):
                with _quiet():
                    rate, _ = fn(method, cfg, root, parent, work / f"{method}-{name}-{i}")
                best[name] = max(best[name], rate)
        print(f"{method:<8}{best['wrapper']:>15.0f}{best['direct']:>15.0f}{best['wrapper'] / best['direct']:>16.3f}")


def bench_pretrain(root: Path, work: Path, sizes: list[str], steps: int) -> None:
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments, default_data_collator

    from evalsuite.trainers.chatml import chatml_tokenizer
    from evalsuite.trainers.methods import pretrain
    from evalsuite.trainers.methods.pretrain import PretrainStage

    texts = (root / "corpus.txt").read_text().splitlines()
    tokenizer = chatml_tokenizer(texts, 2000)
    print(f"\n== pretraining throughput (seq 256, batch 8, {steps} steps, {torch.get_num_threads()} thread(s)) ==")
    print(f"{'size':<8}{'params':>12}{'fp32 tok/s':>12}")
    for size in sizes:
        stage = PretrainStage(method="pretrain", corpora=["x"], size=size, vocab_size=8192, seq_len=256)
        model = pretrain.build_model(stage, tokenizer, 0)
        model.resize_token_embeddings(8192, mean_resizing=False)  # parameters at the recipe's vocabulary
        blocks = [[(i * 7 + j) % 8192 for j in range(256)] for i in range(steps * 8)]
        args = TrainingArguments(output_dir=str(work / f"pt-{size}"), max_steps=steps, per_device_train_batch_size=8,
                                 save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, logging_steps=10_000)
        trainer = Trainer(model=model, args=args, data_collator=default_data_collator,
                          train_dataset=Dataset.from_dict({"input_ids": blocks, "labels": blocks}))
        with _quiet():
            runtime = trainer.train().metrics["train_runtime"]
        params = sum(p.numel() for p in model.parameters())
        print(f"{size:<8}{params / 1e6:>11.1f}M{steps * 8 * 256 / runtime:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Few steps, one repeat, tiny size only.")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--steps", type=int, help="Training steps per wrapper/direct run (default 30, quick 8).")
    parser.add_argument("--repeats", type=int, help="Alternating runs per side; the best is kept (default 3, quick 1).")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    steps, repeats = (8, 1) if args.quick else (30, 3)
    steps, repeats = args.steps or steps, args.repeats or repeats
    sizes = ["tiny"] if args.quick else ["tiny", "small", "medium"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_data(root, 200)
        from evalsuite.trainers.recipe import load_recipe
        from evalsuite.trainers.stage import run_stage

        started = time.time()
        recipe = load_recipe({"data_dir": str(root), "runtime": {"device": "cpu"}, "stages": {"base": {
            "method": "pretrain", "corpora": ["corpus.txt"], "vocab_size": 2000, "size": "tiny", "seq_len": 128,
            "max_steps": 5, "batch_size": 8}}})
        parent = run_stage("base", recipe.stages["base"], recipe.runtime, root / "base", recipe=recipe).path
        print(f"tiny parent model built in {time.time() - started:.0f}s; machine load may vary: compare ratios only")
        bench_wrapper(root, root, parent, steps, repeats)
        bench_pretrain(root, root, sizes, 3 if args.quick else 10)


if __name__ == "__main__":
    main()
