"""Homogenization between checkpoints: how alike two runs' answers to the same prompts are.

``evalsuite compare a b`` adds these *similarity* rows for every pair of
generation runs of one task: each answer of ``b`` is paired with the answer of
``a`` to the same prompt and sample index, their similarity is
:func:`evalsuite.metrics.diversity.homogenization.between_runs`'s (ROUGE-L F,
and the cosine of sentence embeddings when an embedder is given), and the row
reports the mean over pairs. Sample ``i`` of one checkpoint and sample ``i`` of
the other are independent draws, so index pairing estimates the same expected
similarity as all cross pairs would, with one comparison per answer.

A similarity is a **level, not a delta**: a run compared with itself gives 1.0,
two unrelated runs something near the similarity of unrelated answers. Samples of
one prompt share it, so the interval is a bootstrap over prompts (every sample of
a drawn prompt comes with it; the signature says ``resample:cluster=prompt``) and
the standard error the cluster-robust one (:func:`evalsuite.metrics.clustered.cluster_se`).
A gate on it (``generate.homogenization_rougel.between>0.8``: the candidate answers
too much like the baseline) compares the level itself with the threshold; see
:mod:`evalsuite.reports.gates`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import ConfigError, DataError
from evalsuite.metrics.bootstrap import percentile_interval
from evalsuite.metrics.clustered import cluster_bootstrap_means, cluster_se, unit_label
from evalsuite.metrics.diversity.homogenization import between_runs
from evalsuite.metrics.names import between
from evalsuite.metrics.resampling import Resampling
from evalsuite.metrics.result import make_signature

Embed = Callable[[list[str]], np.ndarray]
LEVEL_NOTE = "a level, not a delta: 1.0 = b answers every prompt exactly as a does"
LEVEL = "levels, not deltas: 1.0 = the same answers; a bootstrap over prompts"
NO_EMBEDDER = (f"{between('homogenization_embedding')} not computed: no --embedder (a local sentence-transformers "
               "folder; compare never downloads a model)")


@dataclass
class Similarity:
    """The mean similarity of ``b``'s answers to ``a``'s, paired by prompt and sample, with its interval."""

    task: str
    metric: str  # names.between(...): homogenization_rougel.between, homogenization_embedding.between
    value: float
    ci: tuple[float, float]
    se: float
    n_paired: int  # answer pairs
    n_prompts: int  # clusters
    only_in_a: int = 0  # answers (prompt, sample) without a partner
    only_in_b: int = 0
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.task}.{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = [None if not math.isfinite(x) else x for x in self.ci]
        out["se"] = None if not math.isfinite(self.se) else self.se
        return out | {"name": self.name, "note": LEVEL_NOTE}


def load_embedder(embedder: str | Path | Embed | None) -> Embed | None:
    """A local sentence-transformers directory (never a Hub id: nothing is downloaded) as an embedding function."""
    if embedder is None or callable(embedder):
        return embedder
    folder = Path(embedder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"--embedder {embedder}: no such directory; give a local sentence-transformers model folder "
                          "(compare never downloads one)")
    from evalsuite.metrics.diversity.embedding import embed

    function = partial(embed, model=str(folder.resolve()))
    function.__name__ = folder.name  # type: ignore[attr-defined]  (between_runs' signature names the embedder)
    return function


def _answers(run) -> tuple[dict[str, str], dict[str, str]]:
    """``{key: response}`` and ``{key: prompt id}``, the key naming (prompt id, sample index)."""
    answers, prompts = {}, {}
    for number, sample in enumerate(run.samples, 1):
        missing = [f for f in ("prompt_id", "response") if f not in sample]
        if missing:
            raise DataError(f"{run.folder / 'samples.jsonl'}: line {number}: missing field(s) {', '.join(missing)}")
        key = json.dumps([str(sample["prompt_id"]), int(sample.get("sample_index", 0))])
        if key in answers:
            raise DataError(f"{run.folder / 'samples.jsonl'}: line {number}: a second answer for prompt "
                            f"{sample['prompt_id']!r}, sample {sample.get('sample_index', 0)}")
        answers[key], prompts[key] = sample["response"], str(sample["prompt_id"])
    return answers, prompts


def similarity_rows(a, b, n_boot: int, seed: int, embed: Embed | None = None) -> list[Similarity]:
    """ROUGE-L (and, given ``embed``, embedding-cosine) similarity of run ``b``'s answers to run ``a``'s."""
    answers_a, prompts = _answers(a)
    answers_b, _ = _answers(b)
    if not answers_a.keys() & answers_b.keys():
        return []
    resampling = Resampling(ci=True, n_boot=n_boot, seed=seed)
    rows = []
    for measure in ("rougel", "embedding") if embed is not None else ("rougel",):
        result = between_runs(answers_a, answers_b, measure=measure, embed=embed)
        keys = list(result.details["per_prompt"])
        values = np.array([result.details["per_prompt"][k] for k in keys])
        clusters = [prompts[k] for k in keys]
        means = cluster_bootstrap_means(values, clusters, resampling)
        rows.append(Similarity(
            task=a.label, metric=result.name, value=result.value, ci=percentile_interval(means, resampling.confidence),
            se=cluster_se(values, clusters), n_paired=len(keys), n_prompts=len(set(clusters)),
            only_in_a=len(answers_a.keys() - answers_b.keys()), only_in_b=len(answers_b.keys() - answers_a.keys()),
            signature=make_signature("compare", test="cluster-bootstrap-level", ci=resampling.label(),
                                     resample=unit_label("prompt").replace(":", "=")),
            details={"metric_signature": result.signature, "mode": "answers of b vs answers of a, paired by prompt and sample"},
        ))
    return rows


HEADER = ["similarity (level)", "value", "95% CI", "se", "answer pairs", "prompts", "unpaired answers"]


def rows_of(similarity: list[Similarity]) -> list[list[str]]:
    """The similarity table's cells (unescaped)."""
    return [[s.name, f"{s.value:.4f}", f"[{s.ci[0]:.4f}, {s.ci[1]:.4f}]", f"{s.se:.4f}", str(s.n_paired), str(s.n_prompts),
             str(s.only_in_a + s.only_in_b)] for s in similarity]
