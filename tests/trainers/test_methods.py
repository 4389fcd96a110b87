"""Every method trains a tiny model: weights change, its metric is logged and moves the right way,
the checkpoint reloads and generates, and the manifest is complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.pipeline import run_pipeline
from evalsuite.trainers.recipe import load_recipe

from .conftest import FAST, base_recipe


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def _changed(parent, child) -> bool:
    a, b = _weights(parent), _weights(child)
    assert a.keys() == b.keys()
    return any(not (a[k] == b[k]).all() for k in a)


def _series(path, key):
    return [r[key] for r in ckpt.read_log(path) if key in r]


def _generate(path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "say cat"}], add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:])


def test_base_checkpoint_is_a_loadable_chat_model(trained):
    from transformers import AutoConfig, AutoTokenizer

    base = trained["base"]
    config = AutoConfig.from_pretrained(base)
    assert config.max_position_embeddings == 4096
    tokenizer = AutoTokenizer.from_pretrained(base)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    # Chinese in the corpus gives merges for Chinese words: fewer tokens than UTF-8 bytes.
    assert len(tokenizer("红色房子", add_special_tokens=False)["input_ids"]) < len("红色房子".encode())
    _generate(base)
    losses = _series(base, "loss")
    assert losses[-1] < losses[0]


def test_manifest_is_complete(trained):
    sft = trained["sft"]
    manifest = ckpt.read_manifest(sft)
    assert manifest.method == "sft" and manifest.parent.path == trained["base"]
    assert manifest.parent.weights_sha256 == ckpt.weights_sha256(trained["base"])
    assert manifest.weights_sha256 == ckpt.weights_sha256(sft)
    assert manifest.config["max_steps"] == 6 and manifest.seeds["seed"] == 1234
    [info] = manifest.data
    assert info.path.endswith("sft.json") and len(info.sha256) == 64 and info.rows_used == info.rows > 0
    assert {"torch", "transformers", "trl"} <= manifest.packages.keys()
    assert manifest.git_commit and manifest.wall_time_s > 0
    assert manifest.metrics["loss"]["n"] >= 6
    assert json.loads((Path(sft) / ckpt.MANIFEST).read_text())["config_hash"] == manifest.config_hash
    assert _changed(trained["base"], sft)


def test_rerun_skips_finished_stages_and_same_config_reproduces_weights(data_dir, trained, tmp_path):
    recipe = base_recipe(data_dir)
    seen = []
    run_pipeline(recipe, Path(trained["base"]).parent, on_stage=seen.append)
    assert [r.skipped for r in seen] == [True, True]
    fresh = run_pipeline(recipe, tmp_path)
    assert ckpt.weights_sha256(fresh["sft"]) == ckpt.weights_sha256(trained["sft"])


def test_moving_the_data_does_not_force_retraining_but_changing_it_does(data_dir, trained, tmp_path):
    import shutil

    moved, checkpoints = tmp_path / "moved", tmp_path / "ckpt"
    shutil.copytree(data_dir, moved)
    shutil.copytree(Path(trained["base"]).parent, checkpoints)
    seen = []
    run_pipeline(base_recipe(moved), checkpoints, on_stage=seen.append)
    assert [r.skipped for r in seen] == [True, True]
    with open(moved / "sft.json", "a") as handle:
        handle.write("\n")
    seen = []
    run_pipeline(base_recipe(moved), checkpoints, on_stage=seen.append)
    assert [r.skipped for r in seen] == [True, False]


PREFERENCE = {
    "dpo": ({"beta": 0.5}, "rewards/accuracies"),
    "simpo": ({"beta": 2.0, "gamma": 0.5}, "rewards/accuracies"),
    "cpo": ({"beta": 0.5}, "rewards/accuracies"),
    "orpo": ({"beta": 0.5}, "rewards/accuracies"),
    "kto": ({"beta": 0.5}, "kl"),
}


@pytest.mark.parametrize("method", list(PREFERENCE))
def test_preference_methods_learn_the_training_pairs(method, data_dir, trained, tmp_path):
    options, metric = PREFERENCE[method]
    recipe = load_recipe({"data_dir": str(data_dir), "stages": {method: {
        "method": method, "parent": trained["sft"], "data": ["prefs.json"], **FAST, **options,
        "num_train_epochs": 4, "learning_rate": 5e-3}}})
    out = run_pipeline(recipe, tmp_path)[method]
    assert _changed(trained["sft"], out)
    assert _series(out, metric), f"{metric} not logged"
    if metric == "rewards/accuracies":
        accuracies = _series(out, metric)
        assert sum(accuracies[-4:]) / 4 > 0.5
        margins = _series(out, "rewards/margins")
        assert margins[-1] > margins[0]
    _generate(out)


def test_grpo_mean_reward_rises_with_an_easy_reward(data_dir, trained, tmp_path):
    from evalsuite.registry import REWARDS

    def says_blue(completions, *, groups, answers):
        return [float(text.count("blue")) for text in completions]

    if "test_says_blue" not in REWARDS:
        REWARDS.register("test_says_blue", says_blue)

    recipe = load_recipe({"data_dir": str(data_dir), "stages": {"grpo": {
        "method": "grpo", "parent": trained["sft"], "data": ["sft.json"], **FAST, "batch_size": 8,
        "num_generations": 4, "max_completion_length": 8, "rewards": {"test_says_blue": 1.0},
        "max_steps": 20, "learning_rate": 2e-2, "logging_steps": 1}}})
    out = run_pipeline(recipe, tmp_path)["grpo"]
    rewards = _series(out, "reward")
    assert len(rewards) >= 20
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5
    assert _changed(trained["sft"], out)
    _generate(out)


def test_an_existing_checkpoint_can_be_the_base(data_dir, trained, tmp_path):
    recipe = {"data_dir": str(data_dir), "stages": {
        "base": {"method": "load", "model": trained["sft"]},
        "sft2": {"method": "sft", "parent": "base", "data": ["sft.json"], **FAST, "max_steps": 2}}}
    paths = run_pipeline(recipe, tmp_path)
    assert paths["base"] == trained["sft"] and not (tmp_path / "base").exists()
    manifest = ckpt.read_manifest(paths["sft2"])
    assert manifest.parent.path == trained["sft"]
    assert manifest.parent.weights_sha256 == ckpt.weights_sha256(trained["sft"])


def test_pairs_sampled_from_the_parent_are_labelled(data_dir, trained, tmp_path):
    recipe = {"data_dir": str(data_dir), "stages": {"dpo": {
        "method": "dpo", "parent": trained["sft"], "data": ["sft.json"], **FAST, "max_steps": 2,
        "max_rows": 6, "pairs_from_single": "sample"}}}
    out = run_pipeline(recipe, tmp_path)["dpo"]
    manifest = ckpt.read_manifest(out)
    assert manifest.data[0].synthetic_pairs == manifest.data[0].rows_used == 6
    assert any("sampled from the parent" in note for note in manifest.notes)
    assert _changed(trained["sft"], out)
