"""Training recipes: one YAML file describes every stage of a pipeline.

Each knob is documented once, in the ``description`` of its field; ``evalsuite
train fields <method>`` prints them. A recipe is a mapping of
stage name to stage config; every stage names its ``method`` and (except
``pretrain``/``load``) its ``parent``: another stage of the recipe, a local
checkpoint directory, or a Hub id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from evalsuite.config import StrictModel, load_yaml, validate
from evalsuite.errors import ConfigError

_STAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ENV_PATTERN = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without a default is an error."""

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ConfigError(f"{text!r} uses ${{{name}}} but {name} is not set; export it or write ${{{name}:-default}}")

    return _ENV_PATTERN.sub(replace, text)


class LoraSettings(StrictModel):
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (lora_alpha); the update is scaled by alpha/r.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module name suffixes to adapt; every one must exist in the model (checked before training).",
    )
    merge: bool = Field(True, description="Save the merged weights as a plain checkpoint (the adapter is kept in adapter/).")


class TrainSettings(StrictModel):
    """Optimisation settings shared by every method."""

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


class PretrainStage(TrainSettings):
    """Train a byte-level BPE tokenizer and a small causal LM from scratch on plain text."""

    method: Literal["pretrain"]
    corpora: list[str] = Field(description="Text corpora: .txt (one document a line), .jsonl with `text`, or .json.")
    tokenizer_corpora: list[str] | None = Field(
        None, description="Corpora the tokenizer is trained on (default: corpora); add Chinese text so C-Eval prompts stay short."
    )
    vocab_size: int = Field(8192, ge=300, description="BPE vocabulary size, special tokens included.")
    size: Literal["tiny", "small", "medium"] = Field(
        "tiny", description="Model size preset: tiny ~2M, small ~10M, medium ~30M parameters (at vocab 8192)."
    )
    hidden_size: int | None = Field(None, ge=8, description="Override the preset's hidden size.")
    num_hidden_layers: int | None = Field(None, ge=1, description="Override the preset's layer count.")
    intermediate_size: int | None = Field(None, ge=8, description="Override the preset's MLP width.")
    num_attention_heads: int | None = Field(None, ge=1, description="Override the preset's head count.")
    max_position_embeddings: int = Field(4096, ge=64, description="Longest sequence the model accepts (RoPE, so no extra weights).")
    seq_len: int = Field(256, ge=16, description="Length of the packed training blocks.")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate.")
    warmup_ratio: float = Field(0.05, ge=0, le=1, description="Fraction of steps spent warming up.")
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name.")

    @model_validator(mode="after")
    def _no_lora_from_scratch(self):
        if self.lora is not None:
            raise ValueError("lora cannot be used with pretrain: a model trained from scratch has no frozen base to adapt")
        return self


class LoadStage(StrictModel):
    """Use an existing checkpoint (local directory or Hub id) as a stage, without training."""

    method: Literal["load"]
    model: str = Field(description="Local checkpoint directory or Hub id.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    trust_remote_code: bool = Field(False, description="Run the model repository's own code; only for repositories you trust.")


class FinetuneSettings(TrainSettings):
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


class SFTStage(FinetuneSettings):
    """Supervised fine-tuning on Alpaca, ShareGPT `conversations`, or `messages` rows; loss on the reply only."""

    method: Literal["sft"]
    learning_rate: float = Field(3e-4, gt=0, description="Peak learning rate.")


class PreferenceSettings(FinetuneSettings):
    beta: float = Field(0.1, gt=0, description="Inverse temperature of the preference loss.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    pairs_from_single: Literal["off", "truncate", "sample"] = Field(
        "off",
        description="Build pairs from rows with one response (SimPO seed idea): rejected = the response cut to half "
        "(truncate) or a sampled reply of the parent model (sample). Counted as synthetic_pairs in the manifest; off by default.",
    )


class DPOStage(PreferenceSettings):
    """DPO, sigmoid loss, against the frozen parent as reference."""

    method: Literal["dpo"]


class SimPOStage(PreferenceSettings):
    """SimPO: reference-free, length-normalised log-probability margin with target margin gamma."""

    method: Literal["simpo"]
    beta: float = Field(2.0, gt=0, description="SimPO reward scale (the paper uses 2.0-2.5).")
    gamma: float = Field(0.5, ge=0, description="Target reward margin gamma, as the ratio gamma/beta (TRL's simpo_gamma).")
    cpo_alpha: float = Field(0.0, ge=0, description="Weight of an added NLL (behaviour cloning) term; 0 is pure SimPO.")


class CPOStage(PreferenceSettings):
    """CPO: reference-free sigmoid preference loss plus its behaviour-cloning NLL term."""

    method: Literal["cpo"]
    cpo_alpha: float = Field(1.0, ge=0, description="Weight of the NLL term on the chosen responses.")


class ORPOStage(PreferenceSettings):
    """ORPO: NLL plus beta times the odds-ratio preference term."""

    method: Literal["orpo"]


class KTOStage(FinetuneSettings):
    """KTO on unpaired rows (`messages` + boolean `label`, or pairs split into desirable/undesirable)."""

    method: Literal["kto"]
    beta: float = Field(0.1, gt=0, description="KTO beta.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    desirable_weight: float = Field(1.0, gt=0, description="Loss weight of desirable rows.")
    undesirable_weight: float = Field(1.0, gt=0, description="Loss weight of undesirable rows.")


class GRPOStage(FinetuneSettings):
    """GRPO with rewards from the registry (evalsuite.trainers.rewards), weighted."""

    method: Literal["grpo"]
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
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

    max_length: int = Field(192, ge=16, description="Bound on prompt + completion: max_prompt_length + max_completion_length must fit.")

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


Stage = Annotated[
    Union[PretrainStage, LoadStage, SFTStage, DPOStage, SimPOStage, CPOStage, ORPOStage, KTOStage, GRPOStage],
    Field(discriminator="method"),
]
METHODS = ("pretrain", "load", "sft", "dpo", "simpo", "cpo", "orpo", "kto", "grpo")


class Runtime(StrictModel):
    """How stages run; part of every stage's config hash except `threads`."""

    seed: int = Field(1234, description="Seed for model init, data order, dropout and sampling.")
    threads: int = Field(1, ge=1, description="torch CPU threads; 1 is fastest on a shared small machine.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses a GPU when there is one.")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Training precision; on CPU bf16 helps only >=10M-parameter models.")


class Recipe(StrictModel):
    name: str = Field("recipe", description="Recipe name, recorded in every manifest.")
    data_dir: str = Field(
        "${EVALSUITE_DATA_DIR:-../shared/datasets}",
        description="Relative data paths resolve against this directory; ${VAR} and ${VAR:-default} expand.",
    )
    runtime: Runtime = Field(default_factory=Runtime, description="Seed, threads, device and precision for all stages.")
    stages: dict[str, Stage] = Field(description="Stage name -> stage config, trained in dependency order.")

    @model_validator(mode="after")
    def _stage_names_and_parents(self):
        for name, stage in self.stages.items():
            if not _STAGE_NAME.fullmatch(name):
                raise ValueError(f"stage name {name!r} must be letters, digits, '_', '-' or '.' (it becomes a directory name)")
            if getattr(stage, "parent", None) == name:
                raise ValueError(f"stage {name!r} names itself as parent")
        return self

    def order(self) -> list[str]:
        """Stage names so that every parent comes before its children."""
        done: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                raise ConfigError(f"recipe stages form a cycle through {name!r}")
            visiting.add(name)
            parent = getattr(self.stages[name], "parent", None)
            if parent in self.stages:
                visit(parent)
            visiting.discard(name)
            done.append(name)

        for name in self.stages:
            visit(name)
        return done

    def resolve_data(self, path: str) -> Path:
        """Absolute path of a data file named in this recipe."""
        expanded = Path(expand_env(path)).expanduser()
        if expanded.is_absolute():
            return expanded
        return (Path(expand_env(self.data_dir)).expanduser() / expanded).resolve()


def load_recipe(source: str | Path | dict[str, Any] | Recipe) -> Recipe:
    """Validate a recipe from a YAML path, a mapping, or return a Recipe unchanged."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, dict):
        return validate(Recipe, source, "recipe")
    return validate(Recipe, load_yaml(source), f"recipe {source}")


def stage_from_options(method: str, options: dict[str, Any]) -> tuple[Runtime, Stage]:
    """Build one stage (and the runtime) from ``-C key=value`` options, as ``evalsuite train <method>`` does."""
    if method not in METHODS:
        raise ConfigError(f"unknown training method {method!r}; known methods: {', '.join(METHODS)}")
    runtime_keys = set(Runtime.model_fields)
    runtime = validate(Runtime, {k: v for k, v in options.items() if k in runtime_keys}, "runtime options")
    stage_data = {k: v for k, v in options.items() if k not in runtime_keys}
    recipe = validate(Recipe, {"stages": {method: {"method": method, **stage_data}}, "runtime": runtime.model_dump()}, f"{method} options")
    return recipe.runtime, recipe.stages[method]


def config_hash(payload: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able mapping."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
