"""The Bradley-Terry maximum-likelihood fit on a credit matrix (pure numpy).

``W[a, b]`` is the credit model ``a`` earned against model ``b`` (a win 1, a
tie one half each); the fit returns natural-log strengths centred to mean zero.
"""

from __future__ import annotations

import re

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


def strongly_connected(w: np.ndarray) -> bool:
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
    if not strongly_connected(w):
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


# --- style control (Chatbot Arena, "Controlling for Style in Chatbot Arena", 2024) ----------------------

STYLE_FEATURES = ("length", "header_count", "list_count", "bold_count")
_CODE = re.compile(r"```[^`]*```", re.S)
_HEADER = re.compile(r"^#{1,6}\s", re.M)
_LIST = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_features(text: str, length: float | None = None) -> dict[str, float]:
    """Arena's style elements of one answer: length (characters unless given), markdown headers, list items, bold spans.

    Markdown is counted outside fenced code blocks, as Arena does.
    """
    prose = _CODE.sub("", text)
    return {"length": float(len(text) if length is None else length), "header_count": float(len(_HEADER.findall(prose))),
            "list_count": float(len(_LIST.findall(prose))), "bold_count": float(len(_BOLD.findall(prose)))}


def style_design(style_a: np.ndarray, style_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arena's normalised style covariates and a mask of the non-constant ones.

    Per feature: (a - b) / (a + b + 1), then standardised over comparisons (mean 0,
    population standard deviation 1). A feature that is constant over the
    comparisons carries no information and is dropped (mask False).
    """
    diff = (style_a - style_b) / (style_a + style_b + 1.0)
    sd = diff.std(axis=0)
    keep = sd > 1e-12
    return (diff[:, keep] - diff[:, keep].mean(axis=0)) / sd[keep], keep


def design_log_likelihood(beta: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    z = x @ beta
    return float((w * (y * -np.logaddexp(0.0, -z) + (1 - y) * -np.logaddexp(0.0, z))).sum())


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100
) -> tuple[np.ndarray, int]:
    """Unpenalised maximum likelihood of a logistic model with fractional responses ``y`` in [0, 1] and weights ``w``.

    Newton's method with step halving; returns the coefficients and the iterations taken. Raises
    DataError when the estimate runs off to infinity (separation).
    """
    beta = np.zeros(x.shape[1])
    ll = design_log_likelihood(beta, x, y, w)
    for it in range(1, max_iter + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (w * (y - p))
        hess = (x * (w * p * (1 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            raise DataError("the Bradley-Terry design is singular: a style feature is collinear with the models") from None
        if np.max(np.abs(step)) < tol:
            return beta, it
        t = 1.0
        while design_log_likelihood(beta + t * step, x, y, w) < ll - 1e-12 * (1 + abs(ll)):
            t /= 2
            if t < 1e-8:
                return beta, it
        beta = beta + t * step
        ll = design_log_likelihood(beta, x, y, w)
        if np.max(np.abs(beta)) > 50:
            break
    raise DataError("the style-controlled Bradley-Terry fit has no finite estimate (the outcomes are separated by "
                    "the models and style features); add comparisons or drop style control")
