"""The result every metric returns, and its signature string."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

METRICS_VERSION = "0.1.0"


def make_signature(name: str, **options: Any) -> str:
    """``name|key:value|...|v:VERSION`` in the order given, as sacrebleu does.

    Every option that changes the number belongs in it, so two numbers with
    equal signatures were computed the same way.
    """
    parts = [name] + [f"{k}:{_fmt(v)}" for k, v in options.items() if v is not None] + [f"v:{METRICS_VERSION}"]
    return "|".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@dataclass(frozen=True)
class MetricResult:
    """A metric value with its confidence interval (when asked) and signature.

    ``n`` counts the responses the value was computed on, ``n_groups`` the
    prompts (within-prompt mode) and ``details`` holds secondary numbers (e.g.
    per-response distinct next to corpus distinct, empty-response counts).
    """

    name: str
    value: float
    signature: str
    ci: tuple[float, float] | None = None
    n: int = 0
    n_groups: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "ci": None if self.ci is None else [_json_float(self.ci[0]), _json_float(self.ci[1])],
            "signature": self.signature,
            "n": self.n,
            "n_groups": self.n_groups,
            "details": {k: _json_float(v) if isinstance(v, float) else v for k, v in self.details.items()},
        }

    def __str__(self) -> str:
        ci = "" if self.ci is None else f" [{self.ci[0]:.4f}, {self.ci[1]:.4f}]"
        return f"{self.value:.4f}{ci} ({self.signature})"


def _json_float(x: float) -> float | None:
    # NaN (an undefined value, e.g. self-BLEU of a single response) is not JSON.
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _signature_fields(signature: str) -> dict[str, str]:
    head, *rest = signature.split("|")
    fields = {"": head}
    for part in rest:
        k, _, v = part.partition(":")
        fields[k] = v
    return fields


def signature_diff(a: str, b: str) -> str:
    """The options two signatures disagree on, as text ("" when equal)."""
    fa, fb = _signature_fields(a), _signature_fields(b)
    diff = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
    text = ", ".join(f"{k or 'metric'}: {fa.get(k)} vs {fb.get(k)}" for k in diff)
    if "N" in diff:
        text += " (pooled metrics depend on N; use the same sample size)"
    return text


def check_comparable(*results: MetricResult) -> bool:
    """Warn (and return False) when results were computed in ways that differ.

    A pooled statistic such as self-BLEU grows with the number of responses
    pooled (``N`` in the signature), so numbers with different ``N`` do not
    compare; the same goes for tokenizers, orders and the like.
    """
    ok = True
    for other in results[1:]:
        diff = signature_diff(results[0].signature, other.signature)
        if diff:
            ok = False
            warnings.warn(f"results are not comparable: {diff}", stacklevel=2)
    return ok
