"""``judge-mt-bench``: MT-Bench single-answer grading by one judge with the published prompts (1-10, ``[[rating]]``).

The judge templates, questions and reference answers are read from the data
root's ``judging/`` folder (``mt_bench_judge_prompts.jsonl`` etc., as FastChat
publishes them). Math, reasoning and coding questions are graded
reference-guided (``single-math-v1``), the others with ``single-v1``, as
FastChat does. First turns only: a generation run samples answers to the first
turn. :func:`parse_rating` reads the ``[[rating]]`` the templates ask for.
Request keys are the items' refs, ``<run label>/<prompt id>/<sample>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from evalsuite.data import DataRoots
from evalsuite.errors import DataError
from evalsuite.jsonl import read_jsonl
from evalsuite.provenance import sha256_file
from evalsuite.registry import register_task
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult
from evalsuite.tasks.judging.base import JudgeParams, Judgments, JudgeTask, MeanSummary, status, verdict_counts
from evalsuite.tasks.judging.items import load_items, run_labels
from evalsuite.tasks.judging.verdicts import Verdict, distinct, raw_text, unparseable

REFERENCE_CATEGORIES = ("math", "reasoning", "coding")
TEMPLATES = "mt_bench_judge_prompts.jsonl"
# FastChat's patterns: the double-bracket form, then the single-bracket backup.
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


def parse_rating(text: str | None, *, low: float = 1, high: float = 10, backup: bool = True) -> Verdict:
    """A single-answer rating ``[[x]]`` (FastChat's ``[x]`` backup when ``backup``).

    Several different ratings in one judgment, or one outside [low, high], are unparseable.
    """
    raw = raw_text(text)
    found = distinct(float(m) for m in _RATING.findall(raw))
    if not found and backup:
        found = distinct(float(m) for m in _RATING_BACKUP.findall(raw))
    if not found:
        return unparseable(raw, "no [[rating]] found")
    if len(found) > 1:
        return unparseable(raw, f"ambiguous: several ratings {found}")
    if not low <= found[0] <= high:
        return unparseable(raw, f"rating {found[0]:g} outside [{low:g}, {high:g}]")
    return Verdict(raw=raw, value=found[0])


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path} not found; the MT-Bench judging files live in the data root's judging/ folder")
    return read_jsonl(path)


class MTBenchJudgeParams(JudgeParams):
    samples_per_prompt: int = Field(1, ge=1, description="Answers graded per prompt and run.")


class RatingSummary(MeanSummary):
    by_category: dict[str, float]


@register_score_kind
class RatingScores(Scores):
    """One judge's 1-10 ratings: counts, and per run the mean (with interval) and per-category means."""

    kind: Literal["judge_mt_bench"] = "judge_mt_bench"
    judgments: Judgments
    by_run: dict[str, RatingSummary]


@register_task
class MTBenchJudgeTask(JudgeTask):
    name = "judge-mt-bench"
    version = "1"
    description = "MT-Bench single-answer grading (1-10) of generation runs by one judge, published prompts"
    Params = MTBenchJudgeParams

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        folder = self.data.require("judging", "MT-Bench grading (the published judge prompts)")
        self.templates_path = folder / TEMPLATES
        self.templates = {t["name"]: t for t in _records(self.templates_path)}
        self.questions = {str(q["question_id"]): q for q in _records(folder / "mt_bench_questions.jsonl")}
        references = _records(folder / "mt_bench_reference_answers.jsonl")
        self.references = {str(r["question_id"]): r["choices"][0]["turns"][0] for r in references}
        self.labels = run_labels(self.params.runs)
        self.items = load_items(self.params.runs, self.params.samples_per_prompt)
        unknown = sorted({i.prompt_id for i in self.items} - self.questions.keys())
        if unknown:
            raise DataError(f"prompt ids {unknown[:5]} are not MT-Bench question ids; generate with -T prompts=mt_bench")

    def resolved_params(self) -> dict[str, Any]:
        return {**super().resolved_params(), "templates_sha256": sha256_file(self.templates_path)}

    def _template(self, prompt_id: str) -> str:
        reference = self.questions[prompt_id]["category"] in REFERENCE_CATEGORIES and prompt_id in self.references
        return "single-math-v1" if reference else "single-v1"

    def requests(self) -> list[GenerationRequest]:
        requests = []
        for item in self.items:
            template = self.templates[self._template(item.prompt_id)]
            fields = {"question": item.question, "answer": item.answer}
            if template["name"] == "single-math-v1":
                fields["ref_answer_1"] = self.references[item.prompt_id]
            requests.append(self.request(item.ref, template["prompt_template"].format(**fields), template["system_prompt"]))
        return requests

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[RatingScores, list[dict]]:
        by_ref = {item.ref: item for item in self.items}
        verdicts, samples = [], []
        for request, result in zip(requests, results):
            item, verdict = by_ref[request.key], parse_rating(result.responses[0], low=1, high=10)
            verdicts.append(verdict)
            samples.append({"item": item.ref, "label": item.label, "prompt_id": item.prompt_id,
                            "template": self._template(item.prompt_id),
                            "category": self.questions[item.prompt_id]["category"], "status": status(verdict),
                            "rating": verdict.value, "raw": verdict.raw, "error": verdict.error})
        by_run = {}
        for label in self.labels:
            rated = [s for s in samples if s["label"] == label and s["status"] == "ok"]
            categories: dict[str, list[float]] = {}
            for s in rated:
                categories.setdefault(s["category"], []).append(s["rating"])
            by_run[label] = {**self.mean_summary([s["rating"] for s in rated]),
                             "by_category": {c: float(np.mean(v)) for c, v in sorted(categories.items())}}
        return RatingScores(judgments=verdict_counts(verdicts), by_run=by_run), samples

    def run_metadata(self) -> dict[str, Any]:
        return {"labels": self.labels, "templates_sha256": sha256_file(self.templates_path)}
