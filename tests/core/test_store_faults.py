"""The results store under faults: damaged files, other programs' databases, old schemas, unreadable rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalsuite.backends import load_backend
from evalsuite.cli import EXIT_DATA, main
from evalsuite.errors import DataError
from evalsuite.registry import get_task
from evalsuite.runner import evaluate
from evalsuite.store import SCHEMA_VERSION, ResultStore

# The schema stores had before they carried a version, as the code of that time created it.
UNVERSIONED_SCHEMA = """
CREATE TABLE runs (run_key TEXT PRIMARY KEY, model TEXT NOT NULL, task TEXT NOT NULL, task_version TEXT NOT NULL,
                   params TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE history (suite TEXT NOT NULL, night TEXT NOT NULL, checkpoint TEXT NOT NULL, task TEXT NOT NULL,
                      metric TEXT NOT NULL, value REAL, created REAL NOT NULL,
                      PRIMARY KEY (suite, night, checkpoint, task, metric));
CREATE TABLE items (run_key TEXT NOT NULL, request_hash TEXT NOT NULL, item_key TEXT NOT NULL, result TEXT NOT NULL,
                    created REAL NOT NULL, PRIMARY KEY (run_key, request_hash));
"""


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as caught:
        with ResultStore(path) as store:
            store.fetch("run", [f"h{i}" for i in range(50)])
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_file_that_is_not_sqlite_is_named_with_the_advice_to_move_it_aside(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b'{"this": "is json, not a database"}\n' * 200)
    _refused(path, "damaged or not an SQLite database", f"mv {path} {path}.corrupt", "recomputed")


def test_a_truncated_store_is_named_with_the_advice_to_move_it_aside(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as store:
        store.put_many("run", [(f"h{i}", f"k{i}", {"text": "x" * 2000}) for i in range(50)])
    data = path.read_bytes()
    assert len(data) > 16 * 4096
    path.write_bytes(data[: len(data) // 3])
    _refused(path, f"mv {path} {path}.corrupt")


def test_another_programs_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    _refused(path, "not an evalsuite results store", "items(id, name)", "users(id)", "--store")
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"items", "users"} and _user_version(path) == 0


def test_a_store_from_a_newer_evalsuite_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    _refused(path, f"schema version {SCHEMA_VERSION + 1}", "newer evalsuite", "Upgrade evalsuite")


def test_an_unversioned_store_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SCHEMA)
        db.execute("INSERT INTO items VALUES ('run', 'h1', 'k1', '{\"a\":1}', 0)")
        db.execute("INSERT INTO history VALUES ('s', '2026-01-01', 'c', 't', 'acc', 0.5, 0)")
    assert _user_version(path) == 0
    with ResultStore(path) as store:
        assert store.fetch("run", ["h1"]) == {"h1": {"a": 1}}
        assert store.history("s") == [("2026-01-01", "c", "t", "acc", 0.5)]
    assert _user_version(path) == SCHEMA_VERSION == 1


def test_an_unversioned_store_missing_a_table_gets_it(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SCHEMA.split("CREATE TABLE history")[0])  # runs only: before history existed
    with ResultStore(path) as store:
        store.record_history("s", "n", [("c", "t", "acc", 1.0)])
        store.put_many("run", [("h", "k", {"a": 2})])
        assert store.fetch("run", ["h"]) == {"h": {"a": 2}}
    assert _user_version(path) == SCHEMA_VERSION


def test_unreadable_rows_are_left_out_with_a_warning(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as store:
        store.put_many("run", [("good", "k1", {"n": 1}), ("bad", "k2", {"n": 2}), ("wrong", "k3", {"n": "three"})])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE items SET result = '{\"n\": 2, trunc' WHERE request_hash = 'bad'")

    def decode(value: dict) -> int:
        if not isinstance(value["n"], int):
            raise ValueError(f"n must be an integer, got {value['n']!r}")
        return value["n"]

    with ResultStore(path) as store, pytest.warns(UserWarning, match=r"2 stored result\(s\) could not be read back"):
        assert store.fetch("run", ["good", "bad", "wrong"], decode=decode) == {"good": 1}


def test_a_corrupt_store_exits_3_naming_the_file(tiny_model, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "p1", "prompt": "Hello"}\n', encoding="utf-8")
    store = tmp_path / "results.sqlite"
    store.write_bytes(b"\x00garbage" * 1000)
    code = main(["run", "--model", str(tiny_model), "--task", "generate", "-T", f"prompts={prompts}", "-T", "id_field=id",
                 "-T", "n=1", "-T", "max_new_tokens=2", "-T", "chat_template=false", "--store", str(store),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_DATA == 3, err
    assert f"results store {store} is damaged" in err and f"mv {store} {store}.corrupt" in err
    assert "Traceback" not in err


def test_undecodable_rows_are_recomputed_and_overwritten(tiny_model, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Tell me about {i}."}) + "\n" for i in range(3)),
                       encoding="utf-8")
    task = get_task("generate")({"prompts": str(prompts), "id_field": "id", "n": 1, "max_new_tokens": 4,
                                 "chat_template": False, "n_boot": 10})
    backend = load_backend("hf", {"model": str(tiny_model)})
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as store:
        first = evaluate(task, backend, store)
    with sqlite3.connect(path) as db:
        keys = [r[0] for r in db.execute("SELECT item_key FROM items ORDER BY item_key")]
        db.execute("UPDATE items SET result = 'not json' WHERE item_key = ?", (keys[0],))
        db.execute("UPDATE items SET result = '{\"unexpected\": true}' WHERE item_key = ?", (keys[1],))
    with ResultStore(path) as store, pytest.warns(UserWarning, match=r"results\.sqlite: 2 stored result"):
        second = evaluate(task, backend, store)
    assert first.timings.items_computed == 3
    assert (second.timings.items_computed, second.timings.items_from_store) == (2, 1)
    with sqlite3.connect(path) as db:
        rows = [json.loads(r[0]) for r in db.execute("SELECT result FROM items")]
    assert len(rows) == 3 and all("unexpected" not in r for r in rows)
    with ResultStore(path) as store:
        assert evaluate(task, backend, store).timings.items_from_store == 3
