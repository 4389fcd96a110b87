"""Statistics of pairwise judge verdicts: win rates, order and length bias, Bradley-Terry.

An *outcome* is one comparison seen from one side: ``"win"``, ``"tie"`` or
``"loss"``; ``None`` marks a verdict that could not be parsed. Unparseable
verdicts are counted and left out of every statistic, never guessed.

Conventions follow the projects whose numbers people compare with:

- win rate with ties = (wins + 0.5 ties) / n (MT-Bench's ``win_rate_adjusted``);
- judging in both orders, a disagreement between the orders is a tie, and a
  comparison with an unparseable verdict in either order is dropped
  (FastChat ``show_result.py``);
- AlpacaEval's soft win rate is mean(preference - 1) with preference in
  [1, 2] (2 = the evaluated output wins, 1.5 = tie, legacy 0 = tie), its
  standard error the sample standard error (ddof=1); the discrete win rate
  rounds each preference to 1 or 2 first, exact draws counting one half.

Values are fractions in [0, 1]; AlpacaEval and FastChat print them x100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.bootstrap import mean_ci, percentile_interval, unit_weights
from evalsuite.metrics.judging.bradley_terry_fit import (
    STYLE_FEATURES, strongly_connected, credit_matrix, design_log_likelihood, fit_bradley_terry, fit_logistic,
    log_likelihood, style_design,
)
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import make_signature

WIN, TIE, LOSS = "win", "tie", "loss"
OUTCOMES = (WIN, TIE, LOSS)
SCORE = {WIN: 1.0, TIE: 0.5, LOSS: 0.0}
FLIP = {WIN: LOSS, TIE: TIE, LOSS: WIN, None: None}
# Defaults of the two statistics that carry an interval unless told otherwise.
WIN_RATE_CI = Resampling(ci=True)
BRADLEY_TERRY_CI = Resampling(ci=True, n_boot=200)


def _check_outcomes(outcomes: Iterable[str | None]) -> list[str | None]:
    out = list(outcomes)
    for i, o in enumerate(out):
        if o is not None and o not in SCORE:
            raise DataError(f"outcome {i} is {o!r}; expected one of {OUTCOMES} or None for an unparseable verdict")
    return out


def _sem(values: np.ndarray) -> float:
    # Sample standard error (ddof=1), as pandas' .sem() that AlpacaEval reports.
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


@dataclass(frozen=True)
class WinRate:
    """(wins + 0.5 ties) / n over parsed verdicts, with a bootstrap CI and standard error."""

    value: float
    standard_error: float
    ci: tuple[float, float] | None
    wins: int
    ties: int
    losses: int
    n: int
    unparseable: int
    signature: str

    @property
    def win_only_rate(self) -> float:
        """wins / n: FastChat's ``win_rate`` column (ties count nothing)."""
        return self.wins / self.n if self.n else float("nan")

    @property
    def loss_rate(self) -> float:
        return self.losses / self.n if self.n else float("nan")


def win_rate(outcomes: Iterable[str | None], *, resampling: Resampling = WIN_RATE_CI) -> WinRate:
    """Win rate with ties counted as half a win; ``None`` outcomes are counted as unparseable and excluded.

    The interval is a seeded percentile bootstrap over comparisons, as ``resampling`` says.
    """
    out = _check_outcomes(outcomes)
    parsed = [o for o in out if o is not None]
    scores = np.array([SCORE[o] for o in parsed], dtype=float)
    n = len(scores)
    value = float(scores.mean()) if n else float("nan")
    interval = None
    if resampling.ci:
        interval = mean_ci(scores, resampling) if n else (math.nan, math.nan)
    return WinRate(
        value=value,
        standard_error=_sem(scores),
        ci=interval,
        wins=parsed.count(WIN),
        ties=parsed.count(TIE),
        losses=parsed.count(LOSS),
        n=n,
        unparseable=len(out) - n,
        signature=make_signature(
            "winrate", ties="half", ci=resampling.label(), seed=resampling.seed if resampling.ci else None
        ),
    )


def combine_orders(first: str | None, second: str | None) -> str | None:
    """One outcome from a comparison judged in both orders.

    Both outcomes are seen from the same side (the swapped order's verdict
    already mapped back to the models). Equal outcomes stand; a disagreement
    is a tie; an unparseable verdict in either order makes the pair unparseable.
    """
    _check_outcomes((first, second))
    if first is None or second is None:
        return None
    return first if first == second else TIE


@dataclass(frozen=True)
class OrderConsistency:
    """How often the two orders of one comparison disagree (position bias).

    ``first_position_favoured`` counts pairs where whichever answer was shown
    first won in both orders; ``second_position_favoured`` the reverse.
    """

    share_inconsistent: float
    inconsistent: int
    n_pairs: int
    first_position_favoured: int
    second_position_favoured: int
    unparseable: int


def position_bias(first: Sequence[str | None], second: Sequence[str | None]) -> OrderConsistency:
    """Share of order-inconsistent verdicts over pairs parsed in both orders.

    ``first[i]`` and ``second[i]`` are outcomes for the same side, the side
    shown first in the original order and second in the swapped order.
    """
    if len(first) != len(second):
        raise DataError(f"got {len(first)} first-order and {len(second)} swapped-order outcomes; give one of each per pair")
    _check_outcomes(first)
    _check_outcomes(second)
    pairs = [(a, b) for a, b in zip(first, second) if a is not None and b is not None]
    inconsistent = sum(a != b for a, b in pairs)
    return OrderConsistency(
        share_inconsistent=inconsistent / len(pairs) if pairs else float("nan"),
        inconsistent=inconsistent,
        n_pairs=len(pairs),
        # The side was first in order 1 and second in order 2: winning order 1
        # and losing order 2 means the first-shown answer won both times.
        first_position_favoured=sum(a == WIN and b == LOSS for a, b in pairs),
        second_position_favoured=sum(a == LOSS and b == WIN for a, b in pairs),
        unparseable=len(first) - len(pairs),
    )


@dataclass(frozen=True)
class LengthBias:
    """Share of decisive verdicts (no tie, lengths differ) that the longer answer won."""

    share_longer_wins: float
    longer_wins: int
    n_decisive: int


def longer_answer_win_share(
    outcomes: Sequence[str | None], lengths: Sequence[float], opponent_lengths: Sequence[float]
) -> LengthBias:
    """Length bias: how often the longer of two answers won, among decisive verdicts.

    0.5 means no preference for length; ties, unparseable verdicts and equal
    lengths are left out.
    """
    if not len(outcomes) == len(lengths) == len(opponent_lengths):
        raise DataError(
            f"got {len(outcomes)} outcomes, {len(lengths)} lengths and {len(opponent_lengths)} opponent lengths; "
            "give one of each per comparison"
        )
    _check_outcomes(outcomes)
    decisive = [(o, a, b) for o, a, b in zip(outcomes, lengths, opponent_lengths) if o in (WIN, LOSS) and a != b]
    longer = sum((o == WIN) == (a > b) for o, a, b in decisive)
    return LengthBias(longer / len(decisive) if decisive else float("nan"), longer, len(decisive))


@dataclass(frozen=True)
class SoftWinRate:
    """AlpacaEval's head-to-head numbers for one model against its baseline."""

    value: float
    standard_error: float
    discrete_value: float
    discrete_standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n: int
    unparseable: int
    signature: str


def preference_value(preference: object) -> float | None:
    """A preference as a float in [1, 2], or None when it is missing or out of range.

    Legacy AlpacaEval files write a draw as 0; it reads as 1.5, as AlpacaEval does.
    """
    if preference is None or isinstance(preference, bool) or not isinstance(preference, (int, float)):
        return None
    p = float(preference)
    if p == 0:
        return 1.5
    return p if 1 <= p <= 2 else None  # NaN fails both comparisons


def soft_win_rate(preferences: Iterable[object]) -> SoftWinRate:
    """Soft and discrete win rates of AlpacaEval from preferences in [1, 2] (2 = evaluated output wins).

    Missing, NaN or out-of-range preferences are counted as unparseable and excluded.
    """
    raw = list(preferences)
    values = [preference_value(p) for p in raw]
    prefs = np.array([v for v in values if v is not None], dtype=float)
    soft = prefs - 1
    # AlpacaEval's zero-one rule: round to 1 or 2, an exact 1.5 stays a draw worth one half.
    discrete = np.where(prefs == 1.5, 0.5, np.round(prefs) - 1)
    n = len(prefs)
    return SoftWinRate(
        value=float(soft.mean()) if n else float("nan"),
        standard_error=_sem(soft),
        discrete_value=float(discrete.mean()) if n else float("nan"),
        discrete_standard_error=_sem(discrete),
        n_wins=int((soft > 0.5).sum()),
        n_wins_base=int((soft < 0.5).sum()),
        n_draws=int((prefs == 1.5).sum()),
        n=n,
        unparseable=len(raw) - n,
        signature=make_signature("alpaca_winrate", pref="1-2", draw="1.5", se="ddof1"),
    )


# --- Bradley-Terry ---------------------------------------------------------


@dataclass(frozen=True)
class BradleyTerry:
    """Bradley-Terry strengths by maximum likelihood, ties as half-wins.

    ``strengths`` are natural-log strengths centred to mean zero, so
    P(i beats j) = 1 / (1 + exp(strength_j - strength_i)). ``ratings`` put them
    on the Elo-like scale that Chatbot Arena prints (1000 + 400 log10 odds).
    Bootstrap resamples in which some model won or lost everything have no
    finite estimate; they are skipped and counted in ``n_boot_failed``.
    With style control, strengths are net of the style covariates, whose
    coefficients (per standard deviation of Arena's normalised difference) are
    in ``style_coefficients``; constant features are dropped and listed in ``style_dropped``.
    """

    models: tuple[str, ...]
    strengths: dict[str, float]
    ci: dict[str, tuple[float, float]] | None
    ratings: dict[str, float]
    n_comparisons: int
    unparseable: int
    iterations: int
    log_likelihood: float
    n_boot_failed: int
    signature: str
    style_coefficients: dict[str, float] | None = None
    style_ci: dict[str, tuple[float, float]] | None = None
    style_dropped: tuple[str, ...] = ()

    def win_probability(self, a: str, b: str) -> float:
        return 1.0 / (1.0 + math.exp(self.strengths[b] - self.strengths[a]))


Style = tuple[Mapping[str, float], Mapping[str, float]]


def _parse_comparisons(rows: list, style: Sequence[Style] | None) -> tuple[list, list]:
    if style is not None and len(style) != len(rows):
        raise DataError(f"got {len(style)} style pairs for {len(rows)} comparisons; give one (style_a, style_b) each")
    parsed, parsed_style = [], []
    for idx, row in enumerate(rows):
        if len(row) != 3:
            raise DataError(f"comparison {idx} is {row!r}; expected (model_a, model_b, outcome)")
        a, b, o = row
        _check_outcomes([o])
        if a == b:
            raise DataError(f"comparison {idx} pits {a!r} against itself; a comparison needs two different models")
        if o is not None:
            parsed.append((a, b, o))
            if style is not None:
                missing = [f for f in STYLE_FEATURES if f not in style[idx][0] or f not in style[idx][1]]
                if missing:
                    raise DataError(f"comparison {idx}: style features {missing} missing; give {STYLE_FEATURES}")
                parsed_style.append([[float(s[f]) for f in STYLE_FEATURES] for s in style[idx]])
    return parsed, parsed_style


def _style_fitter(i, j, score, k, parsed_style):
    """(fit(weights) -> (strengths, style coefficients, iterations, log-likelihood), kept feature names)."""
    arr = np.array(parsed_style, dtype=float).reshape(len(i), 2, len(STYLE_FEATURES))
    covariates, keep = style_design(arr[:, 0], arr[:, 1])
    x = np.zeros((len(i), k - 1 + covariates.shape[1]))
    rows = np.arange(len(i))
    for col, sign in ((i, 1.0), (j, -1.0)):
        mask = col > 0  # model 0 is the reference level
        x[rows[mask], col[mask] - 1] = sign
    x[:, k - 1:] = covariates

    def fit(weights):
        credit = credit_matrix(i, j, score, weights, k)
        if not strongly_connected(credit):
            fit_bradley_terry(credit)  # raises the infinite-strengths error
        beta, iterations = fit_logistic(x, score, weights)
        strengths = np.r_[0.0, beta[:k - 1]]
        return strengths - strengths.mean(), beta[k - 1:], iterations, design_log_likelihood(beta, x, score, weights)

    return fit, tuple(f for f, kept in zip(STYLE_FEATURES, keep) if kept)


def bradley_terry(
    comparisons: Iterable[tuple[str, str, str | None]], *, resampling: Resampling = BRADLEY_TERRY_CI,
    style: Sequence[Style] | None = None,
) -> BradleyTerry:
    """Bradley-Terry strengths of every model in ``(model_a, model_b, outcome for a)`` comparisons.

    Ties count as half a win for each side. Confidence intervals are seeded
    percentile bootstraps over comparisons, as ``resampling`` says. ``style``
    (one ``(features of a's answer, features of b's answer)`` per comparison,
    see :func:`style_features`) adds Chatbot Arena's style covariates.
    """
    rows = list(comparisons)
    parsed, parsed_style = _parse_comparisons(rows, style)
    models = tuple(sorted({a for a, _, _ in parsed} | {b for _, b, _ in parsed}))
    index = {m: i for i, m in enumerate(models)}
    i = np.array([index[a] for a, _, _ in parsed], dtype=np.int64)
    j = np.array([index[b] for _, b, _ in parsed], dtype=np.int64)
    score = np.array([SCORE[o] for _, _, o in parsed])
    if style is None:
        def fit(weights):
            w = credit_matrix(i, j, score, weights, len(models))
            beta, iterations = fit_bradley_terry(w)
            return beta, np.zeros(0), iterations, log_likelihood(beta, w)
        kept: tuple[str, ...] = ()
    else:
        if len(models) < 2:
            raise DataError(f"Bradley-Terry needs comparisons between at least 2 models, got {len(models)}")
        fit, kept = _style_fitter(i, j, score, len(models), parsed_style)
    beta, gamma, iterations, ll = fit(np.ones(len(parsed)))

    r = resampling
    intervals = style_ci = None
    failed = 0
    if r.ci:
        samples = np.full((r.n_boot, len(models) + len(kept)), np.nan)
        for b, weights in enumerate(unit_weights(len(parsed), r.n_boot, r.seed)):
            try:
                samples[b] = np.r_[fit(weights.astype(float))[:2]]
            except DataError:
                failed += 1
        intervals = {m: percentile_interval(samples[:, k], r.confidence) for k, m in enumerate(models)}
        style_ci = {f: percentile_interval(samples[:, len(models) + k], r.confidence) for k, f in enumerate(kept)}

    strengths = {m: float(beta[k]) for k, m in enumerate(models)}
    return BradleyTerry(
        models=models, strengths=strengths, ci=intervals,
        ratings={m: 1000 + 400 * s / math.log(10) for m, s in strengths.items()},
        n_comparisons=len(parsed), unparseable=len(rows) - len(parsed), iterations=iterations, log_likelihood=ll,
        n_boot_failed=failed,
        signature=make_signature(
            "bradley_terry", ties="half", fit="newton", centre="mean0", style="arena-v1" if style is not None else None,
            ci=r.label(), seed=r.seed if r.ci else None),
        style_coefficients=None if style is None else {f: float(g) for f, g in zip(kept, gamma)},
        style_ci=style_ci if style is not None else None,
        style_dropped=tuple(f for f in STYLE_FEATURES if f not in kept) if style is not None else (),
    )
