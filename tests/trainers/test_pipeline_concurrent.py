"""`evalsuite train pipeline --parallel`: the scheduler's order (fake stages) and real stages in processes."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field

import pytest

from evalsuite.errors import ConfigError, DataError
from evalsuite.jobs import train_pipeline
from evalsuite.jobs.processes import spawn_call
from evalsuite.jobs.train_pipeline import StageOutcome, schedule, stage_slots, train_concurrently
from evalsuite.trainers import checkpoint as ckpt
from evalsuite.trainers.pipeline import run_pipeline
from evalsuite.trainers.recipe import method_named
from evalsuite.trainers.settings import Runtime

from .conftest import FAST, base_recipe

TREE = {"base": None, "sft": "base", "dpo": "sft", "simpo": "sft", "cpo": "sft", "grpo": "sft"}


@dataclass
class FakeJob:
    """A stage that finishes after ``polls`` polls (``fail``: as failed); ``terminated`` when stopped."""

    name: str
    polls: int
    fail: bool = False
    interrupt: bool = False
    terminated: bool = False

    def poll(self):
        if self.interrupt:
            raise KeyboardInterrupt
        self.polls -= 1
        if self.polls > 0:
            return None
        if self.fail:
            return StageOutcome(self.name, "failed", error="boom", error_kind="DataError")
        return StageOutcome(self.name, "trained", path=f"/ck/{self.name}")

    def terminate(self):
        self.terminated = True


@dataclass
class FakeRunner:
    polls: dict[str, int]
    fail: set[str] = field(default_factory=set)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    given: dict[str, dict[str, str]] = field(default_factory=dict)

    def __call__(self, name, slot, outputs):
        self.given[name] = dict(outputs)
        self.jobs[name] = FakeJob(name, self.polls.get(name, 2), fail=name in self.fail)
        return self.jobs[name]


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(train_pipeline, "POLL_SECONDS", 0)


def _running_at_once(events: list[StageOutcome]) -> int:
    running, most = set(), 0
    for event in events:
        if event.status == "started":
            running.add(event.name)
            most = max(most, len(running))
        else:
            running.discard(event.name)
    return most


def test_children_start_after_their_parent_and_at_most_n_run_at_once():
    events: list[StageOutcome] = []
    runner = FakeRunner(polls={"base": 2, "sft": 2, "dpo": 5, "simpo": 2, "cpo": 2, "grpo": 2})
    outcomes = schedule(TREE, runner, 2, events.append)
    assert {name: o.status for name, o in outcomes.items()} == {name: "trained" for name in TREE}
    starts = [e.name for e in events if e.status == "started"]
    assert starts == ["base", "sft", "dpo", "simpo", "cpo", "grpo"]
    position = {(e.name, e.status): i for i, e in enumerate(events)}
    for name, parent in TREE.items():
        if parent:
            assert position[(parent, "trained")] < position[(name, "started")]
    assert _running_at_once(events) == 2
    # dpo takes longest: simpo, cpo and grpo pass through the other slot while it runs
    assert position[("grpo", "started")] < position[("dpo", "trained")]
    assert {e.slot for e in events if e.status == "started"} == {0, 1}
    assert runner.given["dpo"] == {"base": "/ck/base", "sft": "/ck/sft"}
    assert _running_at_once(_events(TREE, FakeRunner(polls={}), 1)) == 1
    assert _running_at_once(_events(TREE, FakeRunner(polls={}), 8)) == 4


def _events(parents, runner, parallel) -> list[StageOutcome]:
    events: list[StageOutcome] = []
    schedule(parents, runner, parallel, events.append)
    return events


def test_a_failed_stage_blocks_its_descendants_only():
    parents = {**TREE, "dpo_child": "dpo", "dpo_grandchild": "dpo_child"}
    runner = FakeRunner(polls={"dpo": 1, "simpo": 4, "cpo": 4}, fail={"dpo"})
    outcomes = schedule(parents, runner, 2)
    status = {name: o.status for name, o in outcomes.items()}
    assert status == {"base": "trained", "sft": "trained", "dpo": "failed", "simpo": "trained", "cpo": "trained",
                      "grpo": "trained", "dpo_child": "blocked", "dpo_grandchild": "blocked"}
    assert "dpo_child" not in runner.jobs and "dpo_grandchild" not in runner.jobs
    assert outcomes["dpo_grandchild"].error == "parent stage 'dpo_child' blocked"


def test_an_error_while_starting_a_stage_fails_only_that_stage():
    def start(name, slot, outputs):
        if name == "dpo":
            raise DataError("prefs.json: row 3: missing field 'rejected'")
        return FakeJob(name, 1)

    outcomes = schedule(TREE, start, 2)
    assert outcomes["dpo"].status == "failed" and outcomes["dpo"].error_kind == "DataError"
    assert "row 3" in outcomes["dpo"].error
    assert all(o.status == "trained" for n, o in outcomes.items() if n != "dpo")


def test_an_interrupt_terminates_every_running_stage():
    runner = FakeRunner(polls={"dpo": 100, "simpo": 100})

    def start(name, slot, outputs):
        job = runner(name, slot, outputs)
        job.interrupt = name == "simpo"  # Ctrl-C arrives while simpo and dpo run
        return job

    with pytest.raises(KeyboardInterrupt):
        schedule(TREE, start, 2)
    assert runner.jobs["dpo"].terminated and runner.jobs["simpo"].terminated
    assert "cpo" not in runner.jobs


def test_parents_must_come_first_and_parallel_must_be_positive():
    with pytest.raises(ConfigError, match="'sft' comes before its parent 'base'"):
        schedule({"sft": "base", "base": None}, FakeRunner(polls={}), 1)
    with pytest.raises(ConfigError, match="at least 1"):
        schedule(TREE, FakeRunner(polls={}), 0)


def test_auto_runs_cores_over_threads_on_cpu_and_one_stage_per_gpu(monkeypatch):
    monkeypatch.setattr(train_pipeline.os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    monkeypatch.setattr(train_pipeline, "gpu_ids", lambda: [])
    assert stage_slots(Runtime(threads=2, device="auto")) == (4, [])
    assert stage_slots(Runtime(threads=16, device="cpu")) == (1, [])
    assert stage_slots(Runtime(threads=1), "3") == (3, [])
    with pytest.raises(ConfigError, match="no GPU"):
        stage_slots(Runtime(device="cuda"))
    with pytest.raises(ConfigError, match="number or 'auto'"):
        stage_slots(Runtime(), "many")
    monkeypatch.setattr(train_pipeline, "gpu_ids", lambda: ["0", "3"])
    assert stage_slots(Runtime(threads=1, device="auto")) == (2, ["0", "3"])
    assert stage_slots(Runtime(threads=1, device="cpu")) == (8, [])


PREFERENCE = {"dpo": {"method": "dpo", "beta": 0.5}, "simpo": {"method": "simpo", "beta": 2.0, "gamma": 0.5}}


def _preference(parent: str, data: str = "prefs.json") -> dict:
    return {**FAST, "parent": parent, "data": [data], "max_steps": 2, "learning_rate": 5e-3}


@pytest.mark.slow
def test_stages_in_parallel_processes_train_the_same_weights_and_a_failure_blocks_only_its_descendants(
        data_dir, trained, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}]))
    stages = {name: {**options, **_preference("sft")} for name, options in PREFERENCE.items()}
    stages["broken"] = {"method": "dpo", **_preference("sft", str(bad))}
    stages["after_broken"] = {"method": "sft", **_preference("broken", "sft.json")}
    out = tmp_path / "parallel"
    for name in ("base", "sft"):  # finished earlier (same config): skipped without starting a process
        shutil.copytree(trained[name], out / name)
    events: list[StageOutcome] = []
    with pytest.raises(DataError) as failure:
        train_concurrently(base_recipe(data_dir, **stages), out, parallel=3, on_event=events.append)
    log = out / ".logs" / "broken.log"
    assert f"stage 'broken' failed: DataError: {bad}: row 1: missing field 'rejected'" in str(failure.value)
    assert f"(log: {log})" in str(failure.value)
    assert "not started because of it: after_broken; finished: base, sft, dpo, simpo" in str(failure.value)
    assert "missing field 'rejected'" in log.read_text() and "Traceback" in log.read_text()
    status = {e.name: e.status for e in events if e.status != "started"}
    assert status == {"base": "skipped", "sft": "skipped", "dpo": "trained", "simpo": "trained", "broken": "failed",
                      "after_broken": "blocked"}
    assert [e.name for e in events if e.status == "started"] == ["dpo", "simpo", "broken"]
    assert _running_at_once(events) == 3
    assert (out / ".logs" / "dpo.log").is_file() and not (out / "after_broken").exists()

    # the same stages one after another in this process (`parent` is in the config hash: the same recipe)
    for name in ("base", "sft"):
        shutil.copytree(trained[name], tmp_path / "sequential" / name)
    reference = {name: stages[name] for name in PREFERENCE}
    sequential = run_pipeline(base_recipe(data_dir, **reference), tmp_path / "sequential")
    for name in PREFERENCE:
        mine, theirs = ckpt.read_manifest(out / name), ckpt.read_manifest(sequential[name])
        assert mine.config_hash == theirs.config_hash
        assert mine.weights_sha256 == theirs.weights_sha256 == ckpt.weights_sha256(out / name)
        assert mine.weights_sha256 != ckpt.weights_sha256(trained["sft"])

    events.clear()
    assert train_concurrently(base_recipe(data_dir, **stages), out, only=list(PREFERENCE), on_event=events.append) \
        == {name: str(out / name) for name in ("base", "sft", "dpo", "simpo")}
    assert [e.status for e in events] == ["skipped"] * 4


def _wait(call):
    while (report := call.poll()) is None:
        time.sleep(0.05)
    return report


def test_a_spawned_call_returns_its_value_logs_its_output_and_reports_errors_and_deaths(tmp_path):
    log = tmp_path / "logs" / "call.log"
    calls = [spawn_call(json.loads, ('{"a": [1, 2]}',), env={}, log=tmp_path / "value.log", name="value"),
             spawn_call(print, ("hello from the child",), env={}, log=log, name="print"),
             spawn_call(method_named, ("nope",), env={}, log=tmp_path / "error.log", name="error"),
             spawn_call(os._exit, (3,), env={}, log=tmp_path / "exit.log", name="exit")]
    sleeper = spawn_call(time.sleep, (60,), env={}, log=tmp_path / "sleep.log", name="sleep")
    sleeper.terminate()
    assert "was killed by SIGTERM" in sleeper.poll().error
    value, printed, error, died = (_wait(call) for call in calls)
    assert value.value == {"a": [1, 2]} and value.error is None
    assert printed.value is None and log.read_text() == "hello from the child\n"
    assert error.error_kind == "ConfigError" and "unknown training method 'nope'" in error.error
    assert "Traceback" in (tmp_path / "error.log").read_text()
    assert died.error_kind == "ModelError" and "exited with 3 before reporting" in died.error
    assert not list(tmp_path.glob("**/*.report.json"))
