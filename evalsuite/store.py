"""The SQLite results store: every per-item result, keyed by what produced it.

A key is the model fingerprint (weights hash, backend, dtype) + task name,
version and resolved parameters + the request itself. lm-eval's cache is keyed
by request text alone and can serve one model's answers to another; this one
cannot. Each batch is written in one transaction, so a killed run loses at most
the batch in flight, and a rerun resumes from what is stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from evalsuite.provenance import sha256_text

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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def run_key(model_key: dict, task: str, task_version: str, params: dict) -> str:
    return sha256_text(canonical_json({"model": model_key, "task": task, "version": task_version, "params": params}))


def request_hash(request: dict) -> str:
    return sha256_text(canonical_json(request))


class ResultStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register_run(self, key: str, model_key: dict, task: str, task_version: str, params: dict) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (key, canonical_json(model_key), task, task_version, canonical_json(params), time.time()),
            )

    def fetch(self, key: str, hashes: list[str]) -> dict[str, dict]:
        """Stored results of run ``key`` for the given request hashes."""
        found: dict[str, dict] = {}
        for start in range(0, len(hashes), 900):  # SQLite's bound-parameter limit
            chunk = hashes[start: start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT request_hash, result FROM items WHERE run_key = ? AND request_hash IN ({marks})", [key, *chunk]
            )
            found.update((h, json.loads(r)) for h, r in rows)
        return found

    def put_many(self, key: str, rows: list[tuple[str, str, dict]]) -> None:
        """Store (request_hash, item_key, result) rows atomically."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
                [(key, h, item_key, canonical_json(result), now) for h, item_key, result in rows],
            )

    def record_history(self, suite: str, night: str, rows: list[tuple[str, str, str, float | None]]) -> None:
        """Store (checkpoint, task, metric, value) rows of one night; a rerun of the night replaces them."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(suite, night, c, t, m, v, now) for c, t, m, v in rows],
            )

    def history(self, suite: str) -> list[tuple[str, str, str, str, float | None]]:
        """(night, checkpoint, task, metric, value) rows of ``suite``, oldest night first."""
        return list(self.db.execute(
            "SELECT night, checkpoint, task, metric, value FROM history WHERE suite = ? ORDER BY night, checkpoint, task, metric",
            (suite,),
        ))
