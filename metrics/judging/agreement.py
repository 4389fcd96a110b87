"""Inter-rater agreement between judges (or judges and humans).

Thin, checked wrappers over maintained implementations, imported when called
so that ``evalsuite.metrics`` stays numpy-only: Krippendorff's alpha
(``krippendorff``), Fleiss' kappa (``statsmodels``), Cohen's (weighted) kappa
(``scikit-learn``) and Spearman's rho (``scipy``). Missing ratings are
``None`` (or NaN); what each statistic does with them is stated per function.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.result import make_signature

LEVELS = ("nominal", "ordinal", "interval", "ratio")
KAPPA_WEIGHTS = (None, "linear", "quadratic")
INSTALL_HINT = "pip install 'evalsuite[judge]' (or: pip install krippendorff statsmodels scikit-learn scipy)"


@dataclass(frozen=True)
class Agreement:
    """An agreement coefficient, how many units and raters it used, and its signature."""

    name: str
    value: float
    signature: str
    n_units: int
    n_raters: int
    details: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{package} is needed for this agreement statistic but is not installed; {INSTALL_HINT}") from exc


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _rows(ratings: Sequence[Sequence[Any]], what: str) -> list[list[Any]]:
    rows = [list(r) for r in ratings]
    if not rows or len({len(r) for r in rows}) != 1:
        raise DataError(f"{what} must be a non-empty rectangular table; got rows of lengths {sorted({len(r) for r in rows})}")
    return rows


def krippendorff_alpha(ratings: Sequence[Sequence[Any]], *, level: str = "ordinal") -> Agreement:
    """Krippendorff's alpha of a raters x units table; ``None``/NaN marks a missing rating.

    Units with fewer than two ratings are unpairable and do not count, as in
    Krippendorff (2011). Nominal ratings may be any hashable labels; the other
    levels need numbers.
    """
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {LEVELS}, got {level!r}")
    rows = _rows(ratings, "ratings (raters x units)")
    values = {x for r in rows for x in r if not _is_missing(x)}
    if level == "nominal":
        # The package wants numbers; nominal labels only need to be told apart.
        code = {v: float(k) for k, v in enumerate(sorted(values, key=repr))}
        data = np.array([[np.nan if _is_missing(x) else code[x] for x in r] for r in rows])
    else:
        bad = [x for x in values if isinstance(x, bool) or not isinstance(x, (int, float))]
        if bad:
            raise DataError(f"{level} alpha needs numeric ratings; got {sorted(map(repr, bad))[:5]}")
        data = np.array([[np.nan if _is_missing(x) else float(x) for x in r] for r in rows])
    if len(values) < 2:
        raise DataError(f"alpha is undefined when every rating is the same value (got {sorted(map(repr, values))}); "
                        "there is no variation to agree on")
    pairable = int(((~np.isnan(data)).sum(axis=0) >= 2).sum())
    krippendorff = _require("krippendorff", "krippendorff")
    value = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    return Agreement(
        name="krippendorff_alpha",
        value=value,
        signature=make_signature("kalpha", level=level, impl=f"krippendorff-{_version('krippendorff')}"),
        n_units=pairable,
        n_raters=len(rows),
        details={"missing": int(np.isnan(data).sum()), "units_total": data.shape[1]},
    )


def fleiss_kappa_counts(counts: Sequence[Sequence[int]]) -> Agreement:
    """Fleiss' kappa of a units x categories table of rater counts (equal raters per unit)."""
    table = np.asarray(_rows(counts, "counts (units x categories)"), dtype=float)
    if (table < 0).any() or (table != np.round(table)).any():
        raise DataError("counts must be non-negative integers (raters per unit and category)")
    per_unit = table.sum(axis=1)
    if len(set(per_unit)) != 1 or per_unit[0] < 2:
        raise DataError(f"Fleiss' kappa needs the same number (>= 2) of raters for every unit; got {sorted(set(per_unit))}")
    inter_rater = _require("statsmodels.stats.inter_rater", "statsmodels")
    value = float(inter_rater.fleiss_kappa(table, method="fleiss"))
    return Agreement(
        name="fleiss_kappa",
        value=value,
        signature=make_signature("fleiss_kappa", impl=f"statsmodels-{_version('statsmodels')}"),
        n_units=len(table),
        n_raters=int(per_unit[0]),
        details={"categories": table.shape[1]},
    )


def fleiss_kappa(ratings: Sequence[Sequence[Any]]) -> Agreement:
    """Fleiss' kappa of a units x raters table of category labels (no missing ratings)."""
    rows = _rows(ratings, "ratings (units x raters)")
    missing = [(i, j) for i, r in enumerate(rows) for j, x in enumerate(r) if _is_missing(x)]
    if missing:
        raise DataError(f"Fleiss' kappa needs every rater to rate every unit; missing at (unit, rater) {missing[:5]}; "
                        "use krippendorff_alpha(level='nominal') for incomplete data")
    categories = sorted({x for r in rows for x in r}, key=repr)
    index = {c: k for k, c in enumerate(categories)}
    counts = np.zeros((len(rows), len(categories)), dtype=int)
    for i, r in enumerate(rows):
        for x in r:
            counts[i, index[x]] += 1
    return fleiss_kappa_counts(counts.tolist())


def _paired(a: Sequence[Any], b: Sequence[Any]) -> tuple[list, list, int]:
    if len(a) != len(b):
        raise DataError(f"the two raters rated {len(a)} and {len(b)} units; give one rating each per unit (None if missing)")
    pairs = [(x, y) for x, y in zip(a, b) if not (_is_missing(x) or _is_missing(y))]
    return [x for x, _ in pairs], [y for _, y in pairs], len(a) - len(pairs)


def cohen_kappa(
    a: Sequence[Any], b: Sequence[Any], *, weights: str | None = None, labels: Sequence[Any] | None = None
) -> Agreement:
    """Cohen's kappa of two raters, unweighted or with ``"linear"``/``"quadratic"`` weights.

    Units a rater left out (None/NaN) are dropped and counted. Weighted kappa
    orders categories as ``labels`` lists them (default: sorted values), so
    pass ``labels`` when a scale point nobody used lies between used ones.
    """
    if weights not in KAPPA_WEIGHTS:
        raise ConfigError(f"weights must be one of {KAPPA_WEIGHTS}, got {weights!r}")
    x, y, dropped = _paired(a, b)
    if len(x) < 2:
        raise DataError(f"Cohen's kappa needs at least 2 units rated by both raters, got {len(x)}")
    metrics = _require("sklearn.metrics", "scikit-learn")
    value = float(metrics.cohen_kappa_score(x, y, weights=weights, labels=None if labels is None else list(labels)))
    return Agreement(
        name="cohen_kappa",
        value=value,
        signature=make_signature("cohen_kappa", weights=weights or "none", impl=f"sklearn-{_version('scikit-learn')}"),
        n_units=len(x),
        n_raters=2,
        details={"dropped_missing": dropped},
    )


def spearman(a: Sequence[float | None], b: Sequence[float | None]) -> Agreement:
    """Spearman's rank correlation of two raters' scores (ties get average ranks); ``details['p_value']``."""
    x, y, dropped = _paired(a, b)
    if len(x) < 3:
        raise DataError(f"Spearman's rho needs at least 3 units rated by both raters, got {len(x)}")
    stats = _require("scipy.stats", "scipy")
    res = stats.spearmanr(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return Agreement(
        name="spearman",
        value=float(res.statistic),
        signature=make_signature("spearman", ties="average", impl=f"scipy-{_version('scipy')}"),
        n_units=len(x),
        n_raters=2,
        details={"p_value": float(res.pvalue), "dropped_missing": dropped},
    )
