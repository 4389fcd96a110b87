"""Probe trainer method: copies its parent checkpoint unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.methods.base import Inputs, Method, Prepared, Trained, trainable_parameters
from evalsuite.trainers.parent import load_parent, resolve_parent
from evalsuite.trainers.settings import StageConfig


class CopyStage(StageConfig):
    """Copy the parent checkpoint unchanged."""

    method: Literal["probe-copy"]
    parent: str = Field(description="Checkpoint to copy.")


class CopyParent(Method):
    name = "probe-copy"
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


COPY_METHOD = CopyParent()
