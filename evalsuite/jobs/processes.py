"""Data parallel on one node: the items of one run sharded across processes that write one store.

``evalsuite run --processes N`` spawns N workers (:func:`run_processes`); under
``accelerate launch`` or ``torchrun`` each rank is a worker (:func:`run_rank`).
A worker loads the backend and computes its shard with
:func:`evalsuite.runner.compute_shard` (whole groups, so prefixes are shared);
every worker writes into the one SQLite store. Then one process (the parent, or
rank 0 once every rank has reported) runs :func:`evalsuite.runner.evaluate`
over the whole run, which finds every item in the store and writes the same
``results.json`` and ``samples.jsonl`` as a single-process run.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalsuite import errors
from evalsuite.errors import ConfigError, EvalsuiteError, ModelError
from evalsuite.files import atomic_write_text
from evalsuite.results import RunResult
from evalsuite.runner import ShardOutcome, compute_shard, evaluate

POLL_SECONDS = 0.5


class WorkerReport(BaseModel):
    """What a spawned worker hands back: its shard's outcome, or the evalsuite error it stopped on."""

    outcome: ShardOutcome | None = None
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to build the run's task and backend in a fresh process (picklable)."""

    backend: str
    options: dict[str, Any]
    task: str
    task_params: dict[str, Any]
    data_dir: str | None
    store: str
    backend_config: dict[str, Any] = field(default_factory=dict)

    def build(self):
        """(task, backend, seconds the backend took to load)."""
        from evalsuite.backends import load_backend
        from evalsuite.data import DataRoots
        from evalsuite.registry import get_task

        task = get_task(self.task)(dict(self.task_params), data=DataRoots.from_env(self.data_dir))
        started = time.perf_counter()
        backend = load_backend(self.backend, dict(self.options))
        return task, backend, time.perf_counter() - started


def gpu_ids() -> list[str]:
    """The GPUs this process may use: ``$CUDA_VISIBLE_DEVICES``, else those torch counts (without starting CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    try:
        import torch
    except ImportError:
        return []
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # count through NVML; CUDA stays uninitialised
    return [str(i) for i in range(torch.cuda.device_count())]


def worker_env(index: int, count: int, gpus: list[str], cpus: int) -> dict[str, str]:
    """One GPU per worker when there are enough GPUs, else no GPU and an equal share of the CPU threads."""
    if len(gpus) >= count:
        return {"CUDA_VISIBLE_DEVICES": gpus[index]}
    threads = str(max(1, cpus // count))
    return {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _compute(spec: RunSpec, index: int, count: int) -> ShardOutcome:
    from evalsuite.store import ResultStore

    task, backend, _ = spec.build()
    try:
        with ResultStore(spec.store) as store:
            return compute_shard(task, backend, store, index, count)
    finally:
        backend.close()


def _worker(spec: RunSpec, index: int, count: int, env: dict[str, str], outcome_path: str) -> None:
    """A spawned worker: compute shard ``index``; write its outcome, or the evalsuite error it met, as JSON."""
    os.environ.update(env)  # before torch is imported: thread counts and visible GPUs are read then
    try:
        report = WorkerReport(outcome=_compute(spec, index, count))
    except EvalsuiteError as exc:
        report = WorkerReport(error_kind=type(exc).__name__, error=str(exc))
    atomic_write_text(Path(outcome_path), report.model_dump_json())


def run_processes(spec: RunSpec, count: int, out_dir: str | None) -> RunResult:
    """Compute the run's shards in ``count`` spawned workers, then merge them into one record."""
    if count < 1:
        raise ConfigError(f"--processes must be at least 1, got {count}")
    context = multiprocessing.get_context("spawn")
    gpus, cpus = gpu_ids(), os.cpu_count() or 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evalsuite-shards-") as folder:
        paths = [str(Path(folder) / f"shard-{i}.json") for i in range(count)]
        workers = [context.Process(target=_worker, args=(spec, i, count, worker_env(i, count, gpus, cpus), paths[i]),
                                   name=f"evalsuite-shard-{i}") for i in range(count)]
        for i, worker in enumerate(workers):
            worker.start()
            print(f"worker {i + 1}/{count}: pid {worker.pid}", file=sys.stderr, flush=True)
        for worker in workers:
            worker.join()
        outcomes = [_read_outcome(Path(p), i, count, w.exitcode) for i, (p, w) in enumerate(zip(paths, workers))]
    return _merge(spec, outcomes, out_dir, time.perf_counter() - started)


def _merge(spec: RunSpec, outcomes: list[ShardOutcome], out_dir: str | None, shard_seconds: float) -> RunResult:
    from evalsuite.store import ResultStore

    task, backend, load_seconds = spec.build()
    try:
        with ResultStore(spec.store) as store:
            # The shards' wall time outside their compute (loading, mostly) counts as model loading.
            outside = max(0.0, shard_seconds - max(o.compute_seconds for o in outcomes))
            return evaluate(task, backend, store, out_dir=out_dir, model_load_seconds=load_seconds + outside,
                            backend_config=spec.backend_config, shards=outcomes)
    finally:
        backend.close()


def _read_outcome(path: Path, index: int, count: int, exitcode: int | None) -> ShardOutcome:
    """A worker's outcome; its evalsuite error raised again here; an error when it died without one."""
    if exitcode == 0 and path.is_file():
        report = WorkerReport.model_validate_json(path.read_text(encoding="utf-8"))
        if report.outcome is None:
            raise getattr(errors, report.error_kind or "", EvalsuiteError)(f"worker {index + 1}/{count}: {report.error}")
        return report.outcome
    how = f"was killed by {signal.Signals(-exitcode).name}" if exitcode and exitcode < 0 else f"exited with {exitcode}"
    raise ModelError(
        f"worker {index + 1}/{count} {how} before finishing its shard (its error, if any, is printed above); "
        "every finished batch is stored: rerun the same command to compute only the rest"
    )


def launch_rank() -> tuple[int, int] | None:
    """(rank, world size) when launched as one of several ranks (``accelerate launch``, ``torchrun``), else None."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def _rank_folder(spec: RunSpec, store: str) -> Path:
    """Where the ranks of this launch report: one folder per launch (same launcher process, address and port)."""
    launch = [os.getppid(), os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT"),
              os.environ.get("TORCHELASTIC_RUN_ID"), spec.task, sorted(spec.task_params.items()), spec.backend]
    digest = hashlib.sha256(repr(launch).encode()).hexdigest()[:16]
    return Path(f"{store}.ranks") / digest


def run_rank(spec: RunSpec, rank: int, world: int, out_dir: str | None) -> RunResult | None:
    """Compute this rank's shard; rank 0 then waits for every other rank's report and merges (returns the record)."""
    local = int(os.environ.get("LOCAL_RANK", rank))
    gpus = gpu_ids()
    if len(gpus) >= int(os.environ.get("LOCAL_WORLD_SIZE", world)):
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[local]  # set before the backend starts CUDA
    folder = _rank_folder(spec, spec.store)
    started = time.perf_counter()
    outcome = _compute(spec, rank, world)
    atomic_write_text(folder / f"rank-{rank}.json", outcome.model_dump_json())
    if rank != 0:
        return None
    paths = [folder / f"rank-{r}.json" for r in range(world)]
    while not all(p.is_file() for p in paths):
        time.sleep(POLL_SECONDS)
    outcomes = [ShardOutcome.model_validate_json(p.read_text(encoding="utf-8")) for p in paths]
    record = _merge(spec, outcomes, out_dir, time.perf_counter() - started)
    for path in paths:
        path.unlink()
    folder.rmdir()
    return record
