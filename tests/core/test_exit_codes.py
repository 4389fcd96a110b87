"""Exit codes: one meaning each, so a nightly job can tell a regression from a crash from a busy lock."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from evalsuite import cli
from evalsuite.cli import main
from evalsuite.errors import ConfigError, DataError, LockBusyError, ModelError
from evalsuite.jobs import nightly
from evalsuite.jobs.nightly import NightlyLock


def _fail_with(monkeypatch, error: BaseException) -> None:
    """Make the nightly job raise ``error`` as soon as it starts."""
    def run_night(*args, **kwargs):
        raise error

    monkeypatch.setattr(nightly, "run_night", run_night)


@pytest.mark.parametrize(("error", "code"), [
    (ConfigError("bad option"), 2),
    (ModelError("no weights"), 2),
    (DataError("bad row"), 3),
    (LockBusyError("held"), 75),
    (KeyboardInterrupt(), 130),
])
def test_each_error_class_has_its_own_exit_code(monkeypatch, capsys, error, code):
    _fail_with(monkeypatch, error)
    assert main(["nightly", "suite.yaml"]) == code
    assert "Traceback" not in capsys.readouterr().err


def test_the_codes_are_distinct():
    codes = [cli.EXIT_OK, cli.EXIT_REGRESSION, cli.EXIT_USAGE, cli.EXIT_DATA, cli.EXIT_INTERNAL, cli.EXIT_INCOMPLETE,
             cli.EXIT_LOCKED, cli.EXIT_INTERRUPTED]
    assert codes == [0, 1, 2, 3, 4, 5, 75, 130]


def test_an_internal_error_exits_4_and_saves_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    _fail_with(monkeypatch, RuntimeError("boom: something nobody expected\nsecond line"))
    assert main(["nightly", "suite.yaml"]) == 4
    err = capsys.readouterr().err
    assert "evalsuite nightly: internal error: RuntimeError: boom: something nobody expected\n" in err
    assert "second line" not in err and "Traceback" not in err
    found = re.search(r"the traceback is saved in (\S+)\. Please report it", err)
    assert found, err
    log = Path(found.group(1))
    assert log.parent == tmp_path / "state" / "evalsuite" and log.name.startswith("crash-")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text and "in run_night" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_usage_errors_exit_2(capsys, tmp_path):
    assert main(["run", "--model", str(tmp_path), "--task", "mmlu", "-T", "shot=5"]) == 2
    assert "shot: unknown field" in capsys.readouterr().err
    with pytest.raises(SystemExit) as parsed:
        main(["run", "--no-such-flag"])
    assert parsed.value.code == 2


def test_a_data_error_exits_3(capsys, tmp_path):
    bad = tmp_path / "generations.jsonl"
    bad.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    assert main(["metrics", str(bad)]) == 3
    assert f"{bad}" in capsys.readouterr().err


def test_a_busy_nightly_lock_exits_75(capsys, tmp_path):
    (tmp_path / "ckpt" / "alpha").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: s\ncheckpoints: [ckpt/*]\ntasks: [{{name: m, task: mmlu}}]\ndata_dir: {tmp_path / 'data'}\n")
    out = tmp_path / "out"
    with NightlyLock(out / ".nightly.lock", "s"):
        assert main(["nightly", str(suite), "--out", str(out)]) == 75
    assert "another nightly run of suite 's' is running (pid" in capsys.readouterr().err
    assert not (out / "results.sqlite").exists()
