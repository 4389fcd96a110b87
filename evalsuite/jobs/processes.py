"""Data parallel on one node: the items of one run sharded across processes that write one store.

``evalsuite run --processes N`` spawns N workers (:func:`run_processes`); under
``accelerate launch`` or ``torchrun`` each rank is a worker (:func:`run_rank`).
A worker loads the backend and computes its shard with
:func:`evalsuite.runner.compute_shard` (whole groups, so prefixes are shared);
every worker writes into the one SQLite store. Then one process (the parent, or
rank 0 once every rank has reported) runs :func:`evalsuite.runner.evaluate`
over the whole run, which finds every item in the store and writes the same
``results.json`` and ``samples.jsonl`` as a single-process run.

:func:`spawn_call` is the general form other jobs use (one training stage per process): any picklable
function in a fresh spawned process, its output into a log file, its return value or error back as JSON.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
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


class CallReport(BaseModel):
    """What :func:`spawn_call`'s child hands back: the function's JSON-able value, or the error it stopped on."""

    value: Any = None
    error_kind: str | None = None
    error: str | None = None


def _call_child(target: Callable[..., Any], args: tuple, env: dict[str, str], log: str, report: str) -> None:
    """A spawned child: environment first (torch reads thread counts and visible GPUs on import), every byte of
    output (Python's and the libraries') into ``log``, then the call; its value or error goes to ``report``."""
    os.environ.update(env)
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    try:
        result = CallReport(value=target(*args))
    except Exception as exc:  # reported to the parent; the traceback stays in the log
        traceback.print_exc()
        result = CallReport(error_kind=type(exc).__name__, error=str(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    atomic_write_text(Path(report), result.model_dump_json())


@dataclass
class ChildCall:
    """A function running in its own process (see :func:`spawn_call`)."""

    process: Any
    log: Path
    report: Path

    def poll(self) -> CallReport | None:
        """None while the child runs; then its report, or an error report when it died without writing one."""
        if self.process.is_alive():
            return None
        self.process.join()
        code = self.process.exitcode
        if code == 0 and self.report.is_file():
            result = CallReport.model_validate_json(self.report.read_text(encoding="utf-8"))
            self.report.unlink()
            return result
        how = f"was killed by {signal.Signals(-code).name}" if code and code < 0 else f"exited with {code}"
        return CallReport(error_kind="ModelError", error=f"its process {how} before reporting (out of memory?)")

    def terminate(self, grace: float = 10.0) -> None:
        """Stop the child: SIGTERM, then SIGKILL when it is still alive after ``grace`` seconds."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def spawn_call(target: Callable[..., Any], args: tuple, *, env: dict[str, str], log: Path, name: str,
               preload: tuple[str, ...] = ()) -> ChildCall:
    """Start ``target(*args)`` (module-level, picklable, returning JSON-able data) in a fresh process with ``env``
    added to its environment and its output appended to ``log``.

    With ``preload`` (module names) and where the platform has it, the process is forked from multiprocessing's
    fork server, which imports those modules once (it starts no threads and never touches CUDA), so each call
    saves their import time; otherwise it is spawned.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    report = log.with_name(log.name + ".report.json")
    report.unlink(missing_ok=True)
    if preload and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))  # takes effect when the server starts (first call)
    else:
        context = multiprocessing.get_context("spawn")
    process = context.Process(target=_call_child, args=(target, args, env, str(log), str(report)), name=name)
    process.start()
    return ChildCall(process=process, log=log, report=report)
