"""An outside package extends evalsuite through the documented entry points alone.

The test writes a throwaway package into a temporary folder, installs it with
pip (into a target folder, not the shared environment), and runs what it
registers through the ``evalsuite`` command line: a task, a backend, a metric
and a trainer method. Nothing in evalsuite is edited.
"""

from __future__ import annotations

import json
import os
import shutil
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
probe-echo = "probe_plugin.tasks:EchoTask"

[project.entry-points."evalsuite.backends"]
probe-upper = "probe_plugin.backends:UpperBackend"

[project.entry-points."evalsuite.metrics"]
probe_mean_chars = "probe_plugin.metrics:mean_chars"

[project.entry-points."evalsuite.trainer_methods"]
probe-copy = "probe_plugin.methods:COPY_METHOD"

[tool.setuptools]
packages = ["probe_plugin"]
"""

PLUGIN = Path(__file__).with_name("plugin") / "probe_plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("plugin")
    source = root / "src"
    shutil.copytree(PLUGIN, source / "probe_plugin", ignore=shutil.ignore_patterns("__pycache__"))
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    assert (target / "probe_plugin" / "methods.py").is_file()
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
    assert record["scores"] == {"kind": "probe-echo", "matches": 3, "items": 3}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["response"] for s in samples] == ["ALPHA!", "BETA!", "GAMMA!"]
    # Read back in a fresh process: the outside task's score kind is found through its entry point.
    code = f"from evalsuite.results import load_run; r = load_run({str(out)!r}); print(type(r.scores).__name__, r.scores.matches)"
    back = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert back.stdout.split() == ["EchoScores", "3"], back.stderr
    # An option the outside backend does not declare is refused by its own config.
    bad = _evalsuite(["run", "--task", "probe-echo", "--backend", "probe-upper", "--model", "any", "-B", "nope=1",
                      "--store", str(Path(root) / "store.sqlite"), "--no-progress"], env, root)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_metric_from_entry_point(installed):
    env, root = installed["env"], installed["root"]
    texts = Path(root) / "gen.jsonl"
    texts.write_text("".join(json.dumps({"response": t}) + "\n" for t in ["ab", "abcd", "abcdef"]))
    out = Path(root) / "m.json"
    result = _evalsuite(["metrics", str(texts), "--metric", "probe_mean_chars", "--no-ci", "--out", str(out)], env, root)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["results"]["all"]["across"]["probe_mean_chars"]["value"] == 4.0


def test_trainer_method_from_entry_point(installed, tiny_model):
    env, root = installed["env"], installed["root"]
    fields = _evalsuite(["train", "fields", "probe-copy"], env, root)
    assert fields.returncode == 0, fields.stderr
    assert "Checkpoint to copy." in fields.stdout
    out = Path(root) / "copy"
    result = _evalsuite(["train", "probe-copy", "--model", str(tiny_model), "--out", str(out)], env, root)
    assert result.returncode == 0, result.stderr
    from safetensors.torch import load_file

    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    manifest = json.loads((out / "evalsuite_checkpoint.json").read_text())
    assert manifest["method"] == "probe-copy"
