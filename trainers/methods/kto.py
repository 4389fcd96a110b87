"""kto: KTO on unpaired desirable/undesirable rows, against the frozen parent as reference (TRL's KTOTrainer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from evalsuite.errors import DataError
from evalsuite.trainers import data as data_mod
from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import Inputs, Prepared, StageRun, register_method
from evalsuite.trainers.methods.finetune import FinetuneMethod
from evalsuite.trainers.settings import FinetuneSettings


class KTOStage(FinetuneSettings):
    """KTO on unpaired rows (`messages` + boolean `label`, or pairs split into desirable/undesirable)."""

    method: Literal["kto"]
    beta: float = Field(0.1, gt=0, description="KTO beta.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    desirable_weight: float = Field(1.0, gt=0, description="Loss weight of desirable rows.")
    undesirable_weight: float = Field(1.0, gt=0, description="Loss weight of undesirable rows.")


def _examples(stage: KTOStage, path: Path, rows: list[dict]) -> list[dict]:
    return data_mod.kto_examples(path, rows)


@dataclass(frozen=True)
class KTOMethod(FinetuneMethod):
    """KTO needs both kinds of row; that is checked before training."""

    def prepare(self, stage: KTOStage, inputs: Inputs, run: StageRun) -> Prepared:
        prepared = super().prepare(stage, inputs, run)
        if len({e["label"] for e in prepared.data}) < 2:
            raise DataError("kto needs both desirable (label true) and undesirable (label false) rows")
        return prepared


register_method(KTOMethod(
    name="kto", Stage=KTOStage, trl=trl_compat.kto, columns=("prompt", "completion", "label"), examples=_examples,
    reference=True, options=lambda stage: {"beta": stage.beta, "max_length": stage.max_length,
                                           "desirable_weight": stage.desirable_weight,
                                           "undesirable_weight": stage.undesirable_weight},
))
