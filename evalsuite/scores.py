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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


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
    """``value`` as its registered score model.

    A record read back names its ``kind``. A task's ``aggregate`` may still return a plain
    dict without one: it becomes the one registered model that validates it (score models
    forbid undeclared fields, so two cannot both fit), or an error naming the fields.
    """
    if isinstance(value, Scores):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected a score model or a dict, got {type(value).__name__}")
    if "kind" in value:
        model = _SCORE_KINDS.get(value["kind"])
        if model is None:
            raise ValueError(f"unknown score kind {value['kind']!r}; known: {', '.join(sorted(_SCORE_KINDS))}")
        return model.model_validate(value)
    fits = []
    for model in _SCORE_KINDS.values():
        try:
            fits.append(model.model_validate(value))
        except ValidationError:
            continue
    if len(fits) != 1:
        raise ValueError(
            f"scores with fields {sorted(value)} match {len(fits)} registered score kinds "
            f"({', '.join(sorted(_SCORE_KINDS))}); return a score model, or register one with register_score_kind"
        )
    return fits[0]
