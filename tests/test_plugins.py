"""An outside package extends evalsuite through the documented entry points alone.

The test writes a throwaway package into a temporary folder, installs it with
pip (into a target folder, not the shared environment), and runs what it
registers through the ``evalsuite`` command line: a task, a backend, a metric
and a trainer method. Nothing in evalsuite is edited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=70"]
build-backend = "setuptools.build_meta"

[project]
name = "evalsuite-plugin-probe"
version = "0.1.0"

[project.entry-points."evalsuite.tasks"]
probe-echo = "probe_plugin.plugin:EchoTask"

[project.entry-points."evalsuite.backends"]
probe-upper = "probe_plugin.plugin:UpperBackend"

[project.entry-points."evalsuite.metrics"]
probe_mean_chars = "probe_plugin.plugin:mean_chars"

[project.entry-points."evalsuite.trainer_methods"]
probe-copy = "probe_plugin.plugin:COPY_METHOD"

[tool.setuptools]
packages = ["probe_plugin"]
"""

PLUGIN = Path(__file__).with_name("plugin") / "probe_plugin.py"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("plugin")
    source = root / "src"
    (source / "probe_plugin").mkdir(parents=True)
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (source / "probe_plugin" / "__init__.py").write_text("")
    (source / "probe_plugin" / "plugin.py").write_text(PLUGIN.read_text())
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    assert (target / "probe_plugin" / "plugin.py").is_file()
    env = dict(os.environ, PYTHONPATH=str(target))
    return {"env": env, "root": str(root)}


def _evalsuite(args: list[str], env: dict, cwd: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("evalsuite")
    return subprocess.run([str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_task_and_backend_from_entry_points(installed):
    env, root = installed["env"], installed["root"]
    listing = _evalsuite(["tasks"], env, root)
    assert listing.returncode == 0, listing.stderr
    assert "probe-echo" in listing.stdout
    out = Path(root) / "run"
    result = _evalsuite(
        ["run", "--task", "probe-echo", "--backend", "probe-upper", "--model", "any", "-B", "suffix=!",
         "--store", str(Path(root) / "store.sqlite"), "--out", str(out), "--no-progress"], env, root,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "results.json").read_text())
    assert record["kind"] == "run" and record["task"]["name"] == "probe-echo"
    # The backend upper-cases each prompt and appends the suffix option; the task counts exact matches.
    assert record["scores"] == {"matches": 3, "items": 3}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["response"] for s in samples] == ["ALPHA!", "BETA!", "GAMMA!"]
    # An option the outside backend does not declare is refused by its own config.
    bad = _evalsuite(["run", "--task", "probe-echo", "--backend", "probe-upper", "--model", "any", "-B", "nope=1",
                      "--store", str(Path(root) / "store.sqlite"), "--no-progress"], env, root)
    assert bad.returncode == 2 and "nope" in bad.stderr
