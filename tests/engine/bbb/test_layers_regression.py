"""Bayes by Backprop: priors, KL (Monte Carlo vs closed form vs quadrature), minibatch KL
weights, local reparameterization, pruning, and the Figure 15 regression."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from engine.bbb import (
    BayesLinear,
    BayesMLP,
    GaussianPrior,
    RegressionConfig,
    RegressionExperiment,
    ScaleMixturePrior,
    elbo_parts,
    gaussian_nll,
    kl_weights,
    make_curve,
    make_prior,
    predictive_entropy,
    pruned,
    softplus_inv,
    true_curve,
)
from engine.core.runtime import NonFiniteError

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# -- minibatch KL weights ---------------------------------------------------------------------------
@given(m=st.integers(1, 5000), scheme=st.sampled_from(["uniform", "blundell"]))
@settings(max_examples=60, deadline=None)
def test_kl_weights_sum_to_one_over_an_epoch(m, scheme):
    w = kl_weights(m, scheme)
    assert w.shape == (m,) and (w >= 0).all()
    assert math.fsum(w) == pytest.approx(1.0, abs=1e-12)


def test_blundell_weights_are_the_papers():
    # pi_i = 2^(M-i) / (2^M - 1): for M = 3, 4/7, 2/7, 1/7; each half the one before.
    np.testing.assert_allclose(kl_weights(3, "blundell"), [4 / 7, 2 / 7, 1 / 7], rtol=1e-15)
    w = kl_weights(40, "blundell")
    np.testing.assert_allclose(w[:-1] / w[1:], 2.0, rtol=1e-12)
    np.testing.assert_allclose(kl_weights(4, "uniform"), 0.25)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_kl_weights_reject_bad_counts(bad):
    with pytest.raises(ValueError, match="minibatches"):
        kl_weights(bad)
    with pytest.raises(ValueError, match="weighting"):
        kl_weights(3, "linear")


# -- priors ---------------------------------------------------------------------------------------
def test_prior_log_densities_match_scipy():
    w = torch.linspace(-3, 3, 41, dtype=torch.float64)
    wn = w.numpy()
    expected = stats.norm(0, 0.7).logpdf(wn).sum()
    assert GaussianPrior(0.7).log_prob(w).item() == pytest.approx(expected, rel=1e-12)
    mix = ScaleMixturePrior(0.25, math.exp(-1), math.exp(-7))
    expected = np.log(0.25 * stats.norm(0, math.exp(-1)).pdf(wn)
                      + 0.75 * stats.norm(0, math.exp(-7)).pdf(wn)).sum()
    assert mix.log_prob(w).item() == pytest.approx(expected, rel=1e-10)
    # At 0 the narrow component dominates; far out only the wide one counts (no -inf).
    assert math.isfinite(mix.log_prob(torch.tensor([50.0], dtype=torch.float64)).item())
    assert mix.log_prob(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(
        math.log(0.25 / math.exp(-1) + 0.75 / math.exp(-7)) - 0.5 * math.log(2 * math.pi), rel=1e-12)


def test_make_prior_and_bad_priors():
    assert make_prior("gaussian", sigma=2.0).sigma == 2.0
    m = make_prior("mixture", pi=0.75, log_sigma1=-1, log_sigma2=-8)
    assert (m.pi, m.sigma1, m.sigma2) == (0.75, math.exp(-1), math.exp(-8))
    for call in (lambda: make_prior("laplace"), lambda: GaussianPrior(0.0),
                 lambda: ScaleMixturePrior(pi=1.0), lambda: ScaleMixturePrior(sigma2=-1)):
        with pytest.raises(ValueError):
            call()


def test_closed_form_kl_matches_quadrature():
    # KL(N(mu, s^2) || N(0, p^2)) for one weight, by numerical integration.
    prior = GaussianPrior(0.8)
    for mu, s in [(0.3, 0.1), (-1.2, 0.9), (0.0, 2.0)]:
        q, p = stats.norm(mu, s), stats.norm(0, 0.8)
        quad, _ = integrate.quad(lambda w, q=q, p=p: q.pdf(w) * (q.logpdf(w) - p.logpdf(w)),
                                 mu - 12 * s, mu + 12 * s)
        closed = prior.kl(torch.tensor([mu], dtype=torch.float64), torch.tensor([s], dtype=torch.float64))
        assert closed.item() == pytest.approx(quad, rel=1e-7, abs=1e-10)


def layer(prior, seed=0, n_in=6, n_out=4):
    torch.manual_seed(seed)
    lay = BayesLinear(n_in, n_out, prior, rho_init=-1.0).double()
    with torch.no_grad():
        lay.weight_rho.add_(0.5 * torch.randn_like(lay.weight_rho))
        lay.weight_mu.mul_(3.0)
    return lay


def test_monte_carlo_kl_agrees_with_closed_form_within_standard_error():
    lay = layer(GaussianPrior(0.5))
    draws = torch.stack([lay._kl("mc") for _ in range(4000)]).detach()
    mc, se = draws.mean().item(), draws.std().item() / math.sqrt(len(draws))
    closed = lay.kl_closed().item()
    assert abs(mc - closed) < 4 * se
    assert se < 0.05 * abs(closed)  # the test has power: a 5 % error in either would show


def test_monte_carlo_kl_of_the_mixture_is_log_q_minus_log_p():
    lay = layer(ScaleMixturePrior())
    torch.manual_seed(3)
    w, b, eps_w, eps_b = lay.sample_weights()
    expected = (stats.norm(lay.weight_mu.detach(), lay.weight_sigma.detach()).logpdf(w.detach()).sum()
                + stats.norm(lay.bias_mu.detach(), lay.bias_sigma.detach()).logpdf(b.detach()).sum()
                - lay.prior.log_prob(w.detach()).item() - lay.prior.log_prob(b.detach()).item())
    assert lay._kl_mc(eps_w, eps_b).item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="closed-form"):
        lay.kl_closed()


def test_kl_gradient_pulls_sigma_to_the_prior():
    # The closed-form KL to N(0, 1) is minimised at mu = 0, sigma = 1: its gradient in rho
    # is negative when sigma < 1 (grow sigma) and positive when sigma > 1.
    for s, sign in [(0.2, -1), (3.0, 1)]:
        lay = BayesLinear(1, 1, GaussianPrior(1.0), rho_init=softplus_inv(s)).double()
        lay.kl_closed().backward()
        assert math.copysign(1, lay.weight_rho.grad.item()) == sign


def test_softplus_inverse():
    for s in (1e-6, 0.0067, 1.0, 30.0):
        rho = torch.tensor(softplus_inv(s), dtype=torch.float64)
        assert torch.nn.functional.softplus(rho).item() == pytest.approx(s, rel=1e-9)
    with pytest.raises(ValueError):
        softplus_inv(0.0)


# -- the layer's sampling modes ----------------------------------------------------------------------
def test_local_reparameterization_has_the_weight_samples_moments():
    lay = layer(GaussianPrior(1.0))
    x = torch.randn(1, 6, dtype=torch.float64).expand(20000, 6)
    mean = (x[0] @ lay.weight_mu.T + lay.bias_mu).detach()
    var = (x[0].square() @ lay.weight_sigma.square().T + lay.bias_sigma.square()).detach()
    torch.manual_seed(1)
    local = lay(x, "local", None)[0].detach()
    samples = torch.stack([lay(x[:1], "sample", None)[0][0] for _ in range(20000)]).detach()
    for out in (local, samples):
        se = (var / len(out)).sqrt()
        assert ((out.mean(0) - mean).abs() < 4.5 * se).all()
        assert ((out.var(0) / var - 1).abs() < 0.06).all()  # sd of a variance ratio at n=2e4: 0.01


def test_one_weight_sample_is_shared_by_the_batch_but_not_in_local_mode():
    lay = layer(GaussianPrior(1.0))
    x = torch.ones(2, 6, dtype=torch.float64)
    same = lay(x, "sample", None)[0]
    assert torch.equal(same[0], same[1])
    local = lay(x, "local", None)[0]
    assert not torch.equal(local[0], local[1])
    mean = lay(x, "mean", None)[0]
    assert torch.equal(mean, lay(x, "mean", None)[0])
    with pytest.raises(ValueError, match="mode"):
        lay(x, "exact")
    with pytest.raises(ValueError, match="kl"):
        lay(x, "mean", "exact")


@pytest.mark.parametrize("local", [False, True])
def test_elbo_parts_are_the_means_over_the_weight_draws(local):
    net = BayesMLP([2, 8, 1], GaussianPrior(1.0), rho_init=-1.0, seed=0).double()
    x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    log_noise = torch.tensor(-1.0, dtype=torch.float64)

    def nll(out):
        return gaussian_nll(out, y, log_noise)

    net.set_noise(torch.Generator().manual_seed(7))
    kl, total = elbo_parts(net, x, nll, samples=3, local=local, kl="mc")
    net.set_noise(torch.Generator().manual_seed(7))
    draws = [net(x, "local" if local else "sample", "mc") for _ in range(3)]
    assert kl.item() == pytest.approx(np.mean([k.item() for _, k in draws]), rel=1e-12)
    assert total.item() == pytest.approx(np.mean([nll(out).item() for out, _ in draws]), rel=1e-12)
    assert total.item() != pytest.approx(nll(draws[0][0]).item(), rel=1e-6)  # the draws differ
    with pytest.raises(ValueError, match="samples"):
        elbo_parts(net, x, nll, samples=0, local=local, kl="mc")


def test_predict_draws_independent_weight_samples():
    net = BayesMLP([1, 8, 1], GaussianPrior(1.0), rho_init=-1.0, seed=0)
    x = torch.linspace(0, 1, 7)[:, None]
    out = net.predict(x, samples=50, chunk=3)
    assert out.shape == (50, 7, 1)
    assert out[:, 0, 0].std() > 0
    # each sample is one function: the same weights across the chunked x
    torch.manual_seed(0)
    a = net.predict(x, samples=4, chunk=100)
    torch.manual_seed(0)
    b = net.predict(x, samples=4, chunk=7)
    torch.testing.assert_close(a, b)


def test_likelihoods():
    pred, y = torch.randn(5, 1, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    ls = torch.tensor(math.log(0.3), dtype=torch.float64)
    expected = -stats.norm(pred, 0.3).logpdf(y).sum()
    assert gaussian_nll(pred, y, ls).item() == pytest.approx(expected, rel=1e-12)
    probs = torch.softmax(torch.randn(3, 4, 5), -1)
    ent = predictive_entropy(probs)
    assert ent.numpy() == pytest.approx(stats.entropy(probs.mean(0).numpy(), axis=-1), rel=1e-5)
    assert predictive_entropy(torch.full((2, 1, 10), 0.1)).item() == pytest.approx(math.log(10), rel=1e-6)


# -- pruning -----------------------------------------------------------------------------------------
def test_pruning_removes_the_lowest_snr_weights_exactly():
    net = BayesMLP([4, 10, 3], GaussianPrior(1.0), rho_init=-2.0, seed=1)
    with torch.no_grad():
        for l in net.layers:
            l.weight_rho.add_(torch.randn_like(l.weight_rho))
    snr = net.snr()
    net.prune(0.5)
    mask = torch.cat([l.weight_mask.flatten() for l in net.layers]).numpy().astype(bool)
    assert (~mask).sum() == round(0.5 * snr.size)
    assert snr[~mask].max() <= snr[mask].min()
    assert net.pruned_fraction == pytest.approx(0.5, abs=1 / snr.size)
    # pruned weights are exactly zero in every mode
    x = torch.randn(2, 4)
    manual = x
    for i, l in enumerate(net.layers):
        manual = torch.nn.functional.linear(manual, l.weight_mu * l.weight_mask, l.bias_mu)
        manual = torch.relu(manual) if i == 0 else manual
    torch.testing.assert_close(net(x, "mean", None)[0], manual)
    with pruned(net, 0.9):
        assert net.pruned_fraction == pytest.approx(0.9, abs=1 / snr.size)
    assert net.pruned_fraction == 0.0
    with pytest.raises(ValueError, match="prune"):
        net.prune(1.5)


def test_pruned_weights_leave_the_kl():
    net = BayesMLP([3, 4, 2], GaussianPrior(1.0), rho_init=-2.0, seed=0).double()
    full = net.kl_closed().item()
    net.prune(0.5)
    kept = sum((GaussianPrior(1.0).kl(l.weight_mu[l.weight_mask.bool()], l.weight_sigma[l.weight_mask.bool()])
                + GaussianPrior(1.0).kl(l.bias_mu, l.bias_sigma)).item() for l in net.layers)
    assert net.kl_closed().item() == pytest.approx(kept, rel=1e-12) and kept < full


# -- the 1-D regression (Figure 15) ------------------------------------------------------------------
def test_toy_curve_is_the_papers():
    x, y = make_curve("blundell", 2000, 0.0, seed=1)
    assert x.min() >= 0 and x.max() <= 0.5
    np.testing.assert_allclose(y, x + 0.3 * np.sin(2 * np.pi * x) + 0.3 * np.sin(4 * np.pi * x))
    x, y = make_curve("blundell", 20000, 0.02, seed=2)
    # eps also enters inside the sines: the scatter around the curve is ~0.062, not 0.02
    assert np.std(y - true_curve("blundell", x)) == pytest.approx(0.062, abs=0.004)
    with pytest.raises(ValueError, match="function"):
        make_curve("spiral")
    with pytest.raises(ValueError, match="noise_std"):
        make_curve("sine", noise_std=-1)


@pytest.fixture(scope="module")
def fitted():
    exp = RegressionExperiment(RegressionConfig(epochs=500, device="cpu"), seed=0)
    while not exp.done:
        exp.step()
    return exp


def test_bands_widen_away_from_the_data_and_the_median_fits(fitted):
    ev = fitted.evaluate()
    assert ev["band_at_1.1"] >= 3 * ev["band_inside"]
    assert ev["rmse"] <= 1.5 * ev["noise_level"]
    assert ev["rmse_truth"] < 1.25 * ev["noise_level"]
    snap = fitted.snapshot()
    q = snap["quantiles"]
    assert q.shape == (5, len(snap["grid"])) and (np.diff(q, axis=0) >= 0).all()
    assert snap["curves"].shape[1] == len(snap["grid"]) and np.isfinite(snap["plain"]).all()
    # the plain net fits too but has no band at all: the contrast of Figure 15
    assert ev["plain_rmse"] <= 1.5 * ev["noise_level"]


def test_reported_bands_agree_with_many_draws_within_their_error(fitted):
    # The band figures carry a bootstrap SE under 2 % of their value; a fresh
    # 20,000-draw estimate (other weight samples) lies within 3 of those errors.
    from engine.bbb.bands import band_width

    ev = fitted.evaluate()
    inside = np.linspace(0.0, 0.5, 51)
    for key, x, seed in (("band_inside", inside, 1234), ("band_at_1.1", [1.1], 4321)):
        assert 0 < ev[f"{key}_se"] < 0.02 * ev[key]
        assert ev[f"{key}_draws"] >= 1000
        ref = band_width(fitted.predictive(x, 20_000, seed))
        assert abs(ev[key] - ref) < 3 * ev[f"{key}_se"], (key, ev[key], ref, ev[f"{key}_se"])
    # The page's figures come from its S draws and say how uncertain they are.
    snap = fitted.snapshot()
    assert snap["band_draws"] == fitted.config.pred_samples
    ref = band_width(fitted.predictive(inside, 20_000, 99))
    assert abs(snap["band_inside"] - ref) < 4 * snap["band_inside_se"]


def test_elbo_parts_are_recorded(fitted):
    m = fitted.metrics
    for name in ("loss", "kl", "kl_per_point", "nll", "plain_mse", "epoch"):
        assert len(m.get(name)[1]) > 0
    kl = m.column("kl")
    assert kl[-100:].mean() < kl[:100].mean()  # the KL falls from its initial value
    assert m.latest("kl_per_point") == pytest.approx(m.latest("kl") / fitted.x.size)


def test_weights_panel_and_view_pruning(fitted):
    heavy = fitted.heavy_snapshot()
    assert heavy["sigma_hist"]["counts"].sum() == heavy["n_weights"] == 1 * 64 + 64 * 64 + 64
    before = fitted.snapshot()["quantiles"][2]
    fitted.set_prune(0.9)
    try:
        after = fitted.snapshot()["quantiles"][2]
        assert fitted.heavy_snapshot()["snr_threshold"] > 0
    finally:
        fitted.set_prune(0.0)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(fitted.snapshot()["quantiles"][2], before)  # views restore
    with pytest.raises(ValueError, match="prune"):
        fitted.set_prune(-0.1)


def test_added_points_pull_the_fit():
    exp = RegressionExperiment(RegressionConfig(device="cpu"), seed=1)
    for _ in range(600):
        exp.step()
    grid = exp.snapshot()["grid"]
    at = np.argmin(abs(grid - 1.0))
    q0 = exp.snapshot()["quantiles"][:, at]
    for _ in range(15):
        exp.add_point(1.0, 1.5)
    for _ in range(400):
        exp.step()
    q1 = exp.snapshot()["quantiles"][:, at]
    assert abs(q1[2] - 1.5) < 0.5 * abs(q0[2] - 1.5)
    n = exp.x.size
    assert exp.remove_nearest(1.0, 1.5) and exp.x.size == n - 1
    assert not exp.remove_nearest(5.0, 5.0)


def test_regression_options_train(tmp_path):
    for kw in (dict(prior="gaussian", kl_method="closed"), dict(local_reparam=True, learn_noise=True),
               dict(weighting="blundell", train_samples=2)):
        exp = RegressionExperiment(RegressionConfig(device="cpu", **kw), seed=0)
        first = [exp.step()["loss"] for _ in range(5)]
        for _ in range(200):
            exp.step()
        assert np.mean([exp.step()["loss"] for _ in range(5)]) < np.mean(first)


def test_checkpoint_round_trip(fitted, tmp_path):
    path = tmp_path / "bbb.pt"
    fitted.save(path)
    back = RegressionExperiment.load(path)
    np.testing.assert_allclose(back.snapshot()["quantiles"], fitted.snapshot()["quantiles"], rtol=1e-6)
    assert back.steps == fitted.steps and back.metrics.latest("kl") == fitted.metrics.latest("kl")


def test_non_finite_loss_stops_and_keeps_the_weights():
    exp = RegressionExperiment(RegressionConfig(device="cpu"), seed=0)
    exp.step()
    before = {k: v.clone() for k, v in exp.net.state_dict().items()}
    exp.set_points([0.1, 0.2], [1e30, np.float32(3e38)])
    with pytest.raises(NonFiniteError):
        exp.step()
    for k, v in exp.net.state_dict().items():
        assert torch.equal(v, before[k])
    assert exp.steps == 1


@pytest.mark.parametrize("kw, word", [
    (dict(kl_method="closed"), "closed"), (dict(batch_size=0), "batch_size"),
    (dict(hidden=(0,)), "hidden"), (dict(function="spiral"), "function"),
    (dict(noise_sigma=-1.0), "noise_sigma")])
def test_bad_config_names_the_field(kw, word):
    with pytest.raises(ValueError, match=word):
        RegressionExperiment(RegressionConfig(device="cpu", **kw))


def test_bad_points_are_refused():
    exp = RegressionExperiment(RegressionConfig(device="cpu", n_points=10), seed=0)
    for x, y in (([0.1], [0.1, 0.2]), ([], []), ([np.nan], [0.0])):
        with pytest.raises(ValueError, match="points"):
            exp.set_points(x, y)
    assert exp.x.size == 10


def test_minibatch_kl_weights_used_in_training_sum_to_one_over_an_epoch():
    # pi_i recovered from the recorded terms: loss = (pi_i kl + nll_batch) / b.
    for scheme in ("uniform", "blundell"):
        exp = RegressionExperiment(RegressionConfig(device="cpu", n_points=200, batch_size=50,
                                                    weighting=scheme), seed=0)
        pis = []
        for _ in range(exp.batches_per_epoch):
            v = exp.step()
            pis.append((v["loss"] - v["nll"]) * 50 / v["kl"])
        np.testing.assert_allclose(pis, kl_weights(4, scheme), rtol=2e-3, atol=1e-5)
        assert math.fsum(pis) == pytest.approx(1.0, abs=2e-3)


def test_local_reparameterization_lowers_gradient_variance():
    from engine.bbb import gradient_variance

    net = BayesMLP([1, 32, 1], GaussianPrior(1.0), rho_init=-2.0, seed=0)
    x = torch.linspace(0, 0.5, 64)[:, None]
    y = torch.sin(6 * x)
    mse = lambda out, t: (out - t).square().mean()  # noqa: E731
    torch.manual_seed(0)
    v_sample = gradient_variance(net, mse, x, y, "sample", 200)
    v_local = gradient_variance(net, mse, x, y, "local", 200)
    assert v_local < 0.5 * v_sample
