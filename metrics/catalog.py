"""The built-in metrics, registered by name in ``evalsuite.registry.METRICS``.

A registered metric is a function

    fn(texts: list[str], *, groups=None, mode="across", resampling=NO_CI, **options) -> MetricResult

over raw texts (``groups``: one prompt id per text; ``mode``: ``"across"`` or
``"within"``; ``resampling``: :class:`evalsuite.metrics.resampling.Resampling`;
``options``: the metric's own keywords). Each name of
:data:`evalsuite.metrics.names.DIVERSITY` (the default report) and of
:data:`~evalsuite.metrics.names.EXTRA_DIVERSITY` (computed when named) is one library function with the
arguments that make it that metric (``distinct_2`` is ``distinct_n`` with
``n=2``), imported on its first call. Outside packages register theirs through
the ``evalsuite.metrics`` entry-point group, with the same signature.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from evalsuite.errors import ConfigError
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.registry import METRICS, load_reference

SOURCES = ("tokens", "bleu", "text", "embeddings")


@dataclass(frozen=True)
class CatalogMetric:
    """One named metric: a library function (``"module:function"``) and the arguments it fixes.

    ``source`` and ``takes`` tell :func:`evalsuite.metrics.diversity.suite.diversity_report`
    what it passes: the texts as n-gram tokens, as self-BLEU tokens, raw, or as
    embeddings, and which report options (``lowercase``, ``vocab_size``, ...).
    ``max_boot`` caps the resamples of a metric that is slow to recompute.
    """

    function: str
    fixed: dict[str, Any] = field(default_factory=dict)
    source: str = "tokens"
    takes: tuple[str, ...] = ("lowercase",)
    max_boot: int | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"{self.function}: source must be one of {SOURCES}, got {self.source!r}")

    def __call__(self, texts, *, groups=None, mode: str = "across", resampling: Resampling = NO_CI, **options):
        clash = sorted(set(options) & set(self.fixed))
        if clash:
            raise ConfigError(f"{self.function} is fixed to {self.fixed} in this metric; it takes no {', '.join(clash)}")
        if self.max_boot is not None and resampling.n_boot > self.max_boot:
            resampling = Resampling(resampling.ci, self.max_boot, resampling.confidence, resampling.seed)
        return load_reference(self.function)(texts, **self.fixed, **options, groups=groups, mode=mode, resampling=resampling)


SCOPE = ("texts", "groups", "mode", "resampling")


def check_options(name: str, metric, options: dict[str, Any]) -> None:
    """A ConfigError naming the ``options`` the registered ``metric`` does not take (none for ``**options``)."""
    target = load_reference(metric.function) if isinstance(metric, CatalogMetric) else metric
    fixed = metric.fixed if isinstance(metric, CatalogMetric) else {}
    params = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = [k for k, p in params.items() if k not in SCOPE and k not in fixed and p.kind is not p.VAR_POSITIONAL]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"metric {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}")


_DISTINCT = "evalsuite.metrics.diversity.distinct:distinct_n"
_REPETITION = "evalsuite.metrics.diversity.repetition:repetition"
_EMBEDDING = "evalsuite.metrics.diversity.embedding:"

BUILTIN: dict[str, CatalogMetric] = {
    **{f"distinct_{n}": CatalogMetric(_DISTINCT, {"n": n}) for n in (1, 2, 3, 4)},
    "distinct_2_per_response": CatalogMetric(_DISTINCT, {"n": 2, "level": "response"}),
    "ead_2": CatalogMetric("evalsuite.metrics.diversity.distinct:ead", {"n": 2}, takes=("lowercase", "vocab_size")),
    "entropy_4": CatalogMetric("evalsuite.metrics.diversity.entropy:ngram_entropy", {"n": 4}),
    "norm_token_entropy": CatalogMetric("evalsuite.metrics.diversity.entropy:normalized_entropy"),
    "self_bleu_4": CatalogMetric("evalsuite.metrics.diversity.self_bleu:self_bleu", {"max_order": 4}, source="bleu",
                                 takes=("lowercase", "smoothing", "sample_size", "seed")),
    "seq_rep_4": CatalogMetric(_REPETITION, {"kind": "seq-rep", "n": 4}),
    "rep_w16": CatalogMetric(_REPETITION, {"kind": "rep-w", "window": 16}),
    "rep_r": CatalogMetric(_REPETITION, {"kind": "rep-r"}),
    "repeat_rate_4x3": CatalogMetric(_REPETITION, {"kind": "rate", "n": 4, "k": 3}),
    "duplicates": CatalogMetric(_REPETITION, {"kind": "duplicates"}),
    # every resample re-compresses the text
    "compression": CatalogMetric("evalsuite.metrics.diversity.compression:compression_ratio", source="text", takes=(),
                                 max_boot=100),
    "length": CatalogMetric("evalsuite.metrics.diversity.compression:length_stats", source="text",
                            takes=("tokenizer", "lowercase")),
    "embedding_distance": CatalogMetric(_EMBEDDING + "embedding_diversity", source="embeddings", takes=()),
    "vendi": CatalogMetric(_EMBEDDING + "vendi_score", source="embeddings", takes=()),
}

_SHAIB = "evalsuite.metrics.diversity.shaib:"
_HOMOGENIZATION = "evalsuite.metrics.diversity.homogenization:"
_NOVELTY = "evalsuite.metrics.diversity.novelty:"

# Computed when asked for by name (names.EXTRA_DIVERSITY), never in the default report.
EXTRA: dict[str, CatalogMetric] = {
    "ngram_diversity": CatalogMetric(_SHAIB + "ngram_diversity", source="text", takes=()),
    "self_repetition": CatalogMetric(_SHAIB + "self_repetition", source="text", takes=()),
    "homogenization_rougel": CatalogMetric(_HOMOGENIZATION + "homogenization_rougel", source="text", takes=()),
    "homogenization_bleu": CatalogMetric(_HOMOGENIZATION + "homogenization_bleu", source="text", takes=()),
    "remote_clique": CatalogMetric(_SHAIB + "remote_clique", source="embeddings", takes=()),
    "chamfer": CatalogMetric(_SHAIB + "chamfer", source="embeddings", takes=()),
    # across prompts, every resample re-partitions the responses
    "distinct_k": CatalogMetric(_NOVELTY + "distinct_k", source="text", takes=(), max_boot=100),
    "utility_k": CatalogMetric(_NOVELTY + "utility_k", source="text", takes=()),
}

for _name, _metric in {**BUILTIN, **EXTRA}.items():
    METRICS.register(_name, _metric)
