"""The checkpoint × task grid: wall time in this process against a local Ray instance, one thread per cell.

    .venv/bin/python benchmarks/bench_grid.py --checkpoints 2 --limit 5
    .venv/bin/python benchmarks/bench_grid.py --size 20m --checkpoints 4 --limit 50 --cpus 8

Copies of one model, each with one weight nudged (so each has its own
fingerprint and nothing is shared through the store), stand for the
checkpoints; each side starts from an empty store. The in-process side runs the cells one
after another with torch's default threads; the Ray side runs every cell as its
own actor with ``threads: 1`` and ``num_cpus: 1`` on a local instance of
``--cpus`` CPUs, bound to 127.0.0.1. Printed: both wall times (Ray's start
excluded, and shown apart), the ratio, and whether the summaries agree. Quiet
machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

TASKS = [
    {"name": "mmlu", "task": "mmlu", "params": {"subjects": "anatomy,virology,marketing"}},
    {"name": "ceval", "task": "ceval", "params": {"subjects": "accountant,logic"}},
]


def write_suite(folder: Path, model: Path, checkpoints: int, limit: int, data: Path, threads: int | None) -> Path:
    """A suite over ``checkpoints`` copies of ``model``, copy i with its first tensor scaled by 1 + i/1000."""
    from safetensors.torch import load_file, save_file

    for i in range(checkpoints):
        copy = folder / "ckpt" / f"ckpt{i}"
        if copy.is_dir():
            continue
        shutil.copytree(model, copy)
        tensors = load_file(copy / "model.safetensors")
        first = sorted(tensors)[0]
        tensors[first] = tensors[first] * (1 + i / 1000)
        save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    tasks = [{**t, "params": {**t["params"], "limit": limit}} for t in TASKS]
    suite = {"name": "bench-grid", "checkpoints": ["ckpt/*"], "tasks": tasks, "data_dir": str(data),
             "backend": {"threads": threads} if threads else {}, "resources": {"num_cpus": 1}}
    path = folder / f"suite-{threads or 'default'}.yaml"
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m", choices=["1m", "20m", "130m"])
    parser.add_argument("--checkpoints", type=int, default=2)
    parser.add_argument("--limit", type=int, default=5, help="questions per subject")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray instance")
    parser.add_argument("--data-dir", default=os.environ.get("EVALSUITE_DATA_DIR", str(REPO.parent / "shared" / "datasets")))
    parser.add_argument("--cache", default=str(REPO / ".cache" / "bench"))
    args = parser.parse_args()

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: a loopback-only local node
    import ray

    from bench_mmlu import build_model
    from evalsuite.jobs.grid import run_suite

    model = build_model(args.size, Path(args.cache), Path(args.data_dir))
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        work = Path(tmp)
        local_suite = write_suite(work, model, args.checkpoints, args.limit, Path(args.data_dir), None)
        ray_suite = write_suite(work, model, args.checkpoints, args.limit, Path(args.data_dir), 1)
        started = time.perf_counter()
        local = run_suite(local_suite, work / "local", work / "local.sqlite")
        local_s = time.perf_counter() - started

        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        ray_start_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            remote = run_suite(ray_suite, work / "ray", work / "ray.sqlite", executor="ray")
            ray_s = time.perf_counter() - started
        finally:
            ray.shutdown()
    cells = len(local["runs"])
    same = [r["scores"] for r in local["runs"]] == [r["scores"] for r in remote["runs"]]
    print(f"grid: {args.checkpoints} checkpoints x {len(TASKS)} tasks = {cells} cells, {args.size} model, "
          f"{local['items_computed']} items; Ray: {args.cpus} CPUs, one thread per cell")
    print(f"in process: {local_s:.1f}s   ray: {ray_s:.1f}s (+{ray_start_s:.1f}s to start Ray)   "
          f"in-process / ray = {local_s / ray_s:.2f}x   scores identical: {same}")


if __name__ == "__main__":
    main()
