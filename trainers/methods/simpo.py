"""simpo: SimPO, a reference-free, length-normalised margin loss (TRL's CPOTrainer with loss_type="simpo")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.preference import PreferenceMethod, PreferenceSettings


class SimPOStage(PreferenceSettings):
    """SimPO: reference-free, length-normalised log-probability margin with target margin gamma."""

    method: Literal["simpo"]
    beta: float = Field(2.0, gt=0, description="SimPO reward scale (the paper uses 2.0-2.5).")
    gamma: float = Field(0.5, ge=0, description="Target reward margin gamma, as the ratio gamma/beta (TRL's simpo_gamma).")
    cpo_alpha: float = Field(0.0, ge=0, description="Weight of an added NLL (behaviour cloning) term; 0 is pure SimPO.")


register_method(PreferenceMethod(
    name="simpo", Stage=SimPOStage, trl=trl_compat.cpo,
    options=lambda stage: {"loss_type": "simpo", "simpo_gamma": stage.gamma, "cpo_alpha": stage.cpo_alpha},
))
