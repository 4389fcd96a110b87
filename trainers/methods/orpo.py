"""orpo: ORPO, NLL plus beta times the odds-ratio preference term (TRL's ORPOTrainer)."""

from __future__ import annotations

from typing import Literal

from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.preference import PreferenceMethod, PreferenceSettings


class ORPOStage(PreferenceSettings):
    """ORPO: NLL plus beta times the odds-ratio preference term."""

    method: Literal["orpo"]


register_method(PreferenceMethod(name="orpo", Stage=ORPOStage, trl=trl_compat.orpo))
