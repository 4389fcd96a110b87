"""The standard diversity report: every metric, within-prompt and across-prompt.

This is what ``evalsuite metrics`` prints and what generation tasks call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from evalsuite.errors import ConfigError
from evalsuite.metrics.diversity.compression import compression_ratio, length_stats
from evalsuite.metrics.diversity.distinct import distinct_n, ead
from evalsuite.metrics.diversity.entropy import ngram_entropy, normalized_entropy
from evalsuite.metrics.diversity.ngrams import encode
from evalsuite.metrics.diversity.repetition import repetition
from evalsuite.metrics.result import MetricResult
from evalsuite.metrics.diversity.self_bleu import SMOOTHINGS


@dataclass(frozen=True)
class SuiteConfig:
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
    ci: bool = field(default=True, metadata={"help": "bootstrap confidence intervals"})
    n_boot: int = field(default=200, metadata={"help": "bootstrap resamples"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level"})
    seed: int = field(default=0, metadata={"help": "seed for samples and resamples"})
    embedding_model: str | None = field(default=None, metadata={"help": "sentence-transformers model for Vendi/embedding distance"})

    def __post_init__(self):
        if self.bleu_smoothing not in SMOOTHINGS:
            raise ConfigError(f"bleu_smoothing must be one of {SMOOTHINGS}, got {self.bleu_smoothing!r}")
        if self.n_boot < 1:
            raise ConfigError(f"n_boot must be >= 1, got {self.n_boot}")


def diversity_report(
    texts: Sequence[str], groups: Sequence | None = None, config: SuiteConfig = SuiteConfig()
) -> dict[str, dict[str, MetricResult]]:
    """``{"within": {...}, "across": {...}}`` of MetricResults keyed by metric name.

    ``within`` is present when ``groups`` is given and some prompt has at
    least two samples.
    """
    from evalsuite.metrics.diversity.self_bleu import self_bleu

    c = config
    enc = encode(texts, c.tokenizer, c.lowercase)
    bleu_enc = encode(texts, c.bleu_tokenizer, c.lowercase)
    modes = ["across"]
    if groups is not None and len(set(groups)) < len(groups):
        modes.insert(0, "within")
    report: dict[str, dict[str, MetricResult]] = {}
    for mode in modes:
        kw = dict(groups=groups, mode=mode, ci=c.ci, n_boot=c.n_boot, confidence=c.confidence, seed=c.seed)
        out: dict[str, MetricResult] = {}
        for n in (1, 2, 3, 4):
            out[f"distinct-{n}"] = distinct_n(enc, n, **kw)
        out["distinct-2 (per response)"] = distinct_n(enc, 2, level="response", **kw)
        out["ead-2"] = ead(enc, 2, vocab_size=c.ead_vocab_size, **kw)
        out["entropy-4"] = ngram_entropy(enc, 4, **kw)
        out["norm-token-entropy"] = normalized_entropy(enc, **kw)
        sample = c.within_sample_size if mode == "within" else c.bleu_sample_size
        if sample is not None and sample >= len(texts):
            sample = None
        out["self-bleu-4"] = self_bleu(
            bleu_enc, 4, c.bleu_smoothing, c.bleu_tokenizer, sample, c.seed, lowercase=c.lowercase, **{
                k: v for k, v in kw.items() if k != "seed"
            }
        )
        out["seq-rep-4"] = repetition(enc, "seq-rep", n=4, **kw)
        out["rep-w16"] = repetition(enc, "rep-w", window=16, **kw)
        out["rep-r"] = repetition(enc, "rep-r", **kw)
        out["repeat-rate (4-gram x3)"] = repetition(enc, "rate", n=4, k=3, **kw)
        out["duplicates"] = repetition(enc, "duplicates", **kw)
        out["compression"] = compression_ratio(texts, **{**kw, "n_boot": min(c.n_boot, 100)})
        out["length"] = length_stats(texts, c.tokenizer, c.lowercase, **kw)
        if c.embedding_model:
            from evalsuite.metrics.diversity.embedding import embed, embedding_diversity, vendi_score

            x = embed(list(texts), c.embedding_model)
            out["embedding-distance"] = embedding_diversity(x, **kw)
            out["vendi"] = vendi_score(x, **kw)
        report[mode] = out
    return report


def config_dict(config: SuiteConfig) -> dict:
    return asdict(config)


def lengths_of(texts: Sequence[str], tokenizer: str = "auto") -> np.ndarray:
    return encode(texts, tokenizer).lengths
