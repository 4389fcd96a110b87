"""The real HumanEval problems (shared data): every canonical solution passes in the sandbox,
and deliberately wrong solutions fail. Skipped when the shared data folder is absent."""

from __future__ import annotations

import json
import time

import pytest

from evalsuite.data import DataRoots
from evalsuite.execution.executor import SandboxConfig, SandboxExecutor
from evalsuite.execution.humaneval import HumanEvalTask, load_problems
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def humaneval(data_dir):
    path = data_dir / "code" / "HumanEval.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def test_all_canonical_solutions_pass(humaneval, data_dir, tmp_path):
    start = time.monotonic()
    # The problems file comes from the data root's code/ folder by default.
    task = HumanEvalTask({"canonical": True, "ks": [1]}, data=DataRoots.from_root(data_dir))
    executor = SandboxExecutor(SandboxConfig(workers=2))
    with ResultStore(tmp_path / "store.sqlite") as store:
        result = evaluate(task, executor, store, out_dir=tmp_path / "run")
    elapsed = time.monotonic() - start
    failures = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    failures = [(o["task_id"], o["status"], o["message"]) for o in failures if not o["passed"]]
    assert failures == []
    assert result.task_metadata["problems_file"] == str(humaneval)
    assert result.scores.samples_total == 164 and result.scores.pass_at_k["pass@1"].value == 1.0
    print(f"164 canonical solutions judged in {elapsed:.1f} s ({executor.fingerprint.isolation.summary()})")


def test_wrong_solutions_fail(humaneval, tmp_path):
    problems = load_problems(humaneval)
    # Three kinds of wrong: no return value, an off-by-one on the canonical solution's
    # result, and the right code for a different problem.
    ids = list(problems)[:40:4]
    rows = []
    for i, task_id in enumerate(ids):
        rows.append({"task_id": task_id, "completion": "    pass\n"})
        rows.append({"task_id": task_id, "completion": "    raise NotImplementedError\n"})
        other = problems[ids[(i + 1) % len(ids)]]
        rows.append({"task_id": task_id, "completion": other.canonical_solution})
    samples = tmp_path / "wrong.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = HumanEvalTask({"samples": str(samples), "problems": str(humaneval), "ks": [1, 3]})
    with ResultStore(tmp_path / "store.sqlite") as store:
        result = evaluate(task, SandboxExecutor(SandboxConfig(timeout_s=5, workers=2)), store, out_dir=tmp_path / "run")
    assert result.scores.statuses.get("passed", 0) == 0, result.scores.statuses
    assert result.scores.pass_at_k["pass@3"].value == 0.0
