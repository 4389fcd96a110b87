"""Checkpoint directories: weights (safetensors), tokenizer, chat template, and ``evalsuite_checkpoint.json``.

The manifest is written last, so its presence with a matching ``config_hash``
marks a finished stage; a directory without one is an unfinished stage.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evalsuite.errors import ModelError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import dumps_line, read_jsonl, write_jsonl

MANIFEST = "evalsuite_checkpoint.json"
TRAIN_LOG = "train_log.jsonl"


class ParentInfo(BaseModel):
    path: str | None = None
    weights_sha256: str | None = None


class DataFileInfo(BaseModel):
    path: str
    sha256: str
    rows: int
    rows_used: int = Field(description="Rows trained on: after prompt-length filtering and max_rows.")
    dropped_long_prompt: int = 0
    truncated_prompt: int = 0
    synthetic_pairs: int = 0


class EvalPointer(BaseModel):
    """Where the evaluations during training are: ``folder/step-NNNNNN/summary.json`` (kind ``train_eval``) and
    the task runs beside it, for the steps listed; the alarm that stopped the stage early, if one did."""

    folder: str = "evals"
    steps: list[int] = Field(default_factory=list)
    stop_reason: str | None = None


class Manifest(BaseModel):
    """What made a checkpoint: enough to rebuild it and to tell two checkpoints apart."""

    format_version: int = 1
    stage: str
    method: str
    config_hash: str
    parent: ParentInfo = Field(default_factory=ParentInfo)
    config: dict[str, Any]
    runtime: dict[str, Any]
    data: list[DataFileInfo] = Field(default_factory=list)
    seeds: dict[str, int]
    git_commit: str | None = None
    git_dirty: bool | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    wall_time_s: float
    started_at: str
    num_parameters: int
    trainable_parameters: int
    weights_sha256: str
    lora: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="Summary: first/last/min/max of each logged metric, plus final train stats.")
    log_file: str = TRAIN_LOG
    resumed_from_step: int | None = None
    notes: list[str] = Field(default_factory=list, description="Anything the stage changed on its own, e.g. a chat template added.")
    evals: EvalPointer | None = Field(None, description="Evaluations during training (the stage's `eval`), when it has them.")


def weights_sha256(directory: str | Path) -> str | None:
    """Hash of a checkpoint's safetensors files (names and bytes), or None when it has none."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: str | Path) -> Manifest | None:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def is_finished(directory: str | Path, config_hash: str) -> bool:
    manifest = read_manifest(directory)
    return manifest is not None and manifest.config_hash == config_hash


def assert_finite(model) -> None:
    """Refuse a model with NaN/inf weights, naming the first bad tensor."""
    import torch

    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise ModelError(
                f"training produced non-finite weights (first: {name}); the checkpoint was not saved. "
                "Common cause: a prompt filling max_length leaves an empty completion; lower max_prompt_length "
                "or the learning rate"
            )


def save_model(model, tokenizer, directory: str | Path) -> None:
    """Save weights as safetensors plus tokenizer and chat template; refuses non-finite weights."""
    assert_finite(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def write_manifest(directory: str | Path, manifest: Manifest) -> Path:
    path = Path(directory) / MANIFEST
    atomic_write_text(path, manifest.model_dump_json(indent=2))
    return path


def read_log(directory: str | Path) -> list[dict[str, Any]]:
    """The records of a checkpoint's ``train_log.jsonl``; empty when there is none."""
    path = Path(directory) / TRAIN_LOG
    return read_jsonl(path) if path.is_file() else []


def summarise_log(records: list[dict[str, Any]]) -> dict[str, Any]:
    """first/last/min/max of every numeric key logged during training, and the final train_* stats."""
    series: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.items():
            if key in ("step", "epoch", "time") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            series.setdefault(key, []).append(float(value))
    return {key: {"first": v[0], "last": v[-1], "min": min(v), "max": max(v), "n": len(v)} for key, v in series.items()}


def make_log_callback(directory: str | Path, resume_step: int | None):
    """A TrainerCallback appending every log event to ``train_log.jsonl`` (lines past ``resume_step`` are dropped first)."""
    from transformers import TrainerCallback

    path = Path(directory) / TRAIN_LOG
    if resume_step is None:
        path.unlink(missing_ok=True)
    elif path.is_file():
        write_jsonl(path, [r for r in read_log(directory) if r.get("step", 0) <= resume_step])

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
            record.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str, bool))})
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(dumps_line(record) + "\n")

    return JsonlLog()
