"""CAVI for the Bayesian Gaussian mixture: monotone ELBO, exact constants, reference fits."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import BayesianGaussianMixture

from engine.cavi.model import (
    CAVI,
    LOG_2PI,
    CaviConfig,
    CaviExperiment,
    GradientAscent,
    elbo_direct,
    sample_mixture,
)


def run_to_convergence(cavi, tol=1e-13, max_sweeps=5000):
    previous = -math.inf
    for _ in range(max_sweeps):
        elbo = cavi.step()
        if abs(elbo - previous) < tol * abs(elbo):
            break
        previous = elbo
    return cavi


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 6), n=st.integers(10, 400), sigma2=st.floats(0.1, 100.0),
       dim=st.sampled_from([1, 2]), data_seed=st.integers(0, 2**16), init_seed=st.integers(0, 2**16),
       backend=st.sampled_from(["numpy", "torch"]))
def test_elbo_never_decreases(k, n, sigma2, dim, data_seed, init_seed, backend):
    x, _, _ = sample_mixture(n, k, sigma2=sigma2, dim=dim, seed=data_seed)
    cavi = CAVI(x, k, sigma2, seed=init_seed, backend=backend)
    elbos = [cavi.step() for _ in range(40)]
    rises = np.diff(elbos)
    # Exact coordinate updates: any fall is floating-point noise only.
    assert np.all(rises >= -1e-9 * np.abs(elbos[1:])), rises.min()


@pytest.mark.parametrize("dim", [1, 2])
def test_incremental_elbo_equals_direct_formula(dim):
    x, _, _ = sample_mixture(300, 4, sigma2=5.0, dim=dim, seed=1)
    cavi = CAVI(x, 4, 5.0, seed=2)
    for _ in range(5):
        cavi.step()
        assert cavi.elbo() == pytest.approx(cavi.elbo_direct(), rel=1e-12, abs=1e-9)


def test_numpy_and_torch_backends_agree():
    x, _, _ = sample_mixture(2000, 5, sigma2=10.0, dim=2, seed=3)
    a, b = CAVI(x, 5, 10.0, seed=0, backend="numpy"), CAVI(x, 5, 10.0, seed=0, backend="torch")
    for _ in range(10):
        assert a.step() == pytest.approx(b.step(), rel=1e-12)
    np.testing.assert_allclose(a.m, b.m, rtol=1e-10, atol=1e-12)


def monte_carlo_elbo(x, cavi, samples, rng):
    """E_q[log p(x, c, mu) - log q(c, mu)] by sampling q; returns (estimate, standard error)."""
    n, d = x.shape
    k = cavi.k
    values = np.empty(samples)
    cdf = np.cumsum(cavi.phi, axis=1)
    for s in range(samples):
        mu = cavi.m + np.sqrt(cavi.s2)[:, None] * rng.standard_normal((k, d))
        c = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), k - 1)
        log_p_mu = np.sum(-0.5 * d * np.log(2 * np.pi * cavi.sigma2) - (mu**2).sum(1) / (2 * cavi.sigma2))
        log_p_c = -n * np.log(k)
        log_p_x = np.sum(-0.5 * d * LOG_2PI - 0.5 * ((x - mu[c]) ** 2).sum(1))
        log_q_mu = np.sum(-0.5 * d * np.log(2 * np.pi * cavi.s2)
                          - ((mu - cavi.m) ** 2).sum(1) / (2 * cavi.s2))
        log_q_c = np.sum(np.log(cavi.phi[np.arange(n), c]))
        values[s] = log_p_mu + log_p_c + log_p_x - log_q_mu - log_q_c
    return values.mean(), values.std(ddof=1) / np.sqrt(samples)


@pytest.mark.parametrize("dim,sweeps", [(1, 0), (1, 3), (2, 2)])
def test_closed_form_elbo_matches_monte_carlo(dim, sweeps):
    x, _, _ = sample_mixture(150, 3, sigma2=4.0, dim=dim, seed=5)
    cavi = CAVI(x, 3, 4.0, seed=1)
    for _ in range(sweeps):
        cavi.step()
    estimate, se = monte_carlo_elbo(cavi.x, cavi, 4000, np.random.default_rng(0))
    assert abs(estimate - cavi.elbo()) < 3 * se, (estimate, se, cavi.elbo())


@pytest.mark.parametrize("dim", [1, 2])
def test_fit_matches_scikit_learn_bayesian_mixture(dim):
    sigma2 = 25.0
    x, _, _ = sample_mixture(600, 3, sigma2=sigma2, dim=dim, seed=4)
    # The same model in scikit-learn's terms: unit-variance spherical components (a
    # near-point-mass Wishart prior, covariance_prior = dof = 1e6) and near-uniform
    # weights (a huge symmetric Dirichlet).
    bgm = BayesianGaussianMixture(
        n_components=3, covariance_type="spherical",
        weight_concentration_prior_type="dirichlet_distribution", weight_concentration_prior=1e6,
        mean_prior=np.zeros(dim), mean_precision_prior=1 / sigma2, degrees_of_freedom_prior=1e6,
        covariance_prior=1e6, tol=1e-12, max_iter=10_000, random_state=0).fit(x)
    assert bgm.converged_
    cavi = run_to_convergence(CAVI(x, 3, sigma2, seed=0))
    ours, theirs = np.argsort(cavi.m[:, 0]), np.argsort(bgm.means_[:, 0])
    # The near-point-mass priors leave a relative difference of ~1e-6; s2 ~ 0.005, so a
    # relative tolerance (an absolute 1e-3 would be 20% of it).
    np.testing.assert_allclose(cavi.m[ours], bgm.means_[theirs], rtol=0, atol=1e-5)
    np.testing.assert_allclose(cavi.s2[ours], 1 / bgm.mean_precision_[theirs], rtol=1e-5)


# -- independent references: the ELBO by quadrature and scipy, the updates from their
# definitions -----------------------------------------------------------------------------
GH_NODES, GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(20)  # exact for polynomials < 40
GH_WEIGHTS = GH_WEIGHTS / GH_WEIGHTS.sum()  # E[f(Z)], Z ~ N(0, 1), as a weighted sum


def expect_normal(f, mean, var):
    """E f(mu) for mu ~ N(mean, var), by Gauss-Hermite quadrature (f vectorised)."""
    return float(np.dot(GH_WEIGHTS, f(mean + np.sqrt(var) * GH_NODES)))


def reference_elbo(x, phi, m, s2, sigma2):
    """E_q[log p(x, c, mu) - log q(c, mu)], every expectation over mu by quadrature of
    scipy's log densities (per coordinate: the model factorises over dimensions),
    the entropies by scipy. Shares no formula with engine.cavi.model."""
    from scipy import stats

    n, d = x.shape
    k = len(s2)
    total = -n * math.log(k)  # E log p(c): uniform assignments
    total += stats.entropy(phi.T).sum()  # H[q(c_i)], one per point
    for j in range(k):
        for a in range(d):
            total += expect_normal(lambda mu: stats.norm.logpdf(mu, 0.0, math.sqrt(sigma2)),
                                   m[j, a], s2[j])
            total += stats.norm(m[j, a], math.sqrt(s2[j])).entropy()
            for i in range(n):
                total += phi[i, j] * expect_normal(
                    lambda mu, i=i, a=a: stats.norm.logpdf(x[i, a], mu, 1.0), m[j, a], s2[j])
    return total


@pytest.mark.parametrize("dim", [1, 2])
def test_elbo_direct_and_elbo_match_an_independent_reference(dim):
    rng = np.random.default_rng(dim)
    x, _, _ = sample_mixture(40, 3, sigma2=6.0, dim=dim, seed=dim)
    # Any variational parameters, not only CAVI's: the formula must hold everywhere.
    phi = rng.dirichlet(np.ones(3), size=40)
    m, s2 = rng.normal(0, 2, size=(3, dim)), rng.uniform(0.05, 2.0, size=3)
    ref = reference_elbo(x, phi, m, s2, 6.0)
    assert elbo_direct(x, phi, m, s2, 6.0) == pytest.approx(ref, rel=1e-10)
    cavi = CAVI(x, 3, 6.0, seed=0)
    for _ in range(3):
        cavi.step()
    assert cavi.elbo() == pytest.approx(reference_elbo(x, cavi.phi, cavi.m, cavi.s2, 6.0),
                                        rel=1e-10)


@pytest.mark.parametrize("dim", [1, 2])
def test_converged_cavi_is_the_fixed_point_of_the_closed_form_updates(dim):
    sigma2 = 10.0
    x, _, _ = sample_mixture(60, 3, sigma2=sigma2, dim=dim, seed=7)
    cavi = CAVI(x, 3, sigma2, seed=1)
    for _ in range(5000):  # until the parameters themselves stop moving
        before = cavi.m.copy()
        cavi.step()
        if np.abs(cavi.m - before).max() < 1e-14:
            break
    phi, m, s2 = cavi.phi, cavi.m, cavi.s2
    # Each update from its definition (Blei et al. 2017, eqs. 21-23):
    logits = x @ m.T - 0.5 * ((m**2).sum(1) + dim * s2)
    phi_ref = np.exp(logits - logits.max(1, keepdims=True))
    phi_ref /= phi_ref.sum(1, keepdims=True)
    precision = 1 / sigma2 + phi.sum(0)
    np.testing.assert_allclose(phi, phi_ref, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(m, (phi.T @ x) / precision[:, None], rtol=1e-10)
    np.testing.assert_allclose(s2, 1 / precision, rtol=1e-12)
    # The ELBO (independent reference) is flat in every m and s2 there: central
    # differences vanish to round-off, while a 1% step in s2 alone would change it.
    def f(mm, ss):
        return reference_elbo(x, phi, mm, ss, sigma2)

    for j in range(3):
        h = 1e-4 * s2[j]
        up, down = s2.copy(), s2.copy()
        up[j] += h
        down[j] -= h
        grad_s2 = (f(m, up) - f(m, down)) / (2 * h)
        assert abs(grad_s2) < 1e-4 * dim * precision[j], (j, grad_s2)
        for a in range(dim):
            h = 1e-5
            up, down = m.copy(), m.copy()
            up[j, a] += h
            down[j, a] -= h
            assert abs((f(up, s2) - f(down, s2)) / (2 * h)) < 1e-4 * precision[j]
    off = s2.copy()
    off[0] *= 1.01
    assert f(m, off) < f(m, s2) - 1e-6


def test_recovers_true_means_of_well_separated_data():
    x, mu, _ = sample_mixture(5000, 3, sigma2=100.0, dim=2, seed=11)
    best = max((run_to_convergence(CAVI(x, 3, 100.0, seed=s)) for s in range(4)), key=CAVI.elbo)
    dist = np.linalg.norm(best.m[:, None, :] - mu[None, :, :], axis=2)
    assert np.all(dist.min(axis=1) < 0.15)


def test_exact_start_when_m_and_s2_given():
    x, _, _ = sample_mixture(100, 2, seed=0)
    m0, s20 = np.array([[-1.0], [2.0]]), np.array([0.5, 0.25])
    cavi = CAVI(x, 2, 10.0, m=m0, s2=s20)
    np.testing.assert_array_equal(cavi.m, m0)
    np.testing.assert_array_equal(cavi.s2, s20)
    # phi is the closed-form response to that start.
    logits = x @ m0.T - 0.5 * (m0[:, 0] ** 2 + s20)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(cavi.phi, expected / expected.sum(1, keepdims=True), rtol=1e-12)
    assert cavi.elbo() == pytest.approx(elbo_direct(x, cavi.phi, m0, s20, 10.0), rel=1e-12)


def test_same_seed_same_numbers():
    a = CaviExperiment(CaviConfig(n=500, k=4, dim=2, data_seed=3, init_seed=7))
    b = CaviExperiment(CaviConfig(n=500, k=4, dim=2, data_seed=3, init_seed=7))
    for _ in range(5):
        assert a.step() == b.step()


@pytest.mark.parametrize("bad, match", [
    (dict(k=0), "K must be at least 1"),
    (dict(k=5, x=np.zeros(3)), "exceeds the number of data points"),
    (dict(sigma2=0.0), "sigma2 must be positive"),
    (dict(sigma2=-1.0), "sigma2 must be positive"),
    (dict(sigma2=math.nan), "sigma2 must be positive"),
    (dict(x=np.array([0.0, np.nan, 1.0])), "NaN or infinite"),
    (dict(x=np.array([0.0, np.inf, 1.0])), "NaN or infinite"),
    (dict(x=np.zeros((2, 3, 4))), "shape"),
    (dict(x=np.zeros((0, 1))), "empty"),
    (dict(m=np.zeros((3, 2))), "m must have shape"),
    (dict(s2=np.array([1.0, -1.0])), "s2 must be positive"),
    (dict(k=2.5), "K must be an integer"),
])
def test_invalid_input_raises_value_error(bad, match):
    kwargs = dict(x=np.linspace(-3, 3, 20), k=2, sigma2=1.0)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        CAVI(**kwargs)


@pytest.mark.parametrize("bad", [dict(k=11), dict(n=5), dict(sigma2=0.01), dict(sigma2=101.0),
                                 dict(dim=3), dict(mode="newton"), dict(alpha=0.0)])
def test_config_ranges_are_validated(bad):
    with pytest.raises(ValueError):
        CaviConfig(**bad).validate()


def test_sample_mixture_shapes_and_validation():
    x, mu, c = sample_mixture(50, 4, sigma2=2.0, dim=2, seed=0)
    assert x.shape == (50, 2) and mu.shape == (4, 2) and c.shape == (50,)
    assert set(np.unique(c)) <= set(range(4))
    with pytest.raises(ValueError):
        sample_mixture(0, 2)
    with pytest.raises(ValueError):
        sample_mixture(10, 2, sigma2=-1.0)


def test_gradient_ascent_reaches_cavi_optimum_slowly():
    # N_k ~ 30: the m-curvature is ~N_k and the s2-curvature ~d N_k^2 / 2, so alpha = 1e-3
    # is stable for both, and slow for m.
    x, _, _ = sample_mixture(60, 2, sigma2=10.0, dim=1, seed=2)
    cavi = CAVI(x, 2, 10.0, seed=0)
    grad = GradientAscent(x, 2, 10.0, alpha=1e-3, m=cavi.m.copy(), s2=cavi.s2.copy())
    cavi_elbos = [cavi.step() for _ in range(1500)]
    grad_elbos = [grad.step() for _ in range(1500)]
    assert grad_elbos[5] < cavi_elbos[5]          # slower early on
    assert grad_elbos[-1] == pytest.approx(cavi_elbos[-1], rel=1e-6)  # same optimum
    with pytest.raises(ValueError):
        GradientAscent(x, 2, 10.0, alpha=0.0)


def test_experiment_converges_and_reports():
    exp = CaviExperiment(CaviConfig(n=400, k=3, dim=1, data_seed=1))
    while not exp.done:
        exp.step()
    assert exp.converged
    elbo = exp.metrics.column("elbo")
    assert np.all(np.diff(elbo) >= -1e-9 * np.abs(elbo[1:]))
    snap = exp.snapshot()
    assert snap["m"].shape == (3, 1) and snap["phi"].shape == (400, 3)
    assert "metrics" not in snap  # the runner ships the history (engine.core.runtime)
    for j in range(3):  # the means' trajectories, one point per sweep, ending at m and s
        steps, m_j = exp.metrics.get(f"m{j}")
        assert steps.tolist() == list(range(1, exp.steps + 1))
        assert m_j[-1] == exp.shown.m[j, 0]
        assert exp.metrics.get(f"s{j}")[1][-1] == np.sqrt(exp.shown.s2[j])
    snap["m"][:] = 99  # snapshots are copies
    assert not np.any(exp.shown.m == 99)


def test_gradient_mode_runs_both_methods():
    exp = CaviExperiment(CaviConfig(n=300, k=2, mode="gradient", alpha=1e-3, max_sweeps=50))
    while not exp.done:
        exp.step()
    metrics = exp.metrics.as_arrays()
    assert np.isfinite(metrics["elbo_gradient"]).all()
    assert exp.steps == 50
