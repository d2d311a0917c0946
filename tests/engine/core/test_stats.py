"""The shared standard errors, against the scatter of fresh repeats (Monte Carlo)."""
import math

import numpy as np
import pytest
import torch

from engine.core.stats import difference_se, mean_se, means_with_se, ratio_se, variance_se


def _repeats(stat, draw, times=3000):
    return np.array([stat(draw()) for _ in range(times)])


def test_mean_se_matches_the_scatter_of_repeated_means():
    rng = np.random.default_rng(0)
    draw = lambda: rng.exponential(2.0, 50)  # noqa: E731
    scatter = _repeats(np.mean, draw).std()
    reported = np.mean([mean_se(draw())[1] for _ in range(300)])
    assert reported == pytest.approx(scatter, rel=0.06)


@pytest.mark.parametrize("dist", ["normal", "laplace"])
def test_variance_se_matches_the_scatter_of_repeated_variances(dist):
    rng = np.random.default_rng(1)
    draw = lambda: getattr(rng, dist)(size=400)  # noqa: E731
    scatter = _repeats(lambda v: v.var(ddof=1), draw).std()
    reported = np.mean([variance_se(draw())[1] for _ in range(300)])
    assert reported == pytest.approx(scatter, rel=0.08)
    if dist == "normal":  # the closed form for a normal sample
        assert reported == pytest.approx(math.sqrt(2 / 399), rel=0.05)


def test_ratio_and_paired_difference():
    rng = np.random.default_rng(2)
    a, b = rng.normal(4, 1, (2, 3000, 40))
    ratios = a.mean(1) / b.mean(1)
    reported = np.mean([ratio_se(*mean_se(x), *mean_se(y)) for x, y in zip(a[:200], b[:200], strict=True)])
    assert reported == pytest.approx(ratios.std(), rel=0.08)
    shared = rng.normal(0, 5, 100)  # the items' own scatter, common to both scores
    d, se = difference_se(torch.tensor(shared + 1.0), shared + rng.normal(0, 0.1, 100))
    assert d == pytest.approx(1.0, abs=0.05) and se < 0.02


def test_too_few_values_have_no_error():
    assert mean_se([3.0]) == (3.0, math.inf)
    assert variance_se([1.0, 2.0])[1] == math.inf
    assert ratio_se(1.0, 0.1, 0.0, 0.1) == math.inf


def test_means_with_se_leaves_out_an_error_it_cannot_measure():
    rows = [np.array([1.0, 3.0]), np.array([5.0])]
    out = means_with_se(("a", "b"), rows)
    assert out == {"a": 2.0, "a_se": pytest.approx(1.0), "b": 5.0}  # one value: no "b_se"
    halves = means_with_se(("a",), [np.array([2.0, 4.0])], lambda v: (v.mean(), v.mean() / 2))
    assert halves == {"a": 3.0, "a_se": 1.5}
