"""Length-controlled win rate: AlpacaEval 2's GLM, fitted exactly as ``alpaca_eval`` fits it.

``alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate`` regresses
each soft preference (preference - 1, in [0, 1]; 1 = the candidate wins) on

    tanh(std_delta_len) + instruction_difficulty + intercept        (no other intercept)

where ``std_delta_len`` is (baseline length - candidate length) divided by the
sample standard deviation (ddof=1) of that difference over every comparison,
and the intercept is the column ``not_gamed_baseline`` (1 for the comparisons
scored, 0 for the two "gamed" baselines of AlpacaEval's reference table). The
fit is sklearn's ``LogisticRegressionCV`` (L1, liblinear, no intercept,
``random_state=123``, 5 ``GroupKFold`` folds over comparisons, each comparison
entered twice — label 1 weighted p, label 0 weighted 1 - p — and the
regularisation chosen by a weighted continuous log loss). The length-controlled
win rate is the mean over comparisons of the fitted probability with the
length difference set to zero.

Three GLMs, as alpaca_eval names them:

- ``length_controlled_v1`` (AlpacaEval 2's published number): the gamed
  baselines' rows from the reference table (``df_gamed.csv`` of the Hub dataset
  ``tatsu-lab/alpaca_eval``) are added to the fit with weight 0.2 / 2 each.
  Needs the table: :func:`read_difficulty_table`.
- ``length_controlled_noreg``: the same terms without the gamed rows; needs the table's difficulties.
- ``length_controlled_minimal``: length and intercept only. Without a table
  (our own checkpoint-against-checkpoint runs, whose prompts have no published
  difficulty) this is what is used; alpaca_eval offers it under this name and
  has no other fallback (its loader downloads the table or fails).

Instructions are matched to the table by text; an instruction the table does
not list is an error naming it (alpaca_eval looks the difficulty up by the
annotation's row position, which silently misaligns or yields NaN when the
annotations are not the 805 instructions in order: its issues 346 and 453).

Unparseable verdicts (preference None) are left out of the fit but, as in
alpaca_eval, still count in the length normalisation and in the average of the
predictions. ``standard_error`` is alpaca_eval's ``lc_standard_error``: the
standard error (ddof=1) of the per-comparison predicted preferences, which
ignores the uncertainty of the fitted coefficients. ``ci`` is the honest
interval: a seeded percentile bootstrap over comparisons, each resample
refitting the GLM (at the cross-validated regularisation) with the resampled
comparisons, the reference table's rows held fixed.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalsuite.errors import DataError
from evalsuite.metrics.bootstrap import percentile_interval, unit_weights
from evalsuite.metrics.judging.pairwise import SCORE, preference_value
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import make_signature

V1, NOREG, MINIMAL = "length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"
GLMS = (V1, NOREG, MINIMAL)
GAMED_WEIGHT = 0.2 / 2  # alpaca_eval: regularize_to_baseline_lambda 0.2, split over its two gamed baselines
LC_CI = Resampling(ci=True, n_boot=200)  # each resample is a GLM fit
# Our coefficient names -> the column names alpaca_eval's patsy formula gives them.
ALPACA_EVAL_TERMS = {"length": "np.tanh(std_delta_len)", "instruction_difficulty": "instruction_difficulty",
                     "intercept": "not_gamed_baseline.astype(float)"}
_TABLE_COLUMNS = ("index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")


@dataclass(frozen=True)
class DifficultyTable:
    """AlpacaEval's reference table: instruction difficulties and the gamed baselines' annotations.

    ``rows`` is the table in file order, columns as :data:`_TABLE_COLUMNS`
    (preference already in [0, 1], NaN when missing); ``difficulty`` maps an
    instruction's text to the difficulty of its first row.
    """

    rows: np.ndarray
    difficulty: dict[str, float]
    source: str


def _cell(path: Path, line: int, row: dict, field: str) -> float:
    raw = (row.get(field) or "").strip()
    if field == "not_gamed_baseline":
        if raw not in ("True", "False", "1", "0", "1.0", "0.0"):
            raise DataError(f"{path}: line {line}, field {field!r} is {raw!r}; expected True or False")
        return float(raw in ("True", "1", "1.0"))
    try:
        return float(raw) if raw else math.nan
    except ValueError:
        raise DataError(f"{path}: line {line}, field {field!r} is {raw!r}, not a number") from None


def read_difficulty_table(path: str | Path, instructions: Sequence[str]) -> DifficultyTable:
    """Read ``df_gamed.csv`` (columns index, preference, std_delta_len, instruction_difficulty, not_gamed_baseline).

    ``instructions[i]`` is the text of the instruction the table calls ``index`` i:
    the AlpacaEval set in its published order (``judging/alpaca_eval_instructions.json``).
    """
    path = Path(path)
    if len(set(instructions)) != len(instructions):
        raise DataError(f"the instruction list for {path} repeats an instruction; each index needs its own text")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in _TABLE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing column(s) {missing}; df_gamed.csv has {list(_TABLE_COLUMNS)}")
            rows = [[_cell(path, n, r, c) for c in _TABLE_COLUMNS] for n, r in enumerate(reader, start=2)]
    except OSError as exc:
        raise DataError(f"cannot read the difficulty table {path}: {exc}") from exc
    table = np.array(rows, dtype=float).reshape(-1, len(_TABLE_COLUMNS))
    difficulty: dict[str, float] = {}
    for n, (idx, _, _, diff, _) in enumerate(table, start=2):
        if not (idx.is_integer() and 0 <= idx < len(instructions)):
            raise DataError(f"{path}: line {n}, field 'index' is {idx:g}; the instruction list has {len(instructions)}")
        difficulty.setdefault(instructions[int(idx)], float(diff))
    return DifficultyTable(rows=table, difficulty=difficulty, source=str(path))


@dataclass(frozen=True)
class LengthControlled:
    """A length-controlled win rate (fraction; AlpacaEval prints x100) with its GLM.

    ``coefficients`` are keyed ``length`` (on tanh of the standardised
    baseline-minus-candidate length; negative when longer candidate answers win),
    ``instruction_difficulty`` (absent in the minimal GLM) and ``intercept``.
    """

    value: float
    standard_error: float
    ci: tuple[float, float] | None
    coefficients: dict[str, float]
    regularization_c: float
    glm: str
    win_rate: float  # the uncontrolled soft win rate over the parsed comparisons
    extreme_change: bool  # alpaca_eval's warning: the control moved the rate implausibly far
    n: int
    n_fit: int
    unparseable: int
    length_unit: str
    signature: str


def outcome_preferences(outcomes: Sequence[str | None]) -> list[float | None]:
    """Outcomes for the candidate as AlpacaEval preferences: win 2, tie 1.5, loss 1, unparseable None."""
    return [None if o is None else 1.0 + SCORE[o] for o in outcomes]


def _sklearn_kwargs() -> dict:
    import sklearn

    base = dict(random_state=123, dual=False, solver="liblinear", n_jobs=None, fit_intercept=False)
    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    # sklearn 1.8 deprecates penalty="l1" for l1_ratios=(1,): the same L1 fit.
    return {**base, "penalty": "l1"} if (major, minor) < (1, 8) else base


def _logloss_continuous(y_true, y_pred, true_prob, true_sample_weight=None):
    # alpaca_eval's CV score, kept term for term so that the chosen regularisation is the same.
    y = np.where(y_true == 1, true_prob, 1 - true_prob)
    y_pred = np.clip(y_pred, 1e-15, 1 - 1e-15)
    ll = y * np.log(y_pred) + (1 - y) * np.log(1 - y_pred)
    if true_sample_weight is not None:
        ll = ll * true_sample_weight
    return -np.mean(ll)


def _fit(x: np.ndarray, p: np.ndarray, weight: np.ndarray | None, c: float | None):
    """alpaca_eval's ``fit_LogisticRegressionCV(is_ytrue_proba=True)``; a plain fit at ``c`` when given."""
    import sklearn
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    m = len(p)
    x2, y = np.vstack([x, x]), np.r_[np.ones(m, int), np.zeros(m, int)]
    true_prob = np.r_[p, 1 - p]
    true_weight = None if weight is None else np.r_[weight, weight]
    sample_weight = true_prob if true_weight is None else true_prob * true_weight
    kwargs = _sklearn_kwargs()
    l1 = {} if "penalty" in kwargs else {"l1_ratio": 1.0}
    with sklearn.config_context(enable_metadata_routing=True):
        if c is not None:
            model = LogisticRegression(C=c, **kwargs, **l1).set_fit_request(sample_weight=True)
            return model.fit(x2, y, sample_weight=sample_weight)
        scorer = make_scorer(_logloss_continuous, response_method="predict_proba", greater_is_better=False)
        scorer = scorer.set_score_request(true_sample_weight=True, true_prob=True)
        cv_extra = {} if "penalty" in kwargs else {"l1_ratios": (1.0,), "use_legacy_attributes": False}
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=5), scoring=scorer, **kwargs, **cv_extra)
        model.set_fit_request(sample_weight=True)
        return model.fit(x2, y, sample_weight=sample_weight, groups=np.r_[np.arange(m), np.arange(m)],
                         true_sample_weight=true_weight, true_prob=true_prob)


def _design(std_delta: np.ndarray, difficulty: np.ndarray | None, intercept: np.ndarray) -> np.ndarray:
    cols = [np.tanh(std_delta)] + ([] if difficulty is None else [difficulty]) + [intercept]
    return np.column_stack(cols)


def _difficulties(instructions: Sequence[str] | None, table: DifficultyTable | None, glm: str) -> np.ndarray | None:
    if glm == MINIMAL:
        return None
    if table is None or instructions is None:
        raise DataError(f"the {glm} GLM needs the instruction-difficulty table (df_gamed.csv) and each comparison's "
                        "instruction; without them use the length_controlled_minimal GLM")
    unmatched = [s for s in dict.fromkeys(instructions) if s not in table.difficulty]
    if unmatched:
        shown = "; ".join(repr(s[:80]) for s in unmatched[:5])
        raise DataError(f"{len(unmatched)} instruction(s) are not in the difficulty table {table.source} "
                        f"({len(table.difficulty)} instructions), e.g. {shown}: the GLM has no difficulty for them; "
                        "score only instructions of the table's set, or use the length_controlled_minimal GLM")
    return np.array([table.difficulty[s] for s in instructions], dtype=float)


def _check_lengths(name: str, values: Sequence[float], n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.shape != (n,):
        raise DataError(f"got {arr.size} {name} for {n} preferences; give one per comparison")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise DataError(f"comparison {bad[0]}: {name} is {arr[bad[0]]!r}; lengths are counts >= 0")
    return arr


def length_controlled_win_rate(
    preferences: Sequence[object], baseline_lengths: Sequence[float], candidate_lengths: Sequence[float], *,
    instructions: Sequence[str] | None = None, table: DifficultyTable | None = None, glm: str | None = None,
    resampling: Resampling = LC_CI, length_unit: str = "characters",
) -> LengthControlled:
    """AlpacaEval's length-controlled win rate of the candidate over the baseline, one entry per comparison.

    ``preferences`` are AlpacaEval's (2 = candidate better, 1.5 or legacy 0 a draw, None unparseable).
    ``glm`` defaults to ``length_controlled_v1`` with a table, else ``length_controlled_minimal``.
    """
    glm = glm or (V1 if table is not None else MINIMAL)
    if glm not in GLMS:
        raise DataError(f"glm must be one of {GLMS}, got {glm!r}")
    prefs = np.array([np.nan if v is None else v for v in map(preference_value, preferences)], dtype=float)
    n = len(prefs)
    base = _check_lengths("baseline lengths", baseline_lengths, n)
    cand = _check_lengths("candidate lengths", candidate_lengths, n)
    if instructions is not None and len(instructions) != n:
        raise DataError(f"got {len(instructions)} instructions for {n} preferences; give one per comparison")
    difficulty = _difficulties(instructions, table, glm)
    parsed = ~np.isnan(prefs)
    if parsed.sum() < 5:
        raise DataError(f"the GLM needs at least 5 parsed comparisons for its 5 folds, got {int(parsed.sum())} of {n}")
    delta = base - cand
    sd = float(np.std(delta, ddof=1))
    if not sd > 0:
        raise DataError(f"every comparison has the same length difference ({delta[0]:g} {length_unit}); "
                        "the length term cannot be fitted")
    x = _design(delta / sd, difficulty, np.ones(n))
    x_test = _design(np.zeros(n), difficulty, np.ones(n))
    x_fit, p_fit, w_fit = x[parsed], prefs[parsed] - 1, None
    if glm == V1:
        t = table.rows[~np.isnan(table.rows[:, 1])]  # type: ignore[union-attr]
        gamed = t[:, 4] == 0
        x_fit = np.vstack([_design(t[:, 2], t[:, 3], t[:, 4]), x_fit])
        p_fit = np.r_[t[:, 1], p_fit]
        w_fit = np.r_[np.where(gamed, GAMED_WEIGHT, 1.0), np.ones(int(parsed.sum()))]
    model = _fit(x_fit, p_fit, w_fit, None)
    c_best = float(np.ravel(model.C_)[0])
    predicted = model.predict_proba(x_test)[:, 1]
    value = float(predicted.mean())
    ci = _bootstrap(x_fit, p_fit, w_fit, x_test, parsed, c_best, resampling) if resampling.ci else None
    names = ["length"] + ([] if difficulty is None else ["instruction_difficulty"]) + ["intercept"]
    raw = float(np.mean(prefs[parsed] - 1))
    return LengthControlled(
        value=value, standard_error=float(np.std(predicted, ddof=1) / math.sqrt(n)), ci=ci,
        coefficients={k: float(v) for k, v in zip(names, model.coef_[0])}, regularization_c=c_best, glm=glm,
        win_rate=raw, extreme_change=_is_extreme_change(100 * raw, 100 * value), n=n, n_fit=int(parsed.sum()),
        unparseable=int(n - parsed.sum()), length_unit=length_unit,
        signature=make_signature("lc_winrate", glm=glm, len=length_unit, se="pred-ddof1", ci=resampling.label(),
                                 seed=resampling.seed if resampling.ci else None),
    )


def _bootstrap(x_fit, p_fit, w_fit, x_test, parsed, c: float, r: Resampling) -> tuple[float, float]:
    """Percentile interval of the LC win rate over resampled comparisons; the table's rows stay as they are."""
    n = len(parsed)
    n_table = len(p_fit) - int(parsed.sum())
    base_w = np.ones(len(p_fit)) if w_fit is None else w_fit
    samples = np.empty(r.n_boot)
    for b, counts in enumerate(unit_weights(n, r.n_boot, r.seed)):
        weight = base_w * np.r_[np.ones(n_table), counts[parsed]]
        keep = weight > 0
        pred = _fit(x_fit[keep], p_fit[keep], weight[keep], c).predict_proba(x_test)[:, 1]
        samples[b] = float(np.dot(counts, pred) / counts.sum())
    return percentile_interval(samples, r.confidence)


def _is_extreme_change(prev: float, new: float, abs_diff: float = 10, rel_diff: float = 4) -> bool:
    # alpaca_eval's get_is_extreme_changes, on percentages.
    too_small = new < min(prev - prev / rel_diff, prev - abs_diff)
    too_large = new > max(prev + (100 - prev) / rel_diff, prev + abs_diff)
    return bool(too_small or too_large)
