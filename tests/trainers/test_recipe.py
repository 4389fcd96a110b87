from pathlib import Path

import pytest

from evalsuite.errors import ConfigError
from evalsuite.trainers.methods.dpo import DPOStage
from evalsuite.trainers.recipe import expand_env, load_recipe, stage_from_options
from evalsuite.trainers.settings import LoraSettings

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["demo.yaml", "gpu.yaml"])
def test_bundled_recipes_validate(name):
    recipe = load_recipe(RECIPES / name)
    order = recipe.order()
    for stage_name in order:
        parent = getattr(recipe.stages[stage_name], "parent", None)
        if parent in recipe.stages:
            assert order.index(parent) < order.index(stage_name)


def test_demo_recipe_has_the_six_checkpoints_and_long_context():
    recipe = load_recipe(RECIPES / "demo.yaml")
    assert {s.method for s in recipe.stages.values()} == {"pretrain", "sft", "dpo", "simpo", "cpo", "grpo"}
    assert recipe.stages["base"].max_position_embeddings >= 4096
    assert "train/alpaca_zh_demo.json" in recipe.stages["base"].tokenizer_corpora


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown training method 'ppo'"):
        stage_from_options("ppo", {})
    with pytest.raises(ConfigError, match="method"):
        load_recipe({"stages": {"x": {"method": "ppo", "parent": "a", "data": ["d.json"]}}})


def test_unknown_field_names_the_field():
    with pytest.raises(ConfigError, match="betta"):
        stage_from_options("dpo", {"parent": "p", "data": ["d.json"], "betta": 0.1})


def test_lora_true_gives_default_settings_and_runtime_keys_split_off():
    runtime, stage = stage_from_options("dpo", {"parent": "p", "data": ["d.json"], "beta": 0.3, "lora": True, "seed": 7})
    assert isinstance(stage, DPOStage) and stage.beta == 0.3
    assert stage.lora == LoraSettings()
    assert runtime.seed == 7


def test_prompt_must_leave_room_for_the_completion():
    with pytest.raises(ConfigError, match="max_prompt_length"):
        stage_from_options("simpo", {"parent": "p", "data": ["d.json"], "max_length": 64, "max_prompt_length": 60})


def test_grpo_batch_must_hold_whole_groups():
    with pytest.raises(ConfigError, match="num_generations"):
        stage_from_options("grpo", {"parent": "p", "data": ["d.json"], "batch_size": 6, "num_generations": 4})


def test_env_expansion(monkeypatch):
    monkeypatch.setenv("EVALSUITE_DATA_DIR", "/data")
    assert expand_env("${EVALSUITE_DATA_DIR}/train/x.json") == "/data/train/x.json"
    monkeypatch.delenv("EVALSUITE_DATA_DIR")
    assert expand_env("${EVALSUITE_DATA_DIR:-../shared}/x") == "../shared/x"
    with pytest.raises(ConfigError, match="EVALSUITE_DATA_DIR is not set"):
        expand_env("${EVALSUITE_DATA_DIR}/x")


def test_relative_data_resolves_against_data_dir(tmp_path):
    recipe = load_recipe({"data_dir": str(tmp_path), "stages": {}})
    assert recipe.resolve_data("train/a.json") == tmp_path / "train" / "a.json"
    assert recipe.resolve_data("/abs/b.json") == Path("/abs/b.json")


def test_cycle_is_reported():
    stages = {"a": {"method": "sft", "parent": "b", "data": ["d"]}, "b": {"method": "sft", "parent": "a", "data": ["d"]}}
    with pytest.raises(ConfigError, match="cycle"):
        load_recipe({"stages": stages}).order()


def test_lora_on_pretrain_is_rejected():
    with pytest.raises(ConfigError, match="lora cannot be used with pretrain"):
        stage_from_options("pretrain", {"corpora": ["c.txt"], "lora": True})


def test_stage_names_become_directory_names_so_paths_are_refused():
    with pytest.raises(ConfigError, match="stage name '../x'"):
        load_recipe({"stages": {"../x": {"method": "sft", "parent": "p", "data": ["d"]}}})
