"""Typed score models: what a task run's ``scores`` hold, read back as the same models.

Every score model has a ``kind`` and is registered with :func:`register_score_kind`;
:class:`evalsuite.results.RunResult` validates its ``scores`` into the model of
that kind, so readers use attributes and never guess from a record's shape.
Floats that are undefined (the standard error of one item, self-BLEU of one
response) are NaN in memory and ``null`` in ``results.json``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _none_is_nan(value: Any) -> Any:
    return math.nan if value is None else value


# A float that may be undefined: NaN in memory, null in JSON (pydantic writes NaN as null).
Number = Annotated[float, BeforeValidator(_none_is_nan)]


class Scores(BaseModel):
    """Base of every score model: a ``kind`` naming it, and no fields beyond those declared."""

    model_config = ConfigDict(extra="forbid")

    kind: str


class GroupAccuracy(BaseModel):
    """Accuracy of a group of subjects (question-weighted) with lm-eval's pooled standard error."""

    model_config = ConfigDict(extra="forbid")

    acc: Number
    stderr: Number
    n: int
    subjects: int


class SubjectAccuracy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acc: Number
    stderr: Number
    n: int
    category: str


class SubjectMean(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acc: Number
    note: str


class AccuracyScores(Scores):
    """Scores of a multiple-choice task: overall, per category and per subject."""

    kind: Literal["accuracy"] = "accuracy"
    metric: Literal["acc"] = "acc"
    overall: GroupAccuracy
    overall_subject_mean: SubjectMean
    categories: dict[str, GroupAccuracy]
    subjects: dict[str, SubjectAccuracy]


class MetricScore(BaseModel):
    """One metric's value as :meth:`evalsuite.metrics.result.MetricResult.to_dict` writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: Number
    ci: tuple[Number, Number] | None = None
    signature: str
    n: int = 0
    n_groups: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DiversityScores(Scores):
    """Scores of a generation task: diversity metrics by id (``evalsuite.metrics.names``), per mode."""

    kind: Literal["diversity"] = "diversity"
    within: dict[str, MetricScore] = Field(default_factory=dict, description="Absent when no prompt has two responses.")
    across: dict[str, MetricScore]
    responses: int
    prompts: int

    def modes(self) -> dict[str, dict[str, MetricScore]]:
        """``{"within": ..., "across": ...}``, leaving out a mode with no metrics."""
        return {mode: metrics for mode, metrics in (("within", self.within), ("across", self.across)) if metrics}


_SCORE_KINDS: dict[str, type[Scores]] = {}


def register_score_kind(model: type[Scores]) -> type[Scores]:
    """Let run records hold scores of ``model``'s kind (its ``kind`` field's default); usable as a decorator."""
    kind = model.model_fields["kind"].default
    if not isinstance(kind, str):
        raise TypeError(f"{model.__name__}: a score model needs a default 'kind', got {kind!r}")
    _SCORE_KINDS[kind] = model
    return model


register_score_kind(AccuracyScores)
register_score_kind(DiversityScores)


def typed_scores(value: Any) -> Scores:
    """``value`` as its registered score model: a model as it is, a dict by its ``kind``.

    A kind registered by a task module that has not been imported yet (a record read back in a
    fresh process) is found by loading the registered tasks, so an outside task's kind is read too.
    """
    if isinstance(value, Scores):
        return value
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError(
            f"scores must be a score model (a evalsuite.scores.Scores subclass registered with register_score_kind) "
            f"or its JSON with a 'kind'; got {type(value).__name__}"
            + (f" with fields {sorted(value)}" if isinstance(value, dict) else "")
        )
    kind = value["kind"]
    if kind not in _SCORE_KINDS:
        _load_task_modules()
    model = _SCORE_KINDS.get(kind)
    if model is None:
        raise ValueError(f"unknown score kind {kind!r}; known: {', '.join(sorted(_SCORE_KINDS))}")
    return model.model_validate(value)


def _load_task_modules() -> None:
    """Import every registered task (built-in and entry point): task modules register their score kinds."""
    from evalsuite.errors import ConfigError
    from evalsuite.registry import TASKS

    for name in TASKS.names():
        try:
            TASKS.get(name)
        except ConfigError:
            continue  # an outside task that fails to load cannot be what this record needs
