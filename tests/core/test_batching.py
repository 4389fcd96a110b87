"""Length-sorted batches: every item once, budgets kept, less padding than greedy filling."""

import random

import pytest

from evalsuite.backends.hf import HFConfig
from evalsuite.backends.mc_plan import BATCH_OVERHEAD_TOKENS, plan_batches
from evalsuite.errors import ConfigError


def batches(lengths, cached=0, **config):
    """The planner's split of ``lengths`` (sorted longest first) under the hf backend's budgets."""
    budgets = HFConfig(model="unused", **config)
    ordered = sorted(lengths, reverse=True)
    bounds = plan_batches(
        ordered, batch_size=budgets.batch_size, max_batch_tokens=budgets.max_batch_tokens,
        max_batch_context=budgets.max_batch_context, cached=cached,
    )
    return [ordered[first:end] for first, end in bounds]


def cost(split):
    return sum(len(b) * max(b) + BATCH_OVERHEAD_TOKENS for b in split)


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


def test_ranges_are_contiguous_and_unsorted_lengths_are_refused():
    bounds = plan_batches([9, 7, 7, 3, 1], batch_size=2, max_batch_tokens=1024, max_batch_context=65536)
    assert bounds[0][0] == 0 and bounds[-1][1] == 5
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(end - first <= 2 for first, end in bounds)
    with pytest.raises(ConfigError, match="sorted longest first"):
        plan_batches([1, 2], batch_size=4, max_batch_tokens=1024, max_batch_context=65536)
