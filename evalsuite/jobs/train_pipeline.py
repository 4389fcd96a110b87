"""A recipe's independent stages trained side by side: ``evalsuite train pipeline --parallel N``.

:func:`schedule` starts every stage whose parent has finished, up to N at once, and reports each start and
finish; a failed stage's descendants are not started, stages that do not depend on it still run, and an
interrupt (Ctrl-C, SIGTERM) stops every running stage. :func:`train_concurrently` trains each stage in its
own process (:func:`evalsuite.jobs.processes.spawn_call`: forked from a fork server that has imported torch
and TRL once on CPU, spawned on GPUs) through :func:`evalsuite.trainers.pipeline.run_recipe_stage`, the call
the sequential pipeline makes, so a stage's config hash and weights do not depend on what ran beside it.
Each stage writes its output to ``OUT/.logs/<stage>.log``; finished stages are skipped without starting a
process. On CPU a stage gets ``runtime.threads`` threads and ``auto`` runs cores / threads stages at once;
on GPUs, one stage per GPU (``CUDA_VISIBLE_DEVICES``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evalsuite import errors
from evalsuite.errors import ConfigError, EvalsuiteError
from evalsuite.jobs.processes import gpu_ids, spawn_call

POLL_SECONDS = 0.2
# Imported once by the fork server every stage process starts from on CPU: about 9 s of CPU per stage otherwise.
# Not with GPUs: a library that asks CUDA about devices at import would leave the forked stages unable to use it.
PRELOAD = ("torch", "transformers", "datasets", "trl.trainer.sft_trainer", "trl.trainer.dpo_trainer",
           "trl.trainer.grpo_trainer", "evalsuite.trainers.pipeline", "evalsuite.trainers.methods")
LOGS = ".logs"  # under the output folder; hidden, so a glob of checkpoint folders does not take it for one


@dataclass(frozen=True)
class StageOutcome:
    """A stage's state as the scheduler reports it: ``started``, then ``trained``, ``skipped``, ``failed``
    (``error`` says why, ``log`` holds its output) or ``blocked`` (an ancestor failed; never started)."""

    name: str
    status: str
    path: str | None = None
    seconds: float | None = None
    log: Path | None = None
    error: str | None = None
    error_kind: str | None = None
    slot: int | None = None


class StageJob(Protocol):
    """A started stage: ``poll`` returns None while it runs, then its final outcome; ``terminate`` stops it."""

    def poll(self) -> StageOutcome | None: ...

    def terminate(self) -> None: ...


# Starts stage ``name`` in slot ``slot`` (0 .. parallel-1) given the checkpoint paths of the finished stages.
StartStage = Callable[[str, int, dict[str, str]], StageJob]


def schedule(parents: dict[str, str | None], start: StartStage, parallel: int,
             on_event: Callable[[StageOutcome], None] | None = None) -> dict[str, StageOutcome]:
    """Run the stages of ``parents`` (name -> parent stage or None, in dependency order), up to ``parallel`` at
    once, each as soon as its parent has finished; returns every stage's final outcome, in the order of ``parents``.

    A stage whose parent failed or was blocked is ``blocked``. An exception here (Ctrl-C included) terminates
    every running stage before it propagates.
    """
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {parallel}")
    seen: set[str] = set()
    for name, parent in parents.items():
        if parent is not None and parent not in seen:
            raise ConfigError(f"stage {name!r} comes before its parent {parent!r} (or the parent is not scheduled)")
        seen.add(name)
    tell = on_event or (lambda _: None)
    pending, outcomes = list(parents), {}
    running: dict[str, tuple[StageJob, int]] = {}
    free = list(range(parallel))

    def finish(name: str, outcome: StageOutcome) -> None:
        outcomes[name] = outcome
        tell(outcome)

    try:
        while pending or running:
            for name in list(pending):
                parent = parents[name]
                parent_state = outcomes[parent].status if parent in outcomes else None
                if parent_state in ("failed", "blocked"):
                    pending.remove(name)
                    finish(name, StageOutcome(name, "blocked", error=f"parent stage {parent!r} {parent_state}"))
                elif free and (parent is None or parent_state in ("trained", "skipped")):
                    pending.remove(name)
                    slot = free.pop(0)
                    done = {n: o.path for n, o in outcomes.items() if o.path is not None}
                    try:
                        job = start(name, slot, done)
                    except EvalsuiteError as exc:  # a bad input found before training: this stage fails, not the rest
                        free = sorted([*free, slot])
                        finish(name, StageOutcome(name, "failed", error=str(exc), error_kind=type(exc).__name__))
                        continue
                    running[name] = (job, slot)
                    outcome = job.poll()  # decided at once (finished earlier): one line, no "started"
                    if outcome is not None:
                        del running[name]
                        free = sorted([*free, slot])
                        finish(name, outcome)
                        continue
                    tell(StageOutcome(name, "started", slot=slot, log=getattr(job, "log", None)))
            finished = [(name, job.poll(), slot) for name, (job, slot) in running.items()]
            finished = [item for item in finished if item[1] is not None]
            for name, outcome, slot in finished:
                del running[name]
                free = sorted([*free, slot])
                finish(name, outcome)
            if running and not finished:
                time.sleep(POLL_SECONDS)
    finally:
        for job, _slot in running.values():
            job.terminate()
    return {name: outcomes[name] for name in parents}


@dataclass
class _Finished:
    """A stage decided without a process (finished earlier, or a `load` stage)."""

    outcome: StageOutcome

    def poll(self) -> StageOutcome:
        return self.outcome

    def terminate(self) -> None:
        pass


@dataclass
class _Spawned:
    """A stage training in its own process."""

    name: str
    call: Any
    started: float

    def poll(self) -> StageOutcome | None:
        report = self.call.poll()
        if report is None:
            return None
        if report.error_kind is not None:
            return StageOutcome(self.name, "failed", seconds=time.time() - self.started, log=self.call.log,
                                error=report.error, error_kind=report.error_kind)
        return StageOutcome(self.name, "skipped" if report.value["skipped"] else "trained", path=report.value["path"],
                            seconds=time.time() - self.started, log=self.call.log)

    @property
    def log(self) -> Path:
        return self.call.log

    def terminate(self) -> None:
        self.call.terminate()


def _train_in_child(recipe: dict[str, Any], name: str, out_dir: str, outputs: dict[str, str], force: bool) -> dict:
    """The stage process: validate the recipe again and train the one stage as the sequential pipeline does."""
    from evalsuite.trainers.pipeline import run_recipe_stage
    from evalsuite.trainers.recipe import load_recipe

    print(f"=== stage {name}: started {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})", flush=True)
    result = run_recipe_stage(load_recipe(recipe), name, out_dir, outputs, force=force)
    print(f"=== stage {name}: {'skipped' if result.skipped else 'trained'} -> {result.path}", flush=True)
    return {"path": result.path, "skipped": result.skipped}


def stage_slots(runtime: Any, parallel: int | str = "auto") -> tuple[int, list[str]]:
    """(stages at once, GPU of each slot or [] on CPU) for ``parallel`` (a number or ``auto``)."""
    gpus = gpu_ids() if runtime.device != "cpu" else []
    if runtime.device == "cuda" and not gpus:
        raise ConfigError("runtime.device is cuda but no GPU is visible (CUDA_VISIBLE_DEVICES, drivers)")
    if parallel == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        count = len(gpus) if gpus else max(1, cores // runtime.threads)
    else:
        try:
            count = int(parallel)
        except ValueError:
            raise ConfigError(f"--parallel takes a number or 'auto', got {parallel!r}") from None
        if count < 1:
            raise ConfigError(f"--parallel must be at least 1, got {count}")
    return count, gpus


def train_concurrently(recipe: Any, out_dir: str | Path, *, only: list[str] | None = None, force: bool = False,
                       parallel: int | str = "auto",
                       on_event: Callable[[StageOutcome], None] | None = None) -> dict[str, str]:
    """Train the recipe's stages (or ``only`` these and their ancestors), independent ones side by side; returns
    stage name -> checkpoint path, as :func:`evalsuite.trainers.pipeline.run_pipeline` does.

    Raises the failed stage's error (its class when it is an evalsuite error) naming the stage and its log,
    once every stage that does not depend on it has finished; a rerun skips the finished ones.
    """
    from evalsuite.trainers.pipeline import finished_stage, needed_stages, run_recipe_stage, stage_parent
    from evalsuite.trainers.recipe import load_recipe, method_named

    recipe = load_recipe(recipe)
    out_dir = Path(out_dir).resolve()
    names = needed_stages(recipe, only)
    count, gpus = stage_slots(recipe.runtime, parallel)
    data = recipe.model_dump(mode="json")

    def start(name: str, slot: int, outputs: dict[str, str]) -> StageJob:
        started = time.time()
        if not method_named(recipe.stages[name].method).trains:
            result = run_recipe_stage(recipe, name, out_dir, outputs)
            return _Finished(StageOutcome(name, "skipped", path=result.path, seconds=time.time() - started))
        done = None if force else finished_stage(recipe, name, out_dir, outputs)
        if done is not None:
            return _Finished(StageOutcome(name, "skipped", path=done.path, seconds=time.time() - started))
        threads = str(recipe.runtime.threads)
        env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        call = spawn_call(_train_in_child, (data, name, str(out_dir), outputs, force), env=env,
                          log=out_dir / LOGS / f"{name}.log", name=f"evalsuite-stage-{name}",
                          preload=() if gpus else PRELOAD)
        return _Spawned(name, call, started)

    with _sigterm_interrupts():
        outcomes = schedule({name: stage_parent(recipe, name) for name in names}, start, count, on_event)
    failed = [o for o in outcomes.values() if o.status == "failed"]
    if failed:
        raise _failure(failed, outcomes)
    return {name: outcomes[name].path for name in names}


class _sigterm_interrupts:
    """SIGTERM raises KeyboardInterrupt while stages run (main thread only), so a killed pipeline stops its
    stage processes as Ctrl-C does instead of leaving them training."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._interrupt)

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _failure(failed: list[StageOutcome], outcomes: dict[str, StageOutcome]) -> EvalsuiteError:
    """One error for every failed stage: the first one's class, each stage's error and log, what was blocked."""
    lines = [f"stage {o.name!r} failed: {o.error_kind}: {o.error} (log: {o.log})" for o in failed]
    blocked = [o.name for o in outcomes.values() if o.status == "blocked"]
    done = [o.name for o in outcomes.values() if o.status in ("trained", "skipped")]
    lines.append(f"not started because of it: {', '.join(blocked) or 'none'}; finished: {', '.join(done) or 'none'}. "
                 "Fix the cause and rerun the same command: finished stages are skipped.")
    kind = getattr(errors, failed[0].error_kind or "", None)
    kind = kind if isinstance(kind, type) and issubclass(kind, EvalsuiteError) else errors.ModelError
    return kind("\n".join(lines))
