"""MT-Bench single-answer grading with the published judge prompts (1-10, ``[[rating]]``).

The judge templates, questions and reference answers are read at run time from
``<data>/judging`` (``mt_bench_judge_prompts.jsonl`` etc., as FastChat publishes
them). Math, reasoning and coding questions are graded reference-guided
(``single-math-v1``), the others with ``single-v1``, as FastChat does. First
turns only: a generation run samples answers to the first turn.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.provenance import GitState, git_state, package_versions, sha256_file
from evalsuite.results import atomic_write_text, read_jsonl, write_jsonl
from evalsuite.store import ResultStore, request_hash, run_key
from evalsuite.tasks.judge_panel import JudgeSpec, _ask, _judge_backend, load_items

REFERENCE_CATEGORIES = ("math", "reasoning", "coding")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path} not found; the MT-Bench judging files live in <EVALSUITE_DATA_DIR>/judging")
    return read_jsonl(path)


class MTBenchScores(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n: int
    by_category: dict[str, float]


class MTBenchResult(BaseModel):
    schema_version: int = 1
    kind: str = "mt_bench_single"
    templates_sha256: str
    judges: list[dict[str, Any]]
    scores: dict[str, dict[str, MTBenchScores]]  # run -> judge -> scores
    judgments: dict[str, int]
    git: GitState
    packages: dict[str, str]


def run_mt_bench(run_dirs: list[str | Path], judges: list[JudgeSpec], store: ResultStore, judging_dir: str | Path,
                 n_boot: int = 1000, seed: int = 0) -> tuple[MTBenchResult, list[dict[str, Any]]]:
    from evalsuite.metrics.bootstrap import mean_ci
    from evalsuite.tasks.judging.verdicts import parse_rating

    judging_dir = Path(judging_dir)
    templates = {t["name"]: t for t in _jsonl(judging_dir / "mt_bench_judge_prompts.jsonl")}
    questions = {str(q["question_id"]): q for q in _jsonl(judging_dir / "mt_bench_questions.jsonl")}
    references = {str(r["question_id"]): r["choices"][0]["turns"][0] for r in _jsonl(judging_dir / "mt_bench_reference_answers.jsonl")}
    items = load_items(run_dirs)
    unknown = sorted({i.prompt_id for i in items} - questions.keys())
    if unknown:
        raise DataError(f"prompt ids {unknown[:5]} are not MT-Bench question ids; generate with -T prompts=mt_bench")
    prompts = []
    for item in items:
        category = questions[item.prompt_id]["category"]
        if category in REFERENCE_CATEGORIES and item.prompt_id in references:
            template = templates["single-math-v1"]
            text = template["prompt_template"].format(question=item.question, answer=item.answer, ref_answer_1=references[item.prompt_id])
        else:
            template = templates["single-v1"]
            text = template["prompt_template"].format(question=item.question, answer=item.answer)
        prompts.append((template["name"], template["system_prompt"], text, category))
    records, counts, fingerprints = [], {"ok": 0, "unparseable": 0, "failed": 0, "from_store": 0}, {}
    ratings: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for spec in judges:
        backend = _judge_backend(spec)
        fingerprints[spec.name] = backend.fingerprint.model_dump()
        settings = {"templates": sha256_file(judging_dir / "mt_bench_judge_prompts.jsonl"), "temperature": spec.temperature,
                    "seed": spec.seed, "max_tokens": spec.max_tokens}
        key = run_key(backend.fingerprint.store_key(), "mt-bench-single", "1", settings)
        store.register_run(key, backend.fingerprint.store_key(), "mt-bench-single", "1", settings)
        hashes = [request_hash({"system": system, "prompt": text}) for _, system, text, _ in prompts]
        stored = store.fetch(key, hashes)
        pending = [k for k, h in enumerate(hashes) if h not in stored]
        with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
            answers = dict(zip(pending, pool.map(lambda k: _ask(backend, spec, prompts[k][2], prompts[k][1]), pending)))
        backend.close()
        store.put_many(key, [(hashes[k], items[k].ref, answers[k]) for k in pending if answers[k]["status"] == "answered"])
        counts["from_store"] += len(hashes) - len(pending)
        for k, item in enumerate(items):
            answer = stored.get(hashes[k]) or answers[k]
            base = {"judge": spec.name, "item": item.ref, "label": item.label, "prompt_id": item.prompt_id,
                    "template": prompts[k][0], "category": prompts[k][3]}
            if answer["status"] == "failed":
                counts["failed"] += 1
                records.append({**base, "status": "failed", "error": answer["error"]})
                continue
            verdict = parse_rating(answer["raw"], low=1, high=10)
            counts["ok" if verdict.parsed else "unparseable"] += 1
            records.append({**base, "status": "ok" if verdict.parsed else "unparseable", "rating": verdict.value,
                            "raw": answer["raw"], "error": verdict.error})
            if verdict.parsed:
                ratings.setdefault((item.label, spec.name), []).append((float(verdict.value), prompts[k][3]))
    scores: dict[str, dict[str, MTBenchScores]] = {}
    for label in dict.fromkeys(i.label for i in items):
        scores[label] = {}
        for spec in judges:
            values = ratings.get((label, spec.name), [])
            array = np.array([v for v, _ in values])
            categories: dict[str, list[float]] = {}
            for v, c in values:
                categories.setdefault(c, []).append(v)
            scores[label][spec.name] = MTBenchScores(
                mean=float(array.mean()) if len(array) else None,
                ci=mean_ci(array, n_boot=n_boot, seed=seed) if len(array) > 1 else None, n=len(array),
                by_category={c: float(np.mean(v)) for c, v in sorted(categories.items())},
            )
    result = MTBenchResult(templates_sha256=sha256_file(judging_dir / "mt_bench_judge_prompts.jsonl"),
                           judges=[{**s.model_dump(), "fingerprint": fingerprints[s.name]} for s in judges],
                           scores=scores, judgments=counts, git=git_state(), packages=package_versions())
    return result, records


def write_mt_bench(out: str | Path, result: MTBenchResult, records: list[dict[str, Any]]) -> None:
    write_jsonl(Path(out) / "judgments.jsonl", records)
    atomic_write_text(Path(out) / "results.json", result.model_dump_json(indent=2))
