"""Sandbox cost: seconds per sample by isolation level, and HumanEval's 164 canonical
solutions end to end with 1 and 2 workers.

    EVALSUITE_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/bench_sandbox.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from evalsuite.data import DataRoots
from evalsuite.execution.executor import SandboxConfig, SandboxExecutor
from evalsuite.execution.humaneval import HumanEvalTask
from evalsuite.execution.sandbox import SandboxLimits, run_program
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

VARIANTS = {
    "full (default)": SandboxLimits(),
    # Weaker variants are refused unless the risk is named.
    "no network namespace (unsafe)": SandboxLimits(network_namespace=False, unsafe_no_isolation=True),
    "uid 0 (unsafe)": SandboxLimits(drop_privileges=False, unsafe_no_isolation=True),
    "with site-packages": SandboxLimits(site_packages=True),
}


def per_sample(limits: SandboxLimits, repeats: int = 20) -> float:
    start = time.monotonic()
    for _ in range(repeats):
        assert run_program("import math\nassert math.isqrt(17) == 4\n", limits).status == "passed"
    return (time.monotonic() - start) / repeats


def main() -> None:
    print(f"CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    for name, limits in VARIANTS.items():
        print(f"{name:28s} {1000 * per_sample(limits):7.1f} ms per sample")
    data = Path(os.environ.get("EVALSUITE_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))
    problems = data / "code" / "HumanEval.jsonl.gz"
    if not problems.exists():
        print(f"{problems} not found; skipping the HumanEval run")
        return
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as run, ResultStore(Path(run) / "store.sqlite") as store:
            start = time.monotonic()
            executor = SandboxExecutor(SandboxConfig(workers=workers))
            task = HumanEvalTask({"canonical": True, "ks": [1]}, data=DataRoots.from_root(data))
            result = evaluate(task, executor, store, out_dir=run)
            print(f"HumanEval canonical, {workers} worker(s): {time.monotonic() - start:5.1f} s, "
                  f"pass@1 {result.scores.pass_at_k['pass@1'].value:.3f} "
                  f"({executor.fingerprint.isolation.summary()})")


if __name__ == "__main__":
    main()
