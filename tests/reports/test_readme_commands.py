"""Every command in the README's "Comparing runs" and "Reports and nightly jobs" sections, run as written."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.jobs.grid import load_suite

from .test_compare import write_generation_run, write_run
from .test_gates import flipped

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = ("## Comparing runs", "## Reports and nightly jobs")


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    return text[start:end if end > 0 else None]


def blocks(title: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(title), flags=re.S)


def commands() -> list[list[str]]:
    found = [shlex.split(line, comments=True) for title in SECTIONS for block in blocks(title, "bash")
             for line in block.splitlines() if line.strip()]
    return [argv for argv in found if argv]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """The files the README's commands name, in a fresh folder that is the working directory."""
    a, b = flipped(400, down=6, up=6)  # no net change
    write_run(tmp_path / "runs" / "sft", a)
    write_run(tmp_path / "runs" / "dpo", b)
    for night in ("2026-11-20", "2026-11-21"):
        for checkpoint in ("sft", "dpo"):
            folder = tmp_path / "nightly" / "nights" / night / checkpoint
            write_run(folder / "mmlu-5shot", a if checkpoint == "sft" else b, shots=5)
            write_run(folder / "ceval-0shot", a, task="ceval")
    for checkpoint in ("sft", "dpo"):
        write_run(tmp_path / "runs" / "demo" / "runs" / checkpoint / "mmlu-0shot", a if checkpoint == "sft" else b)
        write_generation_run(tmp_path / "runs" / "demo" / "runs" / checkpoint / "generate",
                             {str(p): [f"answer {p} {k} {checkpoint}" for k in range(2)] for p in range(5)})
        (tmp_path / "ckpt" / checkpoint).mkdir(parents=True)
    (tmp_path / "runs" / "demo" / "ckpt").mkdir()
    (tmp_path / "suite.yaml").write_text(blocks("## Reports and nightly jobs", "yaml")[0])  # the README's suite, as written
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_sections_hold_the_commands_this_test_runs():
    names = [" ".join(argv[:2]) for argv in commands()]
    assert names == ["evalsuite compare"] * 4 + ["evalsuite report", "evalsuite nightly", "evalsuite plan"]


def test_every_compare_report_and_plan_command_runs_as_written(workdir, capsys):
    for argv in (a for a in commands() if a[1] != "nightly"):
        assert argv[0] == "evalsuite"
        code = main(argv[1:])
        captured = capsys.readouterr()
        assert code == 0, (argv, captured.err[-2000:])
        if "--fail-on" in argv:
            assert "pass " in captured.out and "regression" not in captured.err
    assert (workdir / "reports" / "demo" / "index.html").is_file()
    suite, checkpoints = load_suite(workdir / "suite.yaml")  # every rule of the README's suite names one of its tasks
    assert [c.name for c in checkpoints] == ["dpo", "sft"] and len(suite.tasks) == 3


@pytest.mark.integration
@pytest.mark.slow
def test_the_nightly_command_runs_as_written(tiny_model, data_dir, tmp_path, monkeypatch):
    (argv,) = [a for a in commands() if a[1] == "nightly"]
    for name in ("sft", "dpo"):
        shutil.copytree(tiny_model, tmp_path / "ckpt" / name)
    (tmp_path / "suite.yaml").write_text(
        "name: tiny\ncheckpoints: [ckpt/*]\nbaseline: sft\nfail_on: [mmlu-0shot.acc<-0.5, {rule: mmlu-0shot.acc<-0.5, mode: ci}]\n"
        "tasks:\n  - {name: mmlu-0shot, task: mmlu, params: {subjects: anatomy, limit: 6}}\n"
        f"backend: {{threads: 1}}\ndata_dir: {data_dir}\n")
    monkeypatch.chdir(tmp_path)
    assert main(argv[1:]) == 0
    summary = json.loads((tmp_path / "nightly" / "summary.json").read_text())
    assert summary["regressions"] == [] and {g["mode"] for g in summary["gates"]} == {"significant", "ci"}
    assert "Power plan" in (tmp_path / "nightly" / "report" / "index.html").read_text()
