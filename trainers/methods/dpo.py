"""dpo: DPO with the sigmoid loss against the frozen parent as reference (TRL's DPOTrainer)."""

from __future__ import annotations

from typing import Literal

from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.preference import PreferenceMethod, PreferenceSettings


class DPOStage(PreferenceSettings):
    """DPO, sigmoid loss, against the frozen parent as reference."""

    method: Literal["dpo"]


register_method(PreferenceMethod(
    name="dpo", Stage=DPOStage, trl=trl_compat.dpo, reference=True,
    options=lambda stage: {"loss_type": ["sigmoid"], "truncation_mode": "keep_start"},
))
