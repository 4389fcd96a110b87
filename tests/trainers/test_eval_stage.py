"""Evaluation during a bundled-trainer stage (recipe `eval:`): train_log.jsonl lines, manifest pointer, alarms."""

from __future__ import annotations

import json
import logging

import pytest

from evalsuite.errors import ConfigError

from .conftest import FAST

pytest.importorskip("trl")


def _eval(tmp_path, **extra) -> dict:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ("say cat", "say dog")), encoding="utf-8")
    return {"every": 2, "tasks": ["generate"], "prompt_set": str(prompts), "prompts": 2, "samples": 3,
            "max_new_tokens": 6, "n_boot": 10, "store": str(tmp_path / "store.sqlite"), **extra}


def _sft(trained, data_dir, tmp_path, **extra):
    from evalsuite.trainers.recipe import load_recipe

    recipe = load_recipe({"data_dir": str(data_dir), "stages": {"sft": {
        "method": "sft", "parent": trained["base"], "data": ["sft.json"], **FAST, "max_steps": 6, "learning_rate": 1e-3,
        **extra}}})
    return recipe


def test_stage_with_eval_logs_each_step_and_points_the_manifest_at_the_records(trained, data_dir, tmp_path):
    from evalsuite.results import load_result
    from evalsuite.trainers import checkpoint as ckpt
    from evalsuite.trainers.stage import run_stage

    recipe = _sft(trained, data_dir, tmp_path, eval=_eval(tmp_path))
    result = run_stage("sft", recipe.stages["sft"], recipe.runtime, tmp_path / "sft", recipe=recipe)
    manifest = ckpt.read_manifest(tmp_path / "sft")
    assert manifest.evals is not None and manifest.evals.steps == [0, 2, 4, 6] and manifest.evals.stop_reason is None
    lines = [r for r in ckpt.read_log(tmp_path / "sft") if "eval_generate/distinct_2.within" in r]
    assert [r["step"] for r in lines] == [0, 2, 4, 6]
    assert sum("loss" in r for r in ckpt.read_log(tmp_path / "sft")) == 6  # the trainer's own lines, one per step
    for line, step in zip(lines, manifest.evals.steps):
        record = load_result(tmp_path / "sft" / manifest.evals.folder / f"step-{step:06d}" / "summary.json")
        assert record.value("distinct_2.within").value == line["eval_generate/distinct_2.within"]
        assert record.value("self_bleu_4.across").value == line["eval_generate/self_bleu_4.across"]
    assert manifest.metrics["eval_generate/distinct_2.within"]["n"] == 4
    assert result.skipped is False
    _check_curves(tmp_path, manifest.evals.steps)


def _check_curves(root, steps):
    """The report's curves read the same numbers and intervals as the task runs hold."""
    from evalsuite.reports.training_curves import curve_frame, html_section

    frame = curve_frame(root)
    line = frame[(frame.stage == "sft") & (frame.metric == "self_bleu_4.across")]
    assert list(line.step) == steps
    for step, low, high, value in zip(line.step, line.ci_low, line.ci_high, line.value):
        scores = json.loads((root / "sft" / "evals" / f"step-{step:06d}" / "generate" / "results.json").read_text())["scores"]
        assert [low, high] == scores["across"]["self_bleu_4"]["ci"] and value == scores["across"]["self_bleu_4"]["value"]
    section = html_section(root, assets=root / "report")
    assert "<h2>During training</h2>" in section and "data:image/png;base64," in section
    assert (root / "report" / "step_curves.svg").is_file()
    assert "generate · distinct_2.within" in section


def test_alarm_stops_the_stage_when_the_model_is_forced_to_repeat(trained, data_dir, tmp_path, caplog):
    """From step 2 a hook makes one token win every position: distinct-2 within prompts collapses."""
    from transformers import AutoTokenizer, TrainerCallback

    from evalsuite.trainers import checkpoint as ckpt
    from evalsuite.trainers.stage import run_stage

    token = AutoTokenizer.from_pretrained(trained["base"])("cat", add_special_tokens=False)["input_ids"][0]

    class ForceRepeat(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:
                def boost(module, inputs, output):
                    output[..., token] += 1e4
                    return output
                model.lm_head.register_forward_hook(boost)

    alarms = [{"metric": "distinct_2.within", "drop_from_start": 0.3, "stop": True},
              {"metric": "self_bleu_4.across", "above": 2.0}]  # never crossed
    recipe = _sft(trained, data_dir, tmp_path, eval=_eval(tmp_path, alarms=alarms))
    with caplog.at_level(logging.WARNING, logger="evalsuite.trainers.eval"):
        run_stage("sft", recipe.stages["sft"], recipe.runtime, tmp_path / "sft", recipe=recipe, callbacks=(ForceRepeat(),))
    manifest = ckpt.read_manifest(tmp_path / "sft")
    assert manifest.evals.steps == [0, 2]
    assert "distinct_2.within" in manifest.evals.stop_reason and "stopping the stage" in manifest.evals.stop_reason
    assert max(r["step"] for r in ckpt.read_log(tmp_path / "sft")) == 2  # trained no further
    warning = next(r.getMessage() for r in caplog.records if "distinct_2.within" in r.getMessage())
    first, second = (json.loads((tmp_path / "sft" / "evals" / f"step-{s:06d}" / "summary.json").read_text()) for s in (0, 2))
    start = next(m["value"] for m in first["metrics"] if m["metric"] == "distinct_2.within")
    now = next(m["value"] for m in second["metrics"] if m["metric"] == "distinct_2.within")
    assert now < start - 0.3
    assert f"{now:.4f}" in warning and f"{start:.4f}" in warning
    assert [a["metric"] for a in second["alarms"]] == ["distinct_2.within"]


def test_eval_settings_are_validated_strictly():
    from evalsuite.trainers.recipe import load_recipe

    def stage(**eval_):
        return {"stages": {"s": {"method": "sft", "parent": "p", "data": ["d.json"], "eval": eval_}}}

    assert load_recipe({"stages": {"s": {"method": "sft", "parent": "p", "data": ["d.json"], "eval": True}}}).stages["s"].eval.every == 25
    with pytest.raises(ConfigError, match="evry"):
        load_recipe(stage(evry=5))
    with pytest.raises(ConfigError, match="distinct_two"):
        load_recipe(stage(alarms=[{"metric": "distinct_two.within", "above": 0.5}]))
    with pytest.raises(ConfigError, match="exactly one of"):
        load_recipe(stage(alarms=[{"metric": "distinct_2.within", "above": 0.5, "below": 0.1}]))
    with pytest.raises(ConfigError, match="not among eval tasks"):
        load_recipe(stage(tasks=["generate"], alarms=[{"metric": "acc", "task": "mmlu", "below": 0.2}]))


@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_preference_and_grpo_stages_train_the_same_weights_with_eval(trained, data_dir, tmp_path, method):
    """GRPO samples from the torch RNG while training and DPO keeps a reference model: both unchanged by eval."""
    from evalsuite.trainers import checkpoint as ckpt
    from evalsuite.trainers.recipe import load_recipe
    from evalsuite.trainers.stage import run_stage

    stage = {"dpo": {"method": "dpo", "data": ["prefs.json"]},
             "grpo": {"method": "grpo", "data": ["sft.json"], "num_generations": 2, "max_completion_length": 8,
                      "max_prompt_length": 32, "max_length": 48, "batch_size": 2, "rewards": {"distinct_n": 1.0}}}[method]
    hashes = []
    for name, extra in (("plain", {}), ("evaluated", {"eval": _eval(tmp_path, every=1)})):
        recipe = load_recipe({"data_dir": str(data_dir), "stages": {method: {
            **FAST, "parent": trained["sft"], "max_steps": 3, "learning_rate": 1e-3, **stage, **extra}}})
        run_stage(method, recipe.stages[method], recipe.runtime, tmp_path / name, recipe=recipe)
        hashes.append(ckpt.read_manifest(tmp_path / name).weights_sha256)
    assert hashes[0] == hashes[1]
    assert ckpt.read_manifest(tmp_path / "evaluated").evals.steps == [0, 1, 2, 3]
    assert hashes[0] != ckpt.weights_sha256(trained["sft"])


def test_missing_eval_prompts_fail_before_training(trained, data_dir, tmp_path):
    from evalsuite.trainers.stage import run_stage

    recipe = _sft(trained, data_dir, tmp_path, eval=_eval(tmp_path, prompt_set=str(tmp_path / "absent.jsonl")))
    with pytest.raises(ConfigError, match="absent.jsonl"):
        run_stage("sft", recipe.stages["sft"], recipe.runtime, tmp_path / "sft", recipe=recipe)
    assert not (tmp_path / "sft").exists()
