"""The one JSON-lines reader and writer (and the reader of record files: JSON lines or a JSON list).

Records are separated by ``\\n`` only. Model text may contain U+2028, U+2029,
U+0085 or form feeds, which ``str.splitlines`` treats as line breaks; the writer
escapes them (``ensure_ascii=False`` would write them raw) and the reader never
splits on them, so a record always round-trips. A lone surrogate (a Python
``str`` can hold one; UTF-8 cannot) is written as a JSON ``\\uXXXX`` escape,
which ``json.loads`` reads back to the same string (a high surrogate followed by
a low one is read back as the one character the pair encodes, as every JSON
reader does). Writes are atomic.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text

NOT_UTF8_HINT = "the file mixes encodings or is not UTF-8: re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"

# Raw, these split a line for str.splitlines (the separators) or cannot be encoded as UTF-8 (surrogates).
# json.dumps leaves them only inside string literals, where a \\uXXXX escape means the same character.
_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def to_json(record: Any, indent: int | None = None) -> str:
    """``record`` as JSON text that UTF-8 can hold and that has no raw U+0085/U+2028/U+2029 (non-ASCII kept readable)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(record, ensure_ascii=False, indent=indent))


def dumps_line(record: Any) -> str:
    """One record as one JSON line (no trailing newline); never contains a line separator."""
    return to_json(record)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line (``.gz`` too; a UTF-8 byte-order mark is allowed).

    A line that is not UTF-8 or not JSON is an error naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: line {number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    f"{NOT_UTF8_HINT}"
                ) from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None


def read_jsonl(path: str | Path) -> list[Any]:
    """Records of a JSON-lines file (``.gz`` too); blank lines are skipped."""
    return [record for _, record in iter_jsonl(path)]


def iter_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for a file of records: a JSON list (``where`` is ``record N``, from 1) or JSON lines
    (``line N``). A file whose first non-blank character is ``[`` is a JSON list."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".gz":
        yield from ((f"line {n}", record) for n, record in iter_jsonl(path))
        return
    raw = path.read_bytes()
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        yield from ((f"line {n}", record) for n, record in iter_jsonl(path))
        return
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); {NOT_UTF8_HINT}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    yield from ((f"record {i}", record) for i, record in enumerate(data, start=1))


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Write ``records`` one per line, atomically."""
    atomic_write_text(path, "".join(dumps_line(r) + "\n" for r in records))
