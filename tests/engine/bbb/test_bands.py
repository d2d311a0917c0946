"""Band widths of sampled functions: the estimate, its bootstrap error, and the draws it needs."""
import numpy as np
import pytest
from scipy import stats

from engine.bbb.bands import band_se, band_se_order, band_width, band_with_error

Z90 = stats.norm.ppf(0.95) - stats.norm.ppf(0.05)  # the 5-95 % range of N(0, 1): 3.29


def test_band_of_gaussian_draws_is_the_closed_form():
    rng = np.random.default_rng(0)
    scales = np.array([0.1, 0.5, 2.0])
    f = rng.normal(size=(200_000, 3)) * scales
    assert band_width(f) == pytest.approx(Z90 * scales.mean(), rel=0.005)
    assert band_width(f[:, 1]) == pytest.approx(Z90 * 0.5, rel=0.005)


def test_bootstrap_error_matches_the_scatter_of_repeated_estimates():
    # The SE the bootstrap gives from one set of draws vs the spread of the width over
    # 400 independent sets of draws (functions correlated across x, as weight samples give).
    rng = np.random.default_rng(1)

    def draws(n):
        a, b = rng.normal(size=(2, n, 1))
        return a * np.linspace(0.2, 1.0, 7) + 0.3 * b

    widths = [band_width(draws(300)) for _ in range(400)]
    truth_se = np.std(widths, ddof=1)
    ses = [band_se(draws(300), seed=i) for i in range(10)]
    assert np.mean(ses) == pytest.approx(truth_se, rel=0.2)
    # the per-frame order-statistic error: close, and on the high side, never far below
    fast = np.mean([band_se_order(draws(300)) for _ in range(10)])
    assert 0.9 * truth_se < fast < 1.5 * truth_se
    one = [band_width(draws(300)[:, 3]) for _ in range(400)]  # a single column: close
    assert np.mean([band_se_order(draws(300)[:, 3]) for _ in range(10)]) == pytest.approx(
        np.std(one, ddof=1), rel=0.2)
    # ... and the error falls as 1/sqrt(S)
    assert band_se(draws(4800)) == pytest.approx(truth_se / 4, rel=0.3)


def test_enough_draws_for_a_two_percent_error():
    rng = np.random.default_rng(2)
    calls = []

    def draw(n, seed):
        calls.append(n)
        return np.random.default_rng(seed).standard_t(4, size=(n, 5))

    width, se, n = band_with_error(draw, 0.02, pilot=100)
    assert se < 0.02 * width and n == calls[-1] > 100
    # The width is right within its stated error: a 400,000-draw reference.
    ref = band_width(rng.standard_t(4, size=(400_000, 5)))
    assert abs(width - ref) < 3 * se
    with pytest.raises(ValueError, match="rel_se"):
        band_with_error(draw, 0.0)
