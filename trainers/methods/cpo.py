"""cpo: CPO, a reference-free sigmoid preference loss plus a behaviour-cloning NLL term (TRL's CPOTrainer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.preference import PreferenceMethod, PreferenceSettings


class CPOStage(PreferenceSettings):
    """CPO: reference-free sigmoid preference loss plus its behaviour-cloning NLL term."""

    method: Literal["cpo"]
    cpo_alpha: float = Field(1.0, ge=0, description="Weight of the NLL term on the chosen responses.")


register_method(PreferenceMethod(
    name="cpo", Stage=CPOStage, trl=trl_compat.cpo,
    options=lambda stage: {"loss_type": "sigmoid", "cpo_alpha": stage.cpo_alpha},
))
