"""``judge-pairwise``: A/B judging of generation runs by one judge, in both orders; its prompt and parsers.

For every prompt that two runs both answered, the judge sees the two answers
as "Assistant A" and "Assistant B" — never the checkpoints' names — once in
each order. Verdicts use MT-Bench's ``[[A]]`` / ``[[B]]`` / ``[[C]]`` format
(:func:`parse_pairwise`, beside the prompt). The first run is the baseline of
every pair it is in; runs are paired in the order given. Request keys are
``<baseline>|<candidate>|<prompt id>|<order>``: in order 0 the candidate is
shown as B, in order 1 as A. ``evalsuite.reports.judge_runs`` combines the
orders (a disagreement is a tie) and the judges.

``judge-pairwise-probs`` scores the same prompts from the judge's
log-likelihoods, as AlpacaEval 2's weighted annotators do: after the prompt and
the opening ``[[`` of the verdict, the continuations ``A]]``, ``B]]`` and
``C]]``, renormalised over the three. Per order, the candidate's soft preference
is p(candidate's letter) + 0.5 p(tie); a pair's preference is the mean of its two
orders (position bias cancels); each order's sample keeps the mass that fell on
the three verdicts. Defined where no verdict parses.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Literal

from pydantic import BaseModel

from evalsuite.data import DataRoots
from evalsuite.errors import ConfigError, DataError
from evalsuite.registry import register_task
from evalsuite.scores import Scores, register_score_kind
from evalsuite.task import GenerationRequest, GenerationResult
from evalsuite.tasks.judging.base import JudgeParams, Judgments, JudgeTask, MeanSummary, status, verdict_counts
from evalsuite.tasks.judging.items import Item, load_items
from evalsuite.tasks.judging.probability import SCORE_CLOSE, ProbabilityJudgeTask, ProbabilityScore, with_tokenizer
from evalsuite.tasks.judging.verdicts import Verdict, distinct, raw_text, unparseable

PAIRWISE_PROMPT_VERSION = "1"
PAIRWISE_PROMPT = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. Choose the assistant that follows the user's instructions and answers the "
    "user's question better, considering helpfulness, relevance, accuracy, depth, creativity and level of detail. "
    "Avoid any position biases: the order in which the responses were presented must not influence your decision. "
    "Do not allow the length of the responses to influence your evaluation. Do not favour certain names of the "
    "assistants. Be as objective as possible. After providing your explanation, output your final verdict by "
    'strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and '
    '"[[C]]" for a tie.\n\n'
    "[User Question]\n{question}\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)
_PAIRWISE = {"[[A]]": "A", "[[B]]": "B", "[[C]]": "tie"}
_TWO_SCORES = re.compile(r"\[\[(\d+\.?\d*),\s?(\d+\.?\d*)\]\]")
_TWO_SCORES_BACKUP = re.compile(r"\[(\d+\.?\d*),\s?(\d+\.?\d*)\]")
# FastChat's tie threshold for the two-score pairwise format.
TIE_DELTA = 0.1
# Order 0 shows the candidate as B, order 1 as A.
CANDIDATE_SHOWN_AS = ("B", "A")
# The verdicts scored by judge-pairwise-probs, and what each is worth to the answer shown as A.
VERDICT_LETTERS = ("A", "B", "C")
VALUE_FOR_A = (1.0, 0.0, 0.5)
PAIRWISE_SCORING_NOTE = (
    "probability-weighted (AlpacaEval 2 weighted annotator): p of the verdicts 'A]]', 'B]]', 'C]]' after the judge "
    "prompt and '[[', renormalised over the three; per order p(candidate) + 0.5 p(tie); a pair's preference is the mean "
    "of its two orders")


def parse_pairwise(text: str | None) -> Verdict:
    """A pairwise verdict: ``"A"``, ``"B"`` or ``"tie"`` from ``[[A]]``/``[[B]]``/``[[C]]``."""
    raw = raw_text(text)
    found = distinct(v for tag, v in _PAIRWISE.items() if tag in raw)
    if not found:
        return unparseable(raw, "no [[A]], [[B]] or [[C]] found")
    if len(found) > 1:
        return unparseable(raw, f"ambiguous: several verdicts {found}")
    return Verdict(raw=raw, value=found[0])


def parse_pairwise_scores(text: str | None, *, tie_delta: float = TIE_DELTA) -> Verdict:
    """A pairwise verdict from ``[[score_a, score_b]]``: a tie when the scores differ by at most ``tie_delta``."""
    raw = raw_text(text)
    found = distinct((float(a), float(b)) for a, b in _TWO_SCORES.findall(raw))
    if not found:
        found = distinct((float(a), float(b)) for a, b in _TWO_SCORES_BACKUP.findall(raw))
    if not found:
        return unparseable(raw, "no [[score_a, score_b]] found")
    if len(found) > 1:
        return unparseable(raw, f"ambiguous: several score pairs {found}")
    a, b = found[0]
    return Verdict(raw=raw, value="tie" if abs(a - b) <= tie_delta else ("A" if a > b else "B"))


def pairwise_outcome(verdict: Verdict, side: str) -> str | None:
    """The outcome (``"win"``/``"tie"``/``"loss"``, None if unparseable) for the answer shown as ``side`` ("A" or "B").

    Judging both orders: ``pairwise_outcome(v1, "A")`` and ``pairwise_outcome(v2, "B")``
    are the same model's outcomes, ready for ``pairwise.combine_orders``.
    """
    if side not in ("A", "B"):
        raise ConfigError(f"side must be 'A' or 'B', got {side!r}")
    if not verdict.parsed or verdict.value not in ("A", "B", "tie"):
        return None
    if verdict.value == "tie":
        return "tie"
    return "win" if verdict.value == side else "loss"


def pair_key(baseline: str, candidate: str, prompt_id: str) -> str:
    return f"{baseline}|{candidate}|{prompt_id}"


def paired_items(items: list[Item]) -> tuple[list[tuple[Item, Item]], dict[str, int]]:
    """Every (baseline, candidate) pair of runs on shared prompts, and per pair of runs the prompts not shared."""
    labels = list(dict.fromkeys(item.label for item in items))
    by_run = {label: {i.prompt_id: i for i in items if i.label == label} for label in labels}
    pairs, unpaired = [], {}
    for a, b in itertools.combinations(labels, 2):
        unpaired[f"{a} vs {b}"] = len(by_run[a].keys() ^ by_run[b].keys())
        pairs += [(by_run[a][p], by_run[b][p]) for p in by_run[a] if p in by_run[b]]
    return pairs, unpaired


class PairWins(BaseModel):
    """The candidate's record against the baseline, both orders combined; no interval (see the combined record)."""

    baseline: str
    candidate: str
    win_rate: float | None
    wins: int
    ties: int
    losses: int
    n: int
    unparseable_or_failed: int


@register_score_kind
class PairwiseScores(Scores):
    kind: Literal["judge_pairwise"] = "judge_pairwise"
    judgments: Judgments
    pairs: list[PairWins]


@register_task
class PairwiseJudgeTask(JudgeTask):
    name = "judge-pairwise"
    version = PAIRWISE_PROMPT_VERSION
    description = "A/B judging of two or more generation runs by one judge, both orders, blind"

    def __init__(self, params: dict[str, Any] | None = None, data: DataRoots | None = None):
        super().__init__(params, data)
        if len(self.params.runs) < 2:
            raise DataError("pairwise judging needs at least two runs")
        self.items = load_items(self.params.runs, samples_per_prompt=1)
        self.pairs, self.unpaired = paired_items(self.items)
        if not self.pairs:
            raise DataError("the runs share no prompt ids, so nothing can be compared")

    def requests(self) -> list[GenerationRequest]:
        requests = []
        for base, cand in self.pairs:
            key = pair_key(base.label, cand.label, base.prompt_id)
            for order, (a, b) in enumerate(((base, cand), (cand, base))):
                prompt = PAIRWISE_PROMPT.format(question=base.question, answer_a=a.answer, answer_b=b.answer)
                requests.append(self.request(f"{key}|{order}", prompt))
        return requests

    def aggregate(self, requests: list[GenerationRequest], results: list[GenerationResult]) -> tuple[PairwiseScores, list[dict]]:
        pairs = {pair_key(b.label, c.label, b.prompt_id): (b, c) for b, c in self.pairs}
        verdicts, samples = [], []
        for request, result in zip(requests, results):
            key, order = request.key.rsplit("|", 1)
            (base, cand), side = pairs[key], CANDIDATE_SHOWN_AS[int(order)]
            verdict = parse_pairwise(result.responses[0])
            verdicts.append(verdict)
            samples.append({"pair": key, "baseline": base.label, "candidate": cand.label, "prompt_id": base.prompt_id,
                            "order": int(order), "candidate_shown_as": side, "status": status(verdict),
                            "verdict": verdict.value, "outcome_for_candidate": pairwise_outcome(verdict, side),
                            "raw": verdict.raw, "error": verdict.error, "len_candidate": len(cand.answer.split()),
                            "len_baseline": len(base.answer.split())})
        return PairwiseScores(judgments=verdict_counts(verdicts), pairs=self._win_rates(samples)), samples

    def _win_rates(self, samples: list[dict]) -> list[PairWins]:
        """Per pair of runs: wins, ties and losses of the candidate, both orders combined (no intervals)."""
        from evalsuite.metrics.judging.pairwise import combine_orders, win_rate
        from evalsuite.metrics.resampling import NO_CI

        runs = {pair_key(b.label, c.label, b.prompt_id): (b.label, c.label) for b, c in self.pairs}
        orders: dict[str, dict[int, str | None]] = {key: {} for key in runs}
        for s in samples:
            orders[s["pair"]][s["order"]] = s["outcome_for_candidate"]
        out = []
        for base, cand in dict.fromkeys(runs.values()):
            combined = [combine_orders(o.get(0), o.get(1)) for key, o in orders.items() if runs[key] == (base, cand)]
            w = win_rate(combined, resampling=NO_CI)
            out.append(PairWins(baseline=base, candidate=cand, win_rate=w.value if w.n else None, wins=w.wins,
                                ties=w.ties, losses=w.losses, n=w.n, unparseable_or_failed=w.unparseable))
        return out

    def run_metadata(self) -> dict[str, Any]:
        runs = list(dict.fromkeys(item.label for item in self.items))
        pairs = [list(p) for p in dict.fromkeys((b.label, c.label) for b, c in self.pairs)]
        return {"prompt_version": PAIRWISE_PROMPT_VERSION, "runs": runs, "run_pairs": pairs, "unpaired_prompts": self.unpaired}

    # What the probability-scoring twin (judge-pairwise-probs) needs: where the verdict is written.
    def score_openings(self) -> list[tuple[str, str]]:
        return [("", "[[")]

    def probability_aggregate(self, scored: dict[str, ProbabilityScore]) -> tuple["PairwiseProbabilityScores", list[dict]]:
        """Per order, the three verdicts' probabilities, the mass on them and the candidate's soft preference;
        per pair of runs, the mean over pairs of both orders' mean preference (no interval)."""
        pairs = {pair_key(b.label, c.label, b.prompt_id): (b, c) for b, c in self.pairs}
        samples = []
        for request in self.requests():
            if request.key not in scored:
                continue
            score, (key, order) = scored[request.key], request.key.rsplit("|", 1)
            (base, cand), side = pairs[key], CANDIDATE_SHOWN_AS[int(order)]
            # score = p(A) + 0.5 p(tie): the preference of the answer shown as A; the one shown as B gets the rest.
            shown_a = min(max(score.score, 0.0), 1.0)  # rounding must not leave [0, 1]
            preference = shown_a if side == "A" else 1.0 - shown_a
            samples.append({"pair": key, "baseline": base.label, "candidate": cand.label, "prompt_id": base.prompt_id,
                            "order": int(order), "candidate_shown_as": side,
                            "probabilities": dict(zip(VERDICT_LETTERS, score.probabilities)), "mass": score.mass,
                            "soft_preference": preference, "len_candidate": len(cand.answer.split()),
                            "len_baseline": len(base.answer.split())})
        return PairwiseProbabilityScores(items=len(samples), pairs=self._soft_rates(samples),
                                         mass=self.mean_summary([s["mass"] for s in samples])), samples

    def _soft_rates(self, samples: list[dict]) -> list["PairSoftWins"]:
        orders: dict[str, dict[int, float]] = {}
        for s in samples:
            orders.setdefault(s["pair"], {})[s["order"]] = s["soft_preference"]
        runs = {pair_key(b.label, c.label, b.prompt_id): (b.label, c.label) for b, c in self.pairs}
        out = []
        for base, cand in dict.fromkeys(runs.values()):
            both = [(o[0] + o[1]) / 2 for key, o in orders.items() if runs[key] == (base, cand) and len(o) == 2]
            n_pairs = sum(runs[key] == (base, cand) for key in runs)
            out.append(PairSoftWins(baseline=base, candidate=cand, n=len(both), missing=n_pairs - len(both),
                                    soft_win_rate=sum(both) / len(both) if both else None))
        return out


class PairSoftWins(BaseModel):
    """The candidate's mean soft preference against the baseline over pairs scored in both orders (no interval)."""

    baseline: str
    candidate: str
    soft_win_rate: float | None
    n: int
    missing: int  # pairs without both orders scored


@register_score_kind
class PairwiseProbabilityScores(Scores):
    """One judge's probability-weighted pairwise preferences: per pair of runs, and the mean mass on the verdicts."""

    kind: Literal["judge_pairwise_probs"] = "judge_pairwise_probs"
    items: int
    pairs: list[PairSoftWins]
    mass: MeanSummary


@register_task
class PairwiseProbabilityTask(ProbabilityJudgeTask):
    name = "judge-pairwise-probs"
    version = PAIRWISE_PROMPT_VERSION
    description = "Probability-weighted (soft) preferences of judge-pairwise's prompts, from the judge's log-likelihoods"
    Params = with_tokenizer(JudgeParams)
    source_cls = PairwiseJudgeTask
    scoring_note = PAIRWISE_SCORING_NOTE

    def options(self) -> tuple[list[str], list[float]]:
        return [f"{letter}{SCORE_CLOSE}" for letter in VERDICT_LETTERS], list(VALUE_FOR_A)

    def run_metadata(self) -> dict[str, Any]:
        return {**super().run_metadata(), "verdicts": self.continuations}
