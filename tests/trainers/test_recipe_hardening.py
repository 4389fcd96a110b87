"""Recipes read only the documented environment variables; parents load only from safetensors."""

from __future__ import annotations

import shutil

import pytest

from evalsuite.errors import ConfigError, ModelError
from evalsuite.trainers.parent import load_parent, resolve_parent
from evalsuite.trainers.recipe import RECIPE_VARIABLES, expand_env, load_recipe
from evalsuite.trainers.settings import Runtime

from .conftest import WORDS

ALLOWED = r"allowed variables: EVALSUITE_DATA_DIR"


def test_only_documented_variables_are_allowed():
    assert RECIPE_VARIABLES == ("EVALSUITE_DATA_DIR",)


def test_home_in_data_dir_is_refused_when_the_recipe_loads(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    with pytest.raises(ConfigError, match=r"uses \$\{HOME\}, which recipes may not read; " + ALLOWED) as info:
        load_recipe({"data_dir": "${HOME}/data", "stages": {}})
    assert "/home/someone" not in str(info.value)


def test_secret_variable_in_a_stage_path_is_refused_before_any_stage_trains(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-copy")
    stages = {"sft": {"method": "sft", "parent": "some/hub-model", "data": ["train/${OPENAI_API_KEY}.json"]}}
    with pytest.raises(ConfigError, match=r"\$\{OPENAI_API_KEY\}, which recipes may not read") as info:
        load_recipe({"stages": stages})
    assert "sk-do-not-copy" not in str(info.value)


def test_expand_env_refuses_other_variables(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    with pytest.raises(ConfigError, match=ALLOWED):
        expand_env("${HOME}/x")
    monkeypatch.setenv("EVALSUITE_DATA_DIR", "/data")
    assert expand_env("${EVALSUITE_DATA_DIR:-../shared}/x") == "/data/x"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from evalsuite.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), [" ".join(WORDS)] * 20, vocab_size=300)


def pickled_copy(checkpoint, out):
    """The same checkpoint with its weights saved the old way: ``pytorch_model.bin`` (a pickle), no safetensors."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(checkpoint, out, ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save(load_file(checkpoint / "model.safetensors"), out / "pytorch_model.bin")
    return out


def test_bin_only_parent_is_refused(tiny_checkpoint, tmp_path):
    pickled = pickled_copy(tiny_checkpoint, tmp_path / "bin-only")
    assert resolve_parent(str(tiny_checkpoint)) == str(tiny_checkpoint.resolve())
    with pytest.raises(ModelError, match=r"has no \.safetensors weights \(found only pytorch_model\.bin\).*loads only safetensors"):
        resolve_parent(str(pickled))
    with pytest.raises(ModelError, match=r"cannot load parent checkpoint"):
        load_parent(str(pickled), Runtime(device="cpu"))
