"""load: an existing checkpoint (local directory or Hub id) as a stage of the recipe, without training."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evalsuite.trainers.methods.base import Inputs, Method, StageRun, register_method
from evalsuite.trainers.parent import resolve_parent
from evalsuite.trainers.settings import StageConfig


class LoadStage(StageConfig):
    """Use an existing checkpoint (local directory or Hub id) as a stage, without training."""

    method: Literal["load"]
    model: str = Field(description="Local checkpoint directory or Hub id.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    trust_remote_code: bool = Field(False, description="Run the model repository's own code; only for repositories you trust.")


class Load(Method):
    name = "load"
    Stage = LoadStage
    trains = False

    def inputs(self, stage: LoadStage, run: StageRun) -> Inputs:
        return Inputs(parent=resolve_parent(stage.model))


register_method(Load())
