"""The Bradley-Terry maximum-likelihood fit on a credit matrix (pure numpy).

``W[a, b]`` is the credit model ``a`` earned against model ``b`` (a win 1, a
tie one half each); the fit returns natural-log strengths centred to mean zero.
"""

from __future__ import annotations

import numpy as np

from evalsuite.errors import DataError


def credit_matrix(i: np.ndarray, j: np.ndarray, score: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """W[a, b] = weighted wins of a over b among ``k`` models, a tie giving each side one half.

    Comparison ``n`` pits model ``i[n]`` against ``j[n]`` with ``score[n]`` (1, 0.5 or 0) for ``i[n]``.
    """
    w = np.zeros((k, k))
    np.add.at(w, (i, j), weights * score)
    np.add.at(w, (j, i), weights * (1 - score))
    return w


def _strongly_connected(w: np.ndarray) -> bool:
    # The MLE is finite iff every split of the models has credit flowing both
    # ways (Ford 1957; Hunter 2004): the "got some credit against" graph is
    # strongly connected. Check reachability from model 0 forwards and backwards.
    adj = w > 0
    for graph in (adj, adj.T):
        seen = np.zeros(len(w), dtype=bool)
        seen[0] = True
        frontier = seen.copy()
        while frontier.any():
            frontier = graph[frontier].any(axis=0) & ~seen
            seen |= frontier
        if not seen.all():
            return False
    return True


def log_likelihood(beta: np.ndarray, w: np.ndarray) -> float:
    """sum_ab W[a, b] log sigmoid(beta_a - beta_b): the Bradley-Terry log-likelihood of strengths ``beta``."""
    diff = beta[:, None] - beta[None, :]
    # log sigmoid(diff) computed stably
    return float((w * -np.logaddexp(0.0, -diff)).sum())


def fit_bradley_terry(w: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """Maximum-likelihood log-strengths (mean zero) from a credit matrix, by Newton's method.

    The log-likelihood sum_ab W[a,b] log sigmoid(beta_a - beta_b) is concave;
    Newton steps with step halving on the model-0-anchored parameters converge
    in a handful of iterations. Raises DataError when no finite MLE exists.
    """
    k = len(w)
    if k < 2:
        raise DataError(f"Bradley-Terry needs comparisons between at least 2 models, got {k}")
    if not _strongly_connected(w):
        raise DataError(
            "Bradley-Terry strengths are infinite: some group of models won (or lost) every comparison "
            "against the rest; add comparisons that connect them"
        )
    n = w + w.T
    beta = np.zeros(k)
    ll = log_likelihood(beta, w)
    for it in range(1, max_iter + 1):
        p = 1.0 / (1.0 + np.exp(beta[None, :] - beta[:, None]))  # p[a, b] = P(a beats b)
        grad = (w - n * p).sum(axis=1)
        info = n * p * p.T  # Fisher information off-diagonals (negated Hessian is the Laplacian)
        hess = np.diag(info.sum(axis=1)) - info
        # beta_0 is fixed at 0 during the fit: the likelihood only sees differences.
        step = np.zeros(k)
        step[1:] = np.linalg.solve(hess[1:, 1:], grad[1:])
        if np.max(np.abs(step)) < tol:
            return beta - beta.mean(), it
        t = 1.0
        slack = 1e-12 * (1 + abs(ll))  # rounding noise of a sum of many terms
        while log_likelihood(beta + t * step, w) < ll - slack:
            t /= 2
            if t < 1e-8:  # no ascent left at floating-point precision: this is the optimum
                return beta - beta.mean(), it
        beta = beta + t * step
        ll = log_likelihood(beta, w)
    raise DataError(f"Bradley-Terry fit did not converge in {max_iter} Newton iterations (last step {np.max(np.abs(step)):.3g})")
