"""Run one task against one model: fetch what the store has, compute the rest, score, write.

The runner knows tasks only through :class:`evalsuite.task.Task` and backends
only through :class:`evalsuite.backend.Backend`. Results are stored after every
batch, so an interrupted run loses at most one batch. An item the backend
reports as failed (:class:`evalsuite.backend.ItemFailure`) is recorded in the
run's ``failed`` list, never stored, and tried again by the next run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from pydantic import BaseModel

from evalsuite.backend import ItemFailure
from evalsuite.errors import ConfigError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import write_jsonl
from evalsuite.results import FailedItem, RunResult, TaskSpec, Timings, provenance
from evalsuite.store import ResultStore, request_hash, run_key
from evalsuite.task import Task

# A task's output type names the backend capability (and method) that computes its requests.
COMPUTE_METHODS = {"multiple_choice": "loglikelihoods", "generation": "generate", "execution": "execute"}


def default_store_path() -> Path:
    if os.environ.get("EVALSUITE_STORE"):
        return Path(os.environ["EVALSUITE_STORE"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "evalsuite" / "results.sqlite"


def evaluate(
    task: Task,
    backend,
    store: ResultStore,
    out_dir: str | Path | None = None,
    model_load_seconds: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    backend_config: dict[str, Any] | None = None,
    shards: list[ShardOutcome] | None = None,
) -> RunResult:
    """Evaluate ``task`` with ``backend``; write ``results.json`` and ``samples.jsonl`` to ``out_dir``.

    ``shards``: the outcomes of :func:`compute_shard` over every shard of this
    run (a data-parallel run being merged). Their items are read from the
    store, items they report as failed are reported failed (not recomputed),
    and the timings count what the shards fetched and computed.
    """
    started_wall = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    requests, resolved, compute, key, hashes = _prepare(task, backend, store)
    stored = store.fetch(key, hashes, decode=task.result_type.model_validate)  # unreadable rows are recomputed
    results: list = [stored.get(h) for h in hashes]
    from_store = sum(r is not None for r in results)
    if progress:
        progress(from_store, len(requests))
    compute_started = time.perf_counter()
    shard_failed = [f for outcome in shards or [] for f in outcome.failed]
    skip = {f.key for f in shard_failed}
    failed = shard_failed + _compute_pending(
        compute, requests, hashes, results, lambda rows: store.put_many(key, rows), progress, skip=skip,
    )
    compute_seconds = time.perf_counter() - compute_started
    computed = len(requests) - from_store - len(shard_failed)
    if shards:
        from_store = sum(outcome.from_store for outcome in shards)
        computed += sum(outcome.computed for outcome in shards)
        compute_seconds += max(outcome.compute_seconds for outcome in shards)

    ok = [i for i, r in enumerate(results) if r is not None]
    requests_ok, results_ok = [requests[i] for i in ok], [results[i] for i in ok]
    precision_check = None
    if task.output_type == "multiple_choice" and backend.capabilities.reduced_precision:
        precision_check = check_precision(
            requests_ok, results_ok, backend, backend.capabilities.agreement_sample, seed=0
        )
    scores, samples = task.aggregate(requests_ok, results_ok)
    computation: Counter[str] = Counter()
    for result in results_ok:
        computation.update(result.tally())
    record = RunResult(
        task=TaskSpec(name=task.name, version=task.version, params_passed=task.params_passed, params_resolved=resolved),
        model=backend.fingerprint.model_dump(),
        backend_config=backend_config or {},
        seeds={
            "fewshot": None,
            "sampling": resolved.get("seed") if task.output_type == "generation" else None,
            "precision_check": 0 if precision_check else None,
        },
        precision_check=precision_check,
        task_metadata=task.run_metadata(),
        computation=dict(computation),
        failed=failed,
        provenance=provenance(),
        store=str(store.path),
        timings=Timings(
            started=started_wall,
            total_seconds=time.perf_counter() - started + model_load_seconds,
            model_load_seconds=model_load_seconds,
            compute_seconds=compute_seconds,
            items_total=len(requests),
            items_computed=computed,
            items_from_store=from_store,
        ),
        scores=scores,
    )
    if out_dir is not None:
        out = Path(out_dir)
        write_jsonl(out / "samples.jsonl", samples)
        atomic_write_text(out / "results.json", record.model_dump_json(indent=2))
    return record


def _prepare(task: Task, backend, store: ResultStore):
    """The task's requests, resolved parameters, compute method, run key (registered) and request hashes."""
    requests = task.requests()
    resolved = task.resolved_params()
    compute = _compute_method(task, backend)
    key = run_key(backend.fingerprint.store_key(), task.name, task.version, resolved)
    store.register_run(key, backend.fingerprint.store_key(), task.name, task.version, resolved)
    return requests, resolved, compute, key, [request_hash(r.model_dump()) for r in requests]


class ShardOutcome(BaseModel):
    """What one shard of a data-parallel run found in the store, computed, and failed on."""

    index: int
    count: int
    from_store: int
    computed: int
    compute_seconds: float
    failed: list[FailedItem]


def shard_groups(groups: Iterable[str], index: int, count: int) -> set[str]:
    """The groups shard ``index`` of ``count`` computes: every ``count``-th of the sorted distinct groups.

    Whole groups go to one shard, so a shared prompt prefix is still computed once.
    """
    if not 0 <= index < count:
        raise ConfigError(f"shard index must be in 0..{count - 1} for {count} shards, got {index}")
    return set(sorted(set(groups))[index::count])


def compute_shard(task: Task, backend, store: ResultStore, index: int, count: int,
                  progress: Callable[[int, int], None] | None = None) -> ShardOutcome:
    """Compute and store the items of shard ``index`` of ``count`` that the store does not hold yet.

    Writes no record: once every shard is done, :func:`evaluate` with the
    outcomes merges the run from the store.
    """
    requests, _, compute, key, hashes = _prepare(task, backend, store)
    mine = shard_groups((r.group for r in requests), index, count)
    positions = [i for i, r in enumerate(requests) if r.group in mine]
    requests, hashes = [requests[i] for i in positions], [hashes[i] for i in positions]
    stored = store.fetch(key, hashes, decode=task.result_type.model_validate)
    results: list = [stored.get(h) for h in hashes]
    from_store = sum(r is not None for r in results)
    started = time.perf_counter()
    failed = _compute_pending(compute, requests, hashes, results, lambda rows: store.put_many(key, rows), progress)
    return ShardOutcome(index=index, count=count, from_store=from_store, computed=len(requests) - from_store,
                        compute_seconds=time.perf_counter() - started, failed=failed)


def _compute_pending(compute, requests, hashes, results, store_rows, progress, skip=frozenset()) -> list[FailedItem]:
    """Fill the ``None`` entries of ``results`` group by group, storing each batch as it arrives.

    Items the backend reports as failed stay ``None`` and are returned; items
    whose key is in ``skip`` stay ``None`` and are not computed.
    """
    pending_by_group: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        if result is None and requests[i].key not in skip:
            pending_by_group.setdefault(requests[i].group, []).append(i)
    done = len(results) - sum(len(p) for p in pending_by_group.values())
    failed: list[FailedItem] = []
    for positions in pending_by_group.values():
        for local_indices, batch_results in compute([requests[i] for i in positions]):
            rows = []
            for local, result in zip(local_indices, batch_results):
                i = positions[local]
                if isinstance(result, ItemFailure):
                    failed.append(FailedItem(key=requests[i].key, error=result.error))
                    continue
                results[i] = result
                rows.append((hashes[i], requests[i].key, result.model_dump()))
            store_rows(rows)
            done += len(local_indices)
            if progress:
                progress(done, len(requests))
    return failed


def _compute_method(task: Task, backend):
    """The backend method for the task's requests; an error when the backend cannot do it."""
    needed = COMPUTE_METHODS.get(task.output_type)
    if needed is None:
        raise ConfigError(f"task {task.name!r} has output type {task.output_type!r}; known: {', '.join(COMPUTE_METHODS)}")
    if not getattr(backend.capabilities, needed, False):
        note = backend.capabilities.notes.get(needed)
        raise ConfigError(
            f"task {task.name!r} needs {needed!r}, which backend {backend.name!r} does not provide"
            + (f": {note}" if note else f" (its capabilities: {backend.capabilities.model_dump(exclude={'notes'})}); "
               "choose a backend that does")
        )
    return getattr(backend, needed)


def check_precision(requests, results, backend, sample_size: int, seed: int) -> dict[str, Any]:
    """Recompute a seeded sample of items with ``backend.loglikelihoods_exact`` and compare.

    Returns how many sampled items keep their prediction and the largest
    log-likelihood difference; a note instead when nothing could be measured.
    """
    import random

    if sample_size <= 0:
        return {"items": 0, "note": "agreement not measured (agreement_sample=0)"}
    if not backend.capabilities.exact_recompute:
        return {"items": 0, "note": f"agreement not measured (backend {backend.name!r} cannot recompute exactly)"}
    chosen = sorted(random.Random(seed).sample(range(len(requests)), min(sample_size, len(requests))))
    if not chosen:
        return {"items": 0, "note": "agreement not measured (no items were computed)"}
    by_group: dict[str, list[int]] = {}
    for i in chosen:
        by_group.setdefault(requests[i].group, []).append(i)
    same, worst = 0, 0.0
    for positions in by_group.values():
        exact = backend.loglikelihoods_exact([requests[i] for i in positions])
        for i, reference in zip(positions, exact):
            fast, slow = results[i].loglikelihoods, reference.loglikelihoods
            same += fast.index(max(fast)) == slow.index(max(slow))
            worst = max(worst, max(abs(a - b) for a, b in zip(fast, slow)))
    return {
        "items": len(chosen),
        "same_prediction": same,
        "agreement": same / len(chosen),
        "max_abs_loglikelihood_diff": worst,
        "seed": seed,
    }
