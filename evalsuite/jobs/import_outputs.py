"""Import a published outputs file (AlpacaEval's format) as a generation run.

An AlpacaEval outputs file is a JSON list of ``{instruction, output, generator,
dataset}``, one answer per instruction. :func:`import_outputs` writes it as the
record ``evalsuite run --task generate`` writes (``results.json`` with a
:class:`~evalsuite.results.RunResult` whose scores are the standard diversity
report, and ``samples.jsonl`` with one sample per instruction), so ``compare``,
``report``, ``metrics`` and the judges read it unchanged.

Pairing: a sample's ``prompt_id`` is the first 16 hex digits of the SHA-256 of
its instruction text, so two imported files pair by prompt whatever their
order. The task parameters are the same for every imported file (the file and
the generator go into ``model`` and ``task_metadata``), so ``compare`` matches
two imported runs with each other. How the answers were sampled is not known:
``seeds.sampling`` is None and each sample's ``finish_reason`` is ``"unknown"``
and ``new_tokens`` None (the answers were not generated here).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalsuite.errors import ConfigError, DataError
from evalsuite.files import atomic_write_text
from evalsuite.jsonl import write_jsonl
from evalsuite.results import RunResult, TaskSpec, Timings, provenance
from evalsuite.scores import DiversityScores
from evalsuite.tasks.generation import GenerationTask

FORMATS = ("alpaca_eval",)
REQUIRED = ("instruction", "output")
OPTIONAL = ("generator", "dataset")
N_BOOT = 200
TOKENIZER = "auto"


def prompt_key(instruction: str) -> str:
    """The stable id of a prompt: the first 16 hex digits of the SHA-256 of its UTF-8 text."""
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_alpaca_eval(path: str | Path) -> list[dict[str, str]]:
    """The records of an AlpacaEval outputs file, checked: a DataError names the file, record index and field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{instruction, output, generator, dataset}} records, "
                        f"got {type(data).__name__}")
    if not data:
        raise DataError(f"{path}: the list is empty; nothing to import")
    records, seen = [], {}
    for index, row in enumerate(data):
        where = f"{path}: record {index}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object, got {type(row).__name__}")
        for name in REQUIRED + OPTIONAL:
            if name not in row:
                if name in REQUIRED:
                    raise DataError(f"{where}: missing field {name!r} (fields: {', '.join(map(str, row)) or 'none'})")
                continue
            if not isinstance(row[name], str):
                raise DataError(f"{where}: field {name!r} must be a string, got {type(row[name]).__name__}")
        if not row["instruction"].strip():
            raise DataError(f"{where}: field 'instruction' is empty")
        key = prompt_key(row["instruction"])
        if key in seen:
            raise DataError(f"{where}: field 'instruction' repeats record {seen[key]}'s instruction; "
                            "an outputs file holds one answer per instruction")
        seen[key] = index
        records.append({name: row[name] for name in REQUIRED + OPTIONAL if name in row})
    generators = {r["generator"] for r in records if "generator" in r}
    if len(generators) > 1:
        first = records[0].get("generator")
        index = next(i for i, r in enumerate(records) if r.get("generator") != first)
        raise DataError(f"{path}: record {index}: field 'generator' is {records[index].get('generator')!r}, but record 0's "
                        f"is {first!r}; a file holds one model's answers (split it per generator)")
    return records


def imported_params(limit: int | None = None, n_boot: int | None = N_BOOT) -> dict[str, Any]:
    """The task parameters of an imported run: equal across files imported alike, so such runs pair in ``compare``."""
    return {"prompts": "imported", "format": "alpaca_eval", "n": 1, "limit": limit, "tokenizer": TOKENIZER,
            "n_boot": n_boot, "seed": 0}


def _scores(texts: list[str], groups: list[str], n_boot: int | None) -> DiversityScores:
    from evalsuite.metrics.diversity.suite import SuiteConfig, diversity_report, report_dict
    from evalsuite.metrics.resampling import Resampling

    resampling = Resampling(ci=True, n_boot=n_boot, seed=0) if n_boot else Resampling()
    config = SuiteConfig(tokenizer=TOKENIZER, resampling=resampling, seed=0)
    report = report_dict(diversity_report(texts, groups, config))
    return DiversityScores(**report, responses=len(texts), prompts=len(set(groups)))


def import_outputs(
    path: str | Path, out_dir: str | Path, fmt: str = "alpaca_eval", name: str | None = None, limit: int | None = None,
    n_boot: int | None = N_BOOT,
) -> RunResult:
    """Write the outputs file ``path`` (its first ``limit`` records, or all) as a generation run in ``out_dir``.

    ``n_boot``: resamples of the diversity report's intervals (None: no intervals, much faster: the
    compression and entropy intervals dominate the time on 805 answers)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown outputs format {fmt!r}; known: {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of records, got {limit}")
    started = datetime.now(timezone.utc)
    path = Path(path)
    records = read_alpaca_eval(path)[:limit]
    generator = name or records[0].get("generator") or path.stem
    samples = [
        {"prompt_id": prompt_key(r["instruction"]), "sample_index": 0, "prompt": r["instruction"], "response": r["output"],
         "new_tokens": None, "finish_reason": "unknown", "dataset": r.get("dataset")}
        for r in records
    ]
    scores = _scores([s["response"] for s in samples], [s["prompt_id"] for s in samples], n_boot)
    digest = file_sha256(path)
    params = imported_params(limit, n_boot)
    record = RunResult(
        task=TaskSpec(name=GenerationTask.name, version=GenerationTask.version, params_passed=params, params_resolved=params),
        model={"name": generator, "imported": True, "source_file": str(path.resolve()), "sha256": digest},
        backend_config={},
        seeds={"fewshot": None, "sampling": None, "precision_check": None},
        task_metadata={"imported_from": str(path.resolve()), "sha256": digest, "format": fmt, "generator": generator,
                       "prompts": len(samples), "prompt_id": "sha256(instruction)[:16]"},
        computation={"responses": len(samples), "stopped_by_length": 0},
        provenance=provenance(),
        store="",
        timings=Timings(started=started.isoformat(timespec="seconds"),
                        total_seconds=(datetime.now(timezone.utc) - started).total_seconds(), model_load_seconds=0.0,
                        compute_seconds=0.0, items_total=len(samples), items_computed=0, items_from_store=0),
        scores=scores,
    )
    out = Path(out_dir)
    write_jsonl(out / "samples.jsonl", samples)
    atomic_write_text(out / "results.json", record.model_dump_json(indent=2))
    return record


def load_answers(run_dir: str | Path) -> dict[str, str]:
    """``{prompt_id: response}`` of a one-answer-per-prompt generation run (the first sample of each prompt)."""
    from evalsuite.jsonl import read_jsonl

    path = Path(run_dir) / "samples.jsonl"
    if not path.is_file():
        raise DataError(f"{run_dir}: no samples.jsonl; pass a generation run directory")
    answers: dict[str, str] = {}
    for number, sample in enumerate(read_jsonl(path), start=1):
        if "prompt_id" not in sample or "response" not in sample:
            raise DataError(f"{path}: line {number}: missing field 'prompt_id' or 'response'")
        answers.setdefault(str(sample["prompt_id"]), sample["response"])
    return answers
