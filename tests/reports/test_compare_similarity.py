"""Homogenization between checkpoints in `evalsuite compare`: similarity levels of two runs' answers, paired by
prompt and sample, with intervals resampling prompts, and gates on the level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalsuite.cli import main
from evalsuite.errors import ConfigError
from evalsuite.metrics.clustered import cluster_bootstrap_means
from evalsuite.metrics.diversity.homogenization import between_runs
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.compare import compare, to_html, to_json, to_markdown
from evalsuite.reports.gates import evaluate, parse_fail_on

from .test_compare import write_generation_run

WORDS = [f"w{i}" for i in range(60)]


def answers(seed: int, prompts: int = 16, samples: int = 2) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {str(p): [" ".join(rng.choice(WORDS, 10)) for _ in range(samples)] for p in range(prompts)}


@pytest.fixture()
def pair(tmp_path):
    base = answers(0)
    # The candidate copies the baseline's answers to half the prompts and writes its own to the others.
    candidate = {p: (rs if int(p) % 2 else answers(1)[p]) for p, rs in base.items()}
    return base, candidate, write_generation_run(tmp_path / "a", base), write_generation_run(tmp_path / "b", candidate)


def test_rougel_similarity_equals_between_runs_and_rouge_score_with_a_bootstrap_over_prompts(pair):
    import statsmodels.api as sm
    from rouge_score.rouge_scorer import RougeScorer

    base, candidate, a, b = pair
    result = compare(a, b, n_boot=300, seed=3)
    (row,) = result.similarity
    assert row.name == "generate.homogenization_rougel.between" and (row.n_paired, row.n_prompts) == (32, 16)
    flat = {f"{p}/{i}": t for p, rs in base.items() for i, t in enumerate(rs)}
    direct = between_runs(flat, {f"{p}/{i}": t for p, rs in candidate.items() for i, t in enumerate(rs)})
    assert row.value == pytest.approx(direct.value, abs=1e-12)
    scorer = RougeScorer(["rougeL"])
    reference = [scorer.score(x, y)["rougeL"].fmeasure for p in base for x, y in zip(base[p], candidate[p])]
    assert row.value == pytest.approx(np.mean(reference), abs=1e-12)
    # Interval: resampling prompts (both samples of a drawn prompt come with it); SE: statsmodels' cluster-robust OLS.
    values = np.array(list(direct.details["per_prompt"].values()))
    prompts = [k.split("/")[0] for k in direct.details["per_prompt"]]
    means = cluster_bootstrap_means(values, prompts, Resampling(ci=True, n_boot=300, seed=3))
    assert row.ci == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)
    fit = sm.OLS(values, np.ones((len(values), 1))).fit(cov_type="cluster",
                                                         cov_kwds={"groups": np.unique(prompts, return_inverse=True)[1]})
    assert row.se == pytest.approx(fit.bse[0], rel=1e-10)
    assert "resample:cluster=prompt" in row.signature
    # A level, not a delta: a run compared with itself is 1.0; the embedding row is skipped with a note.
    same = compare(a, a, n_boot=50).similarity[0]
    assert same.value == 1.0 and same.ci == (1.0, 1.0)
    assert any("--embedder" in note for note in result.notes)


def test_embedding_similarity_with_a_given_embedder(pair):
    base, candidate, a, b = pair

    def bag_of_words(texts):  # a deterministic embedder: word counts
        return np.array([[t.split().count(w) + 0.5 for w in WORDS] for t in texts], float)

    result = compare(a, b, n_boot=100, embedder=bag_of_words)
    row = next(s for s in result.similarity if s.metric == "homogenization_embedding.between")
    x = bag_of_words([t for p in base for t in base[p]])
    y = bag_of_words([t for p in base for t in candidate[p]])
    cosines = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    assert row.value == pytest.approx(cosines.mean(), abs=1e-12) and not result.notes


def test_gates_on_the_level_and_the_outputs(pair, capsys):
    base, candidate, a, b = pair
    result = compare(a, b, n_boot=300)
    level = result.similarity[0].value  # half the answers copied: about 0.5 + a little
    assert 0.5 < level < 0.7
    name = "generate.homogenization_rougel.between"
    (v,) = evaluate(result, parse_fail_on(f"{name}>0.3"))
    assert v.failed and v.quantity == "level" and f"level {level:+.4f}" in v.message and v.p < 0.05
    assert not evaluate(result, parse_fail_on(f"{name}>0.9@point"))[0].failed
    # Just below the level: the point crosses, but not significantly, and the CI does not lie beyond it.
    near = level - 0.01
    assert evaluate(result, parse_fail_on(f"{name}>{near}@point"))[0].failed
    assert not evaluate(result, parse_fail_on(f"{name}>{near}"))[0].failed
    assert not evaluate(result, parse_fail_on(f"{name}>{near}@ci"))[0].failed
    with pytest.raises(ConfigError, match="is a level, not a delta"):
        evaluate(result, parse_fail_on(f"{name}~0.1"))
    assert main(["compare", str(a), str(b), "--n-boot", "100", "--fail-on", f"{name}>0.3"]) == 1
    assert f"regression: {name} vs " in capsys.readouterr().err
    payload = json.loads(to_json(result, []))
    assert payload["similarity"][0]["name"] == name and "not a delta" in payload["similarity"][0]["note"]
    assert name.replace("_", "\\_") in to_markdown(result) or name in to_markdown(result)
    assert "<caption>Similarity of b" in to_html(result)
    assert main(["compare", str(a), str(b), "--embedder", str(a / "no-such-model")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_local_sentence_transformer_through_the_cli(pair, minilm_dir, capsys):
    from evalsuite.metrics.diversity.embedding import embed

    base, candidate, a, b = pair
    model = minilm_dir
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--n-boot", "50", "--embedder", model, "--format", "json"]) == 0
    rows = {s["metric"]: s for s in json.loads(capsys.readouterr().out)["similarity"]}
    x = embed([t for p in base for t in base[p]], model)
    y = embed([t for p in base for t in candidate[p]], model)
    assert rows["homogenization_embedding.between"]["value"] == pytest.approx(float((x * y).sum(1).mean()), abs=1e-6)
