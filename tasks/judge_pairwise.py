"""Pairwise A/B judging of generation runs by model judges, in both orders.

For every prompt that two runs both answered, each judge sees the two answers
as "Assistant A" and "Assistant B" — never the checkpoints' names — once in
each order. Verdicts use MT-Bench's ``[[A]]`` / ``[[B]]`` / ``[[C]]`` format.
Following published practice, a pair whose two orders disagree counts as a
tie; win rate = (wins + 0.5 ties) / n. The share of order-inconsistent pairs
(position bias) and how often the longer answer won (length bias) are
reported; with three or more runs, Bradley–Terry strengths are fitted.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.provenance import GitState, git_state, package_versions
from evalsuite.results import atomic_write_text, write_jsonl
from evalsuite.store import ResultStore, request_hash, run_key
from evalsuite.tasks.judge_panel import Item, JudgeSpec, _ask, _judge_backend, load_items

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


class PairStats(BaseModel):
    baseline: str
    candidate: str
    judge: str  # a judge's name, or "all" (every judge's verdicts pooled)
    win_rate: float | None
    standard_error: float | None
    ci: tuple[float, float] | None
    wins: int
    ties: int
    losses: int
    n: int
    unparseable_or_failed: int
    order_inconsistent_share: float | None
    longer_answer_win_share: float | None


class PairwiseResult(BaseModel):
    schema_version: int = 1
    kind: str = "pairwise_judging"
    prompt_version: str = PAIRWISE_PROMPT_VERSION
    judges: list[dict[str, Any]]
    runs: list[str]
    pairs: list[PairStats]
    unpaired_prompts: dict[str, int]
    bradley_terry: dict[str, Any] | None
    judgments: dict[str, int]
    git: GitState
    packages: dict[str, str]


def _pairs(items: list[Item]) -> tuple[list[tuple[Item, Item]], dict[str, int]]:
    """Every (baseline, candidate) pair of runs on shared prompts; runs in the order given, baseline first."""
    labels = list(dict.fromkeys(item.label for item in items))
    by_run = {label: {i.prompt_id: i for i in items if i.label == label} for label in labels}
    pairs, unpaired = [], {}
    for a, b in itertools.combinations(labels, 2):
        shared = [p for p in by_run[a] if p in by_run[b]]
        unpaired[f"{a} vs {b}"] = len(by_run[a].keys() ^ by_run[b].keys())
        pairs += [(by_run[a][p], by_run[b][p]) for p in shared]
    return pairs, unpaired


def run_pairwise(
    run_dirs: list[str | Path], judges: list[JudgeSpec], store: ResultStore, n_boot: int = 1000, seed: int = 0
) -> tuple[PairwiseResult, list[dict[str, Any]]]:
    from evalsuite.metrics.judging.pairwise import bradley_terry, combine_orders, longer_answer_win_share, position_bias, win_rate
    from evalsuite.tasks.judging.verdicts import pairwise_outcome, parse_pairwise

    if len(run_dirs) < 2:
        raise DataError("pairwise judging needs at least two runs")
    items = load_items(run_dirs, samples_per_prompt=1)
    pairs, unpaired = _pairs(items)
    if not pairs:
        raise DataError("the runs share no prompt ids, so nothing can be compared")
    records: list[dict[str, Any]] = []
    counts = {"ok": 0, "unparseable": 0, "failed": 0, "from_store": 0}
    fingerprints = {}
    outcomes: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for spec in judges:
        backend = _judge_backend(spec)
        fingerprints[spec.name] = backend.fingerprint.model_dump()
        settings = {"prompt": PAIRWISE_PROMPT_VERSION, "temperature": spec.temperature, "seed": spec.seed, "max_tokens": spec.max_tokens}
        key = run_key(backend.fingerprint.store_key(), "pairwise-judge", PAIRWISE_PROMPT_VERSION, settings)
        store.register_run(key, backend.fingerprint.store_key(), "pairwise-judge", PAIRWISE_PROMPT_VERSION, settings)
        prompts = []
        for base, cand in pairs:
            prompts.append(PAIRWISE_PROMPT.format(question=base.question, answer_a=base.answer, answer_b=cand.answer))
            prompts.append(PAIRWISE_PROMPT.format(question=base.question, answer_a=cand.answer, answer_b=base.answer))
        hashes = [request_hash({"prompt": p}) for p in prompts]
        stored = store.fetch(key, hashes)
        pending = [k for k, h in enumerate(hashes) if h not in stored]
        with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
            answers = dict(zip(pending, pool.map(lambda k: _ask(backend, spec, prompts[k]), pending)))
        backend.close()
        store.put_many(key, [(hashes[k], f"pair-{k}", answers[k]) for k in pending if answers[k]["status"] == "answered"])
        counts["from_store"] += len(hashes) - len(pending)
        for n, (base, cand) in enumerate(pairs):
            sides = []
            for order, side in ((0, "B"), (1, "A")):  # the candidate is B first, then A
                answer = stored.get(hashes[2 * n + order]) or answers[2 * n + order]
                if answer["status"] == "failed":
                    counts["failed"] += 1
                    sides.append(None)
                    records.append({"judge": spec.name, "baseline": base.label, "candidate": cand.label,
                                    "prompt_id": base.prompt_id, "order": order, "status": "failed", "error": answer["error"]})
                    continue
                verdict = parse_pairwise(answer["raw"])
                counts["ok" if verdict.parsed else "unparseable"] += 1
                outcome = pairwise_outcome(verdict, side)
                sides.append(outcome)
                records.append({"judge": spec.name, "baseline": base.label, "candidate": cand.label,
                                "prompt_id": base.prompt_id, "order": order, "candidate_shown_as": side,
                                "status": "ok" if verdict.parsed else "unparseable", "verdict": verdict.value,
                                "outcome_for_candidate": outcome, "raw": answer["raw"], "error": verdict.error})
            outcomes.setdefault((base.label, cand.label, spec.name), []).append(
                {"first": sides[0], "second": sides[1], "combined": combine_orders(sides[0], sides[1]),
                 "len_candidate": len(cand.answer.split()), "len_baseline": len(base.answer.split())}
            )

    def stats(base: str, cand: str, judge: str, rows: list[dict[str, Any]]) -> PairStats:
        combined = [r["combined"] for r in rows]
        w = win_rate(combined, n_boot=n_boot, seed=seed)
        bias = position_bias([r["first"] for r in rows], [r["second"] for r in rows])
        length = longer_answer_win_share(combined, [r["len_candidate"] for r in rows], [r["len_baseline"] for r in rows])
        finite = lambda x: None if x is None or x != x else float(x)  # noqa: E731  (NaN -> None)
        return PairStats(
            baseline=base, candidate=cand, judge=judge, win_rate=finite(w.value), standard_error=finite(w.standard_error),
            ci=None if w.ci is None or w.n == 0 else (float(w.ci[0]), float(w.ci[1])), wins=w.wins, ties=w.ties,
            losses=w.losses, n=w.n, unparseable_or_failed=w.unparseable,
            order_inconsistent_share=finite(bias.share_inconsistent), longer_answer_win_share=finite(length.share_longer_wins),
        )

    pair_stats = []
    for base, cand in dict.fromkeys((b, c) for b, c, _ in outcomes):
        pooled = []
        for spec in judges:
            rows = outcomes.get((base, cand, spec.name), [])
            pooled += rows
            pair_stats.append(stats(base, cand, spec.name, rows))
        if len(judges) > 1:
            pair_stats.append(stats(base, cand, "all", pooled))
    labels = list(dict.fromkeys(item.label for item in items))
    bt = None
    if len(labels) >= 3:
        comparisons = [(c, b, r["combined"]) for (b, c, _), rows in outcomes.items() for r in rows]
        try:
            fit = bradley_terry(comparisons, n_boot=min(n_boot, 200), seed=seed)
            bt = {"strengths": fit.strengths, "ratings": fit.ratings, "ci": fit.ci, "n_comparisons": fit.n_comparisons,
                  "n_boot_failed": fit.n_boot_failed, "signature": fit.signature}
        except DataError as exc:
            bt = {"error": str(exc)}
    result = PairwiseResult(
        judges=[{**s.model_dump(), "fingerprint": fingerprints[s.name]} for s in judges], runs=labels, pairs=pair_stats,
        unpaired_prompts=unpaired, bradley_terry=bt, judgments=counts, git=git_state(), packages=package_versions(),
    )
    return result, records


def write_pairwise(out: str | Path, result: PairwiseResult, records: list[dict[str, Any]]) -> None:
    folder = Path(out)
    write_jsonl(folder / "judgments.jsonl", records)
    atomic_write_text(folder / "results.json", result.model_dump_json(indent=2))
