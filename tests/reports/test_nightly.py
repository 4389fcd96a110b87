"""Two consecutive nightly runs on tiny models, a regression gate, and the lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.files import atomic_write_text
from evalsuite.jobs import nightly
from evalsuite.jobs.nightly import NightlyLock, run_night
from evalsuite.errors import EvalsuiteError, LockBusyError

EVALSUITE = str(Path(sys.executable).parent / "evalsuite")

SUITE = """
name: tiny-nightly
checkpoints: ["ckpt/*"]
baseline: alpha
fail_on: "mmlu-0shot.acc<-0.5"
tasks:
  - name: mmlu-0shot
    task: mmlu
    params: {subjects: "anatomy,virology", limit: 6}
  - name: gen
    task: generate
    params: {prompts: alpaca_eval, limit: 2, n: 2, max_new_tokens: 6, chat_template: false, n_boot: 10}
backend: {threads: 1}
"""


@pytest.fixture()
def suite(tiny_model, data_dir, tmp_path) -> Path:
    for name in ("alpha", "beta"):
        shutil.copytree(tiny_model, tmp_path / "ckpt" / name)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + f"data_dir: {data_dir}\n")
    return path


def _night(suite: Path, out: Path, night: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([EVALSUITE, "nightly", str(suite), "--out", str(out), "--night", night, *extra],
                          capture_output=True, text=True)


@pytest.mark.integration
def test_second_night_recomputes_nothing_and_reports_the_trend(suite, tmp_path):
    out = tmp_path / "nightly"
    first = _night(suite, out, "2026-11-20")
    assert first.returncode == 0, first.stderr[-2000:]
    second = _night(suite, out, "2026-11-21")
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["previous_night"] == "2026-11-20"
    assert summary["items_computed"] == 0 and summary["items_from_store"] == 2 * (12 + 2)
    assert "previous_night" in summary["comparisons"]["beta"] and "baseline" in summary["comparisons"]["beta"]
    assert (out / "report" / "trends.png").is_file() and "nightly trends" in (out / "report" / "index.html").read_text()
    import sqlite3

    with sqlite3.connect(out / "results.sqlite") as db:
        nights = [r[0] for r in db.execute("SELECT DISTINCT night FROM history ORDER BY night")]
    assert nights == ["2026-11-20", "2026-11-21"]


@pytest.mark.integration
def test_a_second_concurrent_run_is_refused(suite, tmp_path):
    out = tmp_path / "nightly"
    with NightlyLock(out / ".nightly.lock", "tiny-nightly"):
        refused = _night(suite, out, "2026-11-22")
    assert refused.returncode == 75  # EX_TEMPFAIL: try again later; 1 would read as a regression, 2 as a usage error
    assert "another nightly run of suite 'tiny-nightly' is running (pid" in refused.stderr


def test_lock_is_exclusive(tmp_path):
    with NightlyLock(tmp_path / "l", "s"):
        with pytest.raises(EvalsuiteError, match="another nightly run of suite 's' is running"):
            with NightlyLock(tmp_path / "l", "s"):
                pass
    with NightlyLock(tmp_path / "l", "s"):  # released after the first holder finished
        pass


@pytest.mark.integration
def test_the_lock_is_held_until_the_summary_is_written(suite, tmp_path, monkeypatch):
    out = tmp_path / "nightly"
    seen: list[str] = []
    real_build_report = nightly.build_report

    def build_report(*args, **kwargs):
        with pytest.raises(LockBusyError, match="another nightly run of suite 'tiny-nightly' is running"):
            with NightlyLock(out / ".nightly.lock", "tiny-nightly"):
                pass
        seen.append("report: lock held" + ("" if (out / "summary.json").exists() else ", no summary yet"))
        return real_build_report(*args, **kwargs)

    def write_summary(path, text):
        with pytest.raises(LockBusyError):
            with NightlyLock(out / ".nightly.lock", "tiny-nightly"):
                pass
        seen.append(f"{path.name}: lock held")
        atomic_write_text(path, text)

    monkeypatch.setattr(nightly, "build_report", build_report)
    monkeypatch.setattr(nightly, "atomic_write_text", write_summary)
    summary = run_night(suite, out, night="2026-11-23")
    assert seen == ["report: lock held, no summary yet", "summary.json: lock held"]
    assert json.loads((out / "summary.json").read_text())["night"] == summary["night"] == "2026-11-23"
    with NightlyLock(out / ".nightly.lock", "tiny-nightly"):  # released at the end
        pass


@pytest.mark.integration
def test_a_gate_below_its_mde_is_flagged_when_the_suite_is_loaded(suite, tmp_path, monkeypatch):
    """12 questions cannot detect a 1-point drop: the warning names the rule before anything is evaluated."""
    suite.write_text(suite.read_text().replace("mmlu-0shot.acc<-0.5", "mmlu-0shot.acc<-0.01"))
    said: list[str] = []

    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # evaluation would start here

    monkeypatch.setattr(nightly, "_evaluate", stop)
    with pytest.raises(KeyboardInterrupt):
        run_night(suite, tmp_path / "out", night="2026-11-20", say=said.append)
    assert len(said) == 1 and said[0].startswith("warning: fail_on rule mmlu-0shot.acc<-0.01@significant: |threshold| 0.01 "
                                                 "is below the minimum detectable effect")
