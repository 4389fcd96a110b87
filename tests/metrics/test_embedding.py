"""Embedding distance and Vendi score: numpy math against plain loops and the
vendi-score package, and one run with a real sentence-transformers model."""

import itertools

import numpy as np
import pytest

from evalsuite.errors import DataError, ModelError
from evalsuite.metrics import embedding_diversity, vendi_score


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_vendi_equals_reference_package_and_hand_cases():
    vendi = pytest.importorskip("vendi_score.vendi")
    rng = np.random.default_rng(0)
    for n, d in [(30, 8), (5, 64), (50, 50)]:
        x = rng.normal(size=(n, d))
        assert vendi_score(x).value == pytest.approx(vendi.score_dual(x), rel=1e-9)
        # the n x n route of the package, from the cosine kernel
        k = unit(x) @ unit(x).T
        assert vendi_score(x).value == pytest.approx(vendi.score_K(k), rel=1e-9)
    assert vendi_score(np.eye(6)).value == pytest.approx(6.0)  # all orthogonal: 6 distinct
    assert vendi_score(np.ones((5, 3))).value == pytest.approx(1.0)  # all the same: 1


def test_mean_pairwise_distance_equals_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 5))
    u = unit(x)
    pairs = [1 - u[i] @ u[j] for i, j in itertools.permutations(range(12), 2)]
    assert embedding_diversity(x).value == pytest.approx(np.mean(pairs), rel=1e-12)
    assert embedding_diversity(np.eye(3)).value == pytest.approx(1.0)
    groups = [0] * 6 + [1] * 6
    within = embedding_diversity(x, groups=groups, mode="within").value
    per = [np.mean([1 - u[i] @ u[j] for i, j in itertools.permutations(range(g * 6, g * 6 + 6), 2)]) for g in (0, 1)]
    assert within == pytest.approx(np.mean(per), rel=1e-12)


def test_bad_embeddings_and_missing_model():
    with pytest.raises(DataError, match="row 1 is all zeros"):
        vendi_score(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ModelError, match="cannot load sentence-transformers model.*no such directory"):
        embedding_diversity(["a", "b"], model="/nonexistent/model/dir")


@pytest.mark.slow
def test_real_model_offline(minilm_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.", "Stock markets fell sharply today.",
             "我喜欢吃苹果。", "How do I bake bread?", "The cat sat on the mat."]
    emb = SentenceTransformer(minilm_dir, device="cpu").encode(texts, normalize_embeddings=True)
    r = vendi_score(texts, model=minilm_dir)
    assert r.value == pytest.approx(vendi_score(np.asarray(emb, dtype=np.float64)).value, rel=1e-5)
    assert "model:all-MiniLM-L6-v2" in r.signature
    d = embedding_diversity(texts, model=minilm_dir)
    # paraphrases are closer than unrelated sentences
    assert 0 < d.value < 1
    same = embedding_diversity(texts[:2], model=minilm_dir).value
    far = embedding_diversity([texts[0], texts[2]], model=minilm_dir).value
    assert same < far
