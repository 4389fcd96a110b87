"""``EvalCallback``: evaluate the model being trained at step 0 and every N steps, without writing a checkpoint.

Any transformers or TRL trainer takes it in a few lines::

    from evalsuite.trainers import EvalCallback

    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.add_callback(EvalCallback({"every": 50, "tasks": ["mmlu", "generate"]}, trainer=trainer, stage="sft"))
    trainer.train()

Each evaluation runs the tasks through :mod:`evalsuite.trainers.eval_steps` (the runner of `evalsuite run`),
writes ``<out>/evals/step-NNNNNN/`` (``out_dir``, default ``args.output_dir``), sends the numbers to
``trainer.log`` (so ``train_log.jsonl``, TensorBoard, W&B and trackio receive them, as TRL's own callbacks do)
and checks the alarms. The model's train/eval mode per module, ``requires_grad``, the Python, NumPy, torch
and CUDA random states (and so the data order, which the sampler draws from them) are put back exactly as
they were: training with the callback gives the same weights as without it.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from evalsuite.config import validate
from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError
from evalsuite.results import RunResult
from evalsuite.store import ResultStore
from evalsuite.trainers.eval_alarms import check_alarms
from evalsuite.trainers.eval_steps import (EVALS_DIR, StepEvalResult, StepMetric, build_tasks, live_weights_sha256,
                                           log_entries, metrics_of, new_record, read_step_records, step_dir, write_record)
from evalsuite.trainers.settings import EvalSettings


@dataclass
class StepContext:
    """What a hook sees after the tasks of one step ran: it may evaluate more (e.g. a judge task through any
    backend over ``runs["generate"]``'s samples, with ``evalsuite.runner.evaluate`` and ``store``)."""

    stage: str
    step: int
    folder: Path
    runs: dict[str, RunResult]
    store: ResultStore
    backend: Any  # the live model as an hf backend


Hook = Callable[[StepContext], dict[str, float]]


@contextmanager
def preserved(model) -> Iterator[None]:
    """Put the model in eval mode, without the training autocast, for the block; afterwards restore its
    forward, every module's mode, every parameter's ``requires_grad``, and the Python, NumPy, torch (and CUDA)
    random states."""
    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    modes = [(module, module.training) for module in model.modules()]
    grads = [(param, param.requires_grad) for param in model.parameters()]
    # accelerate wraps forward in the training precision's autocast (TRL's configs default to bf16) and keeps
    # the plain one: scoring uses the plain forward, so the numbers are those of the saved checkpoint.
    plain_forward = model.__dict__.get("_original_forward")
    training_forward = model.__dict__.get("forward")
    model.eval()
    if plain_forward is not None:
        model.forward = plain_forward
    try:
        yield
    finally:
        if plain_forward is not None:
            model.forward = training_forward
        for module, training in modes:
            module.training = training
        for param, flag in grads:
            param.requires_grad_(flag)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def clear_evals(out_dir: str | Path, resume_step: int | None) -> None:
    """A fresh run starts without step records; a resumed one keeps those up to ``resume_step``."""
    folder = Path(out_dir) / EVALS_DIR
    if resume_step is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for record in folder.glob("step-*"):
        if int(record.name.removeprefix("step-")) > resume_step:
            shutil.rmtree(record)


class EvalCallback(TrainerCallback):
    """Evaluate the live model at step 0, every ``settings.every`` steps and at the end; see the module docstring.

    ``settings``: an :class:`~evalsuite.trainers.settings.EvalSettings` or its mapping (``evalsuite train fields
    eval``). ``trainer``: the trainer to log through (``bind`` sets it later). ``stage`` names the run in records.
    ``data_dir``: the data folder (default ``$EVALSUITE_DATA_DIR``). ``hooks``: callables run after the tasks
    of each step, whose numbers join the step's metrics under the hook's name. After training, ``records``
    holds every step's record and ``stop_reason`` the alarm that stopped training, if one did.
    """

    def __init__(self, settings: EvalSettings | dict[str, Any] | None = None, *, trainer=None, tokenizer=None,
                 stage: str = "train", out_dir: str | Path | None = None, data_dir: str | Path | None = None,
                 hooks: tuple[Hook, ...] = ()):
        self.settings = settings if isinstance(settings, EvalSettings) else validate(EvalSettings, settings or {}, "eval settings")
        self.trainer, self.tokenizer, self.stage = trainer, tokenizer, stage
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data = DataRoots.from_env(data_dir)
        self.hooks = tuple(hooks)
        self.records: list[StepEvalResult] = []
        self.stop_reason: str | None = None
        self._tasks: dict[str, Any] | None = None
        self._run_id = uuid.uuid4().hex
        self._last_step: int | None = None

    def check(self) -> "EvalCallback":
        """Build every task and its requests now, so a missing benchmark or prompt file fails before training."""
        for task in build_tasks(self.settings, self.data, chat_template=False).values():
            task.requests()
        return self

    def bind(self, trainer, tokenizer=None) -> "EvalCallback":
        """Log through ``trainer`` (and score with ``tokenizer`` when the trainer has no processing class)."""
        self.trainer = trainer
        self.tokenizer = self.tokenizer or tokenizer
        return self

    # -- trainer events ---------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if args.world_size > 1 and any(alarm.stop for alarm in self.settings.alarms):
            raise ConfigError(f"eval alarms with stop: true need a single training process (world size {args.world_size}): "
                              "only the main process evaluates, so the others would not stop with it")
        if self.out_dir is None:
            self.out_dir = Path(args.output_dir)
        self.tokenizer = self.tokenizer or processing_class
        if not state.is_world_process_zero:
            return
        # global_step is the checkpoint's when resuming: its records stay, later ones (never finished) go.
        clear_evals(self.out_dir, state.global_step or None)
        self.records = read_step_records(self.out_dir)
        if self.records and self.records[-1].step == state.global_step:
            self._last_step = state.global_step
            return
        self._evaluate(state, control, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.settings.every == 0 and state.global_step != self._last_step:
            self._evaluate(state, control, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.settings.at_end and state.global_step != self._last_step:
            self._evaluate(state, control, model)

    # -- one evaluation -----------------------------------------------------------

    def _evaluate(self, state, control, model) -> StepEvalResult | None:
        if not state.is_world_process_zero:  # one process evaluates; the model is the same in all of them
            return None
        if model is None or self.tokenizer is None:
            raise ConfigError("EvalCallback needs the model and its tokenizer: pass tokenizer= (or bind(trainer, "
                               "tokenizer)) when the trainer has no processing_class")
        with preserved(model):
            record = self._run(model, state.global_step, state.epoch)
        record.alarms = check_alarms(self.settings.alarms, record, self.records[0] if self.records else None)
        write_record(record, step_dir(self.out_dir, record.step))
        self.records.append(record)
        self._last_step = record.step
        if self.trainer is not None:
            from transformers import Trainer

            # The base class's log, not the trainer's: TRL's log() flushes the metrics it averages between
            # logging steps, which would move them into this line and out of the trainer's own. on_log clears
            # should_log, which would swallow the trainer's own line of this step: it is put back.
            should_log = control.should_log
            Trainer.log(self.trainer, log_entries(record, self.settings.log_all))
            control.should_log = should_log
        stops = [event for event in record.alarms if event.stop]
        if stops and self.stop_reason is None:
            self.stop_reason = stops[0].message
            control.should_training_stop = True
        return record

    def _fingerprint(self, model, step: int):
        from evalsuite.backends.identity import ModelFingerprint

        if self.settings.fingerprint == "weights":
            weights = live_weights_sha256(model)
        else:
            weights = hashlib.sha256(f"{self._run_id}|{self.stage}|{step}".encode()).hexdigest()
        first = next(model.parameters())
        return ModelFingerprint(model=f"{self.stage}@step-{step}", revision=None, weights_sha256=weights,
                                dtype=str(first.dtype).removeprefix("torch."), device=first.device.type)

    def _run(self, model, step: int, epoch: float | None) -> StepEvalResult:
        from evalsuite.backends.hf import HFBackend, HFConfig
        from evalsuite.runner import default_store_path, evaluate

        started = time.perf_counter()
        if self._tasks is None:
            self._tasks = build_tasks(self.settings, self.data, bool(getattr(self.tokenizer, "chat_template", None)))
        fingerprint = self._fingerprint(model, step)
        backend = HFBackend.from_live(model, self.tokenizer, HFConfig(model=f"live:{self.stage}"), fingerprint)
        folder = step_dir(self.out_dir, step)
        runs: dict[str, RunResult] = {}
        metrics: list[StepMetric] = []
        with ResultStore(self.settings.store or default_store_path()) as store:
            for name, task in self._tasks.items():
                runs[name] = evaluate(task, backend, store, out_dir=folder / name,
                                      backend_config={"live": True, "stage": self.stage, "step": step, "epoch": epoch})
                metrics += metrics_of(name, runs[name])
            for hook in self.hooks:
                numbers = hook(StepContext(self.stage, step, folder, runs, store, backend))
                label = getattr(hook, "__name__", type(hook).__name__)
                metrics += [StepMetric(task=label, metric=k, value=float(v)) for k, v in numbers.items()]
        return new_record(self.stage, step, epoch, fingerprint.model_dump(), {name: name for name in runs},
                          metrics, started)
