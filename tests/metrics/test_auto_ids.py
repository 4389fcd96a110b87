"""The byte-level ``auto`` token ids against the regex tokenizer they replace.

``encode(texts, "auto")`` numbers tokens without creating them as strings
(evalsuite.metrics.diversity.auto_ids); ``tokenize(texts, "auto")`` runs ``_AUTO_RE``.
Both must cut every text into the same tokens, and equal ids must mean equal
tokens.
"""

import random

import numpy as np
import pytest

from evalsuite.metrics.diversity import auto_ids
from evalsuite.metrics.diversity.tokenize import tokenize
from evalsuite.metrics.diversity.auto_ids import auto_token_ids


def assert_same_tokens(texts, lowercase=False):
    ids, offsets, vocab_size = auto_token_ids(texts, lowercase)
    toks, _ = tokenize(texts, "auto", lowercase)
    assert [int(x) for x in np.diff(offsets)] == [len(t) for t in toks]
    flat = [tok for t in toks for tok in t]
    token_of: dict[int, str] = {}
    id_of: dict[str, int] = {}
    for i, tok in zip(ids.tolist(), flat):
        assert token_of.setdefault(i, tok) == tok, f"id {i} is both {token_of[i]!r} and {tok!r}"
        assert id_of.setdefault(tok, i) == i, f"{tok!r} has ids {id_of[tok]} and {i}"
    assert vocab_size == len(id_of)
    assert sorted(token_of) == list(range(vocab_size))  # dense


@pytest.mark.parametrize("lowercase", [False, True])
def test_real_english_and_chinese_text(alpaca_en, alpaca_zh, alpaca_eval_instructions, lowercase):
    assert_same_tokens(alpaca_en + alpaca_zh + alpaca_eval_instructions, lowercase)


# every character class the tokenizer distinguishes, in several scripts
ALPHABET = (
    list("abcXYZ019_") + list(".,;:!?'\"()[]{}<>-/\\@#$%&*+=~`|^")
    + [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\x1f", "\u00a0", "\u2003", "\u3000", "\x00", "\x01", "\x7f"]
    + list("中文字。，！？「」") + list("ひらがなカタカナ") + ["\u3005", "\u2e80", "\U00020000", "\U0003134a"]
    + list("한국어") + list("éüßÆøİıſΩωЖж") + ["\u0301", "\u0308", "\u064b", "\u0670"]
    + list("हिन्दीक") + ["\u093f", "\u094d", "\u0e01", "\u0e31", "\u0e47"]
    + ["😀", "👍🏽", "\u200b", "\u200d", "\ufeff", "ﬁ", "①", "½", "Ⅻ", "ｆｕｌｌ", "\ud800", "\udfff"]
    + ["internationalization", "ab", "abcdefgh", "abcdefghi", "éééé", "éééééé", "中文中文中文"]
)


def random_texts(rng, n):
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_random_strings_over_every_character_class(seed):
    rng = random.Random(seed)
    assert_same_tokens(random_texts(rng, 400), lowercase=seed % 2 == 1)


def test_edge_cases():
    assert_same_tokens([""])
    assert_same_tokens(["", "", ""])
    assert_same_tokens(["   ", "\t\n"])
    assert_same_tokens(["a"])
    assert_same_tokens(["12345678", "123456789", "12345678 123456789 12345678"])  # the 8-byte border
    assert_same_tokens(["\u0301abc \u0301\u0301 x\u0301\u0301y", "." + "\u0301" * 5])  # marks before any letter
    ids, offsets, v = auto_token_ids(["", "a b", ""])
    assert offsets.tolist() == [0, 0, 2, 2] and v == 2


def test_a_hash_collision_falls_back_to_exact_numbering(monkeypatch):
    """If two different long tokens shared a 64-bit hash, ids stay exact."""
    real = auto_ids._long_keys

    def colliding(win, starts, nbytes):
        h, words = real(win, starts, nbytes)
        return np.zeros_like(h), words  # every long token gets the same hash

    monkeypatch.setattr(auto_ids, "_long_keys", colliding)
    assert_same_tokens(["internationalization localization internationalization", "abcdefghijk abcdefghijl"])
