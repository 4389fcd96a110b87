"""The one JSON-lines reader and writer: model text round-trips, bad input names file and line."""

from __future__ import annotations

import gzip
import json

import pytest

from evalsuite.errors import DataError
from evalsuite.jsonl import iter_jsonl, read_jsonl, write_jsonl

AWKWARD = ["line\u2028separator", "para\u2029graph", "next\u0085line", "form\x0cfeed", "cr\rlf\r\n", "emoji 🦜 中文", ""]


def test_model_text_round_trips(tmp_path):
    records = [{"response": text, "i": i} for i, text in enumerate(AWKWARD)]
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, records)
    raw = path.read_text(encoding="utf-8")
    # One record per physical line, even for text str.splitlines() would split.
    assert len(raw.splitlines()) == len(records)
    assert read_jsonl(path) == records
    assert [json.loads(line) for line in raw.split("\n") if line] == records


def test_gzip_and_byte_order_mark(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        handle.write('{"a": 1}\n\n{"a": 2}\n')
    assert [n for n, _ in iter_jsonl(gz)] == [1, 3]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert read_jsonl(bom) == [{"a": 1}]


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 2: not valid JSON"):
        read_jsonl(bad)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin\.jsonl: line 2: not valid UTF-8 \(byte 0xe9"):
        read_jsonl(latin)
    with pytest.raises(DataError, match="file not found"):
        read_jsonl(tmp_path / "missing.jsonl")
