"""Length-sorted batches: every item once, budgets kept, less padding than greedy filling."""

import random

from evalsuite.backends.hf import HFBackend, HFConfig, _Prepared


def batches(lengths, cached=0, **config):
    backend = HFBackend.__new__(HFBackend)  # only the config is needed to batch
    backend.config = HFConfig(model="unused", **config)
    items = [_Prepared(index=i, context=[0] * n, option_tokens=[1], continuations=None) for i, n in enumerate(lengths)]
    return [[len(p.context) for p in b] for b in backend._batches(items, lambda p: len(p.context), cached)]


def cost(split):
    return sum(len(b) * max(b) + HFBackend.BATCH_OVERHEAD_TOKENS for b in split)


def greedy(lengths, batch_size, max_tokens):
    out, batch = [], []
    for n in sorted(lengths, reverse=True):
        if batch and (len(batch) + 1 > batch_size or (len(batch) + 1) * batch[0] > max_tokens):
            out.append(batch)
            batch = []
        batch.append(n)
    return out + [batch]


def test_budgets_and_coverage():
    rng = random.Random(0)
    lengths = [rng.randint(5, 400) for _ in range(300)]
    split = batches(lengths, cached=50, batch_size=16, max_batch_tokens=1024, max_batch_context=4096)
    assert sorted(n for b in split for n in b) == sorted(lengths)
    for b in split:
        assert b == sorted(b, reverse=True)
        assert len(b) <= 16
        assert len(b) == 1 or (len(b) * b[0] <= 1024 and len(b) * (b[0] + 50) <= 4096)
    assert cost(split) < cost(greedy(lengths, 16, 1024))


def test_separates_lengths_instead_of_padding():
    # greedy would put 100 with the three 10s (4 x 100 tokens); apart they cost 100 + 30
    assert batches([100, 10, 10, 10], batch_size=8, max_batch_tokens=1024) == [[100], [10, 10, 10]]
    assert batches([]) == []
    assert batches([2000]) == [[2000]]  # one item longer than the token budget still runs
