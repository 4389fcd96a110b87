"""Hostile or careless inputs fail closed: YAML alias bombs, long values in errors, template fields, paths
that leave the data folder, BOMs in benchmark CSVs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from evalsuite.config import load_yaml
from evalsuite.errors import ConfigError
from evalsuite.registry import get_task

from .test_mc_tasks import CUSTOM_YAML, write_csv

SECRET = "TOP-SECRET-LINE-4711"


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: each level repeats the previous one nine times (9**levels strings)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def custom_task(tmp_path: Path, extra: str = "", base: str = CUSTOM_YAML) -> Path:
    data = tmp_path / "data"
    write_csv(data / "geo-eval.csv", [["17", "Capital of France?", "Paris", "Rome", "Oslo", "A"]])
    write_csv(data / "geo-shots.csv", [["1", "2+2?", "3", "4", "5", "B"]])
    path = tmp_path / "task.yaml"
    path.write_text(base + extra, encoding="utf-8")
    return path


def replace_line(key: str, value: str) -> str:
    """CUSTOM_YAML with the line of ``key`` replaced by ``key: value``."""
    lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in CUSTOM_YAML.splitlines()]
    return "\n".join(lines) + "\n"


def test_alias_bomb_task_file_is_refused_quickly_with_a_short_message(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(CUSTOM_YAML + billion_laughs(), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"bomb\.yaml: not valid YAML: aliases \(\*name\) expand") as info:
        get_task(str(path))
    assert time.perf_counter() - start < 1.0
    assert len(str(info.value)) < 600


def test_aliases_are_bounded_not_banned(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nstage:\n  <<: *b\n  y: 3\nagain: *b\n", encoding="utf-8")
    assert load_yaml(path) == {"base": {"x": 1, "y": 2}, "stage": {"x": 1, "y": 3}, "again": {"x": 1, "y": 2}}
    path.write_text("x: &a [1, *a]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="an alias refers to a value that contains it"):
        load_yaml(path)


def test_long_bad_value_is_truncated_in_the_error(tmp_path):
    long_name = ["x" * 50] * 2000  # a list where a string belongs: ~100 000 characters echoed today
    path = custom_task(tmp_path, base=replace_line("name", str(long_name)))
    with pytest.raises(ConfigError, match=r"name: Input should be a valid string") as info:
        get_task(str(path))
    message = str(info.value)
    assert "more characters)" in message
    assert len(message) < 1500


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("description", '"Questions about {subject}.\\n\\n"', r"description: Value error, unknown field \{subject\}"),
    ("description", '"JSON like {\\"a\\": 1}"', r"description: Value error, unknown field"),
    ("description", '"Unbalanced {subject_name"', r"description: Value error, .*a literal brace is written"),
    ("template", '"Q: {question.__class__}\\n{options}"', r"template: Value error, unknown field \{question\.__class__\}"),
    ("template", '"Q: {question:>99999999}"', r"template: Value error, unknown field \{question:>99999999\}"),
    ("template", '"Q: {question} }"', r"template: Value error, .*Single '\}'"),
])
def test_bad_template_fields_are_config_errors_naming_file_and_field(tmp_path, field, value, expected):
    path = custom_task(tmp_path, base=replace_line(field, value))
    with pytest.raises(ConfigError, match=expected) as info:
        get_task(str(path))
    assert str(path) in str(info.value)


def test_literal_braces_are_written_doubled(tmp_path):
    path = custom_task(tmp_path, base=replace_line("description", '"About {subject_name} {{json}}.\\n\\n"'))
    request = get_task(str(path))({}).requests()[0]
    assert request.context.startswith("About geo {json}.\n\nQ: Capital of France?")
    path.write_text(replace_line("description", '"About {json}"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown field \{json\}; allowed: \{subject_name\}"):
        get_task(str(path))


@pytest.mark.parametrize("pattern", ["../secret-{subject}.csv", "/{subject}/../../secret.csv", "sub/../../x{subject}.csv"])
def test_file_pattern_leaving_the_data_folder_is_refused(tmp_path, pattern):
    (tmp_path / "secret-geo.csv").write_text(f"1,{SECRET},a,b,c,A\n", encoding="utf-8")
    path = custom_task(tmp_path, extra="subjects: [geo]\n", base=CUSTOM_YAML.replace('"{subject}-eval.csv"', f'"{pattern}"'))
    with pytest.raises(ConfigError, match=r"files\.test: Value error, must be a relative path inside its folder") as info:
        get_task(str(path))({}).requests()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("folder", ["../elsewhere", "/etc", "data/../.."])
def test_data_folder_leaving_the_task_folder_is_refused(tmp_path, folder):
    path = custom_task(tmp_path / "tasks", base=replace_line("data_folder", folder))
    with pytest.raises(ConfigError, match=r"data_folder: Value error, must be a relative path inside its folder"):
        get_task(str(path))


def test_symlink_out_of_the_data_folder_is_refused_without_reading(tmp_path):
    outside = tmp_path / "outside"
    write_csv(outside / "geo-eval.csv", [["1", SECRET, "a", "b", "c", "Z"]])
    path = custom_task(tmp_path / "task")
    target = tmp_path / "task" / "data" / "geo-eval.csv"
    target.unlink()
    os.symlink(outside / "geo-eval.csv", target)
    task = get_task(str(path))({})
    with pytest.raises(ConfigError, match=r"tiny_bench: file 'geo-eval.csv' leads outside .*data") as info:
        task.requests()
    assert SECRET not in str(info.value)


def test_symlinked_data_folder_out_of_the_task_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    write_csv(outside / "geo-eval.csv", [["1", SECRET, "a", "b", "c", "A"]])
    (tmp_path / "task").mkdir()
    os.symlink(outside, tmp_path / "task" / "data")
    path = tmp_path / "task" / "task.yaml"
    path.write_text(CUSTOM_YAML, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data_folder 'data' leads outside") as info:
        get_task(str(path))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("subjects", ["[../geo]", "[a/b]", "{'..': {name: up}}"])
def test_subject_names_with_path_separators_are_refused(tmp_path, subjects):
    path = custom_task(tmp_path, extra=f"subjects: {subjects}\n")
    with pytest.raises(ConfigError, match=r"subjects.*must be a plain name"):
        get_task(str(path))


@pytest.mark.parametrize("header", [False, True])
def test_bom_csv_gives_the_same_prompt_as_without(tmp_path, header):
    """The question is the first column, where a BOM would land."""
    rows = [["Capital of France?", "Paris", "Rome", "Oslo", "A"]]
    names = ["question", "A", "B", "C", "answer"] if header else None
    columns = "{question: question, options: [A, B, C], answer: answer}" if header else "{question: 0, options: [1, 2, 3], answer: 4}"
    yaml_text = CUSTOM_YAML.replace("header: false\ncolumns: {question: 1, options: [2, 3, 4], answer: 5}\n",
                                    f"header: {str(header).lower()}\ncolumns: {columns}\n")
    prompts = []
    for bom in (False, True):
        root = tmp_path / f"bom{bom}"
        for name in ("geo-eval.csv", "geo-shots.csv"):
            csv_path = write_csv(root / "data" / name, rows, names)
            if bom:
                csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())
        (root / "task.yaml").write_text(yaml_text, encoding="utf-8")
        prompts.append(get_task(str(root / "task.yaml"))({"shots": 1}).requests()[0].context)
    assert prompts[1] == prompts[0]
    assert prompts[0].count("Capital of France?") == 2 and "\ufeff" not in prompts[1]
