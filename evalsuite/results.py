"""Typed result records and the one loader.

Every record evalsuite writes as ``results.json`` is a pydantic model with a
``kind`` (``"run"`` for a task run; other rooms register theirs with
:func:`register_result_kind`) and one shared :class:`Provenance` block. Readers
never guess a record's kind from its shape: they call :func:`load_result`.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, SerializeAsAny, ValidationError

from evalsuite.errors import DataError
from evalsuite.provenance import GitState, git_state, package_versions
from evalsuite.scores import Scores, typed_scores

__all__ = [
    "FailedItem", "Provenance", "Record", "RunResult", "TaskSpec", "Timings", "load_result", "load_run", "provenance",
    "register_result_kind", "result_kinds",
]

SCHEMA_VERSION = 2


class Provenance(BaseModel):
    """Where a record came from; the same block in every record."""

    git: GitState
    packages: dict[str, str]
    created: str = Field(description="UTC time the record was made (ISO 8601).")
    evalsuite_version: str


def provenance() -> Provenance:
    from evalsuite import __version__

    return Provenance(
        git=git_state(),
        packages=package_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        evalsuite_version=__version__,
    )


class Record(BaseModel):
    """Base of every record written as ``results.json``: a ``kind`` (each subclass narrows it to a
    ``Literal``), the schema version and the shared provenance block."""

    kind: str
    schema_version: int = SCHEMA_VERSION
    provenance: Provenance


class TaskSpec(BaseModel):
    name: str
    version: str
    params_passed: dict[str, Any]
    params_resolved: dict[str, Any]


class Timings(BaseModel):
    started: str
    total_seconds: float
    model_load_seconds: float
    compute_seconds: float
    items_total: int
    items_computed: int
    items_from_store: int


class FailedItem(BaseModel):
    """An item that failed after the backend's retries: not stored, so the next run tries it again."""

    key: str
    error: str


class RunResult(Record):
    kind: Literal["run"] = "run"
    task: TaskSpec
    model: dict[str, Any]
    backend_config: dict[str, Any]
    seeds: dict[str, int | None]
    task_metadata: dict[str, Any]
    computation: dict[str, int]
    # Only with reduced-precision compute: how a seeded sample of items compares with exact fp32.
    precision_check: dict[str, Any] | None = None
    # Items that failed this time (not scored, not stored; a rerun retries them).
    failed: list[FailedItem] = Field(default_factory=list)
    store: str
    timings: Timings
    # A registered score model (evalsuite.scores), chosen by its kind.
    scores: SerializeAsAny[Annotated[Scores, BeforeValidator(typed_scores)]]


_KINDS: dict[str, type[Record]] = {"run": RunResult}
# Built-in kinds defined outside the core, registered on first read by importing their module by name
# (as the registries do), so a fresh `evalsuite report` reads them. None of these imports torch.
_BUILTIN_KINDS = {"train_eval": "evalsuite.trainers.eval_steps"}


def register_result_kind(kind: str, model: type[Record]) -> type[Record]:
    """Let :func:`load_result` read records whose ``kind`` is ``kind``."""
    _KINDS[kind] = model
    return model


def result_kinds() -> list[str]:
    """The record kinds :func:`load_result` can read now."""
    return sorted(_KINDS)


def load_result(folder_or_file: str | Path) -> Record:
    """The typed record in ``folder/results.json`` (or the given file), chosen by its ``kind``."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no results.json here") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid JSON results record ({exc})") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind in _BUILTIN_KINDS and kind not in _KINDS:
        importlib.import_module(_BUILTIN_KINDS[kind])
    if kind not in _KINDS:
        raise DataError(
            f"{path}: field 'kind': unknown record kind {kind!r}; known: {', '.join(sorted(_KINDS))} "
            "(records written before schema 2 have no kind: rerun, finished items come from the store)"
        )
    try:
        return _KINDS[kind].model_validate(data)
    except ValidationError as exc:
        from evalsuite.config import describe_validation_error

        raise DataError(describe_validation_error(exc, f"{kind} record {path}")) from None


def load_run(folder: str | Path) -> RunResult:
    record = load_result(folder)
    if not isinstance(record, RunResult):
        raise DataError(f"{folder}: expected a task run record, got kind {record.kind!r}")  # type: ignore[attr-defined]
    return record
