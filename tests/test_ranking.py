"""Rank statistics, checked against values computed by hand (tau-b and rho with and without ties)."""

from __future__ import annotations

import numpy as np
import pytest

from enas_tf2 import ranking
from enas_tf2.rank_correlation import correlation_report


def test_kendall_and_spearman_on_hand_computed_cases():
    assert ranking.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ranking.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # One swapped pair of six: (5 - 1) / 6; rho = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15).
    assert ranking.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert ranking.spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_ties_follow_tau_b_and_average_ranks():
    # x ties one pair: S = 5 of n0 = 6 pairs, tau-b = 5 / sqrt((6 - 1) * 6).
    assert ranking.kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / np.sqrt(30))
    assert ranking.average_ranks([1, 2, 2, 3]).tolist() == [1, 2.5, 2.5, 4]
    # Centred ranks (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5): 4.5 / sqrt(4.5 * 5).
    assert ranking.spearman_rho([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert np.isnan(ranking.kendall_tau([1, 1, 1], [1, 2, 3]))


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x + rng.normal(scale=0.5, size=40)
    low, high = ranking.bootstrap_interval(ranking.kendall_tau, x, y, num_resamples=500)
    assert low < ranking.kendall_tau(x, y) < high <= 1.0
    small_low, small_high = ranking.bootstrap_interval(ranking.kendall_tau, x[:8], y[:8], num_resamples=500)
    assert small_high - small_low > high - low


def test_regret_and_direction_of_a_perplexity():
    # Perplexities: lower is better. The shared-weight best (ppl 90) trains to 70; the best trains to 60.
    report = correlation_report([100.0, 90.0, 120.0], [65.0, 70.0, 60.0], higher_is_better=False)
    assert report["top1_index"] == 1 and report["top1_regret"] == pytest.approx(10.0)
    assert report["kendall_tau"] == pytest.approx(ranking.kendall_tau([100, 90, 120], [65, 70, 60]))
    accuracy = correlation_report([0.5, 0.6, 0.7], [0.8, 0.9, 0.85], higher_is_better=True)
    assert accuracy["top1_index"] == 2 and accuracy["top1_regret"] == pytest.approx(0.05)


def test_too_few_architectures_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        ranking.kendall_tau([1.0], [2.0])
