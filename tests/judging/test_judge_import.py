"""Importing AlpacaEval annotations and FastChat MT-Bench judgments: small files, win rates computed by hand."""

from __future__ import annotations

import json

import pytest

from evalsuite.cli import main
from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.resampling import Resampling
from evalsuite.reports.judge_import import import_judgments, load_judge_run, write_run
from evalsuite.results import load_result


def _boots(n: int) -> Resampling:
    return Resampling(ci=True, n_boot=n)


def _ann(g1, g2, pref="absent", out1="y" * 10, out2="x" * 30, instruction="Say hi"):
    r = {"instruction": instruction, "output_1": out1, "output_2": out2, "generator_1": g1, "generator_2": g2}
    if pref != "absent":
        r["preference"] = pref
    return r


def _write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture
def alpaca_file(tmp_path):
    base, me = "gpt4_turbo", "mymodel"
    records = [
        _ann(base, me, 2),  # win, model longer: the longer answer won
        _ann(base, me, 1),  # loss, model longer
        _ann(base, me, 1.5),  # tie
        _ann(base, me, 1.8, out2="x" * 5),  # win, model shorter
        _ann(base, me, 1.3),  # loss, model longer
        _ann(base, me, None),  # judge failed: unparseable
        _ann(base, me),  # no preference at all: unparseable
    ]
    return _write_json(tmp_path / "annotations.json", records)


def test_alpaca_eval_hand_computed(alpaca_file):
    result, judgments = import_judgments(alpaca_file, "alpaca_eval", resampling=_boots(200))
    assert result.baseline == "gpt4_turbo" and list(result.models) == ["mymodel"]
    m = result.models["mymodel"]
    # valid preferences 2, 1, 1.5, 1.8, 1.3 -> soft 1, 0, .5, .8, .3; discrete 1, 0, .5, 1, 0
    assert m.soft.soft_win_rate == pytest.approx(2.6 / 5)
    assert m.soft.discrete_win_rate == pytest.approx(2.5 / 5)
    assert (m.soft.n, m.soft.unparseable, m.soft.n_wins, m.soft.n_wins_base, m.soft.n_draws) == (5, 2, 2, 2, 1)
    assert (m.win_rate.wins, m.win_rate.ties, m.win_rate.losses, m.win_rate.unparseable) == (2, 1, 2, 2)
    assert m.win_rate.win_rate == pytest.approx(0.5)
    assert (m.length_bias.n_decisive, m.length_bias.longer_wins) == (4, 1)
    assert result.unparseable == 2 and result.records == 7 and result.position_bias is None
    bad = [j for j in judgments if j.outcome is None]
    assert [j.raw for j in bad] == [{"preference": None}, {"preference": None}] and all(j.unparseable for j in bad)


def test_alpaca_eval_baseline_in_either_position(tmp_path):
    base = "ref"
    path = _write_json(tmp_path / "a.json", [
        _ann(base, "m1", 2), _ann("m1", base, 1.2),  # m1 is output_1 here: 1.2 means m1 better -> 1.8
        _ann(base, "m2", 1), _ann("other", "m2", 2),  # the last does not involve the baseline
    ])
    with pytest.raises(ConfigError, match="--baseline"):
        import_judgments(path, "alpaca_eval")
    result, judgments = import_judgments(path, "alpaca_eval", baseline=base, resampling=_boots(50))
    assert result.models["m1"].soft.soft_win_rate == pytest.approx((1 + 0.8) / 2)
    assert result.models["m2"].soft.soft_win_rate == pytest.approx(0.0)
    assert result.skipped_without_baseline == 1 and result.records == 4
    assert judgments[1].model == "m1" and judgments[1].preference == pytest.approx(1.8)
    # m1 won everything and m2 lost everything: no finite Bradley-Terry fit, said so instead of a number.
    assert result.bradley_terry is None and "infinite" in result.bradley_terry_error


@pytest.mark.parametrize(
    "records, match",
    [([_ann("a", "b", 2), {"instruction": "x", "output_1": "", "output_2": "", "generator_1": "a"}], r"record 1, field 'generator_2'"),
     ([_ann("a", "b", "2")], r"record 0, field 'preference'"),
     ([_ann("a", "a", 2)], "both 'a'"),
     ({"not": "a list"}, "JSON list")],
)
def test_alpaca_eval_bad_input_names_file_record_field(tmp_path, records, match):
    path = _write_json(tmp_path / "bad.json", records)
    with pytest.raises(DataError, match=match) as info:
        import_judgments(path, "alpaca_eval")
    assert str(path) in str(info.value)


MT_ROWS = [  # (question_id, model_1, model_2, g1_winner, g2_winner, turn)
    (1, "A", "B", "model_1", "model_1", 1),  # A wins
    (1, "A", "B", "model_1", "model_2", 2),  # orders disagree: tie
    (2, "A", "B", "tie", "tie", 1),  # tie
    (2, "A", "B", "model_2", "model_2", 1),  # B wins
    (3, "A", "B", "error", "model_1", 1),  # error in one order: dropped
    (1, "A", "C", "model_1", "tie", 1),  # disagree: tie
    (2, "A", "C", "model_2", "model_2", 1),  # C wins
    (3, "B", "C", "model_1", "model_1", 1),  # B wins
    (3, "B", "C", "tie", "model_2", 1),  # tie in the original order: tie
    (4, "C", "A", "model_1", "model_1", 1),  # C wins
]


@pytest.fixture
def mt_file(tmp_path):
    path = tmp_path / "gpt-4_pair.jsonl"
    lines = [json.dumps({"question_id": q, "model_1": m1, "model_2": m2, "g1_winner": g1, "g2_winner": g2,
                         "judge": ["gpt-4", "pair-v2"], "g1_judgment": "...", "turn": t})
             for q, m1, m2, g1, g2, t in MT_ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_mt_bench_pairwise_all_matches_fastchat_table(mt_file):
    result, _ = import_judgments(mt_file, "mt_bench", resampling=_boots(100))
    # Hand-tallied FastChat table (every row counts for both sides):
    #   A: rows 1 2 3 4 6 7 10 -> W1 T3 L3;  B: rows 1 2 3 4 8 9 -> W2 T3 L1;  C: rows 6 7 8 9 10 -> W2 T2 L1
    expected = {"A": (1, 3, 3, 2.5 / 7), "B": (2, 3, 1, 3.5 / 6), "C": (2, 2, 1, 3 / 5)}
    for model, (w, t, l, rate) in expected.items():
        s = result.models[model].win_rate
        assert (s.wins, s.ties, s.losses) == (w, t, l)
        assert s.win_rate == pytest.approx(rate)
        assert s.win_only_rate == pytest.approx(w / (w + t + l))
    assert result.models["A"].win_rate.unparseable == 1 and result.unparseable == 1
    turns = result.models["A"].per_turn  # turn 1: rows 1 3 4 6 7 10 -> W1 T2 L3; turn 2: row 2 (tie)
    assert turns["1"].win_rate == pytest.approx(2 / 6) and turns["2"].win_rate == pytest.approx(0.5)
    assert turns["1"].unparseable == 1
    per = result.models["A"].per_opponent
    assert per["B"].win_rate == pytest.approx(2 / 4) and per["C"].win_rate == pytest.approx(0.5 / 3)
    # 9 rows parsed in both orders; rows 2, 6, 9 disagree; only row 2 has the first-shown answer winning both.
    pb = result.position_bias
    assert (pb.n_pairs, pb.inconsistent, pb.first_position_favoured, pb.second_position_favoured) == (9, 3, 1, 0)
    assert result.judges == ["gpt-4 / pair-v2"]
    assert result.bradley_terry.n_comparisons == 9 and set(result.bradley_terry.strengths) == {"A", "B", "C"}
    assert result.bradley_terry.strengths["A"] < result.bradley_terry.strengths["C"]


def test_mt_bench_with_baseline(mt_file):
    result, judgments = import_judgments(mt_file, "mt_bench", baseline="A", resampling=_boots(100))
    assert set(result.models) == {"B", "C"} and result.skipped_without_baseline == 2
    b, c = result.models["B"].win_rate, result.models["C"].win_rate
    assert (b.wins, b.ties, b.losses, b.unparseable) == (1, 2, 1, 1) and b.win_rate == pytest.approx(0.5)
    assert (c.wins, c.ties, c.losses) == (2, 1, 0) and c.win_rate == pytest.approx(2.5 / 3)
    assert all(j.opponent == "A" for j in judgments)


@pytest.mark.parametrize(
    "line, match",
    [('{"question_id": 1, "model_1": "A", "model_2": "B", "g1_winner": "A", "g2_winner": "tie"}', r"record 0, field 'g1_winner'"),
     ('{"question_id": 1, "model_1": "A", "g1_winner": "tie"}', r"record 0, field 'model_2'"),
     ("{not json", r"bad.jsonl: line 1: not valid JSON")],
)
def test_mt_bench_bad_input_names_file_record_field(tmp_path, line, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=match):
        import_judgments(path, "mt_bench")


def test_written_run_reads_back(mt_file, tmp_path):
    result, judgments = import_judgments(mt_file, "mt_bench", resampling=_boots(50))
    write_run(tmp_path / "run", result, judgments)
    again = load_judge_run(tmp_path / "run")
    assert again.models["B"].win_rate == result.models["B"].win_rate
    # The record has a kind and the shared provenance block, and the one loader reads it by its kind.
    assert again.kind == "judge_import" and again.provenance.evalsuite_version
    assert load_result(tmp_path / "run") == again
    lines = (tmp_path / "run" / "judgments.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(MT_ROWS)
    assert json.loads(lines[4])["outcome"] is None and json.loads(lines[4])["raw"]["g1_winner"] == "error"


def test_cli_judge_import(alpaca_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["judge", "import", str(alpaca_file), "--format", "alpaca_eval", "--out", str(out), "--n-boot", "50"])
    assert code == 0
    assert load_judge_run(out).models["mymodel"].soft.soft_win_rate == pytest.approx(0.52)
    assert load_judge_run(out).resampling == {"ci": True, "n_boot": 50, "confidence": 0.95, "seed": 0}
    assert "52.00" in capsys.readouterr().out
    code = main(["judge", "import", str(alpaca_file), "--format", "mt_bench", "--out", str(out)])
    assert code == 3 and "record 0 (line 1) is a JSON list, not an object" in capsys.readouterr().err
