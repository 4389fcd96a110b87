"""Reading generations from JSONL or a JSON list, with errors that name the record.

Every record needs a string text field; an empty string is a valid (empty)
response and is kept. Optional fields: a prompt id to group samples, a model
name, a sample index. Problems raise :class:`evalsuite.errors.DataError`
naming the file, the line (JSONL) or record number (JSON list), and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError

NEWLINE = b"\n"


@dataclass(frozen=True)
class Record:
    text: str
    group: Any = None
    model: str | None = None
    sample: int | None = None
    where: str = ""  # "file:line" or "file:record N", for messages


def _decode(raw: bytes, path: Path, line_of) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: {line_of(exc.start)} is not valid UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start}); "
            "the file mixes encodings. Re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
        ) from None


def _check_hashable(value: Any, field: str, where: str) -> Any:
    if isinstance(value, (dict, list)):
        raise DataError(f"{where}: field {field!r} must be a string or number to group by, got {type(value).__name__}")
    return value


def _record(obj: Any, where: str, text_field: str, group_field, model_field, sample_field) -> Record:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object with a {text_field!r} field, got {type(obj).__name__}")
    if text_field not in obj:
        fields = ", ".join(sorted(map(str, obj))) or "none"
        raise DataError(f"{where}: missing text field {text_field!r} (fields present: {fields}); pick one with --text-field")
    text = obj[text_field]
    if not isinstance(text, str):
        raise DataError(f"{where}: field {text_field!r} must be a string, got {type(text).__name__} ({json.dumps(text)[:60]})")
    group = None
    if group_field is not None:
        if group_field not in obj:
            raise DataError(f"{where}: missing group field {group_field!r}")
        group = _check_hashable(obj[group_field], group_field, where)
    model = None
    if model_field is not None and model_field in obj:
        model = str(_check_hashable(obj[model_field], model_field, where))
    sample = None
    if sample_field is not None and sample_field in obj:
        sample = obj[sample_field]
        if not isinstance(sample, int) or isinstance(sample, bool):
            raise DataError(f"{where}: field {sample_field!r} must be an integer, got {sample!r}")
    return Record(text, group, model, sample, where)


def read_records(
    path: str | Path,
    text_field: str = "response",
    group_field: str | None = None,
    model_field: str | None = "model",
    sample_field: str | None = "sample",
) -> list[Record]:
    """Records of a ``.jsonl`` file (one object a line) or a ``.json`` list of objects."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; expected JSONL records or a JSON list")
    args = (text_field, group_field, model_field, sample_field)
    stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        text = _decode(raw, path, lambda off: f"line {raw.count(NEWLINE, 0, off) + 1}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        if not data:
            raise DataError(f"{path}: the JSON list is empty; expected records")
        return [_record(obj, f"{path}:record {i + 1}", *args) for i, obj in enumerate(data)]
    records = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:line {lineno}"
        text = _decode(line, path, lambda off, n=lineno: f"line {n}")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        records.append(_record(obj, where, *args))
    return records
