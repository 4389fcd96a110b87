"""FastChat's single-answer MT-Bench judgments (``model_judgment/gpt-4_single.jsonl``): per-turn and average scores.

Each line is one grading: ``question_id``, ``model``, ``judge`` (``[judge model,
prompt name]``), ``score`` (1-10; ``-1`` when FastChat could not parse the
judgment), ``turn`` (1 or 2), and the prompt and judgment texts. The figures are
those FastChat's ``show_result.py --mode single`` prints: gradings scored ``-1``
left out, then per model the mean score of each turn and the mean over both
turns pooled ("Average"), here each with a bootstrap interval.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from evalsuite.errors import DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import iter_jsonl, write_jsonl
from evalsuite.metrics.resampling import Resampling
from evalsuite.provenance import sha256_file
from evalsuite.results import Record, provenance, register_result_kind

UNPARSED = -1  # FastChat's score for a judgment without a rating


class TurnMean(BaseModel):
    mean: float | None
    ci: tuple[float, float] | None
    n: int


class SingleModelScores(BaseModel):
    turn_1: TurnMean
    turn_2: TurnMean
    average: TurnMean  # both turns pooled, as show_result's "Average"


class MTBenchSingleImport(Record):
    """The record of an imported FastChat single-answer judgment file."""

    kind: Literal["mt_bench_single_import"] = "mt_bench_single_import"
    source: str
    source_sha256: str
    judges: list[list[str]]  # the distinct [judge model, prompt name] pairs in the file
    records: int
    unparseable: int  # score -1: left out, as FastChat does
    resampling: dict[str, Any]
    models: dict[str, SingleModelScores]


def _field(record: dict, name: str, where: str) -> Any:
    if name not in record:
        raise DataError(f"{where}: missing field {name!r} (a FastChat single judgment has question_id, model, "
                        "judge, score, turn)")
    return record[name]


def read_single(path: str | Path) -> list[dict[str, Any]]:
    """The gradings of a FastChat single judgment file, checked field by field."""
    rows = []
    for number, record in iter_jsonl(Path(path)):
        where = f"{path}: line {number}"
        score, turn = _field(record, "score", where), _field(record, "turn", where)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not (score == UNPARSED or 0 <= score <= 10):
            raise DataError(f"{where}: field 'score': expected a number in [0, 10] or -1, got {score!r}")
        if turn not in (1, 2):
            raise DataError(f"{where}: field 'turn': expected 1 or 2, got {turn!r}")
        judge = _field(record, "judge", where)
        rows.append({"question_id": _field(record, "question_id", where), "model": str(_field(record, "model", where)),
                     "judge": list(judge) if isinstance(judge, (list, tuple)) else [str(judge)],
                     "turn": turn, "score": float(score)})
    if not rows:
        raise DataError(f"{path}: no judgments")
    return rows


def _mean(values: list[float], resampling: Resampling) -> TurnMean:
    from evalsuite.metrics.bootstrap import mean_ci

    array = np.asarray(values, float)
    return TurnMean(mean=float(array.mean()) if len(array) else None,
                    ci=mean_ci(array, resampling) if len(array) > 1 and resampling.ci else None, n=len(array))


def import_single(path: str | Path, resampling: Resampling | None = None) -> tuple[MTBenchSingleImport, list[dict]]:
    """Per model: mean score of turn 1, turn 2, and both pooled, over the gradings FastChat keeps (score != -1)."""
    resampling = resampling or Resampling(ci=True, n_boot=1000, seed=0)
    rows = read_single(path)
    kept = [r for r in rows if r["score"] != UNPARSED]
    models = {}
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in kept if r["model"] == model]
        models[model] = SingleModelScores(
            turn_1=_mean([r["score"] for r in mine if r["turn"] == 1], resampling),
            turn_2=_mean([r["score"] for r in mine if r["turn"] == 2], resampling),
            average=_mean([r["score"] for r in mine], resampling))
    judges = sorted({tuple(r["judge"]) for r in rows})
    result = MTBenchSingleImport(
        provenance=provenance(), source=str(Path(path).resolve()), source_sha256=sha256_file(Path(path)),
        judges=[list(j) for j in judges], records=len(rows), unparseable=len(rows) - len(kept),
        resampling=dataclasses.asdict(resampling), models=models)
    return result, [{**r, "status": "ok" if r["score"] != UNPARSED else "unparseable"} for r in rows]


def write_single(out: str | Path, result: MTBenchSingleImport, records: list[dict]) -> None:
    """``OUT/results.json`` and ``OUT/judgments.jsonl``, each written atomically."""
    write_jsonl(Path(out) / "judgments.jsonl", records)
    atomic_write_text(Path(out) / "results.json", result.model_dump_json(indent=2))


register_result_kind("mt_bench_single_import", MTBenchSingleImport)
