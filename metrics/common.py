"""Shared plumbing: grouping by prompt, the two modes, and confidence intervals.

Every metric is defined by up to two statistics:

- ``pooled(doc_weights) -> float``: the metric over all responses, each
  response counted ``doc_weights[i]`` times (all ones for the plain value;
  bootstrap multiplicities for a confidence interval).
- ``per_group(group_index, n_groups) -> array``: the metric within each prompt.

``mode="across"`` reports ``pooled(ones)`` (the "every answer looks the same"
view); ``mode="within"`` reports the mean over prompts of ``per_group`` (the
spread among the N samples one prompt got). Intervals resample prompts when
``groups`` is given, otherwise single responses: a percentile bootstrap of the
mean over prompts in within mode, centred half-sampling for the pooled value
in across mode (see ``bootstrap.py`` for why the plain bootstrap is biased there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.bootstrap import half_sample_ci, mean_ci
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import MetricResult, make_signature

MODES = ("across", "within")


def group_index(groups: Sequence | None, n_docs: int) -> tuple[np.ndarray, int]:
    """Dense group ids in order of first appearance (one group per doc if None)."""
    if groups is None:
        return np.arange(n_docs, dtype=np.int64), n_docs
    if len(groups) != n_docs:
        raise ConfigError(f"groups has {len(groups)} entries but there are {n_docs} texts; give one group id per text")
    seen: dict[Any, int] = {}
    idx = np.fromiter((seen.setdefault(g, len(seen)) for g in groups), dtype=np.int64, count=n_docs)
    return idx, len(seen)


def check_mode(mode: str, groups: Sequence | None) -> None:
    """A ConfigError unless ``mode`` is known and, for ``within``, ``groups`` are given."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "within" and groups is None:
        raise ConfigError("mode='within' needs groups (one prompt id per text)")


def group_means(values: np.ndarray, gidx: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of per-doc ``values`` within each group (NaN for an empty group)."""
    sums = np.bincount(gidx, weights=values, minlength=n_groups)
    counts = np.bincount(gidx, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def weighted_mean(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """The pooled statistic of a per-response metric: the mean of ``values`` under response weights."""
    def pooled(w: np.ndarray) -> float:
        s = w.sum()
        return float(np.dot(w, values) / s) if s else float("nan")

    return pooled


def finish(
    name: str,
    sig_options: dict,
    *,
    n_docs: int,
    groups: Sequence | None,
    mode: str,
    resampling: Resampling,
    per_doc: np.ndarray | None = None,
    pooled: Callable[[np.ndarray], float] | None = None,
    per_group: Callable[[np.ndarray, int], np.ndarray] | None = None,
    details: dict | None = None,
    bounds: tuple[float | None, float | None] = (0.0, None),
) -> MetricResult:
    """The metric's value in ``mode`` (and its interval, as ``resampling`` says) as a MetricResult.

    A metric that is a mean of one number per response passes ``per_doc``;
    the others pass their ``pooled`` and ``per_group`` statistics.
    """
    check_mode(mode, groups)
    if per_doc is not None:
        pooled, per_group = weighted_mean(per_doc), lambda gidx, n_groups: group_means(per_doc, gidx, n_groups)
    gidx, n_groups = group_index(groups, n_docs)
    details = dict(details or {})
    interval = None
    if mode == "within":
        values = np.asarray(per_group(gidx, n_groups), dtype=float)
        defined = ~np.isnan(values)
        value = float(values[defined].mean()) if defined.any() else float("nan")
        details["groups_undefined"] = int((~defined).sum())
        if resampling.ci:
            interval = mean_ci(values, resampling)
    else:
        value = pooled(np.ones(n_docs, dtype=np.int64)) if n_docs else float("nan")
        if resampling.ci:
            interval = half_sample_ci(lambda wu: pooled(wu[gidx]), n_groups, value, resampling)
    opts = {**sig_options, "mode": mode, "ci": ci_label(resampling, mode, grouped=groups is not None)}
    return MetricResult(
        name=name,
        value=value,
        signature=make_signature(name, **opts),
        ci=None if interval is None else clip(interval, bounds),
        n=n_docs,
        n_groups=n_groups if groups is not None else None,
        details=details,
    )


def clip(interval: tuple[float, float], bounds: tuple[float | None, float | None]) -> tuple[float, float]:
    """``interval`` clipped to the metric's range.

    A centred or resampled interval may cross the range (a share below 0);
    the range is known, so the interval is clipped to it.
    """
    lo, hi = interval
    if bounds[0] is not None:
        lo, hi = max(lo, bounds[0]), max(hi, bounds[0])
    if bounds[1] is not None:
        lo, hi = min(lo, bounds[1]), min(hi, bounds[1])
    return (lo, hi)


def ci_label(resampling: Resampling, mode: str, *, grouped: bool) -> str | None:
    """The signature's ``ci`` part, ``0.95/half200/s0/prompt``: level, method and resamples, seed, unit."""
    if not resampling.ci:
        return None
    method = "boot" if mode == "within" else "half"
    unit = "prompt" if grouped else "response"
    return f"{resampling.confidence:g}/{method}{resampling.n_boot}/s{resampling.seed}/{unit}"
