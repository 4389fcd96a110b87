"""Bad input fails before training; LoRA merge; non-finite refusal; resume after interruption; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.errors import ConfigError, DataError, ModelError
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.pipeline import run_pipeline
from evalsuite.trainers.recipe import load_recipe
from evalsuite.trainers.stage import run_stage

from .conftest import FAST, run_cli


def _recipe(data_dir, **stage):
    return load_recipe({"data_dir": str(data_dir), "stages": {"s": {**FAST, "max_steps": 2, **stage}}})


def _assert_nothing_trained(out: Path):
    assert not (out / "s" / ckpt.TRAIN_LOG).exists() and not (out / "s" / ".trainer").exists()


def test_missing_parent_fails_before_training(data_dir, tmp_path):
    recipe = _recipe(data_dir, method="dpo", parent=str(tmp_path / "no" / "such"), data=["prefs.json"])
    with pytest.raises(ModelError, match="parent checkpoint not found"):
        run_pipeline(recipe, tmp_path / "out")
    _assert_nothing_trained(tmp_path / "out")


def test_bad_rows_and_empty_data_fail_before_training(data_dir, trained, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}]))
    with pytest.raises(DataError, match=r"bad\.json: row 1: missing field 'rejected'"):
        run_pipeline(_recipe(data_dir, method="simpo", parent=trained["sft"], data=[str(bad)]), tmp_path / "out")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        run_pipeline(_recipe(data_dir, method="sft", parent=trained["sft"], data=[str(empty)]), tmp_path / "out")
    with pytest.raises(DataError, match="not found"):
        run_pipeline(_recipe(data_dir, method="sft", parent=trained["sft"], data=["nope.json"]), tmp_path / "out")
    _assert_nothing_trained(tmp_path / "out")


def test_all_prompts_too_long_is_an_error(data_dir, trained, tmp_path):
    recipe = _recipe(data_dir, method="cpo", parent=trained["sft"], data=["prefs.json"], max_prompt_length=8,
                     max_length=64)
    with pytest.raises(DataError, match="max_prompt_length=8"):
        run_pipeline(recipe, tmp_path / "out")


def test_missing_lora_target_names_the_real_layers(data_dir, trained, tmp_path):
    recipe = _recipe(data_dir, method="sft", parent=trained["sft"], data=["sft.json"],
                     lora={"target_modules": ["q_proj", "query_key_value"]})
    with pytest.raises(ConfigError, match=r"\['query_key_value'\].*q_proj"):
        run_pipeline(recipe, tmp_path / "out")
    _assert_nothing_trained(tmp_path / "out")


def test_lora_merge_gives_the_adapter_models_logits(data_dir, trained, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    recipe = _recipe(data_dir, method="dpo", parent=trained["sft"], data=["prefs.json"], lora={"r": 4, "alpha": 8},
                     max_steps=3, learning_rate=1e-2)
    out = run_pipeline(recipe, tmp_path)["s"]
    manifest = ckpt.read_manifest(out)
    assert manifest.lora["r"] == 4 and manifest.trainable_parameters < manifest.num_parameters
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(trained["sft"]), Path(out) / "adapter").eval()
    plain = AutoModelForCausalLM.from_pretrained(trained["sft"]).eval()
    ids = torch.arange(3, 23).unsqueeze(0)
    with torch.no_grad():
        merged_logits, adapter_logits, parent_logits = (m(ids).logits for m in (merged, adapted, plain))
    assert torch.allclose(merged_logits, adapter_logits, atol=1e-5)
    assert not torch.allclose(merged_logits, parent_logits, atol=1e-4)


def test_non_finite_weights_are_never_saved(trained, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(trained["sft"])
    with torch.no_grad():
        next(model.parameters())[0, 0] = float("nan")
    with pytest.raises(ModelError, match="non-finite"):
        ckpt.save_model(model, AutoTokenizer.from_pretrained(trained["sft"]), tmp_path / "bad")
    assert not list((tmp_path / "bad").glob("*.safetensors")) if (tmp_path / "bad").exists() else True


class _Crash(RuntimeError):
    pass


def test_interrupted_stage_resumes_from_its_last_saved_step(data_dir, trained, tmp_path):
    from transformers import TrainerCallback

    class CrashAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise _Crash("simulated interruption")

    recipe = _recipe(data_dir, method="sft", parent=trained["sft"], data=["sft.json"], max_steps=5, save_steps=2)
    stage, out = recipe.stages["s"], tmp_path / "s"
    with pytest.raises(_Crash):
        run_stage("s", stage, recipe.runtime, out, recipe=recipe, callbacks=(CrashAtStep3(),))
    assert ckpt.read_manifest(out) is None and (out / ".trainer" / "checkpoint-2").is_dir()
    result = run_stage("s", stage, recipe.runtime, out, recipe=recipe)
    assert result.manifest.resumed_from_step == 2
    steps = [r["step"] for r in ckpt.read_log(out) if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 5
    straight = run_stage("s", stage, recipe.runtime, tmp_path / "straight", recipe=recipe)
    assert straight.manifest.weights_sha256 == result.manifest.weights_sha256


def test_cli_single_stage_and_errors(trained, data_dir, tmp_path, capsys):
    out = tmp_path / "dpo"
    assert run_cli(["train", "dpo", "--model", trained["sft"], "--data", str(data_dir / "prefs.json"), "--out", str(out),
                 "-C", "beta=0.2", "-C", "max_steps=2", "-C", "max_length=64", "-C", "max_prompt_length=32",
                 "-C", "batch_size=4", "-C", "lora=true"]) == 0
    manifest = ckpt.read_manifest(out)
    assert manifest.config["beta"] == 0.2 and manifest.lora is not None
    with pytest.raises(ModelError, match="not found"):
        run_cli(["train", "dpo", "--model", str(tmp_path / "missing"), "--data", str(data_dir / "prefs.json"),
              "--out", str(tmp_path / "x")])
    assert run_cli(["train", "fields", "simpo"]) == 0
    assert "gamma" in capsys.readouterr().out


def test_cli_pipeline_applies_overrides_and_skips_finished_stages(data_dir, tmp_path, capsys):
    import yaml

    from .conftest import base_recipe

    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(base_recipe(data_dir)))
    argv = ["train", "pipeline", str(recipe_path), "--out", str(tmp_path / "ck"), "-C", "sft.max_steps=3"]
    assert run_cli(argv) == 0
    assert ckpt.read_manifest(tmp_path / "ck" / "sft").config["max_steps"] == 3
    capsys.readouterr()
    assert run_cli(argv) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    with pytest.raises(ConfigError, match="name the stage"):
        run_cli(["train", "pipeline", str(recipe_path), "--out", str(tmp_path / "ck"), "-C", "beta=1"])
