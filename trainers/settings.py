"""Settings shared by stage configs: the stage base, optimisation, fine-tuning, LoRA and the runtime.

Each knob is documented once, in the ``description`` of its field; ``evalsuite train fields <method>``
prints them. A method's own stage config (``evalsuite.trainers.methods.<method>``) derives from these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from evalsuite.config import StrictModel
from evalsuite.metrics import names


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


class AlarmSettings(StrictModel):
    """A threshold on one metric of the evaluations during training; crossing it logs a warning with the numbers."""

    metric: str = Field(description="Qualified metric name (evalsuite.metrics.names): acc, distinct_2.within, self_bleu_4.across, ...")
    task: str | None = Field(None, description="Eval task whose metric is meant; default: the one task that reports it.")
    drop_from_start: float | None = Field(None, gt=0, description="Fires when the value falls more than this below the first evaluation.")
    rise_from_start: float | None = Field(None, gt=0, description="Fires when the value rises more than this above the first evaluation.")
    above: float | None = Field(None, description="Fires when the value exceeds this.")
    below: float | None = Field(None, description="Fires when the value falls under this.")
    stop: bool = Field(False, description="Also stop the stage early; the reason goes to the checkpoint manifest.")

    @model_validator(mode="after")
    def _one_rule_known_metric(self):
        rules = [r for r in ALARM_RULES if getattr(self, r) is not None]
        if len(rules) != 1:
            raise ValueError(f"alarm on {self.metric!r} needs exactly one of {', '.join(ALARM_RULES)}; got {rules or 'none'}")
        name, mode = names.split(self.metric)
        if name not in names.LABELS or (mode is not None and mode not in names.MODES):
            raise ValueError(f"alarm metric {self.metric!r} is not a known metric name; known: {', '.join(names.LABELS)} "
                             f"(diversity metrics with a mode: {', '.join(names.MODES)}, e.g. distinct_2.within)")
        return self

    def rule(self) -> tuple[str, float]:
        """(rule name, threshold) of the one rule that is set."""
        name = next(r for r in ALARM_RULES if getattr(self, r) is not None)
        return name, getattr(self, name)


ALARM_RULES = ("drop_from_start", "rise_from_start", "above", "below")


class EvalSettings(StrictModel):
    """Evaluation during training (evalsuite.trainers.EvalCallback): at step 0, every `every` steps and at the end,
    the live model answers a fixed seeded subset of each task through the same scoring code as `evalsuite run`."""

    every: int = Field(25, ge=1, description="Evaluate every this many optimiser steps, and at step 0.")
    at_end: bool = Field(True, description="Also evaluate after the last step when it is not a multiple of `every`.")
    tasks: list[str] = Field(default_factory=lambda: ["mmlu", "generate"], min_length=1,
                             description="Registered task names: multiple-choice tasks (mmlu, ceval) get a seeded subset, `generate` k prompts x n samples.")
    subjects: int = Field(4, ge=1, description="Multiple-choice tasks: subjects drawn (seeded) from the benchmark's list.")
    items: int = Field(4, ge=1, description="Multiple-choice tasks: questions per drawn subject (the first ones).")
    prompts: int = Field(4, ge=1, description="generate: prompts (the first k of the prompt set).")
    samples: int = Field(4, ge=2, description="generate: samples per prompt (diversity within a prompt needs two or more).")
    max_new_tokens: int = Field(32, ge=1, description="generate: longest sample in tokens.")
    temperature: float = Field(1.0, gt=0, description="generate: sampling temperature.")
    prompt_set: str = Field("alpaca_eval", description="generate: alpaca_eval, mt_bench or a JSONL/JSON file of prompts.")
    n_boot: int = Field(100, ge=1, description="Bootstrap resamples for the diversity metrics' confidence intervals.")
    seed: int = Field(0, description="Seed of the subject draw and of sampling; the same at every step, so steps compare.")
    task_params: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                   description="Task name -> parameters (as -T of `evalsuite run`), overriding the above.")
    fingerprint: Literal["weights", "step"] = Field(
        "weights", description="What keys stored results: a hash of the live weights (reused when weights repeat), or "
        "this run's stage and step (no hashing; for large models).")
    store: str | None = Field(None, description="Result store (SQLite); default: $EVALSUITE_STORE or the user cache, as `evalsuite run`.")
    log_all: bool = Field(False, description="Send every metric to trainer.log (train_log.jsonl, report_to); default: accuracy "
                          "and the headline diversity metrics. The step records always hold all of them.")
    alarms: list[AlarmSettings] = Field(default_factory=list, description="Thresholds checked after every evaluation.")

    @model_validator(mode="after")
    def _alarm_tasks(self):
        for alarm in self.alarms:
            if alarm.task is not None and alarm.task not in self.tasks:
                raise ValueError(f"alarm on {alarm.metric!r} names task {alarm.task!r}, which is not among eval tasks {self.tasks}")
        return self


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
    eval: EvalSettings | None = Field(None, description="Evaluate the live model during training (`true` gives defaults); see `evalsuite train fields eval`.")

    @field_validator("lora", mode="before")
    @classmethod
    def _lora_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @field_validator("eval", mode="before")
    @classmethod
    def _eval_flag(cls, value: Any) -> Any:
        return {} if value is True else None if value is False else value

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
