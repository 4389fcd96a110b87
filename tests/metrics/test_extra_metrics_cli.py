"""`evalsuite metrics --metrics a,b,...`: the named metrics, under their names, with or without intervals."""

from __future__ import annotations

import json

import pytest

from evalsuite.cli import main
from evalsuite.metrics.names import DIVERSITY, EXTRA_DIVERSITY
from evalsuite.registry import METRICS

ASKED = ["ngram_diversity", "self_repetition", "homogenization_rougel", "distinct_k"]


@pytest.fixture()
def generations(tmp_path, alpaca_en):
    rows = [{"prompt_id": f"p{i // 3}", "response": text[:400]} for i, text in enumerate(alpaca_en[:24])]
    rows[4]["response"] = rows[3]["response"]  # one exact repeat within prompt p1
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, [r["response"] for r in rows], [r["prompt_id"] for r in rows]


@pytest.mark.parametrize("no_ci", [True, False])
def test_named_metrics_are_written_under_their_names(generations, tmp_path, capsys, no_ci):
    path, texts, groups = generations
    out = tmp_path / "m.json"
    argv = ["metrics", str(path), "--group-by", "prompt_id", "--metrics", ",".join(ASKED), "--out", str(out),
            "--n-boot", "40"] + (["--no-ci"] if no_ci else [])
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ASKED)
    data = json.loads(out.read_text())
    assert data["metrics"] == ASKED
    results = data["results"]["all"]
    for mode in ("within", "across"):
        assert list(results[mode]) == ASKED
        for name in ASKED:
            entry = results[mode][name]
            direct = METRICS.get(name)(texts, groups=groups, mode=mode)
            assert entry["value"] == pytest.approx(direct.value, abs=1e-12), (name, mode)
            assert (entry["ci"] is None) == no_ci
            if not no_ci:
                assert entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    # 8 prompts of 3 samples, one a copy: 7 prompts of 3 classes and one of 2
    assert results["within"]["distinct_k"]["value"] == pytest.approx((7 * 3 + 2) / 8)


def test_options_for_one_metric_and_the_default_set(generations, tmp_path, capsys):
    path, _, _ = generations
    out = tmp_path / "m.json"
    argv = ["metrics", str(path), "--no-ci", "--metric", "distinct_k", "--metrics", "self_repetition",
            "-M", "distinct_k.equivalence=exact", "-M", "self_repetition.n=2", "--out", str(out)]
    assert main(argv) == 0
    across = json.loads(out.read_text())["results"]["all"]["across"]
    assert "eq:exact" in across["distinct_k"]["signature"] and across["distinct_k"]["value"] == 23
    assert across["self_repetition"]["signature"].startswith("self_repetition|n:2|")
    assert main(["metrics", str(path), "--no-ci", "--metrics", "ngram_diversity", "-M", "distinct_k.equivalence=exact"]) == 2
    assert "option 'distinct_k.equivalence' is for metric 'distinct_k', which is not among" in capsys.readouterr().err
    # without --metrics: today's default report, none of the named-only metrics
    assert main(["metrics", str(path), "--no-ci", "--out", str(out)]) == 0
    default = json.loads(out.read_text())["results"]["all"]["across"]
    assert set(default) <= set(DIVERSITY) and not set(default) & set(EXTRA_DIVERSITY)


@pytest.mark.slow
def test_embedding_metrics_with_a_real_model_equal_the_package(generations, tmp_path, minilm_dir, monkeypatch):
    from .test_shaib_package import package_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, texts, _ = generations
    out = tmp_path / "m.json"
    argv = ["metrics", str(path), "--no-ci", "--metrics", "remote_clique,chamfer,distinct_k", "--embedding-model",
            minilm_dir, "-M", "distinct_k.equivalence=embedding", "-M", f"distinct_k.model={minilm_dir}",
            "-M", "distinct_k.threshold=0.99", "--out", str(out)]
    assert main(argv) == 0
    across = json.loads(out.read_text())["results"]["all"]["across"]
    emb = package_module("embedding")  # the package embeds with the same local model
    assert round(across["remote_clique"]["value"], 3) == emb.remote_clique(texts, model=minilm_dir, verbose=False)
    assert round(across["chamfer"]["value"], 3) == emb.chamfer_dist(texts, model=minilm_dir, verbose=False)
    assert "model:all-MiniLM-L6-v2" in across["chamfer"]["signature"]
    assert across["distinct_k"]["value"] == 23 and "model:all-MiniLM-L6-v2" in across["distinct_k"]["signature"]
