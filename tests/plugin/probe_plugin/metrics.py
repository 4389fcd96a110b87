"""Probe metric: the mean number of characters per text."""

from __future__ import annotations

from evalsuite.metrics.resampling import NO_CI
from evalsuite.metrics.result import MetricResult, make_signature


def mean_chars(texts, *, groups=None, mode="across", resampling=NO_CI, **options):
    value = sum(len(t) for t in texts) / len(texts)
    return MetricResult(name="probe_mean_chars", value=value, signature=make_signature("probe_mean_chars"), n=len(texts))
