"""The standard diversity report: every metric of ``names.DIVERSITY``, within-prompt and across-prompt.

This is what ``evalsuite metrics`` prints and what generation tasks call. The
metrics come from the registry (``evalsuite.metrics.catalog``); the report
encodes the texts once per tokenizer and hands every metric the form it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsuite.errors import ConfigError
from evalsuite.metrics.catalog import check_options
from evalsuite.metrics.diversity.ngrams import encode
from evalsuite.metrics.diversity.self_bleu import SMOOTHINGS
from evalsuite.metrics.names import DIVERSITY
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import MetricResult
from evalsuite.registry import METRICS

MetricReport = dict[str, dict[str, MetricResult]]  # mode -> metric id -> result


@dataclass(frozen=True)
class SuiteConfig:
    """Every option of the diversity report that changes a number (each lands in the signatures)."""

    tokenizer: str = field(default="auto", metadata={"help": "tokenizer of the n-gram metrics"})
    lowercase: bool = field(default=False, metadata={"help": "lowercase before the n-gram metrics"})
    bleu_tokenizer: str = field(default="13a", metadata={"help": "tokenizer of self-BLEU"})
    bleu_smoothing: str = field(default="method1", metadata={"help": "self-BLEU smoothing: " + "/".join(SMOOTHINGS)})
    bleu_sample_size: int | None = field(
        default=1000, metadata={"help": "responses pooled for across-prompt self-BLEU (seeded sample; None = all)"}
    )
    within_sample_size: int | None = field(
        default=None, metadata={"help": "samples per prompt for within-prompt self-BLEU (None = all)"}
    )
    ead_vocab_size: int | None = field(
        default=None, metadata={"help": "V of EAD; Liu et al. use the model tokenizer's vocabulary size (None = observed)"}
    )
    resampling: Resampling = field(default=Resampling(ci=True, n_boot=200), metadata={"help": "confidence intervals"})
    seed: int = field(default=0, metadata={"help": "seed of the self-BLEU samples"})
    embedding_model: str | None = field(default=None, metadata={"help": "sentence-transformers model for Vendi/embedding distance"})

    def __post_init__(self):
        if self.bleu_smoothing not in SMOOTHINGS:
            raise ConfigError(f"bleu_smoothing must be one of {SMOOTHINGS}, got {self.bleu_smoothing!r}")


def report_modes(groups: Sequence | None) -> list[str]:
    """``["within", "across"]`` when some prompt has two samples or more, else ``["across"]``."""
    return ["within", "across"] if groups is not None and len(set(groups)) < len(groups) else ["across"]


def diversity_report(texts: Sequence[str], groups: Sequence | None = None, config: SuiteConfig = SuiteConfig()) -> MetricReport:
    """``{"within": {...}, "across": {...}}`` of MetricResults keyed by the ids of ``names.DIVERSITY``.

    ``within`` is present when ``groups`` is given and some prompt has at
    least two samples; the embedding metrics only with ``config.embedding_model``.
    """
    c = config
    sources: dict[str, Any] = {
        "tokens": encode(texts, c.tokenizer, c.lowercase),
        "bleu": encode(texts, c.bleu_tokenizer, c.lowercase),
        "text": texts,
    }
    if c.embedding_model:
        from evalsuite.metrics.diversity.embedding import embed

        sources["embeddings"] = embed(list(texts), c.embedding_model)
    report: MetricReport = {}
    for mode in report_modes(groups):
        sample = c.within_sample_size if mode == "within" else c.bleu_sample_size
        options = {
            "lowercase": c.lowercase, "tokenizer": c.tokenizer, "vocab_size": c.ead_vocab_size,
            "smoothing": c.bleu_smoothing, "seed": c.seed,
            "sample_size": None if sample is not None and sample >= len(texts) else sample,
        }
        report[mode] = {}
        for name in DIVERSITY:
            metric = METRICS.get(name)
            if metric.source in sources:
                report[mode][name] = metric(sources[metric.source], groups=groups, mode=mode, resampling=c.resampling,
                                            **{k: options[k] for k in metric.takes})
    return report


def metric_report(
    names: Sequence[str], texts: Sequence[str], groups: Sequence | None = None,
    resampling: Resampling = Resampling(ci=True, n_boot=200), options: dict[str, Any] | None = None,
) -> MetricReport:
    """The report of the registered metrics ``names`` (built-in or from another package) over raw ``texts``.

    Each is called as ``fn(texts, groups=, mode=, resampling=, **options)`` in
    every mode :func:`report_modes` gives. An option ``NAME.key`` goes to metric
    ``NAME`` only (``distinct_k.equivalence=exact``); a plain ``key`` to every metric.
    """
    metrics = {name: METRICS.get(name) for name in names}
    per_metric = _options_by_metric(list(metrics), options or {})
    for name, metric in metrics.items():
        check_options(name, metric, per_metric[name])
    report: MetricReport = {}
    for mode in report_modes(groups):
        report[mode] = {}
        for name, metric in metrics.items():
            result = metric(list(texts), groups=groups, mode=mode, resampling=resampling, **per_metric[name])
            if not isinstance(result, MetricResult):
                raise ConfigError(f"metric {name!r} returned {type(result).__name__}; a metric returns a MetricResult")
            report[mode][name] = result
    return report


def _options_by_metric(names: list[str], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in options.items():
        target, dot, option = key.rpartition(".")
        if not dot:
            for name in names:
                out[name][key] = value
        elif target in out:
            out[target][option] = value
        else:
            raise ConfigError(f"option {key!r} is for metric {target!r}, which is not among the metrics asked for "
                              f"({', '.join(names)})")
    return out


def report_dict(report: MetricReport) -> dict[str, dict[str, dict]]:
    """The report as JSON-ready dicts: ``{mode: {metric id: MetricResult.to_dict()}}``."""
    return {mode: {name: result.to_dict() for name, result in results.items()} for mode, results in report.items()}
