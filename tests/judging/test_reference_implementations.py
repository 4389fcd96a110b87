"""The importers against the source projects' own code on the same files.

FastChat's ``show_result.display_result_pairwise`` (package ``fschat``) and
AlpacaEval's ``metrics.get_winrate`` (package ``alpaca_eval``) are run on the
files we import; both are optional dev dependencies (installed with
``--no-deps``: only pandas is needed for these functions).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import types

import pytest

from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_import import import_judgments

FEW_BOOTS = Resampling(ci=True, n_boot=20)


def _mt_file(path, seed=0):
    rng = random.Random(seed)
    models = ["alpha", "beta", "gamma", "delta"]
    rows = []
    for q in range(1, 31):
        for turn in (1, 2):
            for a in models:
                for b in models:
                    if a < b and rng.random() < 0.7:
                        g1, g2 = (rng.choice(["model_1", "model_2", "tie", "model_1", "error"]) for _ in range(2))
                        rows.append({"question_id": q, "model_1": a, "model_2": b, "g1_winner": g1, "g2_winner": g2,
                                     "judge": ["gpt-4", "pair-v2"], "turn": turn})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _fastchat_table(monkeypatch, path, baseline):
    show_result = pytest.importorskip("fastchat.llm_judge.show_result")
    printed = []
    monkeypatch.setattr(show_result, "print", printed.append, raising=False)
    args = argparse.Namespace(input_file=str(path), bench_name="mt_bench", judge_model="gpt-4",
                              baseline_model=baseline, model_list=None)
    show_result.display_result_pairwise(args)
    return printed[-1]  # the DataFrame it prints last


@pytest.mark.parametrize("baseline", [None, "beta"])
def test_mt_bench_matches_fastchat_show_result(tmp_path, monkeypatch, baseline):
    path = _mt_file(tmp_path / "gpt-4_pair.jsonl")
    table = _fastchat_table(monkeypatch, path, baseline)
    result, _ = import_judgments(path, "mt_bench", baseline=baseline, resampling=FEW_BOOTS)
    assert sorted(result.models) == sorted(table.index)
    for model, row in table.iterrows():
        s = result.models[model].win_rate
        assert (s.wins, s.losses, s.ties) == (row["win"], row["loss"], row["tie"])
        assert s.win_rate == pytest.approx(row["win_rate_adjusted"])
        assert s.win_only_rate == pytest.approx(row["win_rate"])
        assert s.loss_rate == pytest.approx(row["loss_rate"])


@pytest.fixture
def get_winrate(monkeypatch):
    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None:
        pytest.skip("alpaca_eval is not installed (pip install --no-deps alpaca_eval)")
    # alpaca_eval/__init__ pulls in its whole CLI stack (dotenv, openai, ...); the metrics need only
    # pandas and alpaca_eval.utils, whose one pkg_resources use is in functions we do not call.
    # The stand-ins live only for this test: monkeypatch restores sys.modules, and the submodules
    # imported under the stand-in package are dropped afterwards.
    pkg = types.ModuleType("alpaca_eval")
    pkg.__path__ = list(spec.submodule_search_locations)
    monkeypatch.setitem(sys.modules, "alpaca_eval", pkg)
    if importlib.util.find_spec("pkg_resources") is None:
        monkeypatch.setitem(sys.modules, "pkg_resources", types.ModuleType("pkg_resources"))
    before = set(sys.modules)
    try:
        from alpaca_eval.metrics.winrate import get_winrate as reference
    except ImportError as exc:
        pytest.skip(f"alpaca_eval metrics not importable here: {exc}")
    yield reference
    for name in set(sys.modules) - before:
        if name.startswith("alpaca_eval."):
            del sys.modules[name]


def test_alpaca_eval_matches_get_winrate(tmp_path, get_winrate):
    rng = random.Random(1)
    # Soft (weighted) preferences, discrete ones, legacy 0 draws and judge failures (None). Out-of-range
    # values are left out here: AlpacaEval drops them from the soft rate but rounds them into the discrete one.
    prefs = [rng.choice([None, 0, 1, 2, 1.5, rng.uniform(1, 2), rng.uniform(1, 2)]) for _ in range(300)]
    records = [{"instruction": f"q{i}", "output_1": "b" * rng.randint(1, 50), "output_2": "m" * rng.randint(1, 50),
                "generator_1": "baseline", "generator_2": "model", "preference": p} for i, p in enumerate(prefs)]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    soft = import_judgments(path, "alpaca_eval", resampling=FEW_BOOTS)[0].models["model"].soft
    ref = get_winrate(records)
    assert soft.soft_win_rate * 100 == pytest.approx(ref["win_rate"])
    assert soft.standard_error * 100 == pytest.approx(ref["standard_error"])
    assert soft.discrete_win_rate * 100 == pytest.approx(ref["discrete_win_rate"])
    assert (soft.n_wins, soft.n_wins_base, soft.n_draws, soft.n) == (
        ref["n_wins"], ref["n_wins_base"], ref["n_draws"], ref["n_total"])
    assert soft.unparseable == sum(p is None for p in prefs)
