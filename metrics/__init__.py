"""Diversity metrics for generated text: exact, CJK-aware and fast.

Pure functions over a list of strings (or of token lists) returning a
:class:`MetricResult` with ``.value``, ``.ci`` (when asked for with
``resampling=Resampling(ci=True)``) and a ``.signature`` naming every option
that changes the number. The metrics are registered by name in
``evalsuite.registry.METRICS`` (see ``evalsuite.metrics.catalog``). Only numpy, pandas
(its hash table numbers tokens, in ``auto_ids``) and the standard library are
used; the embedding metrics import sentence-transformers when they are called.
"""

from evalsuite.metrics.diversity.compression import compression_ratio, length_stats
from evalsuite.metrics.diversity.distinct import distinct_n, ead
from evalsuite.metrics.diversity.embedding import embedding_diversity, vendi_score
from evalsuite.metrics.diversity.entropy import diversity_entropy, ngram_entropy, normalized_entropy
from evalsuite.metrics.diversity.io import Fields, Record, records_from
from evalsuite.metrics.diversity.lengths import match_lengths
from evalsuite.metrics.diversity.ngrams import Encoded, encode
from evalsuite.metrics.diversity.repetition import repetition
from evalsuite.metrics.diversity.self_bleu import self_bleu
from evalsuite.metrics.diversity.tokenize import TOKENIZERS, tokenize
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import METRICS_VERSION, MetricResult, check_comparable

__all__ = [
    "METRICS_VERSION",
    "TOKENIZERS",
    "NO_CI",
    "Encoded",
    "Fields",
    "MetricResult",
    "Record",
    "Resampling",
    "check_comparable",
    "compression_ratio",
    "distinct_n",
    "diversity_entropy",
    "ead",
    "embedding_diversity",
    "encode",
    "length_stats",
    "match_lengths",
    "ngram_entropy",
    "normalized_entropy",
    "records_from",
    "repetition",
    "self_bleu",
    "tokenize",
    "vendi_score",
]
