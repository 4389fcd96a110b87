"""`evalsuite compare` on hand-built runs whose right answer is known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evalsuite.errors import ConfigError
from evalsuite.reports.compare import compare, mcnemar_p
from evalsuite.reports.gates import GateRule, parse_fail_on
from evalsuite.results import RunResult, TaskSpec, Timings, provenance
from evalsuite.scores import DiversityScores
from evalsuite.tasks.multiple_choice import aggregate_accuracy

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")


def record_json(task: str, params: dict, scores) -> str:
    """A run record as the runner writes it (typed, with provenance), around the given scores."""
    timings = Timings(started="2026-01-01T00:00:00+00:00", total_seconds=0, model_load_seconds=0, compute_seconds=0,
                      items_total=0, items_computed=0, items_from_store=0)
    return RunResult(provenance=provenance(), task=TaskSpec(name=task, version="1", params_passed={}, params_resolved=params),
                     model={"model": "m"}, backend_config={}, seeds={}, task_metadata={}, computation={}, store="(test)",
                     timings=timings, scores=scores).model_dump_json()


def write_run(folder: Path, correct: dict[tuple[str, int], bool], task: str = "mmlu", shots: int = 0) -> Path:
    folder.mkdir(parents=True)
    subjects = sorted({s for s, _ in correct})
    samples = [{"subject": s, "correct": c} for (s, _), c in sorted(correct.items())]
    scores = aggregate_accuracy(samples, {s: "STEM" if s < "m" else "Humanities" for s in subjects})
    (folder / "results.json").write_text(record_json(task, {"shots": shots, "subjects": subjects}, scores))
    lines = [json.dumps({"subject": s, "index": i, "correct": c}) for (s, i), c in sorted(correct.items())]
    (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def outcomes(seed: int, n: int = 400, p: float = 0.6) -> dict[tuple[str, int], bool]:
    rng = np.random.default_rng(seed)
    return {("algebra" if i % 2 else "poetry", i): bool(x) for i, x in enumerate(rng.random(n) < p)}


def test_identical_runs_nothing_significant(tmp_path):
    base = outcomes(0)
    result = compare(write_run(tmp_path / "a", base), write_run(tmp_path / "b", base), n_boot=200)
    assert {c.name for c in result.comparisons} == {"mmlu.acc", "mmlu.acc[Humanities]", "mmlu.acc[STEM]"}
    assert all(c.delta == 0 and not c.significant and c.p_value == 1.0 for c in result.comparisons)


def test_planted_five_point_drop_is_flagged_and_fails_the_gate(tmp_path):
    base = outcomes(1)
    worse = dict(base)
    flipped = [k for k, v in sorted(base.items()) if v][:20]  # 20 of 400 items: a 5-point drop
    for key in flipped:
        worse[key] = False
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", worse)
    result = compare(a, b, n_boot=500)
    overall = next(c for c in result.comparisons if c.metric == "acc")
    assert overall.delta == pytest.approx(-0.05)
    assert overall.significant and overall.ci[1] < 0
    gate = subprocess.run([EVALSUITE, "compare", str(a), str(b), "--fail-on", "mmlu.acc<-0.01"], capture_output=True, text=True)
    assert gate.returncode == 1 and "regression: mmlu.acc vs " in gate.stderr
    assert "rule mmlu.acc<-0.01@significant [significant]: delta -0.0500, CI [" in gate.stderr
    same = subprocess.run([EVALSUITE, "compare", str(a), str(a), "--fail-on", "mmlu.acc<-0.01", "--format", "json"], capture_output=True, text=True)
    assert same.returncode == 0 and json.loads(same.stdout)["comparisons"][0]["delta"] == 0


def test_items_missing_in_one_run_are_reported(tmp_path):
    base = outcomes(2, n=50)
    partial = {k: v for k, v in base.items() if k[1] >= 5}
    result = compare(write_run(tmp_path / "a", base), write_run(tmp_path / "b", partial), n_boot=100)
    overall = next(c for c in result.comparisons if c.metric == "acc")
    assert overall.n_paired == 45 and overall.only_in_a == 5 and overall.only_in_b == 0


def test_mcnemar_matches_scipy():
    rng = np.random.default_rng(3)
    a = rng.random(300) < 0.6
    b = a.copy()
    b[:10] = ~b[:10]
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p, test, _ = mcnemar_p(a, b)
    assert test == "mcnemar-exact"
    assert p == pytest.approx(min(1.0, 2 * stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5)))
    b2 = a.copy()
    b2[:60] = ~b2[:60]
    only_a, only_b = int(np.sum(a & ~b2)), int(np.sum(~a & b2))
    p2, test2, _ = mcnemar_p(a, b2)
    assert test2 == "mcnemar-chi2"
    assert p2 == pytest.approx(stats.chi2.sf((abs(only_a - only_b) - 1) ** 2 / (only_a + only_b), 1))


def test_bootstrap_ci_agrees_with_the_normal_approximation(tmp_path):
    base = outcomes(4, n=2000)
    other = outcomes(5, n=2000)
    result = compare(write_run(tmp_path / "a", base), write_run(tmp_path / "b", other), n_boot=4000)
    overall = next(c for c in result.comparisons if c.metric == "acc")
    diff = np.array([other[k] for k in sorted(base)], float) - np.array([base[k] for k in sorted(base)], float)
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert overall.ci[0] == pytest.approx(diff.mean() - half, abs=0.004)
    assert overall.ci[1] == pytest.approx(diff.mean() + half, abs=0.004)


def test_fail_on_syntax_errors():
    assert parse_fail_on("mmlu.acc<-0.01, ceval.acc<=-0.02") == [GateRule("mmlu.acc", "<", -0.01), GateRule("ceval.acc", "<=", -0.02)]
    with pytest.raises(ConfigError, match="cannot read 'mmlu.acc=-1'"):
        parse_fail_on("mmlu.acc=-1")


def test_html_output_escapes_run_names(tmp_path):
    base = outcomes(6, n=20)
    a = write_run(tmp_path / "<script>alert(1)</script>", base)
    out = subprocess.run([EVALSUITE, "compare", str(a), str(a), "--format", "html"], capture_output=True, text=True, check=True)
    assert "<script>alert(1)" not in out.stdout and "&lt;script&gt;" in out.stdout


def write_generation_run(folder: Path, responses: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True)
    scores = DiversityScores(across={}, responses=sum(map(len, responses.values())), prompts=len(responses))
    (folder / "results.json").write_text(record_json("generate", {"n": 3}, scores))
    lines = [json.dumps({"prompt_id": p, "sample_index": i, "prompt": p, "response": r})
             for p, rs in responses.items() for i, r in enumerate(rs)]
    (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_diversity_drop_is_flagged_with_a_paired_bootstrap_over_prompts(tmp_path):
    from evalsuite.metrics import distinct_n

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    varied = {str(p): [" ".join(rng.choice(words, 12)) for _ in range(3)] for p in range(40)}
    template = {str(p): ["I am happy to help you with that request today"] * 2 + [varied[str(p)][0]] for p in range(40)}
    a = write_generation_run(tmp_path / "a", varied)
    b = write_generation_run(tmp_path / "b", template)
    result = compare(a, b, n_boot=500)
    d2 = next(c for c in result.comparisons if c.metric == "distinct_2.within")
    expected = np.mean([distinct_n(template[p], 2).value - distinct_n(varied[p], 2).value for p in varied])
    assert d2.delta == pytest.approx(expected) and d2.delta < 0 and d2.significant and d2.n_paired == 40
    sb = next(c for c in result.comparisons if c.metric == "self_bleu_4.within")
    assert sb.delta > 0 and sb.significant
    gate = subprocess.run([EVALSUITE, "compare", str(a), str(b), "--fail-on", "distinct_2.within<-0.02"], capture_output=True, text=True)
    assert gate.returncode == 1 and "regression: generate.distinct_2.within vs " in gate.stderr
