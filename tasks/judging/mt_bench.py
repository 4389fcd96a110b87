"""``judge-mt-bench``: MT-Bench single-answer grading by one judge with the published prompts (1-10, ``[[rating]]``).

The judge templates, questions and reference answers are read from the data
root's ``judging/`` folder (``mt_bench_judge_prompts.jsonl`` etc., as FastChat
publishes them). Math, reasoning and coding questions are graded
reference-guided (``single-math-v1``), the others with ``single-v1``, as
FastChat does. A generation run holds first turns; a ``generate-turn2`` run
(:mod:`.second_turn`) holds both turns of each conversation, and then the second
turn is graded too, with FastChat's multi-turn prompts (``single-v1-multi-turn``,
reference-guided ``single-math-v1-multi-turn``). :func:`parse_rating` reads the
``[[rating]]`` the templates ask for. Request keys are the items' refs,
``<run label>/<prompt id>/<sample>``, with ``@turn2`` for second turns.
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
from evalsuite.tasks.judging.items import Item, run_labels
from evalsuite.tasks.judging.probability import ProbabilityJudgeTask, ProbabilityScore, with_tokenizer
from evalsuite.tasks.judging.second_turn import load_conversations
from evalsuite.tasks.judging.verdicts import Verdict, distinct, raw_text, unparseable

REFERENCE_CATEGORIES = ("math", "reasoning", "coding")
TEMPLATES = "mt_bench_judge_prompts.jsonl"
TURN2 = "@turn2"
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
    by_turn: dict[str, MeanSummary] = {}  # "1", "2" -> mean; ``mean`` pools both turns (FastChat's average)


@register_score_kind
class RatingScores(Scores):
    """One judge's 1-10 ratings: counts, and per run the mean (with interval), per-turn and per-category means."""

    kind: Literal["judge_mt_bench"] = "judge_mt_bench"
    judgments: Judgments
    by_run: dict[str, RatingSummary]


@register_task
class MTBenchJudgeTask(JudgeTask):
    name = "judge-mt-bench"
    version = "1"
    description = "MT-Bench single-answer grading (1-10) of generation runs by one judge, published prompts"
    Params = MTBenchJudgeParams
    scale = (1, 10)

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        folder = self.data.require("judging", "MT-Bench grading (the published judge prompts)")
        self.templates_path = folder / TEMPLATES
        self.templates = {t["name"]: t for t in _records(self.templates_path)}
        self.questions = {str(q["question_id"]): q for q in _records(folder / "mt_bench_questions.jsonl")}
        references = _records(folder / "mt_bench_reference_answers.jsonl")
        self.references = {str(r["question_id"]): r["choices"][0]["turns"] for r in references}
        self.labels = run_labels(self.params.runs)
        self.items, self.second = load_conversations(self.params.runs, self.params.samples_per_prompt)
        unknown = sorted({i.prompt_id for i in self.items} - self.questions.keys())
        if unknown:
            raise DataError(f"prompt ids {unknown[:5]} are not MT-Bench question ids; generate with -T prompts=mt_bench")

    def resolved_params(self) -> dict[str, Any]:
        return {**super().resolved_params(), "templates_sha256": sha256_file(self.templates_path)}

    def _template(self, prompt_id: str, turn: int = 1) -> str:
        reference = self.questions[prompt_id]["category"] in REFERENCE_CATEGORIES and prompt_id in self.references
        return ("single-math-v1" if reference else "single-v1") + ("-multi-turn" if turn == 2 else "")

    def judged(self) -> list[tuple[str, Item, int]]:
        """(request key, first-turn item, turn) of every grading: each item's first turn, then its second if any."""
        return [(item.ref, item, 1) for item in self.items] + [
            (item.ref + TURN2, item, 2) for item in self.items if item.ref in self.second]

    def _prompt(self, item: Item, turn: int) -> tuple[str, str]:
        """(system prompt, user prompt) as FastChat's ``run_judge_single`` fills the template."""
        template = self.templates[self._template(item.prompt_id, turn)]
        if turn == 1:
            fields = {"question": item.question, "answer": item.answer}
        else:
            second = self.second[item.ref]
            fields = {"question_1": item.question, "answer_1": item.answer, "question_2": second.question,
                      "answer_2": second.answer}
        if "math" in template["name"]:
            fields.update({f"ref_answer_{t + 1}": text for t, text in enumerate(self.references[item.prompt_id][:turn])})
        return template["system_prompt"], template["prompt_template"].format(**fields)

    def requests(self) -> list[GenerationRequest]:
        return [self.request(key, prompt, system) for key, item, turn in self.judged()
                for system, prompt in [self._prompt(item, turn)]]

    def _sample(self, key: str, item: Item, turn: int) -> dict[str, Any]:
        return {"item": key, "label": item.label, "prompt_id": item.prompt_id, "sample_index": item.sample_index,
                "turn": turn, "template": self._template(item.prompt_id, turn),
                "category": self.questions[item.prompt_id]["category"]}

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[RatingScores, list[dict]]:
        judged = {key: (item, turn) for key, item, turn in self.judged()}
        verdicts, samples = [], []
        for request, result in zip(requests, results):
            verdict = parse_rating(result.responses[0], low=1, high=10)
            verdicts.append(verdict)
            samples.append({**self._sample(request.key, *judged[request.key]), "status": status(verdict),
                            "rating": verdict.value, "raw": verdict.raw, "error": verdict.error})
        rated = [s for s in samples if s["status"] == "ok"]
        return RatingScores(judgments=verdict_counts(verdicts), by_run=self._by_run(rated, "rating")), samples

    def _by_run(self, rated: list[dict], field: str) -> dict[str, RatingSummary]:
        """Per run: the mean of ``field`` over both turns pooled, per turn, per category."""
        by_run = {}
        for label in self.labels:
            mine = [s for s in rated if s["label"] == label]
            categories: dict[str, list[float]] = {}
            for s in mine:
                categories.setdefault(s["category"], []).append(s[field])
            turns = sorted({s["turn"] for s in mine})
            by_run[label] = RatingSummary(**self.mean_summary([s[field] for s in mine]),
                                          by_category={c: float(np.mean(v)) for c, v in sorted(categories.items())},
                                          by_turn={str(t): self.mean_summary([s[field] for s in mine if s["turn"] == t])
                                                   for t in turns})
        return by_run

    def run_metadata(self) -> dict[str, Any]:
        return {"labels": self.labels, "templates_sha256": sha256_file(self.templates_path),
                "turns": 2 if self.second else 1}

    # What the probability-scoring twin (judge-mt-bench-probs) needs: where the rating is written.
    def score_openings(self) -> list[tuple[str, str]]:
        return [("", "Rating: [[")]

    def probability_aggregate(self, scored: dict[str, ProbabilityScore]) -> tuple["MTBenchProbabilityScores", list[dict]]:
        """Per grading, the probability-weighted rating, mass and scale probabilities; summaries per run."""
        samples = [{**self._sample(key, item, turn), "probability_rating": scored[key].score, "mass": scored[key].mass,
                    "probabilities": scored[key].probabilities} for key, item, turn in self.judged() if key in scored]
        return MTBenchProbabilityScores(items=len(samples), by_run=self._by_run(samples, "probability_rating"),
                                        mass=self.mean_summary([s["mass"] for s in samples])), samples


@register_score_kind
class MTBenchProbabilityScores(Scores):
    """One judge's probability-weighted 1-10 ratings per run (pooled, per turn, per category) and the mass on the scale."""

    kind: Literal["judge_mt_bench_probs"] = "judge_mt_bench_probs"
    items: int
    by_run: dict[str, RatingSummary]
    mass: MeanSummary


@register_task
class MTBenchProbabilityTask(ProbabilityJudgeTask):
    name = "judge-mt-bench-probs"
    version = "1"
    description = "Probability-weighted (G-Eval) MT-Bench ratings of judge-mt-bench's prompts, from the judge's log-likelihoods"
    Params = with_tokenizer(MTBenchJudgeParams)
    source_cls = MTBenchJudgeTask
