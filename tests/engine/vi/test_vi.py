"""Chapter 2 engine: the evidence gap, the gradient estimators, black-box VI, Figure 5.

Every number is checked against a closed form, scipy, quadrature or a large Monte Carlo
reference; each formula has a test that a deliberate error in it would fail."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from engine.vi import latent
from engine.vi.estimators import (
    ESTIMATORS,
    EstimatorConfig,
    EstimatorExperiment,
    estimates_from_eps,
    gradient_estimates,
    variance_table,
)
from engine.vi.gap import GapAscent, GapConfig
from engine.vi.models import (
    ConjugateGaussian,
    LogisticRegression,
    best_gaussian_q,
    elbo_surface,
    gaussian_data,
    logistic_data,
    make_model,
)

FINITE = dict(allow_nan=False, allow_infinity=False)


# -- the conjugate Gaussian model: the evidence gap ------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), true_z=st.floats(-3, 3, **FINITE), sigma_x=st.floats(0.2, 5, **FINITE),
       seed=st.integers(0, 10_000), m=st.floats(-5, 5, **FINITE), log_s=st.floats(-4, 1.5, **FINITE))
def test_elbo_plus_kl_is_the_log_evidence(n, true_z, sigma_x, seed, m, log_s):
    model = ConjugateGaussian(gaussian_data(n, true_z, sigma_x, seed), sigma_x)
    s = math.exp(log_s)
    total = float(model.elbo(m, s) + model.kl_posterior(m, s))
    assert total == pytest.approx(model.log_evidence(), abs=1e-9, rel=1e-12)
    # the lecture's two decompositions (eq. 12) give the same ELBO
    energy_entropy = model.energy(m, s) + model.entropy(s)
    lik_minus_kl = model.expected_log_lik(m, s) - model.kl_prior(m, s)
    assert energy_entropy == pytest.approx(lik_minus_kl, abs=1e-9)


def test_log_evidence_matches_scipy_marginal():
    x = gaussian_data(12, 0.7, 1.3, seed=4)
    model = ConjugateGaussian(x, 1.3)
    marginal = stats.multivariate_normal(np.zeros(12), 1.3 ** 2 * np.eye(12) + np.ones((12, 12)))
    assert model.log_evidence() == pytest.approx(marginal.logpdf(x), abs=1e-9)


def test_closed_form_expectations_match_quadrature_and_kl_matches_scipy():
    model = ConjugateGaussian(gaussian_data(7, -1.0, 0.8, seed=1), 0.8)
    m, s = 0.4, 0.6
    for closed, fn in ((model.expected_log_lik(m, s), model.log_lik),
                       (model.expected_log_prior(m, s), model.log_prior)):
        quad = integrate.quad(lambda z, fn=fn: stats.norm.pdf(z, m, s) * fn(z), -20, 20)[0]
        assert closed == pytest.approx(quad, abs=1e-8)
    kl = integrate.quad(lambda z: stats.norm.pdf(z, m, s) * (stats.norm.logpdf(z, m, s)
                        - model.log_posterior(z)), -20, 20)[0]
    assert model.kl_posterior(m, s) == pytest.approx(kl, abs=1e-8)
    assert model.entropy(s) == pytest.approx(stats.norm(m, s).entropy(), abs=1e-12)


def test_posterior_matches_bayes_rule_on_a_grid():
    model = ConjugateGaussian(gaussian_data(5, 2.0, 1.5, seed=2), 1.5)
    z = np.linspace(-6, 8, 20001)
    w = np.exp(model.log_joint(z) - model.log_evidence())
    assert integrate.trapezoid(w, z) == pytest.approx(1.0, abs=1e-9)
    assert integrate.trapezoid(w * z, z) == pytest.approx(model.post_mean, abs=1e-9)
    assert integrate.trapezoid(w * (z - model.post_mean) ** 2, z) == pytest.approx(model.post_sd ** 2,
                                                                                  abs=1e-9)


def test_elbo_is_maximised_exactly_at_the_posterior():
    model = ConjugateGaussian(gaussian_data(15, 1.0, 1.0, seed=3), 1.0)
    best = float(model.elbo(model.post_mean, model.post_sd))
    assert best == pytest.approx(model.log_evidence(), abs=1e-12)
    assert np.allclose(model.grad_elbo(model.post_mean, math.log(model.post_sd)), 0, atol=1e-10)
    for dm, dl in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (5e-4, 5e-4)):
        assert model.elbo(model.post_mean + dm, model.post_sd * math.exp(dl)) < best
    m, ls, surface = elbo_surface(model, (-1, 3), (-3, 0.5), 81)
    i, j = np.unravel_index(np.argmax(surface), surface.shape)
    assert abs(m[j] - model.post_mean) <= (m[1] - m[0])
    assert abs(ls[i] - math.log(model.post_sd)) <= (ls[1] - ls[0])


@pytest.mark.parametrize("kind", ["gaussian", "logistic"])
def test_grad_elbo_matches_finite_differences(kind):
    model = make_model(kind, 25, 1.2, 0.9, seed=5)
    for m, log_s in ((0.0, 0.0), (1.3, -1.2), (-0.5, 0.4)):
        h = 1e-5
        fd = [(model.elbo(m + h, math.exp(log_s)) - model.elbo(m - h, math.exp(log_s))) / (2 * h),
              (model.elbo(m, math.exp(log_s + h)) - model.elbo(m, math.exp(log_s - h))) / (2 * h)]
        assert model.grad_elbo(m, log_s) == pytest.approx(fd, abs=1e-5, rel=1e-6)


def test_gap_ascent_reaches_the_posterior():
    model = ConjugateGaussian(gaussian_data(10, 1.5, 1.0, seed=0), 1.0)
    exp = GapAscent(model, GapConfig(m=-3.0, log_s=1.5, lr=0.1))
    kls = []
    while not exp.done:
        kls.append(exp.step()["kl"])
    assert exp.gap() < 1e-6 and exp.steps < 2000
    assert np.all(np.diff(kls) <= 1e-12)  # the gap shrinks every step
    assert exp.m == pytest.approx(model.post_mean, abs=1e-3)
    assert exp.snapshot()["elbo"] + exp.gap() == pytest.approx(exp.log_evidence, abs=1e-9)


def test_bad_model_input_is_refused():
    with pytest.raises(ValueError, match="sigma_x"):
        ConjugateGaussian([1.0], sigma_x=0.0)
    with pytest.raises(ValueError, match="x is empty"):
        ConjugateGaussian([], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        ConjugateGaussian([1.0, np.nan], 1.0)
    with pytest.raises(ValueError, match="last"):
        ConjugateGaussian([1.0], 1.0).without_point(0)
    with pytest.raises(ValueError, match="only 0 and 1"):
        LogisticRegression([1.0, 2.0], [0.0, 0.5])
    with pytest.raises(ValueError, match="model"):
        make_model("poisson")
    with pytest.raises(ValueError, match="samples"):
        EstimatorConfig(samples=0).validate()


# -- logistic regression: quadrature is the reference ---------------------------------------
def test_logistic_quadrature_matches_scipy_and_a_million_samples():
    model = LogisticRegression(*logistic_data(30, 1.5, seed=1))
    m, s = 0.5, 0.8
    quad = integrate.quad(lambda z: stats.norm.pdf(z, m, s) * model.log_joint(z), -15, 15)[0]
    assert model.energy(m, s) == pytest.approx(quad, abs=1e-8)
    evidence = integrate.quad(lambda z: math.exp(model.log_joint(z)), -20, 20, points=[1.5])[0]
    assert model.log_evidence() == pytest.approx(math.log(evidence), abs=1e-8)
    eps = np.random.default_rng(0).standard_normal((1, 10 ** 6))
    mc = estimates_from_eps(model, m, math.log(s), eps, "reparam")[0]
    se = np.std(model.grad_log_joint(m + s * eps[0])) / 1000
    assert np.abs(mc - model.grad_elbo(m, math.log(s)))[0] < 4 * se


def test_logistic_log_joint_matches_a_direct_bernoulli_sum():
    x, y = logistic_data(40, -0.8, seed=3)
    model = LogisticRegression(x, y)
    w = 0.37
    p = 1 / (1 + np.exp(-w * x))
    direct = np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) + stats.norm.logpdf(w)
    assert model.log_joint(w) == pytest.approx(direct, abs=1e-10)


# -- estimators -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gaussian", "logistic"])
@pytest.mark.parametrize("point", [(0.0, 0.0), (1.0, -1.0)])
def test_each_estimator_is_unbiased_within_4_standard_errors(kind, point):
    model = make_model(kind, 20, 1.0, 1.0, seed=0)
    m, log_s = point
    truth = model.grad_elbo(m, log_s)
    est = gradient_estimates(model, m, log_s, samples=3, reps=40_000,
                             rng=np.random.default_rng(7), baseline=-30.0)
    for k in ESTIMATORS:
        mean = est[k].mean(0)
        se = est[k].std(0, ddof=1) / math.sqrt(len(est[k]))
        assert np.all(np.abs(mean - truth) < 4 * se), (k, mean, truth, se)


def test_a_wrong_score_function_is_caught():
    """The lecture's eq. 13 as printed (∇q in place of q ∇log q) is not the gradient."""
    model = make_model("gaussian", 20, 1.0, 1.0, seed=0)
    m, log_s = 0.0, 0.0
    eps = np.random.default_rng(0).standard_normal((40_000, 3))
    z = m + eps
    log_q = stats.norm.logpdf(z)
    h = model.log_joint(z) - log_q
    q = np.exp(log_q)  # ∇_m q = q (z − m) / s²: without dividing by q the estimate shrinks
    wrong = np.mean(q * eps * h, 1)
    se = wrong.std() / math.sqrt(len(wrong))
    assert abs(wrong.mean() - model.grad_elbo(m, log_s)[0]) > 10 * se


@pytest.mark.parametrize("kind", ["gaussian", "logistic"])
def test_control_variate_lowers_score_function_variance(kind):
    model = make_model(kind, 20, 1.0, 1.0, seed=0)
    for samples in (1, 10):
        table = variance_table(model, 0.0, 0.0, sizes=(samples,), reps=4000, seed=1)
        assert table["score_cv"][0] < 0.6 * table["score"][0]
        assert table["reparam"][0] < table["score_cv"][0]


def test_variance_falls_as_one_over_s():
    model = make_model("gaussian", 20, 1.0, 1.0, seed=0)
    table = variance_table(model, 0.0, 0.0, sizes=(1, 100), reps=3000, seed=2)
    for k in ESTIMATORS:
        assert table[k][0] / table[k][1] == pytest.approx(100, rel=0.25)


def test_estimator_experiment_runs_and_reports():
    exp = EstimatorExperiment(EstimatorConfig(model="logistic", n=15, samples=5, batch=50,
                                              max_steps=40, lr=0.01))
    while not exp.done:
        values = exp.step()
    assert set(values) == {f"{p}_{k}" for p in ("elbo", "var") for k in ESTIMATORS} | {
        f"var_{k}_se" for k in ESTIMATORS}
    for k in ESTIMATORS:  # the running total variance's SE, as the snapshot gives it
        assert values[f"var_{k}_se"] == pytest.approx(exp.variance_se(k))
    snap = exp.snapshot()
    assert snap["count"] == 40 * 50 and "metrics" not in snap
    for k in ESTIMATORS:
        assert 0.98 * 2000 <= snap["histograms"][0][k].sum() <= 2000  # ±4 sd window
        assert np.all(np.abs(snap["mean"][k] - snap["true_grad"]) < 5 * snap["stderr"][k])
    # reparameterized SGD climbs towards the best Gaussian ELBO
    assert exp.metrics.latest("elbo_reparam") > exp.metrics.column("elbo_reparam")[0]
    assert exp.metrics.latest("elbo_reparam") <= exp.elbo_optimum + 1e-9
    curve = exp.heavy_snapshot()["variance_curve"]
    assert np.all(curve["score"] > curve["reparam"])
    # the histogram baseline is the running mean of f − log q: close to the ELBO
    assert exp.baseline == pytest.approx(float(exp.model.elbo(0.0, 1.0)), abs=1.0)


def test_a_run_that_differs_only_in_samples_reuses_the_variance_table():
    """The table depends on the model, the point and the seed, not on S or the batch: a
    tour's next stop reuses it; any of the others gives a fresh one, as computed directly."""
    base = dict(model="logistic", n=12, m=-1.0, log_s=0.3, seed=4)
    first = EstimatorExperiment(EstimatorConfig(**base, samples=10)).heavy_snapshot()["variance_curve"]
    again = EstimatorExperiment(EstimatorConfig(**base, samples=100, batch=7)).heavy_snapshot()
    direct = variance_table(make_model("logistic", 12, 1.0, 1.0, 0), -1.0, 0.3, reps=200, seed=6)
    for k in (*ESTIMATORS, "sizes"):
        assert again["variance_curve"][k] is first[k]  # shared, not recomputed
        np.testing.assert_array_equal(first[k], direct[k])
    with pytest.raises(ValueError):
        first["score"][0] = 0.0  # read-only: a run cannot change another's table
    for change in ({"m": -0.9}, {"log_s": 0.2}, {"seed": 5}, {"data_seed": 1}, {"n": 13},
                   {"true_z": -2.0}):
        other = EstimatorExperiment(EstimatorConfig(**{**base, **change})).heavy_snapshot()
        assert not np.array_equal(other["variance_curve"]["score"], first["score"]), change


# -- Figure 5 -----------------------------------------------------------------------------
def test_lecture_g_maps_a_standard_normal_onto_a_ring_of_radius_about_one():
    x = latent.push(latent.sample_z(200_000, seed=0), "ring")
    r = latent.ring_radius(x)
    assert np.all(r > 1.0)  # ‖g(z)‖ = 1 + ‖z‖/10
    assert np.mean(r) == pytest.approx(1 + 0.1 * math.sqrt(math.pi / 2), abs=2e-3)
    assert np.std(r) < 0.07
    angle = np.arctan2(x[:, 1], x[:, 0])  # uniform around the ring
    assert stats.kstest(angle, stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-3


def test_affine_map_gives_the_gaussian_it_should():
    x = latent.push(latent.sample_z(200_000, seed=1), "affine")
    a, b = latent.affine_matrix()
    assert np.allclose(x.mean(0), b, atol=0.02)
    assert np.allclose(np.cov(x.T), a @ a.T, atol=0.03)
    grid = np.stack(np.meshgrid(np.linspace(-8, 8, 401), np.linspace(-8, 8, 401)), -1).reshape(-1, 2)
    assert latent.affine_density(grid).sum() * (16 / 400) ** 2 == pytest.approx(1, abs=1e-3)
    hist = latent.histogram2d(x, (-6, 6, -6, 6), 40)
    assert hist.sum() * (12 / 40) ** 2 == pytest.approx(1, abs=0.01)


def test_latent_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        latent.push(np.zeros((3, 2)), "spiral")
    with pytest.raises(ValueError, match="shape"):
        latent.push(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n must"):
        latent.sample_z(0)


# -- the CLI ------------------------------------------------------------------------------
def test_cli_estimators_json(capsys):
    import json

    from engine.cli import main

    assert main(["vi", "--section", "estimators", "--model", "logistic", "--max-steps", "20",
                 "--samples", "4", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["section"] == "estimators" and out["steps"] == 20
    assert out["config"]["samples"] == 4 and out["config"]["lr"] == 0.01  # the section's default
    ratios = out["variance_ratios"]
    assert ratios["S=1"]["score/reparam"] > ratios["S=1"]["score_cv/reparam"] > 1
    assert out["variance"]["score"][0] / out["variance"]["score"][1] == pytest.approx(100, rel=0.3)
    for k in ("reparam", "score", "score_cv"):  # 4000 replicates: 1-15 % (heavy tails at S = 1)
        assert all(0 < se < 0.25 * v for v, se in zip(out["variance"][k], out["variance_se"][k],
                                                     strict=True)), k
    ev = out["estimators"]
    assert 0 < ev["score"]["variance_total_se"] < math.inf and 0 < ev["ratio_score_se"] < ev["ratio_score"]


def test_cli_bbvi_json_and_errors(capsys):
    import json

    from engine.cli import main

    assert main(["vi", "--section", "bbvi", "--target", "gaussian", "--family", "meanfield",
                 "--max-steps", "30", "--device", "cpu", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 30 and out["config"]["lr"] == 0.02 and out["final"]["kl_reverse"] > 0
    assert main(["vi", "--section", "bbvi", "--rho", "1.5", "--quiet"]) == 2
    assert "rho must be between" in capsys.readouterr().err


def test_best_gaussian_q_is_a_stationary_maximum():
    model = make_model("logistic", 30, 1.5, 1.0, seed=2)
    m, log_s, best = best_gaussian_q(model)
    assert np.allclose(model.grad_elbo(m, log_s), 0, atol=1e-7)
    for dm, dl in ((1e-2, 0), (-1e-2, 0), (0, 1e-2), (0, -1e-2)):
        assert model.elbo(m + dm, math.exp(log_s + dl)) < best
    assert best < model.log_evidence()  # the gap of the best Gaussian is a true KL > 0
    gm, gl, gbest = best_gaussian_q(make_model("gaussian", 10, 1.0, 1.0, seed=0))
    assert gbest == pytest.approx(make_model("gaussian", 10, 1.0, 1.0, seed=0).log_evidence())


def test_logistic_posterior_mean_matches_scipy():
    model = LogisticRegression(*logistic_data(25, -1.2, seed=4))
    norm = integrate.quad(lambda z: math.exp(model.log_joint(z)), -15, 15)[0]
    mean = integrate.quad(lambda z: z * math.exp(model.log_joint(z)), -15, 15)[0] / norm
    assert model.post_mean == pytest.approx(mean, abs=1e-7)


def test_mlp_map_is_a_fixed_function_of_its_seed():
    z = latent.sample_z(500, seed=0)
    a, b = latent.push(z, "mlp", seed=3), latent.push(z, "mlp", seed=3)
    assert np.array_equal(a, b) and not np.allclose(a, latent.push(z, "mlp", seed=4))
    w1, b1, w2, b2 = latent.mlp_weights(3)
    assert a[:2] == pytest.approx(np.tanh(z[:2] @ w1 + b1) @ w2 + b2)


def test_paths_in_snapshots_stay_small():
    from engine.vi.estimators import thin_path

    path = np.cumsum(np.ones((10_000, 2)), 0)
    thin = thin_path(path, 2000)
    assert len(thin) <= 2000 and np.array_equal(thin[0], path[0]) and np.array_equal(thin[-1], path[-1])
    assert np.array_equal(thin_path(path[:50]), path[:50])
