"""One registration is all a new training method needs: a throwaway method, registered at runtime in
TRAINER_METHODS and defined nowhere in evalsuite, runs through a recipe and through `evalsuite train`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from evalsuite.errors import ConfigError
from evalsuite.registry import TRAINER_METHODS
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.methods.base import Inputs, Method, Prepared, Trained, register_method, trainable_parameters
from evalsuite.trainers.parent import load_parent, resolve_parent
from evalsuite.trainers.pipeline import run_pipeline
from evalsuite.trainers.recipe import load_recipe
from evalsuite.trainers.settings import StageConfig

from .conftest import run_cli


class CopyStage(StageConfig):
    """Copy the parent checkpoint unchanged."""

    method: Literal["copy_parent"]
    parent: str = Field(description="Checkpoint to copy.")


class CopyParent(Method):
    name = "copy_parent"
    Stage = CopyStage
    model_field = "parent"

    def inputs(self, stage, run):
        parent = resolve_parent(stage.parent, run.stage_outputs)
        return Inputs(parent=parent, parent_hash=ckpt.weights_sha256(parent))

    def prepare(self, stage, inputs, run):
        model, tokenizer, notes = load_parent(inputs.parent, run.runtime)
        return Prepared(files=[], model=model, tokenizer=tokenizer, notes=notes)

    def train(self, stage, prepared, run):
        return Trained(prepared.model, prepared.tokenizer, trainable_parameters(prepared.model))


register_method(CopyParent())


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def _same_weights(a, b) -> bool:
    x, y = _tensors(a), _tensors(b)
    return x.keys() == y.keys() and all((x[k] == y[k]).all() for k in x)


def test_registered_method_runs_in_a_recipe_after_a_load_stage(trained, tmp_path):
    recipe = {"stages": {"base": {"method": "load", "model": trained["sft"]},
                         "copy": {"method": "copy_parent", "parent": "base"}}}
    seen = []
    paths = run_pipeline(recipe, tmp_path, on_stage=seen.append)
    manifest = ckpt.read_manifest(paths["copy"])
    assert manifest.method == "copy_parent" and manifest.parent.path == trained["sft"]
    assert manifest.parent.weights_sha256 == ckpt.weights_sha256(trained["sft"])
    assert _same_weights(trained["sft"], paths["copy"])
    assert [r.skipped for r in seen] == [True, False]
    seen.clear()
    run_pipeline(recipe, tmp_path, on_stage=seen.append)
    assert [r.skipped for r in seen] == [True, True]


def test_registered_method_gets_a_cli_command_fields_and_validation(trained, tmp_path, capsys):
    assert "copy_parent" in TRAINER_METHODS.names()
    out = tmp_path / "copy"
    assert run_cli(["train", "copy_parent", "--model", trained["sft"], "--out", str(out)]) == 0
    assert ckpt.read_manifest(out).method == "copy_parent" and _same_weights(trained["sft"], out)
    assert run_cli(["train", "fields", "copy_parent"]) == 0
    printed = capsys.readouterr().out
    assert "Copy the parent checkpoint unchanged." in printed and "parent (default required): Checkpoint to copy." in printed
    with pytest.raises(ConfigError, match=r"stages\.c\.bogus: unknown field"):
        load_recipe({"stages": {"c": {"method": "copy_parent", "parent": "p", "bogus": 1}}})
