"""Rank statistics for the search's evidence: Kendall's tau, Spearman's rho, bootstrap intervals, regret.

Pure NumPy (no SciPy in the requirements). Both coefficients handle ties (tau-b; rho as the
Pearson correlation of average ranks), the same definitions as `scipy.stats.kendalltau` and
`scipy.stats.spearmanr`. Sciuto et al. (2020) report the Kendall tau between shared-weight and
stand-alone rankings; the bootstrap interval says how far a handful of architectures pins it down.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"Two equally long lists of scores are needed; got shapes {xs.shape} and {ys.shape}.")
    if xs.size < 2:
        raise ValueError(f"A rank correlation needs at least 2 architectures; got {xs.size}.")
    return xs, ys


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y)); NaN if one side is constant."""
    xs, ys = _pair(x, y)
    upper = np.triu_indices(xs.size, k=1)
    dx = np.sign(xs[:, None] - xs[None, :])[upper]
    dy = np.sign(ys[:, None] - ys[None, :])[upper]
    denominator = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float(np.sum(dx * dy) / denominator) if denominator else float("nan")


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(1, values.size + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks; NaN if one side is constant."""
    xs, ys = _pair(x, y)
    rx, ry = average_ranks(xs) - (xs.size + 1) / 2, average_ranks(ys) - (ys.size + 1) / 2
    denominator = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
    return float(np.sum(rx * ry) / denominator) if denominator else float("nan")


def bootstrap_interval(statistic: Callable[[np.ndarray, np.ndarray], float], x: Sequence[float],
                       y: Sequence[float], num_resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of `statistic(x, y)`, resampling architectures (pairs) with replacement.

    Resamples where the statistic is undefined (every draw the same architecture) are dropped.
    """
    xs, ys = _pair(x, y)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_resamples):
        index = rng.integers(0, xs.size, xs.size)
        value = statistic(xs[index], ys[index])
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def top1_regret(shared: Sequence[float], standalone: Sequence[float]) -> tuple[int, float]:
    """`(i, regret)`: `i` the shared-weight top-1, `regret` the best stand-alone score minus its stand-alone score.

    Both lists are oriented so that higher is better (negate a perplexity first).
    """
    xs, ys = _pair(shared, standalone)
    top = int(np.argmax(xs))
    return top, float(ys.max() - ys[top])
