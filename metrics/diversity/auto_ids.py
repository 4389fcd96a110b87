"""Token ids of the ``auto`` tokenizer, computed on bytes with numpy.

The n-gram metrics need token *ids*, not token strings. Running ``_AUTO_RE``
and a dict over tens of millions of tokens costs about a microsecond a token
in the interpreter (creating, hashing and looking up one ``str`` each); this
module gets the same ids from the UTF-8 bytes of the joined corpus without
creating a string per token:

1. Every character gets a class from a table built once with the very
   character classes ``_AUTO_RE`` uses (space, word, combining mark, single),
   so the two cannot drift apart. Continuation bytes carry their character's
   class.
2. Token boundaries follow from the classes and the previous character's, the
   same rules the regex applies (a word is a maximal run of word characters
   and marks that starts with a word character; every other non-space
   character is a token of its own).
3. A token of at most 8 bytes is identified *exactly* by its bytes read as
   one little-endian uint64 (no token contains a NUL byte, so the length is
   implied). Longer tokens get a 64-bit hash of their 8-byte words, and every
   occurrence is then compared word by word with one representative of its
   hash; if any differs (a collision) the long tokens are numbered with a
   dict instead. The ids are therefore exact, never probabilistic.
4. ``pandas.factorize`` numbers the keys (a hash table of the distinct keys
   only, so it stays in cache).

Tests check the token partition against ``_AUTO_RE`` on real English and
Chinese text and on random strings over every character class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from evalsuite.metrics.diversity.tokenize import _CJK, _MARKS, SEP, _normalize_auto

SPACE, WORD, MARK, SINGLE = 0, 1, 2, 3
_MIX = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """Class of every code point, from the character classes of ``_AUTO_RE``."""
    every = "".join(map(chr, range(0x110000)))
    cls = np.full(0x110000, SINGLE, dtype=np.uint8)
    # later patterns win: a mark that is also a word character is a word character
    for pattern, value in ((rf"[{_MARKS}]+", MARK), (rf"[^\W{_CJK}]+", WORD), (r"\s+", SPACE)):
        for m in re.finditer(pattern, every):
            cls[m.start() : m.end()] = value
    cls[ord(SEP)] = SPACE  # the document separator ends a token and is none
    return cls


def _char_lengths(first: np.ndarray) -> np.ndarray:
    """Bytes in the UTF-8 character whose lead byte is ``first``."""
    n = np.ones(len(first), dtype=np.int64)
    n[first >= 0xC0] = 2
    n[first >= 0xE0] = 3
    n[first >= 0xF0] = 4
    return n


def _byte_classes(b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(class of each byte's character, lead-byte flags or None for ASCII, lead
    positions of multi-byte characters)."""
    table = char_classes()
    cls = table[:256][b]  # right for ASCII; multi-byte characters are patched below
    multi = np.flatnonzero(b >= 0xC0)
    if len(multi) == 0:
        return cls, None, multi
    first = b[multi].astype(np.uint32)
    n = _char_lengths(first)
    cp = first & np.where(n == 2, 0x1F, np.where(n == 3, 0x0F, 0x07)).astype(np.uint32)
    for k in (1, 2, 3):
        more = n > k
        cp[more] = (cp[more] << 6) | (b[multi[more] + k].astype(np.uint32) & 0x3F)
    char_cls = table[cp]
    lead = np.ones(len(b), dtype=bool)
    for k in (0, 1, 2, 3):  # every byte of the character gets its class
        part = n > k
        cls[multi[part] + k] = char_cls[part]
        if k:
            lead[multi[part] + k] = False
    return cls, lead, multi


def _previous_lead(lead: np.ndarray | None, pos: np.ndarray) -> np.ndarray:
    """Lead byte of the character before each position (-1 at the start)."""
    prev = pos - 1
    if lead is None:
        return prev
    for _ in range(3):  # a character has at most 4 bytes
        back = (prev >= 0) & ~lead[np.maximum(prev, 0)]
        prev[back] -= 1
    return prev


def _token_starts(cls: np.ndarray, lead: np.ndarray | None, multi: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True at the first byte of every token."""
    nonspace = cls != SPACE
    word = cls == WORD
    marks = multi[cls[multi] == MARK] if len(multi) else multi
    if len(marks) == 0:
        in_word = cont = word
    else:
        cont = word | (cls == MARK)
        # a run of word characters and marks is one token from its first word
        # character on; a mark before it is a token of its own. Marks are
        # resolved from the character before them, repeatedly along chains.
        in_word = cont.copy()
        prev = _previous_lead(lead, marks)
        prev_cls = np.where(prev >= 0, cls[np.maximum(prev, 0)], SPACE)
        resolved = np.where(prev_cls == WORD, 1, np.where(prev_cls == MARK, -1, 0))
        mark_index = {p: i for i, p in enumerate(marks.tolist())} if (resolved == -1).any() else {}
        while (resolved == -1).any():
            todo = np.flatnonzero(resolved == -1)
            before = np.fromiter((mark_index[p] for p in prev[todo].tolist()), dtype=np.int64, count=len(todo))
            known = resolved[before] != -1
            resolved[todo[known]] = resolved[before[known]]
        lengths = _char_lengths(b[marks])
        for k in range(4):
            part = (resolved == 0) & (lengths > k)
            in_word[marks[part] + k] = False
    start = nonspace if lead is None else lead & nonspace
    start[1:] &= ~(cont[1:] & in_word[:-1])
    return start


def _windows(b: np.ndarray) -> np.ndarray:
    """uint64 little-endian view of the 8 bytes starting at every position."""
    padded = np.zeros(len(b) + 8, dtype=np.uint8)
    padded[: len(b)] = b
    return np.ndarray(shape=(len(b) + 1,), dtype="<u8", buffer=padded, offset=0, strides=(1,))


_KEEP = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _masked(words: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """Keep the first ``remaining`` bytes of each word (all 8 when 8 or more)."""
    return words & _KEEP[np.minimum(remaining, 8)]


def _long_keys(win: np.ndarray, starts: np.ndarray, nbytes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """64-bit hash of tokens longer than 8 bytes, and their 8-byte words."""
    words = []
    h = nbytes.astype(np.uint64) * _MIX
    for k in range(int((nbytes.max() + 7) // 8)):
        active = np.flatnonzero(nbytes > 8 * k)
        w = _masked(win[starts[active] + 8 * k], nbytes[active] - 8 * k)
        words.append((active, w))
        mult = np.uint64((0x2545F4914F6CDD1D * (2 * k + 1)) & 0xFFFFFFFFFFFFFFFF) | np.uint64(1)
        h[active] = (h[active] ^ w) * mult
        h[active] ^= h[active] >> np.uint64(29)
    return h, words


def _verified(codes: np.ndarray, nbytes: np.ndarray, words: list) -> bool:
    """True when every token equals the representative of its code, word by word."""
    rep = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    rep[codes] = np.arange(len(codes))
    other = rep[codes]
    if not np.array_equal(nbytes[other], nbytes):
        return False
    position = np.empty(len(codes), dtype=np.int64)
    for active, w in words:
        position[active] = np.arange(len(active))
        if not np.array_equal(w[position[other[active]]], w):
            return False
    return True


def _number_long(b: np.ndarray, starts: np.ndarray, nbytes: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, int]:
    import pandas as pd

    h, words = _long_keys(win, starts, nbytes)
    codes, uniques = pd.factorize(h)
    if _verified(codes, nbytes, words):
        return codes.astype(np.int64), len(uniques)
    # a 64-bit collision: number these tokens by their bytes instead
    raw = b.tobytes()
    vocab: dict[bytes, int] = {}
    out = np.fromiter(
        (vocab.setdefault(raw[s : s + n], len(vocab)) for s, n in zip(starts.tolist(), nbytes.tolist())),
        dtype=np.int64, count=len(starts),
    )
    return out, len(vocab)


def auto_token_ids(texts: Sequence[str], lowercase: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """``(ids, offsets, vocab_size)`` of the ``auto`` tokens of ``texts``.

    ``ids`` holds every token's id (dense, 0..vocab_size-1, equal exactly when
    the tokens are equal); document ``k``'s tokens are
    ``ids[offsets[k]:offsets[k + 1]]``.
    """
    import pandas as pd

    joined = SEP.join(_normalize_auto(t.replace(SEP, " ") if SEP in t else t) for t in texts)
    if lowercase:
        joined = joined.lower()
    b = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    cls, lead, multi = _byte_classes(b)
    start = _token_starts(cls, lead, multi, b)
    starts = np.flatnonzero(start)
    # a token's last byte is followed by the next token's start or a space
    last = cls != SPACE
    last[:-1] &= start[1:] | (cls[1:] == SPACE)
    ends = np.flatnonzero(last) + 1
    nbytes = ends - starts

    win = _windows(b)
    ids = np.empty(len(starts), dtype=np.int64)
    short = nbytes <= 8
    codes, uniques = pd.factorize(_masked(win[starts[short]], nbytes[short]))
    ids[short] = codes
    n_short = len(uniques)
    vocab_size = n_short
    long_ = np.flatnonzero(~short)
    if len(long_):
        codes, n_long = _number_long(b, starts[long_], nbytes[long_], win)
        ids[long_] = codes + n_short
        vocab_size += n_long
    seps = np.flatnonzero(b == 0)
    offsets = np.concatenate([[0], np.searchsorted(starts, seps), [len(starts)]]).astype(np.int64)
    return ids, offsets, vocab_size
