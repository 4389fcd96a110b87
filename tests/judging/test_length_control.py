"""The length-controlled win rate against alpaca_eval's own ``get_length_controlled_winrate``.

Both implementations read the same annotations (real AlpacaEval answers of
Meta-Llama-3-8B-Instruct and its SimPO variant, seeded soft preferences that
favour longer answers) and the same reference table: alpaca_eval finds
``df_gamed.csv`` in a Hugging Face cache folder laid out exactly as its
``hf_hub_download`` leaves it, with the Hub in offline mode (no network).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import types

import numpy as np
import pytest

from evalsuite.errors import DataError
from evalsuite.metrics.judging.length_control import (
    ALPACA_EVAL_TERMS, GLMS, MINIMAL, NOREG, V1, length_controlled_win_rate, outcome_preferences,
    read_difficulty_table,
)
from evalsuite.metrics.resampling import NO_CI, Resampling

N = 160
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def case(data_dir, tmp_path_factory):
    """Annotations, the instruction list and a df_gamed.csv built from real answers with seeded preferences."""
    folder = data_dir / "judging" / "alpaca_eval_outputs"
    read = lambda name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))[:N]  # noqa: E731
    base, cand = read("Meta-Llama-3-8B-Instruct"), read("Llama-3-Instruct-8B-SimPO")
    verbose, concise = read("gemma-2-9b-it-WPO-HB"), read("gemma-2-9b-it-DPO")
    rng = np.random.default_rng(13)
    difficulty = rng.normal(0, 1, N)
    tmp = tmp_path_factory.mktemp("lc")
    snapshot = tmp / "hub" / "datasets--tatsu-lab--alpaca_eval" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    with (snapshot / "df_gamed.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"])
        for name, other in (("gpt4_verbose", verbose), ("gpt4_concise", concise)):
            d = np.array([len(b["output"]) - len(o["output"]) for b, o in zip(base, other)], dtype=float)
            sd = d / d.std(ddof=1)
            p = 1 / (1 + np.exp(-(-0.8 * np.tanh(sd) + difficulty + rng.normal(0, 0.5, N))))
            for k in range(N):
                w.writerow([name, k, repr(float(p[k])), repr(float(sd[k])), repr(float(difficulty[k])), False])
    annotations = []
    for k, (b, c) in enumerate(zip(base, cand)):
        delta = np.tanh((len(b["output"]) - len(c["output"])) / 1500)
        pref = 1 + 1 / (1 + np.exp(-(-1.2 * delta + 0.6 * difficulty[k] + rng.normal(0, 1))))
        pref = None if k % 23 == 5 else 0 if k % 19 == 3 else 1.5 if k % 17 == 0 else round(float(pref), 6)
        annotations.append({"instruction": b["instruction"], "output_1": b["output"], "output_2": c["output"],
                            "generator_1": b["generator"], "generator_2": c["generator"],
                            "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": pref})
    instructions = [r["instruction"] for r in json.loads((data_dir / "judging" / "alpaca_eval_instructions.json")
                                                          .read_text(encoding="utf-8"))]
    return {"annotations": annotations, "hub": tmp / "hub", "table": snapshot / "df_gamed.csv",
            "instructions": instructions}


@pytest.fixture
def reference(monkeypatch, case):
    """alpaca_eval's get_length_controlled_winrate, reading df_gamed.csv from the offline Hub cache."""
    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None or importlib.util.find_spec("patsy") is None:
        pytest.skip("alpaca_eval (pip install --no-deps alpaca_eval) and patsy are needed for the reference")
    # As in test_reference_implementations: a stand-in package skips alpaca_eval/__init__'s CLI imports.
    pkg = types.ModuleType("alpaca_eval")
    pkg.__path__ = list(spec.submodule_search_locations)
    monkeypatch.setitem(sys.modules, "alpaca_eval", pkg)
    if importlib.util.find_spec("pkg_resources") is None:
        monkeypatch.setitem(sys.modules, "pkg_resources", types.ModuleType("pkg_resources"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    before = set(sys.modules)
    from alpaca_eval import constants
    from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate

    monkeypatch.setattr(constants, "DEFAULT_CACHE_DIR", str(case["hub"]))
    yield get_length_controlled_winrate
    for name in set(sys.modules) - before:
        if name.startswith("alpaca_eval."):
            del sys.modules[name]


def _ours(case, glm, resampling=NO_CI):
    ann = case["annotations"]
    table = read_difficulty_table(case["table"], case["instructions"])
    return length_controlled_win_rate(
        [a["preference"] for a in ann], [len(a["output_1"]) for a in ann], [len(a["output_2"]) for a in ann],
        instructions=[a["instruction"] for a in ann], table=table, glm=glm, resampling=resampling)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("glm", GLMS)
def test_equals_alpaca_eval(case, reference, glm):
    import pandas as pd

    df = pd.DataFrame(case["annotations"])
    expected = reference(df, glm_name=glm, save_weights_dir=None, is_warn_extreme_changes=False)
    got = _ours(case, glm)
    assert got.value == pytest.approx(expected["length_controlled_winrate"] / 100, abs=1e-9, rel=0)
    assert got.standard_error == pytest.approx(expected["lc_standard_error"] / 100, abs=1e-9, rel=0)
    assert got.win_rate == pytest.approx(expected["win_rate"] / 100, abs=1e-12, rel=0)
    # alpaca_eval writes the coefficients as a patsy-named column per model; read them back from its weights csv.
    weights = {term: float(df_value) for term, df_value in _weights(reference, df, glm).items()}
    assert set(weights) == {ALPACA_EVAL_TERMS[k] for k in got.coefficients}
    for name, value in got.coefficients.items():
        assert value == pytest.approx(weights[ALPACA_EVAL_TERMS[name]], abs=1e-9, rel=0)
    assert got.n == N and got.unparseable == sum(a["preference"] is None for a in case["annotations"])
    assert got.coefficients["length"] < 0  # the seeded judge likes longer candidate answers


def _weights(reference, df, glm):
    import tempfile

    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        reference(df.copy(), glm_name=glm, save_weights_dir=folder, is_warn_extreme_changes=False)
        table = pd.read_csv(f"{folder}/{glm}/baseline_Meta-Llama-3-8B-Instruct.csv", index_col=0)
    return table.loc["Llama-3-Instruct-8B-SimPO"].to_dict()


def test_unmatched_instructions_are_named(case):
    ann = case["annotations"][:40]
    instructions = [a["instruction"] for a in ann]
    instructions[7] = "Write a haiku about a checkpoint nobody evaluated."
    table = read_difficulty_table(case["table"], case["instructions"])
    with pytest.raises(DataError, match=r"1 instruction\(s\) are not in the difficulty table .*haiku about a checkpoint"):
        length_controlled_win_rate([a["preference"] for a in ann], [1] * 40, list(range(40)),
                                   instructions=instructions, table=table, glm=NOREG)
    with pytest.raises(DataError, match="needs the instruction-difficulty table"):
        length_controlled_win_rate([2] * 10, [1] * 10, list(range(10)), glm=V1)


def test_table_errors_name_the_line(tmp_path):
    path = tmp_path / "df_gamed.csv"
    path.write_text("index,preference,std_delta_len,instruction_difficulty,not_gamed_baseline\n"
                    "0,0.5,0.1,0.2,False\n1,0.5,oops,0.2,False\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3, field 'std_delta_len' is 'oops'"):
        read_difficulty_table(path, ["a", "b"])
    path.write_text("index,preference\n0,0.5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"missing column\(s\) \['std_delta_len'"):
        read_difficulty_table(path, ["a"])


def test_bootstrap_interval_and_defaults(case):
    ann = case["annotations"]
    prefs = [a["preference"] for a in ann]
    base, cand = [len(a["output_1"]) for a in ann], [len(a["output_2"]) for a in ann]
    got = length_controlled_win_rate(prefs, base, cand, resampling=Resampling(ci=True, n_boot=30, seed=3))
    assert got.glm == MINIMAL and set(got.coefficients) == {"length", "intercept"}
    lo, hi = got.ci
    assert lo < got.value < hi and hi - lo < 0.2
    again = length_controlled_win_rate(prefs, base, cand, resampling=Resampling(ci=True, n_boot=30, seed=3))
    assert again.ci == got.ci  # seeded
    assert "glm:length_controlled_minimal" in got.signature and "ci:boot30@0.95" in got.signature


def test_outcome_preferences_and_length_checks():
    assert outcome_preferences(["win", "tie", "loss", None]) == [2.0, 1.5, 1.0, None]
    with pytest.raises(DataError, match="same length difference"):
        length_controlled_win_rate([2, 1, 2, 1, 2, 1], [5] * 6, [3] * 6, resampling=NO_CI)
    with pytest.raises(DataError, match="at least 5 parsed comparisons"):
        length_controlled_win_rate([2, None, 1], [5, 6, 7], [3, 1, 2], resampling=NO_CI)
    with pytest.raises(DataError, match="got 2 candidate lengths for 3 preferences"):
        length_controlled_win_rate([2, 1, 2], [5, 6, 7], [3, 1], resampling=NO_CI)


def test_judge_import_reports_lc(case, tmp_path, capsys):
    from evalsuite.cli import main
    from evalsuite.reports.judge_import import import_judgments, read_lc_table

    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(case["annotations"]), encoding="utf-8")
    instructions = tmp_path / "instructions.json"
    instructions.write_text(json.dumps([{"instruction": t} for t in case["instructions"]]), encoding="utf-8")
    table = read_lc_table(case["table"], instructions)
    few = Resampling(ci=True, n_boot=20)
    result, _ = import_judgments(path, "alpaca_eval", resampling=few, lc_table=table)
    lc = result.models["Llama-3-Instruct-8B-SimPO"].length_controlled
    direct = _ours(case, V1)  # equal to alpaca_eval (test_equals_alpaca_eval)
    assert lc.glm == V1 and lc.value == pytest.approx(direct.value, abs=1e-12)
    assert lc.coefficients == pytest.approx(direct.coefficients, abs=1e-12) and lc.ci[0] < lc.value < lc.ci[1]
    code = main(["judge", "import", str(path), "--format", "alpaca_eval", "--out", str(tmp_path / "out"),
                 "--n-boot", "20", "--lc-table", str(case["table"]), "--lc-instructions", str(instructions)])
    out = capsys.readouterr().out
    assert code == 0 and f"{100 * direct.value:.2f}" in out and "LC Llama-3-Instruct-8B-SimPO: length_controlled_v1" in out
    # An annotation whose instruction is not AlpacaEval's: the import names it instead of returning NaN.
    bad = case["annotations"][:30] + [{**case["annotations"][30], "instruction": "Summarise our internal wiki."}]
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(DataError, match="Summarise our internal wiki"):
        import_judgments(path, "alpaca_eval", resampling=few, lc_table=table)
    # Without a table: the minimal GLM, and no error for instructions outside the set.
    plain, _ = import_judgments(path, "alpaca_eval", resampling=few)
    assert plain.models["Llama-3-Instruct-8B-SimPO"].length_controlled.glm == MINIMAL
