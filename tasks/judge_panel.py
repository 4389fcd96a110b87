"""Rubric judging by a panel of model judges, the way blind multi-rater human evaluation works.

Each judge (an OpenAI-compatible endpoint: a hosted model, or a local checkpoint
behind ``evalsuite serve``) grades every answer on every rubric dimension. The
judge prompt holds the question and the answer only — never which checkpoint
wrote it — and the items are judged in an order shuffled with a recorded seed.
Verdicts are stored per judge in the results store (a rerun resumes); one that
cannot be parsed is stored raw, counted and excluded; a request that still
fails after the backend's retries is recorded as failed and not stored, so a
rerun tries it again, and the rest of the run is kept.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from evalsuite.config import StrictModel
from evalsuite.errors import DataError, EvalsuiteError
from evalsuite.provenance import GitState, git_state, package_versions
from evalsuite.results import atomic_write_text, read_jsonl, write_jsonl
from evalsuite.store import ResultStore, request_hash, run_key
from evalsuite.tasks.judging.items import Item, load_items, run_labels  # noqa: F401
from evalsuite.tasks.judging.rubric import Rubric


class JudgeSpec(StrictModel):
    name: str = Field(description="How the judge is named in results (never shown to other judges).")
    base_url: str = Field(description="OpenAI-compatible endpoint root, e.g. http://127.0.0.1:8001/v1.")
    model: str = Field(description="Model name at the endpoint.")
    seed: int = Field(0, description="Sampling seed sent with each request.")
    temperature: float = Field(0.0, ge=0.0, description="0: deterministic judging, as published practice.")
    max_tokens: int = Field(512, ge=1)
    concurrency: int = Field(2, ge=1)
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)
    backoff: float = Field(1.0, ge=0)


class DimensionStats(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n_items: int


class AgreementStats(BaseModel):
    krippendorff_alpha_ordinal: float | None
    fleiss_kappa: float | None
    n_items_all_judges: int
    note: str | None = None


class PanelResult(BaseModel):
    schema_version: int = 1
    kind: str = "rubric_panel"
    rubric: dict[str, Any]
    rubric_sha256: str
    judges: list[dict[str, Any]]
    order_seed: int
    runs: list[str]
    items: int
    judgments: dict[str, int]  # ok / unparseable / failed / from_store
    scores: dict[str, dict[str, DimensionStats]]  # run label -> dimension -> stats
    agreement: dict[str, AgreementStats]  # dimension -> inter-rater agreement across judges
    git: GitState
    packages: dict[str, str]


def _judge_backend(spec: JudgeSpec):
    from evalsuite.backends.openai import OpenAIBackend, OpenAIConfig

    return OpenAIBackend(OpenAIConfig(
        model=spec.model, base_url=spec.base_url, timeout=spec.timeout, max_retries=spec.max_retries,
        backoff=spec.backoff, concurrency=spec.concurrency,
    ))


def _ask(backend, spec: JudgeSpec, prompt: str, system: str | None = None) -> dict[str, Any]:
    from evalsuite.task import SamplingConfig

    sampling = SamplingConfig(n=1, temperature=spec.temperature, top_p=1.0, max_new_tokens=spec.max_tokens, seed=spec.seed)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    try:
        body = backend.chat(messages, sampling)
        return {"status": "answered", "raw": body["choices"][0]["message"]["content"] or ""}
    except EvalsuiteError as exc:
        return {"status": "failed", "error": str(exc)}
    except (KeyError, IndexError, TypeError) as exc:
        return {"status": "failed", "error": f"malformed response: {type(exc).__name__}: {exc}"}


def run_panel(
    items: list[Item], judges: list[JudgeSpec], rubric: Rubric, store: ResultStore, seed: int = 0,
    n_boot: int = 1000,
) -> tuple[PanelResult, list[dict[str, Any]]]:
    from evalsuite.tasks.judging.verdicts import parse_rubric

    if not items:
        raise DataError("nothing to judge: the runs have no samples")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    params = {"rubric": rubric.fingerprint()}
    records: list[dict[str, Any]] = []
    counts = {"ok": 0, "unparseable": 0, "failed": 0, "from_store": 0}
    fingerprints = {}
    for spec in judges:
        backend = _judge_backend(spec)
        fingerprints[spec.name] = backend.fingerprint.model_dump()
        settings = {**params, "temperature": spec.temperature, "seed": spec.seed, "max_tokens": spec.max_tokens}
        key = run_key(backend.fingerprint.store_key(), "rubric-judge", rubric.version, settings)
        store.register_run(key, backend.fingerprint.store_key(), "rubric-judge", rubric.version, settings)
        prompts = {i: rubric.prompt(items[i].question, items[i].answer) for i in order}
        hashes = {i: request_hash({"prompt": prompts[i]}) for i in order}
        stored = store.fetch(key, list(hashes.values()))
        pending = [i for i in order if hashes[i] not in stored]
        with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
            answers = dict(zip(pending, pool.map(lambda i: _ask(backend, spec, prompts[i]), pending)))
        backend.close()
        store.put_many(key, [(hashes[i], items[i].ref, answers[i]) for i in pending if answers[i]["status"] == "answered"])
        for i in order:
            answer = stored.get(hashes[i]) or answers[i]
            record = {"judge": spec.name, "item": items[i].ref, "label": items[i].label,
                      "prompt_id": items[i].prompt_id, "sample_index": items[i].sample_index}
            if hashes[i] in stored:
                counts["from_store"] += 1
            if answer["status"] == "failed":
                counts["failed"] += 1
                records.append({**record, "status": "failed", "error": answer["error"]})
                continue
            verdict = parse_rubric(answer["raw"], dimensions=rubric.dimension_names, low=rubric.scale_min, high=rubric.scale_max)
            status = "ok" if verdict.parsed else "unparseable"
            counts[status] += 1
            records.append({**record, "status": status, "scores": verdict.value, "error": verdict.error, "raw": answer["raw"]})
    result = PanelResult(
        rubric=rubric.model_dump(mode="json"), rubric_sha256=rubric.fingerprint(),
        judges=[{**spec.model_dump(), "fingerprint": fingerprints[spec.name]} for spec in judges],
        order_seed=seed, runs=sorted({item.label for item in items}), items=len(items), judgments=counts,
        scores=_scores(items, records, rubric, n_boot, seed), agreement=_agreement(items, records, judges, rubric),
        git=git_state(), packages=package_versions(),
    )
    return result, records


def _scores(items, records, rubric: Rubric, n_boot: int, seed: int) -> dict[str, dict[str, DimensionStats]]:
    """Per run and dimension: the mean over items of the judges' mean score, with a bootstrap CI over items."""
    from evalsuite.metrics.bootstrap import mean_ci

    per_item: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r["status"] == "ok":
            for dim, score in r["scores"].items():
                per_item.setdefault(r["item"], {}).setdefault(dim, []).append(score)
    out: dict[str, dict[str, DimensionStats]] = {}
    for label in sorted({item.label for item in items}):
        refs = [item.ref for item in items if item.label == label]
        out[label] = {}
        for dim in rubric.dimension_names:
            values = np.array([np.mean(per_item[ref][dim]) for ref in refs if dim in per_item.get(ref, {})], float)
            if len(values) == 0:
                out[label][dim] = DimensionStats(mean=None, ci=None, n_items=0)
                continue
            ci = mean_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else None
            out[label][dim] = DimensionStats(mean=float(values.mean()), ci=ci, n_items=len(values))
    return out


def _agreement(items, records, judges: list[JudgeSpec], rubric: Rubric) -> dict[str, AgreementStats]:
    from evalsuite.metrics.judging.agreement import fleiss_kappa, krippendorff_alpha

    refs = [item.ref for item in items]
    grid: dict[tuple[str, str], dict[str, float]] = {
        (r["judge"], r["item"]): r["scores"] for r in records if r["status"] == "ok"
    }
    out = {}
    for dim in rubric.dimension_names:
        matrix = [[grid.get((j.name, ref), {}).get(dim) for ref in refs] for j in judges]
        complete = [[row[k] for row in matrix] for k in range(len(refs)) if all(row[k] is not None for row in matrix)]
        if len(judges) < 2:
            out[dim] = AgreementStats(krippendorff_alpha_ordinal=None, fleiss_kappa=None, n_items_all_judges=len(complete),
                                      note="agreement needs at least two judges")
            continue
        alpha = kappa = None
        notes = []
        try:
            alpha = float(krippendorff_alpha(matrix, level="ordinal").value)
        except (EvalsuiteError, ValueError, ZeroDivisionError) as exc:
            notes.append(f"alpha: {exc}")
        if complete:
            try:
                kappa = float(fleiss_kappa(complete).value)
            except (EvalsuiteError, ValueError, ZeroDivisionError) as exc:
                notes.append(f"kappa: {exc}")
        alpha = None if alpha is not None and not np.isfinite(alpha) else alpha
        kappa = None if kappa is not None and not np.isfinite(kappa) else kappa
        out[dim] = AgreementStats(krippendorff_alpha_ordinal=alpha, fleiss_kappa=kappa,
                                  n_items_all_judges=len(complete), note="; ".join(notes) or None)
    return out


def write_panel(out: str | Path, result: PanelResult, records: list[dict[str, Any]]) -> None:
    folder = Path(out)
    write_jsonl(folder / "judgments.jsonl", records)
    atomic_write_text(folder / "results.json", result.model_dump_json(indent=2))
