"""What a training method is: a stage config model and the three steps every stage runs.

``run_stage`` (``evalsuite.trainers.stage``) owns what all methods share: hashing the inputs and skipping
finished stages, resuming, the training log, saving the checkpoint and its manifest. A method supplies the
rest, in three steps:

1. ``inputs``: find the parent and data files without loading anything (they go into the config hash);
2. ``prepare``: load and check everything that can be wrong, before training starts;
3. ``train``: train, and hand back the model and tokenizer to save.

A new method is one module in ``evalsuite.trainers.methods`` (or, outside evalsuite, one entry point in the
group ``evalsuite.trainer_methods``) that registers an instance: ``register_method(MyMethod())``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evalsuite.registry import TRAINER_METHODS
from evalsuite.trainers.checkpoint import DataFileInfo
from evalsuite.trainers.settings import Runtime, StageConfig

if TYPE_CHECKING:
    from evalsuite.trainers.recipe import Recipe


@dataclass
class StageRun:
    """One stage being run: its name, where it writes, and the recipe around it.

    ``callbacks`` and ``resume`` are set by ``run_stage`` just before ``train``.
    """

    name: str
    out_dir: Path
    trainer_dir: Path  # transformers' own checkpoints, for resuming; removed once the stage is saved
    runtime: Runtime
    recipe: Recipe
    stage_outputs: dict[str, str]  # checkpoint path of each earlier stage of the recipe
    callbacks: list = field(default_factory=list)
    resume: str | None = None


@dataclass
class Inputs:
    """A stage's inputs as the config hash sees them, found without loading anything.

    ``files`` maps a role (``data``, ``tokenizer``) to files whose contents are hashed; ``parent`` is the
    checkpoint the stage starts from (directory or Hub id) and ``parent_hash`` its weights hash when local.
    """

    files: dict[str, list[Path]] = field(default_factory=dict)
    parent: str | None = None
    parent_hash: str | None = None
    parent_ref: str | None = None  # what the hash records for a parent without a weights hash (Hub id@revision)


@dataclass
class Prepared:
    """What ``prepare`` loaded and checked; ``data`` is the method's own (examples, texts)."""

    files: list[DataFileInfo]
    data: Any = None
    model: Any = None
    tokenizer: Any = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Trained:
    """The model and tokenizer to save, and what the manifest records about how they were trained."""

    model: Any
    tokenizer: Any
    trainable_parameters: int
    lora: dict[str, Any] | None = None


class Method:
    """A training method. Subclasses set ``name`` and ``Stage`` and implement the three steps
    (only ``inputs`` when ``trains`` is False)."""

    name: str
    Stage: type[StageConfig]  # pydantic config with ``method: Literal[name]``
    trains: ClassVar[bool] = True  # False: the stage stands for the existing checkpoint ``inputs`` names (load)
    model_field: ClassVar[str | None] = None  # the stage field ``evalsuite train <name> --model`` fills
    data_field: ClassVar[str | None] = None  # the stage field ``--data`` (repeatable) fills

    def inputs(self, stage: Any, run: StageRun) -> Inputs:
        """Parent and data files of ``stage``, resolved but not loaded."""
        raise NotImplementedError(f"{type(self).__name__} must implement inputs()")

    def prepare(self, stage: Any, inputs: Inputs, run: StageRun) -> Prepared:
        """Load and check the inputs; raise before training for anything wrong with them."""
        raise NotImplementedError(f"{type(self).__name__} must implement prepare() or set trains = False")

    def train(self, stage: Any, prepared: Prepared, run: StageRun) -> Trained:
        """Train (resuming from ``run.resume``, logging through ``run.callbacks``) and return what to save."""
        raise NotImplementedError(f"{type(self).__name__} must implement train() or set trains = False")


def register_method(method: Method) -> Method:
    """Register ``method`` in ``TRAINER_METHODS`` under its name."""
    return TRAINER_METHODS.register(method.name, method)


def bind_callbacks(trainer, callbacks: list, tokenizer=None) -> None:
    """Hand the trainer (and the tokenizer) to callbacks that log through it, such as ``EvalCallback``: they are
    made before the trainer exists."""
    for callback in callbacks:
        if hasattr(callback, "bind"):
            callback.bind(trainer, tokenizer)


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
