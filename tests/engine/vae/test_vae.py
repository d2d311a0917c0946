"""VAE trainer: loss terms, bounds, loss modes, latent structure, NaN safety, views."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.runtime import NonFiniteError
from engine.vae.model import VAE, VAEConfig, VAEExperiment, importance_weighted, kl_to_prior

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


pytestmark = pytest.mark.usefixtures("torch_one_thread")



def make(digits, seed=0, **kw):
    kw.setdefault("hidden", (64,))
    kw.setdefault("device", "cpu")
    return VAEExperiment(VAEConfig(**kw), seed=seed, dataset=digits)


def train(exp, steps):
    for _ in range(steps):
        exp.step()
    return exp


@pytest.fixture(scope="module")
def trained(digits):
    """A small 2-D VAE after a few hundred steps, shared by read-only tests."""
    return train(make(digits, hidden=(128,), lr=3e-3), 400)


# -- loss terms -------------------------------------------------------------------
def test_analytic_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.5
    n = 200_000
    eps = torch.randn(n, 3, 4, generator=g, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = -0.5 * (eps**2 + math.log(2 * math.pi) + logvar).sum((1, 2))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi)).sum((1, 2))
    draws = log_q - log_p
    mc, se = draws.mean().item(), draws.std().item() / math.sqrt(n)
    assert abs(kl_to_prior(mu, logvar).item() - mc) < 4 * se


def test_gaussian_likelihood_keeps_all_constants():
    model = VAE(16, latent=2, hidden=(8,), likelihood="gaussian", sigma=0.3).double()
    x = torch.rand(5, 16, dtype=torch.float64)
    mean = torch.rand(5, 16, dtype=torch.float64)
    expected = -torch.distributions.Normal(mean, 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(model.neg_log_lik(mean, x, per_example=True), expected)
    torch.testing.assert_close(model.neg_log_lik(mean, x), expected.sum())


def test_learned_sigma_trains(digits):
    exp = train(make(digits, likelihood="gaussian", learn_sigma=True, sigma=0.5, lr=3e-3), 100)
    assert exp.snapshot()["sigma"] < 0.5  # data fit well below the starting std
    assert math.isfinite(exp.metrics.last()["loss"])


# -- bounds -----------------------------------------------------------------------
def test_iw_bound_tightens_with_k(trained):
    res = {k: trained.evaluate(k=k, n=200) for k in (1, 10, 100)}
    nll = {k: r["nll_iw"] for k, r in res.items()}
    # k = 1 is a single-sample ELBO; more samples can only tighten the bound.
    assert nll[1] == pytest.approx(res[1]["neg_elbo"], abs=0.3)
    assert nll[1] > nll[10] > nll[100]
    for r in res.values():
        assert r["nll_iw"] <= r["neg_elbo"] + 0.3
    assert nll[100] < res[100]["neg_elbo"]
    assert res[100]["neg_elbo"] == pytest.approx(res[100]["recon"] + res[100]["kl"])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_importance_weighted_bound_matches_torch_distributions(likelihood, digits):
    """recon, KL and the IW bound against torch.distributions, the same noise: exact."""
    from torch.distributions import Bernoulli, Normal, kl_divergence

    torch.manual_seed(0)
    model = VAE(64, latent=3, hidden=(32,), likelihood=likelihood, sigma=0.4).double()
    x = torch.tensor(digits.test_x[:20].reshape(20, -1), dtype=torch.float64)
    k = 50
    eps = torch.randn(k, 20, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        recon, kl, nll_iw = importance_weighted(model, x, eps)
        mu, logvar = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * logvar))
        z = q.loc + q.scale * eps
        out = model.decode(z.reshape(-1, 3)).reshape(k, 20, 64)
        pixels = Bernoulli(logits=out, validate_args=False) if likelihood == "bernoulli" \
            else Normal(out, model.log_sigma.exp())  # 0.4 as the model stores it
        log_px = pixels.log_prob(x).sum(-1)
        log_w = log_px + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
        expected = math.log(k) - torch.logsumexp(log_w, 0)
        torch.testing.assert_close(nll_iw, expected, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(recon, -log_px.mean(0), rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(kl, kl_divergence(q, Normal(0.0, 1.0)).sum(-1),
                                   rtol=1e-10, atol=1e-9)


def test_evaluate_covers_full_test_set(trained, digits):
    r = trained.evaluate(k=5)
    assert r["n"] == len(digits.test_x) and r["k"] == 5
    assert trained.evaluate(k=5) == r  # seeded


# -- loss modes (lecture figures 10-11) -------------------------------------------
def test_kl_only_collapses_codes_to_prior(digits):
    exp = train(make(digits, loss_mode="kl", lr=1e-2), 300)
    mu = exp.encode_images(digits.test_x)
    assert np.abs(mu).mean() < 0.05
    assert exp.metrics.last()["kl"] < 1e-3


def test_recon_only_reconstructs_better_with_larger_kl(digits):
    elbo = train(make(digits, hidden=(128,), lr=3e-3), 400).evaluate(k=1)
    recon = train(make(digits, hidden=(128,), lr=3e-3, loss_mode="recon"), 400).evaluate(k=1)
    assert recon["recon"] < elbo["recon"]
    assert recon["kl"] > 2 * elbo["kl"]


def test_2d_latent_separates_digit_classes(digits):
    from sklearn.neighbors import KNeighborsClassifier

    exp = train(make(digits, hidden=(256, 128), lr=2e-3), 2500)
    knn = KNeighborsClassifier(5).fit(exp.encode_images(digits.train_x), digits.train_y)
    assert knn.score(exp.encode_images(digits.test_x), digits.test_y) > 0.8


def test_beta_weights_the_kl_in_the_loss_and_in_training(digits):
    for beta in (0.0, 0.5, 4.0):
        exp = make(digits, beta=beta)
        v = exp.step()
        assert v["loss"] == pytest.approx(v["recon"] + beta * v["kl"], rel=1e-6)
    # Behaviour: a large beta pulls the codes to the prior (small KL, worse recon).
    low, high = (train(make(digits, beta=b, lr=3e-3), 200) for b in (0.25, 4.0))
    kl_low, kl_high = low.metrics.column("kl")[-20:].mean(), high.metrics.column("kl")[-20:].mean()
    assert kl_high < 0.5 * kl_low
    assert high.metrics.column("recon")[-20:].mean() > low.metrics.column("recon")[-20:].mean()


# -- determinism and safety --------------------------------------------------------
def test_same_seed_same_losses(digits):
    a, b, c = (train(make(digits, seed=s), 15) for s in (3, 3, 4))
    assert a.metrics.column("loss").tolist() == b.metrics.column("loss").tolist()
    assert a.metrics.column("loss").tolist() != c.metrics.column("loss").tolist()


def test_huge_lr_stops_with_last_good_weights(digits):
    exp = make(digits, lr=10.0)
    with pytest.raises(NonFiniteError, match=r"lr=10") as info:
        for _ in range(200):
            before = {k: v.clone() for k, v in exp.model.state_dict().items()}
            steps = exp.steps
            exp.step()
    assert "smaller learning rate" in str(info.value)
    assert exp.steps == steps and len(exp.metrics) == steps
    for name, tensor in exp.model.state_dict().items():
        assert torch.isfinite(tensor).all(), name
        assert torch.equal(tensor, before[name]), name
    exp.snapshot()  # still usable


def test_nan_gradient_with_finite_loss_keeps_weights_and_adam_state(digits):
    import copy

    exp = train(make(digits), 5)
    weights = copy.deepcopy(exp.model.state_dict())
    adam = copy.deepcopy(exp.optimizer.state_dict())
    hook = exp.model.decoder[0].weight.register_hook(lambda g: g * math.nan)
    with pytest.raises(NonFiniteError, match="gradient became non-finite at step 6"):
        exp.step()
    hook.remove()
    assert exp.steps == 5 and len(exp.metrics) == 5
    for name, tensor in exp.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    after = exp.optimizer.state_dict()
    assert after["param_groups"] == adam["param_groups"]
    for i, state in adam["state"].items():
        for key, value in state.items():
            assert torch.equal(after["state"][i][key], value), (i, key)
    assert math.isfinite(exp.step()["loss"])


@pytest.mark.parametrize("field, value", [
    ("latent", 1), ("latent", 65), ("latent", 2.5), ("hidden", (4,)), ("hidden", (5000,)),
    ("hidden", ()), ("likelihood", "poisson"), ("loss_mode", "both"), ("beta", -0.1),
    ("beta", 101), ("lr", 0.0), ("lr", 1e-7), ("lr", 11.0), ("lr", math.nan),
    ("batch_size", 0), ("batch_size", 4097), ("epochs", 0), ("eval_every", 0),
    ("threads", 0), ("sigma", 0.0),
])
def test_config_validation(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        VAEConfig(**{field: value}).validate()


def test_validation_runs_on_construction(digits):
    with pytest.raises(ValueError, match="latent"):
        make(digits, latent=100)
    with pytest.raises(ValueError, match="dataset"):
        VAEExperiment(VAEConfig(dataset="fashion-mnist"), dataset=digits)
    VAEConfig(lr=10.0).validate()  # allowed on purpose: demonstrates a NaN


# -- trainer bookkeeping and views ---------------------------------------------------
def test_epochs_done_and_test_metrics(digits):
    exp = make(digits, epochs=1, batch_size=128, eval_every=5)
    steps = math.ceil(len(digits.train_x) / 128)
    rows = [exp.step() for _ in range(steps)]
    assert exp.done and exp.samples_seen == len(digits.train_x)
    assert rows[-1]["epoch"] == pytest.approx(1.0)
    assert set(rows[-1]) >= {"loss", "recon", "kl", "epoch", "test_loss", "test_recon", "test_kl"}
    assert "test_loss" in rows[4] and "test_loss" not in rows[5]
    assert rows[-1]["loss"] == pytest.approx(rows[-1]["recon"] + rows[-1]["kl"], rel=1e-5)
    assert exp.samples_per_s > 0


def test_snapshot_views(trained, digits):
    s = trained.snapshot()
    n, per_epoch = len(digits.train_x), math.ceil(len(digits.train_x) / 128)
    assert s["step"] == 400 and s["samples_seen"] == 400 // per_epoch * n + 400 % per_epoch * 128
    assert s["epoch"] == pytest.approx(s["samples_seen"] / n)
    for key, n in (("originals", 8), ("reconstructions", 8), ("samples", 36)):
        assert s[key].shape == (n, 8, 8) and s[key].dtype == np.float32, key
        assert 0 <= s[key].min() and s[key].max() <= 1
    assert "metrics" not in s  # the runner ships the history (engine.core.runtime)
    steps, loss = trained.metrics.get("loss")
    assert len(loss) == 400 and steps[-1] == 400 and len(trained.metrics) == 400  # recorded once
    assert np.isfinite(trained.metrics.get("test_loss")[1]).sum() >= 1
    # Reconstructions resemble their originals more than random prior samples do.
    err = np.abs(s["reconstructions"] - s["originals"]).mean()
    assert err < np.abs(s["samples"][:8] - s["originals"]).mean()


def test_heavy_snapshot_2d_with_manifold(trained, digits):
    h = trained.heavy_snapshot()
    assert h["projection"] == "identity"
    assert h["latent"].shape == (len(digits.test_x), 2) and h["latent"].dtype == np.float32
    assert h["labels"].tolist() == digits.test_y.tolist()
    assert h["manifold"].shape == (15 * 8, 15 * 8) and h["manifold"].dtype == np.float32
    x0, x1, y0, y1 = h["manifold_extent"]
    assert x0 < np.percentile(h["latent"][:, 0], 50) < x1 and y0 < y1
    # Top-left tile decodes the code at (z1 min, z2 max).
    lo, hi = np.percentile(h["latent"], 1, axis=0), np.percentile(h["latent"], 99, axis=0)
    corner = trained.decode_latent([[lo[0], hi[1]]])[0]
    np.testing.assert_allclose(h["manifold"][:8, :8], corner, atol=1e-5)


def test_heavy_snapshot_pca_and_decoding(digits):
    exp = train(make(digits, latent=6), 50)
    h = exp.heavy_snapshot()
    assert h["projection"] == "pca" and h["latent"].shape == (len(digits.test_x), 2)
    assert "manifold" not in h
    ev = h["explained_variance"]
    assert ev.shape == (2,) and 0 < ev[1] <= ev[0] <= 1
    assert exp.decode_latent(np.zeros((3, 2))).shape == (3, 8, 8)  # PCA plane
    assert exp.decode_latent(np.zeros((3, 6))).shape == (3, 8, 8)  # full codes
    with pytest.raises(ValueError, match="columns"):
        exp.decode_latent(np.zeros((3, 4)))


def test_interpolate_and_encode(trained, digits):
    mu = trained.encode_images(digits.test_x[:2])
    assert mu.shape == (2, 2) and mu.dtype == np.float32
    path = trained.interpolate(mu[0], mu[1], steps=7)
    assert path.shape == (7, 8, 8)
    np.testing.assert_allclose(path[[0, -1]], trained.decode_latent(mu), atol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        trained.interpolate(mu[0], mu[1], steps=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_trains_on_cuda(digits):
    exp = train(make(digits, device="cuda"), 20)
    assert exp.device.startswith("cuda")
    assert exp.snapshot()["samples"].shape == (36, 8, 8)
    assert math.isfinite(exp.evaluate(k=10)["nll_iw"])


# -- real data ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
def test_fashion_mnist_short_run_lowers_test_loss():
    exp = VAEExperiment(VAEConfig(dataset="fashion-mnist", latent=20, hidden=(400,),
                                  eval_every=100, device="cpu"), seed=0)
    with torch.no_grad():
        start = exp.test_metrics()["test_loss"]
    train(exp, 300)
    test_loss = exp.metrics.column("test_loss")
    test_loss = test_loss[np.isfinite(test_loss)]
    assert len(test_loss) == 3
    assert test_loss[-1] < test_loss[0] < start
    assert test_loss[-1] < 0.6 * start
