"""The typed results record written as ``results.json`` (schema versioned)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

from evalsuite.provenance import GitState

SCHEMA_VERSION = 1


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


class RunResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    task: TaskSpec
    model: dict[str, Any]
    backend_config: dict[str, Any]
    seeds: dict[str, int | None]
    task_metadata: dict[str, Any]
    computation: dict[str, int]
    # Only with reduced-precision compute: how a seeded sample of items compares with exact fp32.
    precision_check: dict[str, Any] | None = None
    git: GitState
    packages: dict[str, str]
    store: str
    timings: Timings
    scores: dict[str, Any]


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of a JSON-lines file (blank lines skipped); a bad line is an error naming file and line."""
    from evalsuite.errors import DataError

    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
    return records


def load_run(folder: str | Path) -> RunResult:
    return RunResult.model_validate_json(Path(folder, "results.json").read_text(encoding="utf-8"))
