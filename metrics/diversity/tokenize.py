"""One tokenizer layer for every n-gram metric.

``tokenize(texts, tokenizer, lowercase)`` turns raw strings into token lists;
pre-tokenized input (lists of strings) passes through unchanged and is signed
``tok:pre``. Names:

- ``auto``: NFKC-normalised; Han characters and kana are single tokens (so a
  Chinese answer never collapses into one "word" per sentence), other scripts
  split into words (runs of letters, digits, underscores and the combining
  marks that follow them), and every punctuation or symbol character is a
  token of its own.
- ``whitespace``: ``str.split()``.
- ``char``: every non-space character.
- ``13a`` / ``zh``: sacrebleu's tokenizers, re-implemented here so that the
  metrics need nothing but the standard library (tests check them against
  sacrebleu on real text).
- ``intl``: sacrebleu's ``intl`` tokenizer (needs sacrebleu installed).
- ``jieba``: jieba word segmentation for Chinese (needs jieba installed).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

from evalsuite.errors import ConfigError, DataError

TOKENIZERS = ("auto", "whitespace", "char", "13a", "zh", "intl", "jieba")

# Han ideographs (incl. extensions and compatibility forms) and Japanese kana
# become single tokens. Hangul is left alone: Korean separates words with spaces.
_CJK = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
# Python's \w does not match combining marks, which would cut Devanagari and
# other Indic words at every vowel sign; marks after a letter stay in the word.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
)
# Alternatives ordered by frequency, because the regex engine tries them in
# order at every token: a plain ASCII word (not continued by another letter or
# mark), any other word, a CJK character, a punctuation/symbol character.
_AUTO_RE = re.compile(
    rf"[a-zA-Z0-9]+(?![^\W{_CJK}]|[{_MARKS}])"
    rf"|[^\W{_CJK}]+(?:[{_MARKS}]+[^\W{_CJK}]*)*"
    rf"|[{_CJK}]"
    rf"|[^\w\s]"
)
# Documents are tokenized in one regex pass over the joined corpus; this
# separator becomes its own token (the punctuation branch matches it) and
# marks the boundaries. A NUL inside a text is replaced by a space first.
SEP = "\x00"


# --- sacrebleu 13a / zh (Apache-2.0, sacrebleu/tokenizers/tokenizer_{re,13a,zh}.py) ---
_RE_13A = [
    # sacrebleu's class starts its third range at the space (" -&"); padding a
    # space with spaces changes nothing after split() and no later rule looks
    # at it differently, so the range starts at "!" here: the same tokens
    # with one substitution per punctuation mark instead of one per word gap.
    (re.compile(r"([\{-\~\[-\`!-\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]

# sacrebleu's table, copied verbatim including its quirks: '\u20000' is the two
# characters '\u2000' '0', so that "range" really spans U+2001..U+2A6C (general
# punctuation, arrows, maths symbols ...) and no astral character is matched.
# Comparing strings exactly as sacrebleu does keeps the token streams equal.
_ZH_RANGES = [
    ("\u3400", "\u4db5"), ("\u4e00", "\u9fa5"), ("\u9fa6", "\u9fbb"), ("\uf900", "\ufa2d"),
    ("\ufa30", "\ufa6a"), ("\ufa70", "\ufad9"), ("\u20000", "\u2a6d6"), ("\u2f800", "\u2fa1d"),
    ("\uff00", "\uffef"), ("\u2e80", "\u2eff"), ("\u3000", "\u303f"), ("\u31c0", "\u31ef"),
    ("\u2f00", "\u2fdf"), ("\u2ff0", "\u2fff"), ("\u3100", "\u312f"), ("\u31a0", "\u31bf"),
    ("\ufe10", "\ufe1f"), ("\ufe30", "\ufe4f"), ("\u2600", "\u26ff"), ("\u2700", "\u27bf"),
    ("\u3200", "\u32ff"), ("\u3300", "\u33ff"),
]


@lru_cache(maxsize=1)
def _zh_table() -> dict[int, str]:
    table = {}
    for cp in range(0x10000):
        ch = chr(cp)
        if any(start <= ch <= end for start, end in _ZH_RANGES):
            table[cp] = f" {ch} "
    return table


def _post_13a(line: str) -> list[str]:
    for pattern, repl in _RE_13A:
        line = pattern.sub(repl, line)
    return line.split()


def tokenize_13a(text: str) -> list[str]:
    """sacrebleu's ``13a`` tokenizer (mteval-v13a), as a token list."""
    line = text.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return _post_13a(f" {line} ")


def flat_13a(texts: Sequence[str], lowercase: bool = False) -> list[str]:
    """13a tokens of all ``texts`` in one list, documents separated by ``SEP``.

    13a pads every text with a space on both sides and its rules look at most
    one character beyond a '.', ',' or '-', so running the substitutions once
    over the padded, SEP-joined corpus gives the same tokens as one call per
    text, at a fraction of the interpreter overhead.
    """
    parts = []
    for t in texts:
        line = t.replace(SEP, " ").rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
        parts.append(line)
    joined = f" {SEP} ".join(f" {p} " for p in parts)
    if "&" in joined:
        joined = joined.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    if lowercase:
        joined = joined.lower()
    return _post_13a(joined)


def tokenize_zh(text: str) -> list[str]:
    """sacrebleu's ``zh`` tokenizer: Chinese characters split, the rest as 13a."""
    return _post_13a(text.rstrip().strip().translate(_zh_table()))


def _tokenize_intl(text: str) -> list[str]:
    try:
        from sacrebleu.tokenizers.tokenizer_intl import TokenizerV14International
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("tokenizer 'intl' needs sacrebleu: pip install sacrebleu") from exc
    return TokenizerV14International()(text.rstrip()).split()


def _tokenize_jieba(text: str) -> list[str]:
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("tokenizer 'jieba' needs jieba: pip install jieba (or evalsuite[zh])") from exc
    jieba.setLogLevel(60)
    return [t for t in jieba.lcut(text) if not t.isspace()]


def _normalize_auto(text: str) -> str:
    # the quick check is much cheaper than normalising text that already is
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


_SIMPLE: dict[str, Callable[[str], list[str]]] = {
    "whitespace": str.split,
    "char": lambda t: [c for c in t if not c.isspace()],
    "13a": tokenize_13a,
    "zh": tokenize_zh,
    "intl": _tokenize_intl,
    "jieba": _tokenize_jieba,
}


def check_tokenizer(name: str) -> str:
    if name not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return name


def is_pretokenized(texts: Sequence) -> bool:
    """True when ``texts`` is a sequence of token lists rather than strings."""
    for item in texts:
        if isinstance(item, str):
            return False
        if isinstance(item, (list, tuple)):
            return True
        raise DataError(f"record 0: expected a string or a list of token strings, got {type(item).__name__}")
    return False


def check_strings(texts: Sequence) -> None:
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(
                f"record {i}: expected a string, got {type(t).__name__} ({t!r:.60}); "
                "pass all raw strings or all token lists"
            )


def tokenize(texts: Sequence, tokenizer: str = "auto", lowercase: bool = False) -> tuple[list[list[str]], str]:
    """Tokenize ``texts``; returns ``(token_lists, signature_name)``.

    Pre-tokenized input is returned as lists (lowercased if asked) with the
    signature name ``pre``.
    """
    check_tokenizer(tokenizer)
    if is_pretokenized(texts):
        out = []
        for i, toks in enumerate(texts):
            if isinstance(toks, str) or not all(isinstance(t, str) for t in toks):
                raise DataError(f"record {i}: expected a list of token strings, got {toks!r:.60}")
            out.append([t.lower() for t in toks] if lowercase else list(toks))
        return out, "pre"
    check_strings(texts)
    if tokenizer in ("auto", "13a"):
        return _split_flat(flat_tokens(texts, tokenizer, lowercase), len(texts)), tokenizer
    fn = _SIMPLE[tokenizer]
    if lowercase:
        return [fn(t.lower()) for t in texts], tokenizer
    return [fn(t) for t in texts], tokenizer


def auto_flat(texts: Sequence[str], lowercase: bool) -> list[str]:
    """All tokens of ``texts`` in one list, documents separated by ``SEP``."""
    # the NFKC quick check is far cheaper than normalising, and most texts pass it
    joined = SEP.join(_normalize_auto(t.replace(SEP, " ") if SEP in t else t) for t in texts)
    if lowercase:
        joined = joined.lower()
    return _AUTO_RE.findall(joined)


def flat_tokens(texts: Sequence[str], tokenizer: str, lowercase: bool) -> list[str]:
    """Tokens of all texts in one list with ``SEP`` between documents (auto and 13a)."""
    return auto_flat(texts, lowercase) if tokenizer == "auto" else flat_13a(texts, lowercase)


def _split_flat(flat: list[str], n_docs: int) -> list[list[str]]:
    if n_docs == 0:
        return []
    out: list[list[str]] = []
    current: list[str] = []
    for tok in flat:
        if tok == SEP:
            out.append(current)
            current = []
        else:
            current.append(tok)
    out.append(current)
    if len(out) != n_docs:  # pragma: no cover - the separator is removed from the texts
        raise AssertionError(f"lost a document boundary: {len(out)} documents for {n_docs} texts")
    return out
