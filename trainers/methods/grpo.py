"""grpo: GRPO with TRL's GRPOTrainer, rewards from the reward registry weighted as the recipe says."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from evalsuite.trainers import data as data_mod
from evalsuite.trainers import rewards, trl_compat
from evalsuite.trainers.methods.base import register_method
from evalsuite.trainers.methods.finetune import FinetuneMethod
from evalsuite.trainers.settings import FinetuneSettings


class GRPOStage(FinetuneSettings):
    """GRPO with rewards from the registry (evalsuite.trainers.rewards), weighted."""

    method: Literal["grpo"]
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
    max_length: int = Field(192, ge=16, description="Bound on prompt + completion: max_prompt_length + max_completion_length must fit.")
    rewards: dict[str, float] = Field(
        default_factory=lambda: {"diversity_entropy": 1.0},
        description="Reward name -> weight; names come from the reward registry.",
    )
    reward_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-reward keyword options, e.g. {similarity_penalty: {threshold: 0.8}}."
    )
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the group).")
    max_completion_length: int = Field(48, ge=1, description="Longest sampled completion in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    kl_beta: float = Field(0.0, ge=0, description="KL penalty against the parent (TRL's beta; 0 loads no reference).")
    batch_size: int = Field(8, ge=1, description="Completions per device batch; must be a multiple of num_generations.")

    @model_validator(mode="after")
    def _groups_fit(self):
        if self.max_prompt_length + self.max_completion_length > self.max_length:
            raise ValueError(
                f"max_prompt_length ({self.max_prompt_length}) + max_completion_length ({self.max_completion_length}) "
                f"exceeds max_length ({self.max_length})"
            )
        if self.batch_size * self.gradient_accumulation_steps % self.num_generations:
            raise ValueError(
                f"batch_size*gradient_accumulation_steps ({self.batch_size}*{self.gradient_accumulation_steps}) "
                f"must be a multiple of num_generations ({self.num_generations})"
            )
        return self


def _examples(stage: GRPOStage, path: Path, rows: list[dict]) -> list[dict]:
    return data_mod.prompt_examples(path, rows)


def _options(stage: GRPOStage) -> dict[str, Any]:
    return {"num_generations": stage.num_generations, "max_completion_length": stage.max_completion_length,
            "temperature": stage.temperature, "beta": stage.kl_beta,
            "reward_weights": [float(weight) for weight in stage.rewards.values()]}


def _reward_funcs(stage: GRPOStage) -> dict[str, Any]:
    funcs, _weights = rewards.trl_reward_funcs(stage.rewards, stage.reward_options)
    return {"reward_funcs": funcs}


register_method(FinetuneMethod(
    name="grpo", Stage=GRPOStage, trl=trl_compat.grpo, columns=("prompt", "answer"), examples=_examples,
    options=_options, extra=_reward_funcs,
))
