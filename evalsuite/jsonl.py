"""The one JSON-lines reader and writer.

Records are separated by ``\\n`` only. Model text may contain U+2028, U+2029,
U+0085 or form feeds, which ``str.splitlines`` treats as line breaks; the writer
escapes them (``ensure_ascii=False`` would write them raw) and the reader never
splits on them, so a record always round-trips. Writes are atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text

_UNSAFE = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}


def dumps_line(record: Any) -> str:
    """One record as one JSON line (no trailing newline); never contains a line separator."""
    text = json.dumps(record, ensure_ascii=False)
    for char, escaped in _UNSAFE.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line; a bad line is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = open
    if path.suffix == ".gz":
        import gzip

        opener = gzip.open  # type: ignore[assignment]
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
            except UnicodeDecodeError as exc:  # pragma: no cover - raised by the reader, kept for the message
                raise DataError(f"{path}: line {number}: not UTF-8 ({exc})") from None


def read_jsonl(path: str | Path) -> list[Any]:
    """Records of a JSON-lines file (``.gz`` too); blank lines are skipped."""
    try:
        return [record for _, record in iter_jsonl(path)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Write ``records`` one per line, atomically."""
    atomic_write_text(path, "".join(dumps_line(r) + "\n" for r in records))
