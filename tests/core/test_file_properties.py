"""Property-based tests: any text a model can produce round-trips through the files evalsuite writes, and the
tokenizers and diversity metrics keep their promises on arbitrary text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import read_jsonl, write_jsonl
from evalsuite.metrics.diversity.auto_ids import auto_token_ids
from evalsuite.metrics.diversity.distinct import distinct_n
from evalsuite.metrics.diversity.self_bleu import self_bleu
from evalsuite.metrics.diversity.tokenize import tokenize

# Every code point, lone surrogates included, with the characters that break lines or encodings made likely.
AWKWARD = ["\u2028", "\u2029", "\u0085", "\x0c", "\r", "\n", "\x00", "\ufeff", "\ud800", "\udfff", "\udc80", '"', "\\"]
TEXT = st.text(st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(AWKWARD)), max_size=30)
FAST = settings(max_examples=60, deadline=None)


def as_json_reads_it(text: str) -> str:
    """What any JSON reader makes of ``text``: a high surrogate followed by a low one is the character they encode."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@FAST
@given(st.lists(st.dictionaries(TEXT, TEXT, max_size=3), max_size=4))
def test_jsonl_round_trips_any_text(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("jsonl") / "samples.jsonl"
    write_jsonl(path, records)
    raw = path.read_bytes()
    assert raw.count(b"\n") == len(records)  # one physical line per record, whatever the text
    expected = [{as_json_reads_it(k): as_json_reads_it(v) for k, v in r.items()} for r in records]
    assert read_jsonl(path) == expected
    assert [json.loads(line) for line in raw.decode("utf-8").split("\n") if line] == expected


def test_a_lone_surrogate_is_read_back_as_itself(tmp_path):
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [{"response": "half \ud83d of an emoji \udc80", "prompt": "\u2028"}])
    assert read_jsonl(path) == [{"response": "half \ud83d of an emoji \udc80", "prompt": "\u2028"}]


@FAST
@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_atomic_write_text_round_trips(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("text") / "out.txt"
    atomic_write_text(path, text)
    assert path.read_bytes().decode("utf-8") == text


def test_unencodable_text_names_file_line_and_column_and_writes_nothing(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(DataError, match=r"page\.html: line 2, column 4: U\+D800 is a lone surrogate"):
        atomic_write_text(path, "first\nabc\ud800")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left behind


@FAST
@given(st.lists(TEXT, min_size=1, max_size=6), st.booleans())
def test_auto_token_ids_number_the_regex_tokens(texts, lowercase):
    ids, offsets, vocab_size = auto_token_ids(texts, lowercase)
    tokens, _ = tokenize(texts, "auto", lowercase)
    assert np.diff(offsets).tolist() == [len(t) for t in tokens]
    flat = [tok for t in tokens for tok in t]
    # Equal ids exactly when equal tokens: the pairs are as many as the distinct ids and the distinct tokens.
    assert len(set(zip(ids.tolist(), flat))) == len(set(flat)) == len(set(ids.tolist())) == vocab_size


WORDS = st.lists(st.text(st.sampled_from("abc xyz中文 .,\u2028\ud800"), min_size=1, max_size=25), min_size=2, max_size=6)


@FAST
@given(WORDS, st.integers(1, 3), st.randoms(use_true_random=False))
def test_distinct_n_is_a_share_and_ignores_order(texts, n, rng):
    value = distinct_n(texts, n=n).value
    assert np.isnan(value) or 0.0 <= value <= 1.0
    shuffled = list(texts)
    rng.shuffle(shuffled)
    assert distinct_n(shuffled, n=n).value == pytest.approx(value, nan_ok=True)


@FAST
@given(st.lists(st.sampled_from(["abc", "x", "中文", ".", "$"]), min_size=4, max_size=12).map(" ".join))
def test_self_bleu_of_identical_texts_is_one(text):
    assert self_bleu([text] * 3).value == pytest.approx(1.0)
