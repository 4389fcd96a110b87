"""Panel and MT-Bench means over several scores per item: intervals and standard errors clustered by item,
checked against statsmodels' cluster-robust OLS on hand-built panels."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from evalsuite.backend import Capabilities
from evalsuite.backends.identity import ModelFingerprint
from evalsuite.data import DataRoots
from evalsuite.jsonl import read_jsonl
from evalsuite.metrics.clustered import cluster_bootstrap_means
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_runs import combine_mt_bench, combine_panel
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore
from evalsuite.task import GenerationResult
from evalsuite.tasks.judging.mt_bench import MTBenchJudgeTask
from evalsuite.tasks.judging.panel import RubricJudgeTask
from evalsuite.tasks.judging.rubric import load_rubric


DIMS = load_rubric("default").dimension_names
# judge -> the score it gives answer i (None: an unparseable verdict): judges share an item effect, and disagree.
SCORES = {"j1": [5, 4, 2, 1, 3, 4, 5, 2], "j2": [4, 4, 1, 2, None, 5, 4, 1], "j3": [5, 3, 2, None, 3, 5, 5, None]}


class Judge:
    def __init__(self, name: str):
        self.name, self.scores = name, SCORES[name]
        self.fingerprint = ModelFingerprint(model=name, revision=None, weights_sha256=hashlib.sha256(name.encode()).hexdigest(),
                                            backend="stub", dtype="none", device="cpu")
        self.capabilities = Capabilities(generate=True)

    def generate(self, requests):
        for i, r in enumerate(requests):
            s = self.scores[int(r.messages[-1]["content"].split("Answer number ")[1].split(".")[0])]
            text = "no verdict" if s is None else "".join(f"[[{d}: {s}]]\n" for d in DIMS)
            yield [i], [GenerationResult(responses=[text], new_tokens=[1], finish_reasons=["stop"], prompt_tokens=1)]

    def close(self):
        pass


def test_panel_means_have_statsmodels_cluster_robust_errors(tmp_path):
    import statsmodels.api as sm

    run = tmp_path / "ckpt" / "generate"
    run.mkdir(parents=True)
    run.joinpath("samples.jsonl").write_text("".join(json.dumps({"prompt_id": str(i), "sample_index": 0, "prompt": f"Q{i}?",
                                                                 "response": f"Answer number {i}."}) + "\n" for i in range(8)))
    out = tmp_path / "panel"
    with ResultStore(tmp_path / "s.sqlite") as store:
        for name in SCORES:
            evaluate(RubricJudgeTask({"runs": [str(run)], "n_boot": 500, "seed": 2}), Judge(name), store, out_dir=out / name)
    stats = combine_panel(out, list(SCORES)).scores["generate"][DIMS[0]]
    values = [s for scores in SCORES.values() for s in scores if s is not None]
    items = [i for scores in SCORES.values() for i, s in enumerate(scores) if s is not None]
    fit = sm.OLS(np.array(values, float), np.ones((len(values), 1))).fit(cov_type="cluster", cov_kwds={"groups": np.array(items)})
    assert stats.mean == pytest.approx(fit.params[0], abs=1e-12) and (stats.n_items, stats.n_scores) == (8, 21)
    assert stats.se == pytest.approx(fit.bse[0], rel=1e-10)
    means = cluster_bootstrap_means(values, items, Resampling(ci=True, n_boot=500, seed=2))
    assert stats.ci == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)
    assert "resample:cluster=item" in stats.signature
    # Judges of one item move together: the clustered SE exceeds the one that takes 21 scores as independent.
    assert stats.se > np.std(values, ddof=1) / np.sqrt(len(values))


@pytest.mark.integration
def test_mt_bench_turns_of_one_conversation_are_one_cluster(conversations, data_dir, tmp_path, stub_model):
    import statsmodels.api as sm

    folder, _, _ = conversations
    out = tmp_path / "mt"
    with ResultStore(tmp_path / "judge.sqlite") as store:
        evaluate(MTBenchJudgeTask({"runs": [str(folder / "turn2")], "n_boot": 200, "samples_per_prompt": 2},
                                  DataRoots.from_root(data_dir)), stub_model, store, out_dir=out / "j")
    scores = combine_mt_bench(out, ["j"]).scores["turn2"]["j"]
    rated = [s for s in read_jsonl(out / "j" / "samples.jsonl") if s["status"] == "ok"]
    groups = np.unique([f"{s['prompt_id']}/{s['sample_index']}" for s in rated], return_inverse=True)[1]
    fit = sm.OLS(np.array([s["rating"] for s in rated]), np.ones((len(rated), 1))).fit(cov_type="cluster",
                                                                                       cov_kwds={"groups": groups})
    # Every conversation is rated 8 then 4: each item's mean is 6, so over items the mean cannot move.
    assert scores.mean == 6.0 and scores.n == 12 and scores.se == pytest.approx(fit.bse[0], abs=1e-12) == 0.0
    assert scores.ci == (6.0, 6.0) and "resample:cluster=item" in scores.signature
