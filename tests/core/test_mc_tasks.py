"""MMLU / C-Eval / custom YAML tasks on small fixture files: prompts, parsing errors, scoring."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.registry import get_task, task_names
from evalsuite.tasks.multiple_choice import aggregate_accuracy

MMLU_TEST = [
    ["What is 1+1?", "1", "2", "3", "4", "B"],
    ['A "quoted", comma question\nwith a newline', "x", "y", "z", "w", "D"],
    ["  Padded question  ", "a", "b", "c", "d", "A"],
]
MMLU_DEV = [[f"Dev question {i}?", "p", "q", "r", "s", "ABCD"[i % 4]] for i in range(5)]


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def mmlu_dir(tmp_path) -> Path:
    root = tmp_path / "benchmarks"
    write_csv(root / "mmlu" / "test" / "anatomy_test.csv", MMLU_TEST)
    write_csv(root / "mmlu" / "dev" / "anatomy_dev.csv", MMLU_DEV)
    return root


def test_mmlu_prompt_is_lm_eval_format(mmlu_dir):
    task = get_task("mmlu")({"subjects": "anatomy", "shots": 2}, data=DataRoots(benchmarks=mmlu_dir))
    requests = task.requests()
    assert [r.key for r in requests] == ["anatomy/0", "anatomy/1", "anatomy/2"]
    expected_prefix = (
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        "Dev question 0?\nA. p\nB. q\nC. r\nD. s\nAnswer: A\n\n"
        "Dev question 1?\nA. p\nB. q\nC. r\nD. s\nAnswer: B\n\n"
    )
    assert requests[0].prefix == expected_prefix
    assert requests[2].text == "Padded question\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    assert requests[1].text.startswith('A "quoted", comma question\nwith a newline\nA. x')
    assert requests[0].continuations == [" A", " B", " C", " D"]


def test_ceval_official_variant(tmp_path):
    root = tmp_path / "benchmarks"
    header = ["id", "question", "A", "B", "C", "D", "answer", "explanation"]
    write_csv(root / "ceval" / "val" / "accountant_val.csv", [["0", "税法____。", "甲", "乙", "丙", "丁", "C", ""]], header)
    write_csv(root / "ceval" / "dev" / "accountant_dev.csv", [["0", "示例", "一", "二", "三", "四", "A", "解释"]], header)
    default = get_task("ceval")({"subjects": ["accountant"], "shots": 1}, data=DataRoots(benchmarks=root)).requests()[0]
    official = get_task("ceval")({"subjects": ["accountant"], "shots": 1, "prompt": "official"}, data=DataRoots(benchmarks=root)).requests()[0]
    assert default.context == "以下是中国关于注册会计师的单项选择题，请选出其中的正确答案。\n\n示例\nA. 一\nB. 二\nC. 三\nD. 四\n答案： A\n\n税法____。\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案："
    assert official.context.startswith("以下是中国关于注册会计师考试的单项选择题")
    assert "答案：A\n\n" in official.context and official.continuations == ["A", "B", "C", "D"]


def test_unknown_subject_names_it_and_lists_known(mmlu_dir):
    with pytest.raises(ConfigError, match=r"unknown subject\(s\) for mmlu: anatomyy.*known subjects: abstract_algebra"):
        get_task("mmlu")({"subjects": "anatomyy"}, data=DataRoots(benchmarks=mmlu_dir))


def test_unknown_task_parameter_is_named():
    with pytest.raises(ConfigError, match=r"shot: unknown field"):
        get_task("mmlu")({"shot": 5})


def test_bad_parameter_value_is_named():
    with pytest.raises(ConfigError, match=r"shots: .*greater than or equal to 0 \(got -1\)"):
        get_task("mmlu")({"shots": -1})


def test_answer_letter_outside_options(mmlu_dir):
    write_csv(mmlu_dir / "mmlu" / "test" / "anatomy_test.csv", MMLU_TEST + [["Q?", "a", "b", "c", "d", "E"]])
    task = get_task("mmlu")({"subjects": "anatomy"}, data=DataRoots(benchmarks=mmlu_dir))
    with pytest.raises(DataError, match=r"anatomy_test.csv: row 3 .*field 'answer' must be one of A, B, C, D, got 'E'"):
        task.requests()


def test_malformed_row_names_file_and_row(mmlu_dir):
    write_csv(mmlu_dir / "mmlu" / "test" / "anatomy_test.csv", MMLU_TEST[:1] + [["only", "three", "fields"]])
    task = get_task("mmlu")({"subjects": "anatomy"}, data=DataRoots(benchmarks=mmlu_dir))
    with pytest.raises(DataError, match=r"anatomy_test.csv: row 1 .*expected at least 6 fields, got 3"):
        task.requests()


def test_missing_data_folder_says_where_to_get_data(tmp_path):
    with pytest.raises(DataError, match=r"data folder for mmlu not found: .*nowhere/mmlu\. Get the official data"):
        get_task("mmlu")({}, data=DataRoots(benchmarks=tmp_path / "nowhere"))


def test_missing_subject_file(mmlu_dir):
    task = get_task("mmlu")({"subjects": "virology"}, data=DataRoots(benchmarks=mmlu_dir))
    with pytest.raises(DataError, match=r"missing file .*virology_test.csv"):
        task.requests()


def test_too_many_shots(mmlu_dir):
    task = get_task("mmlu")({"subjects": "anatomy", "shots": 6}, data=DataRoots(benchmarks=mmlu_dir))
    with pytest.raises(ConfigError, match="asked for 6 shots but the 'dev' split has 5 rows"):
        task.requests()


def test_aggregation_matches_lm_eval_formulas():
    from lm_eval.api.metrics import mean_stderr, pooled_sample_stderr

    samples = [{"subject": "a", "correct": c} for c in [1, 0, 1, 1]] + [{"subject": "b", "correct": c} for c in [0, 0, 1]]
    samples += [{"subject": "c", "correct": c} for c in [1, 1, 0, 0, 0, 1]]
    scores = aggregate_accuracy(samples, {"a": "X", "b": "X", "c": "Y"})
    assert scores.overall.acc == pytest.approx(7 / 13)
    assert scores.overall_subject_mean.acc == pytest.approx((3 / 4 + 1 / 3 + 3 / 6) / 3)
    assert scores.categories["X"].acc == pytest.approx(4 / 7)
    subject_stderrs = {s: mean_stderr([x["correct"] for x in samples if x["subject"] == s]) for s in "abc"}
    for s in "abc":
        assert scores.subjects[s].stderr == pytest.approx(subject_stderrs[s])
    expected = pooled_sample_stderr([subject_stderrs[s] for s in "abc"], [4, 3, 6])
    assert scores.overall.stderr == pytest.approx(expected)
    assert math.isclose(scores.categories["Y"].acc, 0.5)


CUSTOM_YAML = """
name: tiny_bench
version: "3"
data_folder: data
files:
  test: "{subject}-eval.csv"
  dev: "{subject}-shots.csv"
header: false
columns: {question: 1, options: [2, 3, 4], answer: 5}
num_options: 3
description: "Questions about {subject_name}.\\n\\n"
template: "Q: {question}\\n{options}\\nAnswer:"
"""


def test_custom_yaml_task(tmp_path):
    data = tmp_path / "data"
    write_csv(data / "geo-eval.csv", [["17", "Capital of France?", "Paris", "Rome", "Oslo", "A"]])
    write_csv(data / "geo-shots.csv", [["1", "2+2?", "3", "4", "5", "B"]])
    (tmp_path / "tiny.yaml").write_text(CUSTOM_YAML, encoding="utf-8")
    task = get_task(str(tmp_path / "tiny.yaml"))({"shots": 1})
    assert task.name == "tiny_bench" and task.version == "3" and task.subjects == ["geo"]
    request = task.requests()[0]
    assert request.context == "Questions about geo.\n\nQ: 2+2?\nA. 3\nB. 4\nC. 5\nAnswer: B\n\nQ: Capital of France?\nA. Paris\nB. Rome\nC. Oslo\nAnswer:"
    assert request.continuations == [" A", " B", " C"]


def test_custom_yaml_unknown_key(tmp_path):
    (tmp_path / "bad.yaml").write_text(CUSTOM_YAML + "promt: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"promt: unknown field"):
        get_task(str(tmp_path / "bad.yaml"))


def test_unknown_task_lists_registered():
    assert {"ceval", "generate", "mmlu"} <= set(task_names())
    with pytest.raises(ConfigError, match=r"unknown task .mmmlu.; registered tasks: " + re.escape(", ".join(task_names()))):
        get_task("mmmlu")


def test_hub_rows_keep_file_order_and_map_fields(monkeypatch):
    """Without local data the tasks read cais/mmlu and ceval/ceval-exam; fields map to the CSV layout."""
    import datasets

    calls = []

    def fake_load_dataset(path, name, split):
        calls.append((path, name, split))
        if path == "cais/mmlu":
            return [{"question": "Q0", "subject": name, "choices": ["a", "b", "c", "d"], "answer": 2},
                    {"question": "Q1", "subject": name, "choices": ["e", "f", "g", "h"], "answer": 0}]
        return [{"id": 0, "question": "问题", "A": "甲", "B": "乙", "C": "丙", "D": "丁", "answer": "D", "explanation": ""}]

    monkeypatch.delenv("EVALSUITE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    mmlu = get_task("mmlu")({"subjects": "anatomy", "shots": 1})
    assert mmlu.data_folder is None
    requests = mmlu.requests()
    assert [r.key for r in requests] == ["anatomy/0", "anatomy/1"]
    assert requests[0].prefix.endswith("Q0\nA. a\nB. b\nC. c\nD. d\nAnswer: C\n\n")
    assert ("cais/mmlu", "anatomy", "test") in calls and ("cais/mmlu", "anatomy", "dev") in calls
    ceval = get_task("ceval")({"subjects": "logic"})
    assert ceval.requests()[0].text == "问题\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案："
    assert ("ceval/ceval-exam", "logic", "val") in calls
