"""Gate modes on hand-built runs whose right verdict is known, the default gate's false-alarm rate, history rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalsuite.cli import main
from evalsuite.errors import ConfigError
from evalsuite.reports.compare import Comparison, compare, mcnemar_p
from evalsuite.reports.gates import GateRule, evaluate, history_verdict, judge, parse_fail_on

from .test_compare import write_run


def flipped(n: int, down: int, up: int, seed: int = 0) -> tuple[dict, dict]:
    """Runs a, b on ``n`` items: b loses ``down`` of a's correct answers and gains ``up`` of its wrong ones."""
    rng = np.random.default_rng(seed)
    a = {("algebra" if i % 2 else "poetry", i): bool(x) for i, x in enumerate(rng.random(n) < 0.6)}
    b = dict(a)
    for key in [k for k, v in sorted(a.items()) if v][:down]:
        b[key] = False
    for key in [k for k, v in sorted(a.items()) if not v][:up]:
        b[key] = True
    return a, b


def verdict(result, rule: str):
    return next(v for v in evaluate(result, parse_fail_on(rule)) if v.name.endswith(".acc"))


def test_a_large_noisy_drop_fails_point_but_not_significant(tmp_path):
    a, b = flipped(40, down=3, up=1)  # 40 questions, a 5-point drop on 4 discordant items: noise
    result = compare(write_run(tmp_path / "a", a), write_run(tmp_path / "b", b), n_boot=300)
    overall = next(c for c in result.comparisons if c.metric == "acc")
    assert overall.delta == pytest.approx(-0.05) and overall.p_value == pytest.approx(2 * stats.binom.cdf(1, 4, 0.5))
    assert verdict(result, "mmlu.acc<-0.03@point").failed
    quiet = verdict(result, "mmlu.acc<-0.03")
    assert quiet.mode == "significant" and not quiet.failed
    assert quiet.message.startswith("mmlu.acc vs a: rule mmlu.acc<-0.03@significant [significant]: delta -0.0500, CI [")
    assert f"p (Holm) {overall.p_adjusted:.3g}" in quiet.message


def test_a_small_real_drop_beyond_a_small_threshold_fails_every_mode(tmp_path):
    a, b = flipped(4000, down=100, up=20)  # a 2-point drop on 4,000 items: chi-square ~53, p ~ 3e-13
    result = compare(write_run(tmp_path / "a", a), write_run(tmp_path / "b", b), n_boot=500)
    overall = next(c for c in result.comparisons if c.metric == "acc")
    assert overall.delta == pytest.approx(-0.02) and overall.significant
    assert all(verdict(result, f"mmlu.acc<-0.01@{mode}").failed for mode in ("point", "significant", "ci"))
    # ci: the whole interval (about -0.02 +- 0.0054) must lie below the threshold; -0.018 sits inside it.
    assert overall.ci[0] < -0.018 < overall.ci[1]
    assert verdict(result, "mmlu.acc<-0.018@point").failed and not verdict(result, "mmlu.acc<-0.018@ci").failed


def test_equivalence_passes_a_stable_metric_and_fails_an_unmeasured_one(tmp_path):
    big_a, big_b = flipped(4000, down=10, up=10)  # no net change, measured on 4,000 items
    small_a, small_b = flipped(40, down=2, up=2)  # no net change, but 40 items cannot show it
    big = compare(write_run(tmp_path / "a", big_a), write_run(tmp_path / "b", big_b), n_boot=1000)
    small = compare(write_run(tmp_path / "c", small_a), write_run(tmp_path / "d", small_b), n_boot=1000)
    stable, unknown = verdict(big, "mmlu.acc~0.01"), verdict(small, "mmlu.acc~0.01")
    assert stable.mode == "equivalence" and not stable.failed and stable.p_label == "p (TOST)"
    assert unknown.failed
    # TOST by hand on the item differences (paired t, statsmodels) agrees with the normal TOST on the bootstrap SE.
    from statsmodels.stats.weightstats import ttost_paired

    keys = sorted(small_a)
    x = np.array([small_a[k] for k in keys], float)
    y = np.array([small_b[k] for k in keys], float)
    assert unknown.p == pytest.approx(ttost_paired(y, x, -0.01, 0.01)[0], abs=0.03)


def test_rules_read_every_written_form_and_refuse_the_rest():
    assert parse_fail_on("mmlu-5shot.acc<-0.03") == [GateRule("mmlu-5shot.acc", "<", -0.03, "significant")]
    assert parse_fail_on("a.acc<-0.03@ci, b.acc~0.02, c.acc<-0.01@history:10") == [
        GateRule("a.acc", "<", -0.03, "ci"), GateRule("b.acc", "~", 0.02, "equivalence"),
        GateRule("c.acc", "<", -0.01, "history", nights=10)]
    assert parse_fail_on([{"rule": "a.acc<-0.03", "mode": "point"}, "b.acc>0.1"]) == [
        GateRule("a.acc", "<", -0.03, "point"), GateRule("b.acc", ">", 0.1)]
    with pytest.raises(ConfigError, match="unknown mode 'sure'; modes: significant, point, ci, equivalence, history"):
        parse_fail_on("a.acc<-0.03@sure")
    with pytest.raises(ConfigError, match="equivalence rules are written NAME~MARGIN"):
        parse_fail_on("a.acc<-0.03@equivalence")


def test_a_rule_naming_nothing_compared_lists_the_valid_names(tmp_path, capsys):
    a, b = flipped(40, down=1, up=1)
    write_run(tmp_path / "base" / "mmlu-2shot", a, shots=2)
    write_run(tmp_path / "new" / "mmlu-2shot", b, shots=2)
    # A folder of runs names each by its folder: the suite's task name.
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--fail-on", "mmlu-2shot.acc<-0.05", "--n-boot", "100"]) == 0
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "new"), "--fail-on", "mmlu/2-shot.acc<-0.05"]) == 2
    assert ("fail_on names 'mmlu/2-shot.acc', which was not compared; valid names: mmlu-2shot.acc, "
            "mmlu-2shot.acc[Humanities], mmlu-2shot.acc[STEM]") in capsys.readouterr().err


def test_the_default_gate_false_alarm_rate_on_identical_checkpoints_stays_near_alpha():
    # Identical checkpoints: each item's answer is a draw from the same per-item probability on both sides
    # (sampling at temperature, or a resampled subset), so any delta is noise.
    rng = np.random.default_rng(7)
    sims, n, alpha = 400, 300, 0.05
    p_item = rng.beta(2, 1.5, size=(sims, n))
    a, b = rng.random((sims, n)) < p_item, rng.random((sims, n)) < p_item
    alarms = {"significant": 0, "point": 0}
    for x, y in zip(a, b):
        p, test, _ = mcnemar_p(x, y)
        delta = float(y.mean() - x.mean())
        c = Comparison("t", "acc", x.mean(), y.mean(), delta, (delta, delta), p, test, n, p_adjusted=p, significant=p < alpha)
        for mode in alarms:
            alarms[mode] += judge(GateRule("t.acc", "<", -0.01, mode), c, alpha, "a").failed
    rate = alarms["significant"] / sims
    # A one-sided rule on a two-sided test at alpha alarms at most alpha/2 of the time; McNemar's continuity
    # correction makes it conservative. The point gate alarms on about a third of identical pairs.
    assert rate <= alpha / 2 + 2 * np.sqrt(alpha / 2 * (1 - alpha / 2) / sims)
    assert alarms["point"] / sims > 0.25


def test_a_slow_drift_trips_the_history_rule_and_one_noisy_night_does_not():
    rng = np.random.default_rng(3)
    rule = parse_fail_on("t.acc<-0.01@history:7")[0]
    stable = list(0.70 + rng.normal(0, 0.002, 10))
    drift = [stable[-1] - 0.005 * k for k in range(1, 8)]  # half a point a night: never beyond -0.01 night over night
    nights = stable + drift
    assert all(b - a > -0.01 for a, b in zip(nights, nights[1:]))
    fired = [k for k in range(10, len(nights)) if history_verdict(rule, "t.acc", nights[:k], nights[k]).failed]
    assert fired and fired[0] <= 13  # caught on the fourth drifting night (a 2-point total drop)
    # One noisy high night, then an ordinary one: vs previous night that is a 3-point drop; vs history, nothing.
    noisy = stable + [0.73]
    ordinary = 0.70
    assert ordinary - noisy[-1] < -0.01
    quiet = history_verdict(rule, "t.acc", noisy, ordinary)
    assert not quiet.failed and "median of last 7 nights" in quiet.message
    assert history_verdict(rule, "t.acc", [0.7, 0.7], 0.5) is None  # fewer than 3 earlier nights: no verdict
