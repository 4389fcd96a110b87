import pytest
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics import tokenize
from evalsuite.metrics.diversity.ngrams import encode
from evalsuite.metrics.diversity.tokenize import tokenize_13a, tokenize_zh


@pytest.mark.integration
def test_13a_equals_sacrebleu_on_real_text(alpaca_en, alpaca_zh, alpaca_eval_instructions):
    ref = Tokenizer13a()
    for text in alpaca_en[:400] + alpaca_zh[:200] + alpaca_eval_instructions[:200]:
        assert tokenize_13a(text) == ref(text.rstrip()).split()


EDGE = [".5 starts with a period", "ends with a dash-", "hyphen-\nated", "&amp; &lt;x&gt; &quot;q&quot;", "", "   ",
        "3-4 and 3.5, 1,000", "x.\n.y", "tab\tsep", "<skipped> word", "a\x00b", ",lead", "trail,"]


@pytest.mark.integration
def test_batch_13a_equals_sacrebleu_text_by_text(alpaca_en, alpaca_eval_instructions):
    # encode() tokenizes the whole corpus in one pass; it must not change a token
    ref = Tokenizer13a()
    texts = alpaca_en[:300] + alpaca_eval_instructions[:100] + EDGE
    batch, name = tokenize(texts, "13a")
    assert name == "13a"
    assert batch == [ref(t.replace("\x00", " ").rstrip()).split() for t in texts]
    lower, _ = tokenize(texts, "13a", lowercase=True)
    assert lower == [ref(t.replace("\x00", " ").lower().rstrip()).split() for t in texts]


@pytest.mark.integration
def test_zh_equals_sacrebleu_on_real_text(alpaca_en, alpaca_zh):
    ref = TokenizerZh()
    for text in alpaca_zh[:400] + alpaca_en[:100]:
        assert tokenize_zh(text) == ref(text.rstrip()).split()


def test_zh_keeps_sacrebleu_range_quirk():
    # sacrebleu treats U+2014 (em dash) and U+2026 (ellipsis) as "Chinese" characters
    text = "a\u2014b\u2026c 中文"
    assert tokenize_zh(text) == TokenizerZh()(text).split() == ["a", "\u2014", "b", "\u2026", "c", "中", "文"]


def test_auto_splits_chinese_into_characters_and_normalises():
    toks, name = tokenize(["我爱北京天安门，Hello, World！ ＡＢＣ"], "auto")
    assert name == "auto"
    assert toks[0] == ["我", "爱", "北", "京", "天", "安", "门", ",", "Hello", ",", "World", "!", "ABC"]


def test_auto_lowercase_and_scripts():
    toks, _ = tokenize(["Ärger über naïve Cafés — ok?", "हिन्दी भाषा", "こんにちは世界"], "auto", lowercase=True)
    assert toks[0] == ["ärger", "über", "naïve", "cafés", "—", "ok", "?"]
    assert toks[1] == ["हिन्दी", "भाषा"]  # vowel signs stay inside the word
    assert toks[2] == list("こんにちは世界")


def test_auto_batch_equals_one_by_one_and_keeps_empty():
    texts = ["a b", "", "中\x00文", "  ", "x"]
    batch, _ = tokenize(texts, "auto")
    assert batch == [tokenize([t], "auto")[0][0] for t in texts]
    assert batch[1] == [] and batch[3] == []
    assert batch[2] == ["中", "文"]  # a NUL inside a text does not split documents


def test_other_tokenizers():
    assert tokenize(["a  b\tc"], "whitespace")[0] == [["a", "b", "c"]]
    assert tokenize(["ab c"], "char")[0] == [["a", "b", "c"]]
    toks, name = tokenize([["Hello", "World"]], "13a", lowercase=True)
    assert name == "pre" and toks == [["hello", "world"]]
    jieba_toks, _ = tokenize(["我爱北京天安门"], "jieba")
    assert "".join(jieba_toks[0]) == "我爱北京天安门" and 1 < len(jieba_toks[0]) < 7
    intl, _ = tokenize(["Hello, world!"], "intl")
    assert intl == [["Hello", ",", "world", "!"]]


def test_encode_matches_token_lists(alpaca_zh):
    texts = alpaca_zh[:50] + ["", "a"]
    enc = encode(texts, "auto")
    toks, _ = tokenize(texts, "auto")
    inv = {}
    ids = iter(enc.ids.tolist())
    rebuilt = [[next(ids) for _ in t] for t in toks]
    for t, r in zip(toks, rebuilt):
        for tok, i in zip(t, r):
            assert inv.setdefault(i, tok) == tok
    assert list(enc.lengths) == [len(t) for t in toks]


def test_errors():
    with pytest.raises(ConfigError, match="unknown tokenizer 'spaces'"):
        tokenize(["a"], "spaces")
    with pytest.raises(DataError, match="record 1: expected a string, got int"):
        tokenize(["a", 3], "auto")
    with pytest.raises(DataError, match="record 1"):
        tokenize([["a"], ["b", 2]], "auto")
