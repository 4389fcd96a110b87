"""Code tasks: loading with precise errors, program assembly, judging, resuming, the CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.errors import DataError
from evalsuite.execution.pass_at_k import pass_at_k
from evalsuite.execution.sandbox import SandboxLimits
from evalsuite.execution.humaneval import (
    PARTIAL, assemble_program, evaluate, load_problems, load_result, load_samples, parse_ks,
)

# Two small problems in HumanEval's layout, written by the test itself.
PROBLEMS = [
    {"task_id": "toy/add", "prompt": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
     "entry_point": "add", "canonical_solution": "    return a + b\n",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "toy/rev", "prompt": "def rev(s):\n",
     "entry_point": "rev", "canonical_solution": "    return s[::-1]\n",
     "test": "def check(candidate):\n    assert candidate('abc') == 'cba'\n"},
]
FAST = SandboxLimits(timeout_s=2, cpu_s=2, memory_mb=256, nproc=8)


def _write_jsonl(path: Path, rows: list) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def problems_file(tmp_path) -> Path:
    return _write_jsonl(tmp_path / "problems.jsonl.gz", PROBLEMS)


SAMPLES = [
    {"task_id": "toy/add", "completion": "    return a + b\n"},
    {"task_id": "toy/add", "completion": "    return a - b\n"},                      # wrong
    {"task_id": "toy/add", "completion": "    while True:\n        pass\n"},          # hangs
    {"task_id": "toy/rev", "completion": "    return ''.join(reversed(s))\n"},
    {"task_id": "toy/rev", "completion": "    return s\n"},                          # wrong
    {"task_id": "toy/add", "completion": "    import os\n    os.remove('/etc/hostname')\n"},  # hostile
]


def test_program_is_human_evals_layout():
    problem = load_problems_from(PROBLEMS)["toy/add"]
    program = assemble_program(problem, "    return a + b\n")
    assert program == PROBLEMS[0]["prompt"] + "    return a + b\n" + "\n" + PROBLEMS[0]["test"] + "\ncheck(add)\n"


def load_problems_from(rows):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return load_problems(_write_jsonl(Path(d) / "p.jsonl", rows))


def test_loads_gzip_and_plain(tmp_path, problems_file):
    plain = _write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    assert load_problems(problems_file) == load_problems(plain)
    assert list(load_problems(problems_file)) == ["toy/add", "toy/rev"]


@pytest.mark.parametrize("rows,needle", [
    ([PROBLEMS[0], {k: v for k, v in PROBLEMS[1].items() if k != "test"}], r"p\.jsonl, line 2: missing field 'test'"),
    ([PROBLEMS[0], "{not json"], r"p\.jsonl, line 2: not valid JSON"),
    ([{**PROBLEMS[0], "entry_point": 3}], r"line 1: field 'entry_point' must be a string, got int"),
    ([{**PROBLEMS[0], "entry_point": "not a name"}], r"line 1: field 'entry_point' must be a Python name"),
    ([PROBLEMS[0], PROBLEMS[0]], r"line 2: duplicate task_id 'toy/add'"),
    (["[1, 2]"], r"line 1: expected a JSON object, got list"),
])
def test_bad_problems_name_file_line_field(tmp_path, rows, needle):
    with pytest.raises(DataError, match=needle):
        load_problems(_write_jsonl(tmp_path / "p.jsonl", rows))


@pytest.mark.parametrize("rows,needle", [
    ([SAMPLES[0], {"task_id": "toy/nope", "completion": ""}], r"s\.jsonl, line 2: field 'task_id': unknown task 'toy/nope'"),
    ([{"task_id": "toy/add"}], r"s\.jsonl, line 1: missing field 'completion'"),
    ([SAMPLES[0], "", '{"task_id": "toy/add", "completion": '], r"s\.jsonl, line 3: not valid JSON"),
])
def test_bad_samples_name_file_line_field(tmp_path, problems_file, rows, needle):
    with pytest.raises(DataError, match=needle):
        load_samples(_write_jsonl(tmp_path / "s.jsonl", rows), load_problems(problems_file))


def test_sample_indices_count_per_task_in_file_order(tmp_path, problems_file):
    samples = load_samples(_write_jsonl(tmp_path / "s.jsonl", SAMPLES), load_problems(problems_file))
    assert [(s.task_id, s.index) for s in samples] == [
        ("toy/add", 0), ("toy/add", 1), ("toy/add", 2), ("toy/rev", 0), ("toy/rev", 1), ("toy/add", 3)]


def test_judge_score_write_and_resume(tmp_path, problems_file):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES)
    run = tmp_path / "run"
    result = evaluate(problems_file, samples_file, run, [1, 2, 3], limits=FAST, workers=2)

    outcomes = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert [o["status"] for o in outcomes] == ["passed", "failed", "timed_out", "passed", "failed", "failed"]
    assert "assert candidate(2, 3) == 5" in outcomes[1]["message"]
    assert Path("/etc/hostname").exists()
    assert result.per_task["toy/add"].n == 4 and result.per_task["toy/add"].correct == 1
    assert result.per_task["toy/rev"].pass_at_k["pass@1"] == pytest.approx(0.5)
    assert result.per_task["toy/rev"].pass_at_k["pass@3"] is None          # k > n
    assert result.pass_at_k["pass@3"].value is None
    expected_k2 = (pass_at_k(4, 1, 2) + pass_at_k(2, 1, 2)) / 2
    assert result.pass_at_k["pass@2"].value == pytest.approx(expected_k2)
    assert result.statuses == {"passed": 2, "failed": 3, "timed_out": 1}
    assert load_result(run) == result
    assert result.isolation.rlimits["RLIMIT_AS"] == 256 * 2 ** 20
    assert result.limits == FAST and result.packages["evalsuite"]
    assert not (run / PARTIAL).exists()

    again = evaluate(problems_file, samples_file, run, [1], limits=FAST, workers=2)
    assert (again.samples_judged, again.samples_from_previous_run) == (0, 6)
    assert again.statuses == result.statuses

    # Changed limits change what can pass: nothing is reused.
    changed = evaluate(problems_file, samples_file, run, [1], limits=FAST.model_copy(update={"timeout_s": 1.5}))
    assert changed.samples_judged == 6


def test_resume_from_a_killed_run(tmp_path, problems_file):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES[:2] + SAMPLES[3:5])
    run = tmp_path / "run"
    evaluate(problems_file, samples_file, run, [1], limits=FAST)
    lines = (run / "samples.jsonl").read_text().splitlines()
    # What a run killed after two outcomes leaves behind: a partial file with a torn last line.
    (run / "samples.jsonl").unlink()
    (run / PARTIAL).write_text(lines[0] + "\n" + lines[3] + "\n" + lines[1][:40])
    resumed = evaluate(problems_file, samples_file, run, [1], limits=FAST)
    assert (resumed.samples_from_previous_run, resumed.samples_judged) == (2, 2)
    def keyed(text):  # durations differ between runs; everything else must match
        return [{k: v for k, v in json.loads(x).items() if k != "duration_s"} for x in text.splitlines()]

    assert keyed((run / "samples.jsonl").read_text()) == keyed("\n".join(lines))


def test_edited_completion_is_judged_again(tmp_path, problems_file):
    run = tmp_path / "run"
    evaluate(problems_file, _write_jsonl(tmp_path / "a.jsonl", SAMPLES[:2]), run, [1], limits=FAST)
    edited = [SAMPLES[0], {"task_id": "toy/add", "completion": "    return b + a\n"}]
    result = evaluate(problems_file, _write_jsonl(tmp_path / "b.jsonl", edited), run, [1], limits=FAST)
    assert (result.samples_from_previous_run, result.samples_judged) == (1, 1)
    assert result.statuses == {"passed": 2}


def test_parse_ks():
    assert parse_ks("10,1, 1") == [1, 10]
    with pytest.raises(Exception, match="comma-separated"):
        parse_ks("1,ten")


def test_cli_writes_results_and_prints_table(tmp_path, problems_file, capsys):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", SAMPLES[:2] + SAMPLES[3:5])
    out = tmp_path / "cli"
    code = main(["code-eval", str(samples_file), "--problems", str(problems_file), "--k", "1,2", "--out", str(out),
                 "--timeout", "2", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pass@1" in printed and "50.00" in printed and "isolation:" in printed
    assert load_result(out).pass_at_k["pass@2"].value == pytest.approx(1.0)

    assert main(["code-eval", "--canonical", "--problems", str(problems_file), "--out", str(tmp_path / "c"),
                 "--k", "1", "--no-progress"]) == 0
    assert load_result(tmp_path / "c").statuses == {"passed": 2}


def test_cli_bad_input_exits_2_naming_the_line(tmp_path, problems_file, capsys):
    samples_file = _write_jsonl(tmp_path / "s.jsonl", [SAMPLES[0], {"task_id": "toy/zzz", "completion": "x"}])
    code = main(["code-eval", str(samples_file), "--problems", str(problems_file), "--out", str(tmp_path / "o"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "s.jsonl, line 2: field 'task_id': unknown task 'toy/zzz'" in err
    assert main(["code-eval", "--problems", str(problems_file), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
