"""Diversity metrics of generation files: what ``evalsuite metrics`` runs.

Reads one or two files of generations (JSON lines through :mod:`evalsuite.jsonl`,
or a JSON list), splits them into one set per input and model, optionally cuts
two sets to length-matched subsets, and computes the diversity report (or the
registered metrics asked for by name) of every set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError
from evalsuite.jsonl import iter_records
from evalsuite.metrics.diversity.io import Fields, Record, by_model, records_from
from evalsuite.metrics.diversity.lengths import length_matched
from evalsuite.metrics.diversity.suite import MetricReport, SuiteConfig, diversity_report, metric_report, report_dict
from evalsuite.metrics.result import METRICS_VERSION
from evalsuite.registry import METRICS


def read_generations(path: str | Path, fields: Fields = Fields()) -> list[Record]:
    """Records of a JSON-lines file or a JSON list; an error names the file, line or record, and field."""
    try:
        empty = not Path(path).read_bytes().strip()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if empty:
        raise DataError(f"{path}: the file is empty; expected JSONL records or a JSON list")
    records = records_from(((f"{path}:{where}", obj) for where, obj in iter_records(path)), fields)
    if not records:
        raise DataError(f"{path}: the JSON list is empty; expected records")
    return records


@dataclass(frozen=True)
class ScoredSets:
    """The sets scored (label -> records), their reports, and what length matching kept (None without it)."""

    sets: dict[str, list[Record]]
    reports: dict[str, MetricReport]
    matched: dict[str, Any] | None

    def payload(self, paths: Sequence[str], fields: Fields, config: SuiteConfig, names: Sequence[str] | None,
                options: dict[str, Any]) -> dict[str, Any]:
        """Everything as one JSON-ready dict: inputs, settings, and every result with its signature."""
        return {"metrics_version": METRICS_VERSION, "inputs": list(paths), "fields": asdict(fields),
                "config": asdict(config), "metrics": list(names) if names else None, "options": options,
                "length_matched": self.matched,
                "results": {label: report_dict(report) for label, report in self.reports.items()}}


def score_files(
    paths: Sequence[str], fields: Fields, config: SuiteConfig, *, names: Sequence[str] | None = None,
    options: dict[str, Any] | None = None, length_bins: int | None = None,
) -> ScoredSets:
    """The report of every (file, model) set: the whole diversity report, or the registered metrics ``names``.

    With ``length_bins`` the two sets are first cut to length-matched subsets.
    """
    sets = by_model({Path(path).name: read_generations(path, fields) for path in paths})
    matched = None
    if length_bins is not None:
        sets, matched = length_matched(sets, tokenizer=config.tokenizer, n_bins=length_bins, seed=config.seed)
    reports = {}
    for label, records in sets.items():
        texts = [r.text for r in records]
        groups = [r.group for r in records] if fields.group else None
        if names:
            reports[label] = metric_report(names, texts, groups, config.resampling, _with_model(names, options, config))
        else:
            reports[label] = diversity_report(texts, groups, config)
    return ScoredSets(sets, reports, matched)


def _with_model(names: Sequence[str], options: dict[str, Any] | None, config: SuiteConfig) -> dict[str, Any]:
    """``--embedding-model`` as the ``model`` of every named embedding metric that was not given one."""
    options = dict(options or {})
    if config.embedding_model and "model" not in options:
        for name in names:
            if getattr(METRICS.get(name), "source", None) == "embeddings":
                options.setdefault(f"{name}.model", config.embedding_model)
    return options
