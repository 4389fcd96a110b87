"""Homogenization between two checkpoints: answers paired by prompt, on real AlpacaEval outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics import names
from evalsuite.metrics.diversity.homogenization import between_runs
from evalsuite.metrics.resampling import Resampling

from .conftest import data_dir


def outputs(model: str) -> dict[str, str]:
    base = data_dir()
    path = base / "judging" / "alpaca_eval_outputs" / f"{model}.json" if base else None
    if path is None or not path.exists():
        pytest.skip("real data not found: set EVALSUITE_DATA_DIR (../shared/datasets)")
    return {r["instruction"]: r["output"] for r in json.loads(path.read_text(encoding="utf-8"))}


def test_rougel_between_two_checkpoints_equals_rouge_score_per_prompt():
    from rouge_score import rouge_scorer

    base, simpo = outputs("Meta-Llama-3-8B-Instruct"), outputs("Llama-3-Instruct-8B-SimPO")
    keys = list(base)[:60]
    a = {k: base[k] for k in keys}
    b = {k: simpo[k] for k in keys[10:]} | {"only in b": "an answer"}
    result = between_runs(a, b, resampling=Resampling(ci=True, n_boot=300, seed=3))
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = {k: scorer.score(a[k], b[k])["rougeL"].fmeasure for k in keys[10:]}
    assert list(result.details["per_prompt"]) == keys[10:]
    np.testing.assert_allclose(list(result.details["per_prompt"].values()), list(expected.values()), atol=1e-12)
    assert result.value == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    assert result.details["n_unmatched"] == 11 and result.details["unmatched_examples"] == keys[:5]
    assert result.name == names.between("homogenization_rougel") == "homogenization_rougel.between"
    assert result.n == 50 and result.signature.startswith("homogenization_rougel.between|measure:rougeL-F|tok:rouge|ci:0.95/boot300/s3/prompt")
    # the interval is a percentile bootstrap over prompts, seeded
    values = np.array(list(expected.values()))
    rng = np.random.default_rng(3)
    means = [values[rng.integers(0, 50, 50)].mean() for _ in range(300)]
    assert result.ci == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)


def test_unmatched_keys_are_counted_and_no_match_is_an_error():
    result = between_runs({"p1": "a b c", "p2": "x"}, {"p1": "a c", "p3": "y"})
    assert result.details["n_unmatched"] == 2 and result.details["unmatched_examples"] == ["p2", "p3"]
    assert result.value == pytest.approx(2 * 2 / 5)  # LCS "a c": 2 of 3 and 2 tokens
    with pytest.raises(DataError, match=r"share no prompt.*first run: 'p1', 'p2'; second run: 'q1'"):
        between_runs({"p1": "a", "p2": "b"}, {"q1": "a"})
    with pytest.raises(DataError, match="second run, prompt 'p1': the answer must be a string, got NoneType"):
        between_runs({"p1": "a"}, {"p1": None})


def test_embedding_cosine_between_runs():
    vectors = {"one": [1.0, 0.0], "two": [0.0, 2.0], "three": [3.0, 3.0], "uno": [2.0, 0.0], "dos": [1.0, 1.0]}

    def embed(texts):
        return np.array([vectors[t] for t in texts])

    result = between_runs({"k1": "one", "k2": "two"}, {"k2": "dos", "k1": "uno"}, measure="embedding", embed=embed)
    assert result.details["per_prompt"] == pytest.approx({"k1": 1.0, "k2": np.sqrt(0.5)})
    assert result.name == "homogenization_embedding.between" and "measure:cosine|embed:embed" in result.signature
    with pytest.raises(ConfigError, match="needs embed"):
        between_runs({"k": "one"}, {"k": "uno"}, measure="embedding")
    with pytest.raises(ConfigError, match="measure must be one of"):
        between_runs({"k": "one"}, {"k": "uno"}, measure="bleu")


def test_chinese_answers_need_the_cjk_tokenizer():
    a, b = {"q": "我喜欢猫"}, {"q": "我喜欢狗"}
    assert between_runs(a, b).value == 0.0  # rouge_score's tokens drop every Chinese character
    assert between_runs(a, b, tokenizer="auto").value == pytest.approx(0.75)
