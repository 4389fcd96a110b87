"""Accuracy of a multiple-choice run per subject, per category and overall, as lm-eval aggregates it."""

from __future__ import annotations

import math
from typing import Any

from evalsuite.scores import AccuracyScores


def _mean_stderr(correct: list[bool]) -> float:
    """Standard error of a mean of 0/1 values with the n-1 sample variance (lm-eval's ``mean_stderr``)."""
    n = len(correct)
    if n < 2:
        return float("nan")
    mean = sum(correct) / n
    variance = sum((c - mean) ** 2 for c in correct) / (n - 1)
    return math.sqrt(variance / n)


def _pooled_stderr(parts: list[dict]) -> float:
    """lm-eval's ``pooled_sample_stderr`` for a size-weighted group of subtasks."""
    sizes = [p["n"] for p in parts]
    if sum(sizes) - len(sizes) <= 0 or any(math.isnan(p["stderr"]) for p in parts):
        return float("nan")
    pooled = sum((p["n"] - 1) * p["stderr"] ** 2 * p["n"] for p in parts) / (sum(sizes) - len(sizes))
    return math.sqrt(pooled / sum(sizes))


def _group(parts: list[dict]) -> dict:
    n = sum(p["n"] for p in parts)
    return {
        "acc": sum(p["acc"] * p["n"] for p in parts) / n,
        "stderr": _pooled_stderr(parts),
        "n": n,
        "subjects": len(parts),
    }


def aggregate_accuracy(
    samples: list[dict], category_of: dict[str, str], model: type[AccuracyScores] = AccuracyScores, **extra: Any
) -> AccuracyScores:
    """Accuracy per subject, per category and overall (question-weighted, as lm-eval's group
    score), plus the unweighted mean over subjects, labelled as such; ``extra`` fields go to ``model``."""
    by_subject: dict[str, list[bool]] = {}
    for sample in samples:
        by_subject.setdefault(sample["subject"], []).append(bool(sample["correct"]))
    subjects = {
        name: {"acc": sum(c) / len(c), "stderr": _mean_stderr(c), "n": len(c), "category": category_of[name]}
        for name, c in by_subject.items()
    }
    categories: dict[str, list[dict]] = {}
    for entry in subjects.values():
        categories.setdefault(entry["category"], []).append(entry)
    overall = _group(list(subjects.values())) if subjects else {"acc": float("nan"), "stderr": float("nan"), "n": 0, "subjects": 0}
    accs = [s["acc"] for s in subjects.values()]
    return model.model_validate({
        "overall": overall,
        "overall_subject_mean": {
            "acc": sum(accs) / len(accs) if accs else float("nan"),
            "note": "unweighted mean over subjects; 'overall' is question-weighted (lm-eval's group score)",
        },
        "categories": {name: _group(parts) for name, parts in sorted(categories.items())},
        "subjects": dict(sorted(subjects.items())),
        **extra,
    })
