"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from evalsuite.errors import DataError
from evalsuite.escape import csv_cell


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8; text UTF-8 cannot hold (a lone surrogate) is an error naming file, line and column."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        column = exc.start - text.rfind("\n", 0, exc.start)
        raise DataError(
            f"{path}: line {line}, column {column}: U+{ord(text[exc.start]):04X} is a lone surrogate, which UTF-8 "
            "cannot hold; nothing was written. Replace it (e.g. with U+FFFD) or write the text as JSON lines "
            "(evalsuite.jsonl escapes it)"
        ) from None
    atomic_write_bytes(path, data)


def atomic_write_csv(path: str | Path, rows: Iterable[Sequence[Any]]) -> None:
    """Write ``rows`` (the header first) as CSV, atomically; every cell goes through :func:`evalsuite.escape.csv_cell`,
    so no cell starts a spreadsheet formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    atomic_write_text(path, buffer.getvalue())
