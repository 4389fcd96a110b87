"""Generations as records, checked field by field, with errors that name the record.

The file is read elsewhere (``evalsuite.jsonl``; this package stays free of
file formats); this module turns parsed objects into :class:`Record` s. Every
record needs a string text field; an empty string is a valid (empty) response
and is kept. Optional fields: a prompt id to group samples, a model name, a
sample index. Problems raise :class:`evalsuite.errors.DataError` naming the
file, the line or record number, and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evalsuite.errors import DataError


@dataclass(frozen=True)
class Record:
    """One response: its text, prompt id, model and sample index, and where it was read."""

    text: str
    group: Any = None
    model: str | None = None
    sample: int | None = None
    where: str = ""  # "file:line N" or "file:record N", for messages


@dataclass(frozen=True)
class Fields:
    """Which field of a record holds the text, the prompt id (None: no grouping), the model and the sample index."""

    text: str = "response"
    group: str | None = None
    model: str | None = "model"
    sample: str | None = "sample"


def _check_hashable(value: Any, field: str, where: str) -> Any:
    if isinstance(value, (dict, list)):
        raise DataError(f"{where}: field {field!r} must be a string or number to group by, got {type(value).__name__}")
    return value


def _record(obj: Any, where: str, fields: Fields) -> Record:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object with a {fields.text!r} field, got {type(obj).__name__}")
    if fields.text not in obj:
        present = ", ".join(sorted(map(str, obj))) or "none"
        raise DataError(f"{where}: missing text field {fields.text!r} (fields present: {present}); pick one with --text-field")
    text = obj[fields.text]
    if not isinstance(text, str):
        raise DataError(f"{where}: field {fields.text!r} must be a string, got {type(text).__name__} ({json.dumps(text)[:60]})")
    group = None
    if fields.group is not None:
        if fields.group not in obj:
            raise DataError(f"{where}: missing group field {fields.group!r}")
        group = _check_hashable(obj[fields.group], fields.group, where)
    model = None
    if fields.model is not None and fields.model in obj:
        model = str(_check_hashable(obj[fields.model], fields.model, where))
    sample = None
    if fields.sample is not None and fields.sample in obj:
        sample = obj[fields.sample]
        if not isinstance(sample, int) or isinstance(sample, bool):
            raise DataError(f"{where}: field {fields.sample!r} must be an integer, got {sample!r}")
    return Record(text, group, model, sample, where)


def records_from(rows: Iterable[tuple[str, Any]], fields: Fields = Fields()) -> list[Record]:
    """Records of already parsed ``(where, object)`` rows; ``where`` ("file:line 3") heads every message."""
    return [_record(obj, where, fields) for where, obj in rows]


def by_model(inputs: dict[str, list[Record]]) -> dict[str, list[Record]]:
    """One set of records per input and model, labelled ``model`` (one input) or ``input:model``.

    Records without a model name are the model ``all``.
    """
    sets: dict[str, list[Record]] = {}
    for name, records in inputs.items():
        for r in records:
            model = r.model if r.model is not None else "all"
            sets.setdefault(model if len(inputs) == 1 else f"{name}:{model}", []).append(r)
    return sets
