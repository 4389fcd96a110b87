"""`evalsuite plan`: minimum detectable effects from an observed night, checked against statsmodels, and gate warnings."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from evalsuite.cli import plan_cmd
from evalsuite.errors import ConfigError
from evalsuite.jobs.grid import load_suite
from evalsuite.jobs.plan import plan_suite

from .test_compare import write_generation_run, write_run
from .test_gates import flipped

SUITE = """
name: s
checkpoints: ["ckpt/*"]
baseline: alpha
fail_on: "mmlu-0shot.acc<-0.01,gen.distinct_2.within<-0.5"
tasks:
  - {name: mmlu-0shot, task: mmlu, params: {shots: 0}}
  - {name: gen, task: generate, params: {prompts: alpaca_eval, n: 3}}
"""


@pytest.fixture()
def night(tmp_path):
    for name in ("alpha", "beta"):
        (tmp_path / "ckpt" / name).mkdir(parents=True)
    (tmp_path / "suite.yaml").write_text(SUITE + f"data_dir: {tmp_path}\n")
    night = tmp_path / "out" / "nights" / "2026-11-20"
    a, b = flipped(400, down=30, up=18)  # discordance 48/400 = 0.12
    write_run(night / "alpha" / "mmlu-0shot", a)
    write_run(night / "beta" / "mmlu-0shot", b)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    for name in ("alpha", "beta"):
        write_generation_run(night / name / "gen", {str(p): [" ".join(rng.choice(words, 8)) for _ in range(3)] for p in range(30)})
    return tmp_path


def test_observed_discordance_and_variance_give_the_statsmodels_mde(night):
    from statsmodels.stats.power import NormalIndPower, TTestPower

    from evalsuite.metrics import distinct_n

    plan = plan_suite(night / "suite.yaml", history=night / "out", effect=0.05)
    rows = {r.name: r for r in plan.rows}
    acc = rows["mmlu-0shot.acc"]
    assert acc.n == 400 and acc.spread == pytest.approx(0.12) and "observed on 2026-11-20" in acc.source
    normal = NormalIndPower().solve_power(effect_size=None, nobs1=400, alpha=0.05, power=0.8, ratio=0) * np.sqrt(0.12)
    assert acc.mde == pytest.approx(normal, rel=0.06)
    assert acc.needed is not None and acc.needed < 400  # a 5-point change needs fewer items than the suite has
    div = rows["gen.distinct_2.within"]
    from evalsuite.reports.compare import load_runs

    (ra,), (rb,) = load_runs(night / "out/nights/2026-11-20/alpha/gen"), load_runs(night / "out/nights/2026-11-20/beta/gen")
    texts = lambda run: {s["prompt_id"]: [] for s in run.samples}  # noqa: E731
    ga, gb = texts(ra), texts(rb)
    for run, groups in ((ra, ga), (rb, gb)):
        for s in run.samples:
            groups[s["prompt_id"]].append(s["response"])
    diff = np.array([distinct_n(gb[p], 2).value - distinct_n(ga[p], 2).value for p in ga])
    expected = TTestPower().solve_power(effect_size=None, nobs=30, alpha=0.05, power=0.8) * diff.std(ddof=1)
    assert div.n == 30 and div.mde == pytest.approx(expected, rel=0.15)  # the SD comes from a 400-resample bootstrap SE


def test_a_gate_below_its_mde_is_flagged_naming_the_rule(night, capsys):
    plan = plan_suite(night / "suite.yaml", history=night / "out")
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("fail_on rule mmlu-0shot.acc<-0.01@significant: |threshold| 0.01 is below the "
                                       "minimum detectable effect 0.0")
    parser = argparse.ArgumentParser()
    plan_cmd.add_parser(parser.add_subparsers())
    assert plan_cmd.run(parser.parse_args(["plan", str(night / "suite.yaml"), "--history", str(night / "out"), "--effect", "0.05"])) == 0
    out = capsys.readouterr().out
    assert "mmlu-0shot.acc: n=400, MDE 0.0" in out and "items for an effect of 0.05" in out
    assert "warning: fail_on rule mmlu-0shot.acc<-0.01@significant" in out


def test_a_rule_naming_a_task_the_suite_lacks_is_refused_on_load(night):
    text = (night / "suite.yaml").read_text().replace("mmlu-0shot.acc<-0.01", "mmlu.acc<-0.01")
    (night / "suite.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"fail_on rule mmlu.acc<-0.01@significant names task 'mmlu'; the suite's tasks "
                                          r"are mmlu-0shot, gen \(write <task>.<metric>, e.g. mmlu-0shot.acc\)"):
        load_suite(night / "suite.yaml")


@pytest.mark.integration
def test_without_a_night_the_plan_counts_items_and_states_its_assumption(data_dir, tmp_path):
    (tmp_path / "ckpt" / "alpha").mkdir(parents=True)
    (tmp_path / "suite.yaml").write_text(
        "name: s\ncheckpoints: [ckpt/*]\nfail_on: m.acc<-0.02\n"
        "tasks:\n  - {name: m, task: mmlu, params: {subjects: anatomy, limit: 40}}\n" + f"data_dir: {data_dir}\n")
    plan = plan_suite(tmp_path / "suite.yaml")
    (row,) = plan.rows
    assert row.name == "m.acc" and row.n == 40 and row.source == "assumed discordance 0.15 (no night yet)"
    assert "fail_on rule m.acc<-0.02@significant" in plan.warnings[0]
