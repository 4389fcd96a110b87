"""The checkpoint × task grid on a local Ray cluster: the in-process summary, and a dead worker retried and resumed."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.jobs.executors import make_executor
from evalsuite.jobs.grid import load_suite, run_grid, suite_data
from evalsuite.registry import BACKENDS
from evalsuite.store import ResultStore

SUITE = """
name: tiny-grid
checkpoints: ["ckpt/*"]
tasks:
  - name: mmlu
    task: mmlu
    params: {subjects: "anatomy,virology", limit: 5}
  - name: ceval
    task: ceval
    params: {subjects: "accountant", limit: 5}
backend: {threads: 1}
resources: {num_cpus: 1}
"""
CRASH_MARKER_ENV = "EVALSUITE_TEST_CRASH_MARKER"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A 2-CPU Ray instance listening on 127.0.0.1 only; workers inherit the crash marker's path."""
    if "ray" in sys.modules:
        pytest.skip("ray was imported before this module could make its local node listen on 127.0.0.1 only")
    # Read when ray is imported: the node then advertises and binds the loopback address only.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ[CRASH_MARKER_ENV] = str(tmp_path_factory.mktemp("crash") / "worker-died")
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'evalsuite[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        yield ray
    finally:
        ray.shutdown()
        del os.environ[CRASH_MARKER_ENV], os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"]


@pytest.fixture()
def suite(tiny_model, data_dir, tmp_path) -> Path:
    for name in ("alpha", "beta"):  # two checkpoints: two copies of the tiny model
        shutil.copytree(tiny_model, tmp_path / "ckpt" / name)
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + f"data_dir: {data_dir}\n")
    return path


def _grid(suite: Path, out: Path, *extra: str) -> dict:
    assert main(["grid", str(suite), "--out", str(out), "--store", str(out / "store.sqlite"), *extra]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.integration
def test_the_ray_grid_gives_the_in_process_summary(suite, ray_cluster, tmp_path):
    local = _grid(suite, tmp_path / "local")
    remote = _grid(suite, tmp_path / "ray", "--executor", "ray")
    assert (local["executor"], remote["executor"]) == ("local", "ray")
    assert [(r["checkpoint"], r["name"]) for r in remote["runs"]] == [
        ("alpha", "mmlu"), ("alpha", "ceval"), ("beta", "mmlu"), ("beta", "ceval")]
    assert [r["scores"]["overall"]["n"] for r in remote["runs"]] == [10, 5, 10, 5]
    # The copies share a fingerprint, so which cell computes and which reads the store depends on the schedule.
    def scores(summary: dict) -> list:
        return [(r["checkpoint"], r["name"], r["task"], r["scores"], r["attempts"]) for r in summary["runs"]]

    assert scores(remote) == scores(local)
    assert remote["items_computed"] + remote["items_from_store"] == local["items_computed"] + local["items_from_store"] == 30
    for run in remote["runs"]:
        record = json.loads((tmp_path / "ray" / run["checkpoint"] / run["name"] / "results.json").read_text())
        assert record["scores"] == run["scores"] and record["store"] == str(tmp_path / "ray" / "store.sqlite")


def _crash_once_backend():
    from evalsuite.backends.hf import HFBackend

    class CrashOnceBackend(HFBackend):
        """The hf backend whose worker process dies when its second group starts, once per marker file."""

        def __init__(self, config):
            super().__init__(config)
            self.groups = 0

        def loglikelihoods(self, requests):
            self.groups += 1
            marker = Path(os.environ[CRASH_MARKER_ENV])
            if self.groups == 2 and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            yield from super().loglikelihoods(requests)

    return CrashOnceBackend


@pytest.mark.slow
@pytest.mark.integration
def test_a_cell_whose_worker_dies_is_retried_and_resumes_from_the_store(suite, ray_cluster, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test backend travels to the workers by value
    BACKENDS.register("crash-once", _crash_once_backend())
    spec, checkpoints = load_suite(suite)
    # One checkpoint: the two copies share a fingerprint, so the other's cell would fill the store for this one.
    grid = dict(checkpoints={"alpha": checkpoints[0]}, tasks=spec.tasks, data=suite_data(spec),
                backend_options={"threads": 1})
    with ResultStore(tmp_path / "ray.sqlite") as store:
        runs = list(run_grid(**grid, store=store, out=tmp_path / "ray", backend="crash-once",
                             executor=make_executor("ray"), max_retries=1))
    with ResultStore(tmp_path / "local.sqlite") as store:
        expected = {(r.checkpoint, r.name): r.record.scores for r in run_grid(**grid, store=store, out=tmp_path / "local")}

    assert Path(os.environ[CRASH_MARKER_ENV]).is_file()  # a worker did die
    retried = [r for r in runs if r.attempts > 1]
    assert [(r.checkpoint, r.name, r.attempts) for r in retried] == [("alpha", "mmlu", 2)]
    timings = retried[0].record.timings
    # The first subject's batch was stored by the driver before the worker died; the retry computed only the second.
    assert (timings.items_from_store, timings.items_computed) == (5, 5)
    assert {(r.checkpoint, r.name): r.record.scores for r in runs} == expected
