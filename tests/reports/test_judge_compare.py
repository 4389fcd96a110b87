"""Judge-derived metrics in `evalsuite compare`: a rubric panel's scores of two checkpoints paired by item,
clustered by item, and gates refused when the panel disagrees."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.cli import main
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics.clustered import paired_cluster_deltas
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.compare import compare, to_json
from evalsuite.reports.gates import evaluate, parse_fail_on
from evalsuite.reports.judge_audit import gate_refusal
from evalsuite.reports.judge_runs import combine_panel
from evalsuite.runner import evaluate as run_task
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult, MultipleChoiceResult
from evalsuite.tasks.judging.panel import RubricJudgeTask, RubricProbabilityTask
from evalsuite.tasks.judging.rubric import load_rubric

from .test_compare import write_generation_run

DIMS = load_rubric("default").dimension_names
QUALITY = re.compile(r"Answer (\d+) of quality Q(\d)")


class Judge:
    """A judge whose score of an answer is ``rule(prompt, quality)`` (None: an unparseable verdict); its
    log-likelihoods put log p(s) = -1 - |s - score| on each scale point."""

    def __init__(self, name: str, rule):
        self.name, self.rule = name, rule
        self.fingerprint = ModelFingerprint(model=name, revision=None, weights_sha256=hashlib.sha256(name.encode()).hexdigest(),
                                            backend="stub", dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True, loglikelihoods=True)

    def score(self, text: str) -> int | None:
        prompt, quality = map(int, QUALITY.search(text).groups())
        return self.rule(prompt, quality)

    def generate(self, requests):
        for i, r in enumerate(requests):
            s = self.score(r.messages[-1]["content"])
            text = "I cannot say." if s is None else "".join(f"[[{d}: {s}]]\n" for d in DIMS)
            yield [i], [GenerationResult(responses=[text], new_tokens=[1], finish_reasons=["stop"], prompt_tokens=1)]

    def loglikelihoods(self, requests):
        for i, r in enumerate(requests):
            s = self.score(r.prefix) or 3
            yield [i], [MultipleChoiceResult(loglikelihoods=[-1.0 - abs(k - s) for k in range(1, 6)], path="stub",
                                             prompt_tokens=1)]

    def close(self):
        pass


QUALITIES = {"sft": [4, 2, 5, 3, 4, 2, 3, 5, 4, 3, 2, 4], "dpo": [5, 3, 5, 4, 4, 3, 4, 5, 5, 4, 3, 5]}


def build(tmp_path, judges: list[Judge], probabilities: bool = False):
    """RUNS/{sft,dpo}/generate (12 prompts each) and the panel RUNS/_judging/panel of ``judges``."""
    runs = tmp_path / "runs"
    folders = [write_generation_run(runs / name / "generate", {str(i): [f"Answer {i} of quality Q{q}."]
                                                               for i, q in enumerate(qs)}) for name, qs in QUALITIES.items()]
    panel = runs / "_judging" / "panel"
    params = {"runs": [str(f) for f in folders], "n_boot": 100}
    with ResultStore(tmp_path / "store.sqlite") as store:
        for judge in judges:
            run_task(RubricJudgeTask(params), judge, store, out_dir=panel / judge.name)
            if probabilities:
                run_task(RubricProbabilityTask(params), judge, store, out_dir=panel / judge.name / "probability")
    record = combine_panel(panel, [j.name for j in judges])
    return runs, panel, record


def agree(prompt: int, quality: int) -> int | None:
    return None if (prompt, quality) == (3, 3) else quality  # one unparseable verdict: an unbalanced panel


def close(prompt: int, quality: int) -> int:
    return min(5, quality + (prompt % 3 == 0))


def by_hand(panel, field: str, dim: str) -> dict[str, dict[str, list[float]]]:
    """label -> item -> every judge's score, from the panel's judgments.jsonl through pandas."""
    rows = [r for r in read_jsonl(panel / "judgments.jsonl") if (r.get(field) or {}).get(dim) is not None
            and (field != "scores" or r["status"] == "ok")]
    frame = pd.DataFrame({"label": [r["label"] for r in rows], "item": [f"{r['prompt_id']}/{r['sample_index']}" for r in rows],
                          "score": [r[field][dim] for r in rows]})
    return {label: {item: list(g.score) for item, g in part.groupby("item")} for label, part in frame.groupby("label")}


def test_panel_scores_are_paired_by_item_and_resampled_by_item(tmp_path):
    runs, panel, record = build(tmp_path, [Judge("j1", agree), Judge("j2", close)], probabilities=True)
    result = compare(runs / "sft", runs / "dpo", n_boot=400, seed=5)
    judged = {c.name: c for c in result.comparisons if c.task == "panel"}
    assert set(judged) == {f"panel.{d}.{s}" for d in DIMS for s in ("parsed", "probability")}
    for scoring, field in (("parsed", "scores"), ("probability", "probability_scores")):
        c = judged[f"panel.{DIMS[0]}.{scoring}"]
        hand = by_hand(panel, field, DIMS[0])
        sft, dpo = hand["sft/generate"], hand["dpo/generate"]
        shared = sorted(sft.keys() & dpo.keys())
        assert c.a == pytest.approx(np.mean([v for k in shared for v in sft[k]]), abs=1e-12)
        assert c.b == pytest.approx(np.mean([v for k in shared for v in dpo[k]]), abs=1e-12)
        assert c.delta == pytest.approx(c.b - c.a, abs=1e-12) and c.n_paired == len(shared) == 12
        delta, deltas = paired_cluster_deltas(sft, dpo, Resampling(ci=True, n_boot=400, seed=5))
        assert c.ci == pytest.approx(tuple(np.quantile(deltas, [0.025, 0.975])), abs=1e-12)
        assert "resample:cluster=item" in c.signature and c.test == "paired-cluster-bootstrap"
    parsed = judged[f"panel.{DIMS[0]}.parsed"]
    # Balanced items (both judges parsed) vs the hand-built truth: dpo scores higher on 9 of 12 prompts.
    assert parsed.delta > 0 and parsed.significant and parsed.details["scores_a"] == 23  # one verdict unparseable
    # The bootstrap over items agrees with the normal approximation on the per-item mean differences.
    hand = by_hand(panel, "scores", DIMS[0])
    diffs = np.array([np.mean(hand["dpo/generate"][k]) - np.mean(hand["sft/generate"][k]) for k in hand["sft/generate"]])
    assert parsed.se == pytest.approx(diffs.std(ddof=1) / np.sqrt(len(diffs)), rel=0.25)
    # The panel agrees (alpha >= 0.667): rules on its metrics are evaluated.
    assert parsed.gate_refusal is None and gate_refusal(record) is None
    verdicts = evaluate(result, parse_fail_on(f"panel.{DIMS[0]}.parsed<-0.1"))
    assert [v.status for v in verdicts] == ["pass"]
    assert json.loads(to_json(result, verdicts))["comparisons"][-1]["gate_refusal"] is None


def test_a_disagreeing_panel_refuses_to_gate_and_fails_closed(tmp_path, capsys):
    contrary = Judge("j2", lambda prompt, quality: 6 - quality)  # the second judge reverses the scale
    runs, panel, record = build(tmp_path, [Judge("j1", agree), contrary])
    reason = gate_refusal(record, 0.667, [DIMS[0]])
    assert reason and "< 0.667" in reason
    result = compare(runs / "sft", runs / "dpo", n_boot=200)
    c = next(c for c in result.comparisons if c.name == f"panel.{DIMS[0]}.parsed")
    assert c.gate_refusal == reason
    (v,) = evaluate(result, parse_fail_on(f"panel.{DIMS[0]}.parsed<10@point"))  # would fail if evaluated
    assert v.status == "REFUSED" and not v.failed and v.refused == reason and reason in v.message
    rule = f"panel.{DIMS[0]}.parsed<10@point"
    assert main(["compare", str(runs / "sft"), str(runs / "dpo"), "--n-boot", "100", "--fail-on", rule]) == 2
    captured = capsys.readouterr()
    assert f"REFUSED panel.{DIMS[0]}.parsed" in captured.out and "could not be evaluated" in captured.err
    assert reason in captured.err and "regression" not in captured.err
    # A rule that fails elsewhere: exit 1 (a regression), the refusal still printed.
    both = f"{rule},generate.length.across<10@point"
    assert main(["compare", str(runs / "sft"), str(runs / "dpo"), "--n-boot", "100", "--fail-on", both]) == 1
    captured = capsys.readouterr()
    assert "REFUSED" in captured.out and "regression: generate.length.across" in captured.err
    # A lower threshold lets the rule gate.
    assert main(["compare", str(runs / "sft"), str(runs / "dpo"), "--n-boot", "100", "--fail-on", rule,
                 "--min-judge-alpha", "-1"]) == 1
    assert f"regression: panel.{DIMS[0]}.parsed" in capsys.readouterr().err


def test_a_named_panel_and_panels_that_judged_other_runs(tmp_path, capsys):
    runs, panel, _ = build(tmp_path, [Judge("j1", agree), Judge("j2", close)])
    moved = tmp_path / "elsewhere"
    panel.rename(moved)
    assert not [c for c in compare(runs / "sft", runs / "dpo", n_boot=50).comparisons if c.task == "panel"]
    found = compare(runs / "sft", runs / "dpo", n_boot=50, judging=moved).comparisons
    assert {c.task for c in found} >= {"elsewhere"}
    other = write_generation_run(tmp_path / "other" / "generate", {"0": ["Answer 0 of quality Q1."]})
    # A panel that judged neither side's runs adds nothing (sft vs an unjudged run).
    assert not [c for c in compare(runs / "sft", other.parent, n_boot=50, judging=moved).comparisons if c.task == "elsewhere"]
    assert main(["compare", str(runs / "sft"), str(runs / "dpo"), "--judging", str(tmp_path / "nothing")]) == 3
    assert "no results.json" in capsys.readouterr().err
