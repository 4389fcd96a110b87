"""The grid's suite options: per-task resources, the executor's name and address, a missing Ray."""

from __future__ import annotations

import sys

import pytest

from evalsuite.cli import main
from evalsuite.errors import ConfigError
from evalsuite.jobs.executors import import_ray
from evalsuite.jobs.grid import load_suite

SUITE = """
name: s
checkpoints: ["ckpt/*"]
resources: {num_cpus: 2, memory: 4000000000}
tasks:
  - {name: big, task: mmlu, resources: {num_gpus: 1, num_cpus: 4}}
  - {name: small, task: mmlu}
"""


@pytest.fixture()
def suite(tmp_path):
    (tmp_path / "ckpt" / "a").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "suite.yaml").write_text(SUITE + f"data_dir: {tmp_path / 'data'}\n")
    return tmp_path / "suite.yaml"


def test_a_task_overrides_the_suite_resources_it_names(suite):
    spec, _ = load_suite(suite)
    big, small = (spec.resources.overridden_by(t.resources).ray_options() for t in spec.tasks)
    assert big == {"num_cpus": 4, "num_gpus": 1, "memory": 4000000000}
    assert small == {"num_cpus": 2, "num_gpus": 0, "memory": 4000000000}


def test_an_unknown_executor_and_a_stray_address_are_usage_errors(suite, tmp_path, capsys):
    grid = ["grid", str(suite), "--out", str(tmp_path / "out"), "--store", str(tmp_path / "s.sqlite")]
    assert main([*grid, "--executor", "slurm"]) == 2
    assert "unknown executor 'slurm'; known: local, ray" in capsys.readouterr().err
    assert main([*grid, "--address", "127.0.0.1:6379"]) == 2
    assert "--address '127.0.0.1:6379' is for --executor ray" in capsys.readouterr().err


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"--executor ray needs Ray, an optional extra: pip install 'evalsuite\[ray\]'"):
        import_ray()
