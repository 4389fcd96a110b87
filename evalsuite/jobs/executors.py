"""Executors of the checkpoint × task grid: in this process, or one Ray actor per cell.

Both hand every cell to the one runner (:func:`evalsuite.runner.evaluate`) in
this process, so storing, resumption and the typed record exist once. The Ray
executor only moves the model: each cell's backend is loaded on a Ray worker
that holds the resources the suite asks for, and a :class:`RemoteBackend` proxy
streams its batches back, so the driver stores each batch as it arrives and
workers never touch the store. A cell whose worker dies is retried on a fresh
worker; the runner then finds the batches already stored and computes only the
rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import Field

from evalsuite.backends import backend_config, load_backend
from evalsuite.config import StrictModel
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, ModelError
from evalsuite.registry import BACKENDS, get_task
from evalsuite.results import RunResult
from evalsuite.runner import evaluate
from evalsuite.store import ResultStore

# A progress display: called with a label and the number of items, entered around one run; its
# ``update(done, total)`` is the runner's progress callback.
ProgressFactory = Callable[[str, int], AbstractContextManager[Any]]


class Resources(StrictModel):
    """What one cell holds while it runs (Ray's resource options; the in-process executor ignores them)."""

    num_cpus: float = Field(1, ge=0, description="CPUs reserved per cell.")
    num_gpus: float = Field(0, ge=0, description="GPUs per cell (fractions share a GPU).")
    memory: int | None = Field(None, gt=0, description="Bytes of RAM reserved per cell (Ray's memory resource).")

    def overridden_by(self, other: Resources | None) -> Resources:
        """These resources with the fields ``other`` sets (a task's own) taking precedence."""
        return self.model_copy(update={k: getattr(other, k) for k in other.model_fields_set}) if other else self

    def ray_options(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


@dataclass(frozen=True)
class Cell:
    """One checkpoint × task: ``spec`` is a :class:`evalsuite.jobs.grid.GridTask`."""

    checkpoint: str
    path: Path
    spec: Any
    resources: Resources


@dataclass(frozen=True)
class GridRun:
    checkpoint: str
    name: str
    record: RunResult
    attempts: int = 1


@dataclass(frozen=True)
class GridContext:
    """What every cell of one grid shares."""

    data: DataRoots
    store: ResultStore
    out: Path
    backend: str
    backend_options: Mapping[str, Any]
    progress: ProgressFactory | None = None
    max_retries: int = 2  # how often a cell whose worker died is retried (executors with workers)

    def model_options(self, cell: Cell) -> dict[str, Any]:
        return {"model": str(cell.path), **self.backend_options}


class Executor(Protocol):
    """Runs a grid's cells through :func:`evalsuite.runner.evaluate`, yielding each run as it finishes."""

    name: ClassVar[str]

    def __init__(self, address: str | None = None) -> None: ...

    def run(self, cells: Sequence[Cell], context: GridContext) -> Iterator[GridRun]: ...


class InProcessExecutor:
    """Cells one after another in this process; each checkpoint's backend is loaded once for all its tasks."""

    name: ClassVar[str] = "local"

    def __init__(self, address: str | None = None):
        if address:
            raise ConfigError(f"--address {address!r} is for --executor ray; the local executor runs in this process")

    def run(self, cells: Sequence[Cell], context: GridContext) -> Iterator[GridRun]:
        by_checkpoint: dict[str, list[Cell]] = {}
        for cell in cells:
            by_checkpoint.setdefault(cell.checkpoint, []).append(cell)
        for checkpoint, group in by_checkpoint.items():
            model = load_backend(context.backend, context.model_options(group[0]))
            try:
                for cell in group:
                    task = get_task(cell.spec.task)(cell.spec.params, context.data)
                    label = f"{checkpoint} {cell.spec.name}"
                    display = context.progress(label, len(task.requests())) if context.progress else nullcontext()
                    with display as bar:
                        record = evaluate(task, model, context.store, out_dir=context.out / checkpoint / cell.spec.name,
                                          progress=bar.update if bar is not None else None)
                    yield GridRun(checkpoint, cell.spec.name, record)
            finally:
                model.close()


class CellWorker:
    """The Ray actor of one cell: holds the loaded backend and streams its batches."""

    def load(self, backend_class: type, config: StrictModel) -> tuple[str, Any, Any]:
        self.backend = backend_class(config)
        return self.backend.name, self.backend.fingerprint, self.backend.capabilities

    def compute(self, method: str, requests: list) -> Iterator[tuple[list[int], list]]:
        yield from getattr(self.backend, method)(requests)

    def loglikelihoods_exact(self, requests: list) -> list:
        return self.backend.loglikelihoods_exact(requests)


class RemoteBackend:
    """A backend whose compute methods run on a :class:`CellWorker`; batches arrive as the worker yields them."""

    def __init__(self, ray: Any, actor: Any, backend_class: type, config: StrictModel):
        self.ray, self.actor = ray, actor
        self.name, self.fingerprint, self.capabilities = ray.get(actor.load.remote(backend_class, config))

    def _stream(self, method: str, requests: list) -> Iterator[tuple[list[int], list]]:
        for ref in self.actor.compute.options(num_returns="streaming").remote(method, requests):
            yield self.ray.get(ref)

    def loglikelihoods(self, requests: list) -> Iterator[tuple[list[int], list]]:
        return self._stream("loglikelihoods", requests)

    def generate(self, requests: list) -> Iterator[tuple[list[int], list]]:
        return self._stream("generate", requests)

    def execute(self, requests: list) -> Iterator[tuple[list[int], list]]:
        return self._stream("execute", requests)

    def loglikelihoods_exact(self, requests: list) -> list:
        return self.ray.get(self.actor.loglikelihoods_exact.remote(requests))


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray, an optional extra: pip install 'evalsuite[ray]' "
                          "(or pip install ray==2.60.0)") from None
    return ray


class RayExecutor:
    """Every cell at once on a Ray cluster, one actor per cell with the cell's resources; cells finish in any order.

    Connects to ``address`` (or starts a local instance when Ray is not
    initialised). A cell whose worker dies (killed, out of memory, a crash) is
    retried up to the context's ``max_retries`` times on a new worker and
    resumes from what the driver stored. Progress bars are not shown: each cell
    is reported as it finishes.
    """

    name: ClassVar[str] = "ray"

    def __init__(self, address: str | None = None):
        self.address = address

    def run(self, cells: Sequence[Cell], context: GridContext) -> Iterator[GridRun]:
        ray = import_ray()
        backend_class = BACKENDS.get(context.backend)
        # Validated and built here, before any worker starts (a typo costs nothing; the registries are not thread-safe).
        jobs = []
        for cell in cells:
            # An absolute model path: a worker's working directory is not the driver's.
            options = {**context.model_options(cell), "model": str(cell.path.resolve())}
            task = get_task(cell.spec.task)(cell.spec.params, context.data)
            jobs.append((cell, backend_config(context.backend, options), task))
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, include_dashboard=False)
        worker = ray.remote(CellWorker)
        pool = ThreadPoolExecutor(max_workers=max(1, len(cells)), thread_name_prefix="grid-cell")
        try:
            futures = [pool.submit(_ray_cell, ray, worker, backend_class, *job, context) for job in jobs]
            for future in as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            if started_here:
                ray.shutdown()


def _ray_cell(ray: Any, worker: Any, backend_class: type, cell: Cell, config: StrictModel, task: Any,
              context: GridContext) -> GridRun:
    """One cell on a new actor, retried on a new actor while its worker dies and retries are left."""
    died = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
    attempt = 0
    with ResultStore(context.store.path) as store:  # an SQLite connection belongs to one thread
        while True:
            attempt += 1
            actor = worker.options(max_restarts=0, **cell.resources.ray_options()).remote()
            try:
                record = evaluate(task, RemoteBackend(ray, actor, backend_class, config), store,
                                  out_dir=context.out / cell.checkpoint / cell.spec.name)
                return GridRun(cell.checkpoint, cell.spec.name, record, attempts=attempt)
            except died as exc:
                if attempt > context.max_retries:
                    raise ModelError(
                        f"grid cell {cell.checkpoint}/{cell.spec.name}: its Ray worker died {attempt} times "
                        f"(last: {str(exc).splitlines()[0]}); what it computed is stored. Check the worker logs "
                        "(out of memory?), raise the suite's resources or max_retries, and rerun to resume."
                    ) from exc
            finally:
                ray.kill(actor)


EXECUTORS: dict[str, type[Executor]] = {"local": InProcessExecutor, "ray": RayExecutor}


def make_executor(name: str, address: str | None = None) -> Executor:
    """The executor registered as ``name`` (connecting to ``address``); an error listing the known ones otherwise."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](address=address)
