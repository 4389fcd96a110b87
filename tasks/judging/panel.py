"""``judge-rubric``: one judge grades every answer of some generation runs on every rubric dimension.

The way blind multi-rater human evaluation works: the prompt (rendered by the
:class:`~evalsuite.tasks.judging.rubric.Rubric`) holds the question and the
answer only, never which checkpoint wrote it, and the items are asked in an
order shuffled with the recorded ``seed``. A verdict that cannot be parsed is
kept raw, counted and excluded. Run once per judge of a panel
(:func:`~evalsuite.tasks.judging.judges.run_judges`); ``evalsuite.reports.judge_runs``
combines the judges. Request keys are the items' refs, ``<run label>/<prompt id>/<sample>``;
a sample's ``index`` is the item's position in the runs' own order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from evalsuite.data import DataRoots
from evalsuite.errors import DataError
from evalsuite.registry import register_task
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult
from evalsuite.tasks.judging.base import (
    JudgeParams, Judgments, JudgeTask, MeanSummary, shuffled_order, status, verdict_counts,
)
from evalsuite.tasks.judging.items import load_items, run_labels
from evalsuite.tasks.judging.probability import ProbabilityJudgeTask, ProbabilityScore, split_key, with_tokenizer
from evalsuite.tasks.judging.rubric import load_rubric


class RubricJudgeParams(JudgeParams):
    rubric: str = Field("default", description="default, default-en, default-zh, or a rubric .yaml file.")
    samples_per_prompt: int = Field(1, ge=1, description="Answers judged per prompt and run.")


@register_score_kind
class RubricScores(Scores):
    """One judge's verdicts: counts, and per run and dimension the mean score over items."""

    kind: Literal["judge_rubric"] = "judge_rubric"
    judgments: Judgments
    means: dict[str, dict[str, MeanSummary]]  # run label -> dimension -> mean


@register_task
class RubricJudgeTask(JudgeTask):
    name = "judge-rubric"
    version = "1"
    description = "Blind rubric grading of generation runs' answers by one judge (a panel is one run per judge)"
    Params = RubricJudgeParams

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        self.rubric = load_rubric(self.params.rubric)
        self.labels = run_labels(self.params.runs)
        self.items = load_items(self.params.runs, self.params.samples_per_prompt)
        if not self.items:
            raise DataError("nothing to judge: the runs have no samples")

    def resolved_params(self) -> dict[str, Any]:
        return {**super().resolved_params(), "rubric_sha256": self.rubric.fingerprint()}

    def requests(self) -> list[GenerationRequest]:
        items = [self.items[i] for i in shuffled_order(len(self.items), self.params.seed)]
        return [self.request(item.ref, self.rubric.prompt(item.question, item.answer)) for item in items]

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[RubricScores, list[dict]]:
        position = {item.ref: i for i, item in enumerate(self.items)}
        verdicts, samples = [], []
        for request, result in zip(requests, results):
            index, verdict = position[request.key], self.rubric.parse(result.responses[0])
            item = self.items[index]
            verdicts.append(verdict)
            samples.append({"item": item.ref, "index": index, "label": item.label, "prompt_id": item.prompt_id,
                            "sample_index": item.sample_index, "status": status(verdict), "scores": verdict.value,
                            "error": verdict.error, "raw": verdict.raw})
        scored = sorted((s for s in samples if s["scores"]), key=lambda s: s["index"])  # the runs' order, not the judging order
        means = {label: {dim: self.mean_summary([s["scores"][dim] for s in scored if s["label"] == label])
                         for dim in self.rubric.dimension_names} for label in self.labels}
        return RubricScores(judgments=verdict_counts(verdicts), means=means), samples

    def run_metadata(self) -> dict[str, Any]:
        return {"labels": self.labels, "items": len(self.items), "rubric": self.rubric.model_dump(mode="json")}

    # What the probability-scoring twin (judge-rubric-probs) needs: where each dimension's score is written.
    @property
    def scale(self) -> tuple[int, int]:
        return self.rubric.scale_min, self.rubric.scale_max

    def score_openings(self) -> list[tuple[str, str]]:
        return [(dim, f"[[{dim}: ") for dim in self.rubric.dimension_names]

    def probability_aggregate(self, scored: dict[str, ProbabilityScore]) -> tuple["RubricProbabilityScores", list[dict]]:
        """Per item, each dimension's probability-weighted score, mass and scale probabilities; means per run."""
        by_item: dict[str, dict[str, ProbabilityScore]] = {}
        for key, score in scored.items():
            ref, dim = split_key(key)
            by_item.setdefault(ref, {})[dim] = score
        position = {item.ref: i for i, item in enumerate(self.items)}
        samples = []
        for ref in sorted(by_item, key=position.__getitem__):  # the runs' order
            item, dims = self.items[position[ref]], by_item[ref]
            samples.append({"item": ref, "index": position[ref], "label": item.label, "prompt_id": item.prompt_id,
                            "sample_index": item.sample_index,
                            "probability_scores": {d: dims[d].score for d in self.rubric.dimension_names if d in dims},
                            "mass": {d: dims[d].mass for d in self.rubric.dimension_names if d in dims},
                            "probabilities": {d: dims[d].probabilities for d in self.rubric.dimension_names if d in dims}})
        dims = self.rubric.dimension_names
        means = {label: {d: self.mean_summary([s["probability_scores"][d] for s in samples
                                               if s["label"] == label and d in s["probability_scores"]]) for d in dims}
                 for label in self.labels}
        mass = {d: self.mean_summary([s["mass"][d] for s in samples if d in s["mass"]]) for d in dims}
        return RubricProbabilityScores(items=len(samples), means=means, mass=mass), samples


@register_score_kind
class RubricProbabilityScores(Scores):
    """One judge's probability-weighted rubric scores: per run and dimension the mean, and the mean mass on the scale."""

    kind: Literal["judge_rubric_probs"] = "judge_rubric_probs"
    items: int
    means: dict[str, dict[str, MeanSummary]]  # run label -> dimension -> mean of probability-weighted scores
    mass: dict[str, MeanSummary]  # dimension -> mean probability that fell on the scale


@register_task
class RubricProbabilityTask(ProbabilityJudgeTask):
    name = "judge-rubric-probs"
    version = "1"
    description = "Probability-weighted (G-Eval) rubric scores of judge-rubric's prompts, from the judge's log-likelihoods"
    Params = with_tokenizer(RubricJudgeParams)
    source_cls = RubricJudgeTask
