"""Settings shared by stage configs: the stage base, optimisation, fine-tuning, LoRA and the runtime.

Each knob is documented once, in the ``description`` of its field; ``evalsuite train fields <method>``
prints them. A method's own stage config (``evalsuite.trainers.methods.<method>``) derives from these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from evalsuite.config import StrictModel


class StageConfig(StrictModel):
    """Base of every stage config: ``method`` names the registered training method that runs it."""

    method: str


class LoraSettings(StrictModel):
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (lora_alpha); the update is scaled by alpha/r.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module name suffixes to adapt; every one must exist in the model (checked before training).",
    )
    merge: bool = Field(True, description="Save the merged weights as a plain checkpoint (the adapter is kept in adapter/).")


class Runtime(StrictModel):
    """How stages run; part of every stage's config hash except `threads`."""

    seed: int = Field(1234, description="Seed for model init, data order, dropout and sampling.")
    threads: int = Field(1, ge=1, description="torch CPU threads; 1 is fastest on a shared small machine.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses a GPU when there is one.")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Training precision; on CPU bf16 helps only >=10M-parameter models.")

    def resolved_device(self) -> str:
        """``cpu`` or ``cuda``: ``auto`` becomes ``cuda`` when torch sees a GPU."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


class TrainSettings(StageConfig):
    """Optimisation settings shared by every method that trains with a transformers Trainer."""

    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    lr_scheduler_type: str = Field("linear", description="transformers scheduler name: linear, cosine, constant, ...")
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    num_train_epochs: float = Field(1.0, gt=0, description="Epochs over the stage's data (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimiser steps; -1 means use num_train_epochs.")
    batch_size: int = Field(8, ge=1, description="Per-device batch size (rows, or packed blocks for pretrain).")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimiser step.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (useful on GPU for large models).")
    logging_steps: int = Field(5, ge=1, description="Write a line to train_log.jsonl every this many steps.")
    save_steps: int = Field(50, ge=1, description="Save a resumable trainer checkpoint every this many steps.")
    max_rows: int | None = Field(None, ge=1, description="Use at most this many rows of the stage data (after filtering).")
    lora: LoraSettings | None = Field(None, description="Train a LoRA adapter instead of all weights; `true` gives defaults.")

    @field_validator("lora", mode="before")
    @classmethod
    def _lora_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    def trainer_arguments(self, runtime: Runtime, output_dir: Path) -> dict[str, Any]:
        """TrainingArguments fields common to every TRL config; precision and device are always explicit."""
        device = runtime.resolved_device()
        return dict(
            output_dir=str(output_dir), learning_rate=self.learning_rate,
            lr_scheduler_type=self.lr_scheduler_type, warmup_steps=self.warmup_ratio, weight_decay=self.weight_decay,
            num_train_epochs=self.num_train_epochs, max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
            max_grad_norm=self.max_grad_norm, gradient_checkpointing=self.gradient_checkpointing,
            logging_steps=self.logging_steps, logging_first_step=True, save_strategy="steps", save_steps=self.save_steps,
            save_total_limit=1, seed=runtime.seed, data_seed=runtime.seed,
            bf16=runtime.precision == "bf16", fp16=runtime.precision == "fp16", use_cpu=device == "cpu",
            report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        )


class FinetuneSettings(TrainSettings):
    """Settings of a method that starts from a parent checkpoint and trains on data files."""

    parent: str = Field(description="Stage name in this recipe, checkpoint directory, or Hub id to start from.")
    data: list[str] = Field(min_length=1, description="Data files (json/jsonl), resolved against the recipe's data_dir.")
    max_length: int = Field(512, ge=16, description="Longest prompt+completion in tokens.")
    max_prompt_length: int = Field(256, ge=8, description="Longest prompt in tokens; longer prompts are handled by long_prompts.")
    long_prompts: Literal["drop", "truncate"] = Field(
        "drop",
        description="What to do with a prompt over max_prompt_length: drop the row, or cut the last prompt turn to fit. Counts go to the manifest.",
    )

    @model_validator(mode="after")
    def _prompt_leaves_room(self):
        if self.max_prompt_length > self.max_length - 8:
            raise ValueError(
                f"max_prompt_length ({self.max_prompt_length}) must leave at least 8 tokens for the completion "
                f"within max_length ({self.max_length}); an empty completion turns length-normalised losses into NaN"
            )
        return self
