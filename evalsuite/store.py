"""The SQLite results store: every per-item result, keyed by what produced it.

A key is the model fingerprint (weights hash, backend, dtype) + task name,
version and resolved parameters + the request itself. lm-eval's cache is keyed
by request text alone and can serve one model's answers to another; this one
cannot. Each batch is written in one transaction, so a killed run loses at most
the batch in flight, and a rerun resumes from what is stored.

The schema carries a version (``PRAGMA user_version``); opening a store
migrates it to :data:`SCHEMA_VERSION`. A file that is not a store (damaged,
truncated, another program's database, a newer evalsuite's) is a
:class:`~evalsuite.errors.DataError` that names it and says how to move it
aside. A stored row that cannot be read back is treated as missing: the runner
recomputes it and the new result overwrites it.
"""

from __future__ import annotations

import json
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError
from evalsuite.provenance import sha256_text

# Version 1 is the schema stores had before they carried a version (user_version 0).
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    task_version TEXT NOT NULL,
    params TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    suite TEXT NOT NULL,
    night TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    created REAL NOT NULL,
    PRIMARY KEY (suite, night, checkpoint, task, metric)
);
CREATE TABLE IF NOT EXISTS items (
    run_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    item_key TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_key, request_hash)
);
"""

# SQLite's primary result codes for a damaged file and for a file that is not a database.
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
# Seconds a connection waits for another writer's lock, and the retries (pausing 0.1 s, 0.2 s, ...) after that.
BUSY_TIMEOUT_SECONDS = 60
LOCK_RETRIES, LOCK_PAUSE_SECONDS = 5, 0.1


def _is_locked(exc: BaseException | None) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (or busy): another writer held the lock too long."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and (
        (code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)) or "locked" in str(exc)
    )


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def run_key(model_key: dict, task: str, task_version: str, params: dict) -> str:
    return sha256_text(canonical_json({"model": model_key, "task": task, "version": task_version, "params": params}))


def request_hash(request: dict) -> str:
    return sha256_text(canonical_json(request))


def _columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Each table of ``db`` with its column names, in order."""
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]
    quoted = {t: '"' + t.replace('"', '""') + '"' for t in tables}
    return {t: [c[1] for c in db.execute(f"PRAGMA table_info({quoted[t]})")] for t in tables}


def _schema_columns() -> dict[str, list[str]]:
    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript(SCHEMA)
        return _columns(db)


def _adopt_unversioned(db: sqlite3.Connection, path: Path) -> None:
    """Version 0 → 1: a store written before stores carried a version, or a new empty file.

    Its tables are version 1's, so the migration checks that they are ours and
    creates the missing ones; a database with other tables belongs to
    something else and is refused.
    """
    expected, found = _schema_columns(), _columns(db)
    foreign = {t: cols for t, cols in found.items() if expected.get(t) != cols}
    if foreign:
        described = "; ".join(f"{t}({', '.join(cols)})" for t, cols in sorted(foreign.items()))
        raise DataError(
            f"{path} is an SQLite database but not an evalsuite results store (unexpected tables: {described}). "
            f"Point --store (or $EVALSUITE_STORE) at another file, or if it is a damaged store, {_move_aside(path)}"
        )
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


# MIGRATIONS[v] brings a store from version v to v + 1, inside the opening transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path], None]] = {0: _adopt_unversioned}


def _move_aside(path: Path) -> str:
    return (f"move it aside with `mv {path} {path}.corrupt` and rerun; finished items are then recomputed "
            "(also move any -wal and -shm files beside it)")


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    """SQLite errors on ``path`` as DataErrors that name the file; a damaged file with the advice to move it aside."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) is not None and exc.sqlite_errorcode & 0xFF in _DAMAGED:
            raise DataError(f"results store {path} is damaged or not an SQLite database ({exc}); {_move_aside(path)}") from exc
        raise DataError(f"results store {path}: {exc}") from exc


class ResultStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _store_errors(self.path):
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
            except BaseException:
                self.db.close()
                raise

    def _migrate(self) -> None:
        """Bring the store to SCHEMA_VERSION in one transaction (concurrent openers wait for each other)."""
        if self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataError(
                    f"results store {self.path} has schema version {version}, written by a newer evalsuite; this one "
                    f"reads versions up to {SCHEMA_VERSION}. Upgrade evalsuite, or use another --store."
                )
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](self.db, self.path)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """Run ``sql`` over ``rows`` in one short transaction.

        Several processes write one store at once (a data-parallel run): each
        waits up to the busy timeout for the write lock, and a transaction that
        still finds the database locked is retried after a pause.
        """
        for attempt in range(LOCK_RETRIES + 1):
            try:
                with _store_errors(self.path), self.db:
                    self.db.executemany(sql, rows)
                return
            except DataError as exc:
                if attempt == LOCK_RETRIES or not _is_locked(exc.__cause__):
                    raise
                time.sleep(LOCK_PAUSE_SECONDS * 2 ** attempt)

    def register_run(self, key: str, model_key: dict, task: str, task_version: str, params: dict) -> None:
        self._write(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            [(key, canonical_json(model_key), task, task_version, canonical_json(params), time.time())],
        )

    def fetch(self, key: str, hashes: list[str], decode: Callable[[Any], Any] = lambda value: value) -> dict[str, Any]:
        """Stored results of run ``key`` for the given request hashes, each passed through ``decode``.

        A row that is not JSON, or that ``decode`` rejects with a ``ValueError``
        (a pydantic ``ValidationError`` is one), is left out with a warning, so
        the caller computes it again and :meth:`put_many` overwrites it.
        """
        found: dict[str, Any] = {}
        unreadable: list[str] = []
        with _store_errors(self.path):
            for start in range(0, len(hashes), 900):  # SQLite's bound-parameter limit
                chunk = hashes[start: start + 900]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    f"SELECT request_hash, result FROM items WHERE run_key = ? AND request_hash IN ({marks})", [key, *chunk]
                )
                for h, text in rows:
                    try:
                        found[h] = decode(json.loads(text))
                    except ValueError as exc:
                        unreadable.append(f"{h[:12]}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        if unreadable:
            warnings.warn(
                f"results store {self.path}: {len(unreadable)} stored result(s) could not be read back and are "
                f"recomputed and overwritten (first: {unreadable[0]})", stacklevel=2,
            )
        return found

    def put_many(self, key: str, rows: list[tuple[str, str, dict]]) -> None:
        """Store (request_hash, item_key, result) rows atomically."""
        now = time.time()
        self._write(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
            [(key, h, item_key, canonical_json(result), now) for h, item_key, result in rows],
        )

    def record_history(self, suite: str, night: str, rows: list[tuple[str, str, str, float | None]]) -> None:
        """Store (checkpoint, task, metric, value) rows of one night; a rerun of the night replaces them."""
        now = time.time()
        self._write(
            "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(suite, night, c, t, m, v, now) for c, t, m, v in rows],
        )

    def history(self, suite: str) -> list[tuple[str, str, str, str, float | None]]:
        """(night, checkpoint, task, metric, value) rows of ``suite``, oldest night first."""
        with _store_errors(self.path):
            return list(self.db.execute(
                "SELECT night, checkpoint, task, metric, value FROM history WHERE suite = ? ORDER BY night, checkpoint, task, metric",
                (suite,),
            ))
