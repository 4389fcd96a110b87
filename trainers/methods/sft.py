"""sft: supervised fine-tuning with TRL's SFTTrainer on prompt/completion rows; loss on the completion only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from evalsuite.trainers import data as data_mod
from evalsuite.trainers import trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.finetune import FinetuneMethod
from evalsuite.trainers.settings import FinetuneSettings


class SFTStage(FinetuneSettings):
    """Supervised fine-tuning on Alpaca, ShareGPT `conversations`, or `messages` rows; loss on the reply only."""

    method: Literal["sft"]
    learning_rate: float = Field(3e-4, gt=0, description="Peak learning rate.")


def _examples(stage: SFTStage, path: Path, rows: list[dict]) -> list[dict]:
    return data_mod.sft_examples(path, rows)


register_method(FinetuneMethod(
    name="sft", Stage=SFTStage, trl=trl_compat.sft, columns=("prompt", "completion"), examples=_examples,
    options=lambda stage: {"max_length": stage.max_length, "completion_only_loss": True, "packing": False},
))
