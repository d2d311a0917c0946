"""The VAE's test figures carry standard errors that match a brute-force scatter: the
same model measured again on other images and other draws of z."""
import dataclasses

import numpy as np
import pytest
import torch

from engine.vae.model import VAEConfig, VAEExperiment, kl_to_prior

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = ("test_loss", "test_recon", "test_kl")


@pytest.fixture(scope="module")
def model(digits):
    """A small 2-D VAE after 150 steps (β = 0.5, so the objective differs from −ELBO)."""
    exp = VAEExperiment(VAEConfig(hidden=(64,), lr=3e-3, beta=0.5, device="cpu"), seed=0,
                        dataset=digits)
    for _ in range(150):
        exp.step()
    return exp


def test_test_metrics_are_the_old_batch_figures_with_their_se(model):
    with torch.no_grad():
        got = model.test_metrics()
        x, n = model.eval_x, model.eval_x.shape[0]
        out, mu, logvar = model.model(x, model._eval_eps)
        recon = float(model.model.neg_log_lik(out, x)) / n
        kl = float(kl_to_prior(mu, logvar)) / n
    assert got["test_recon"] == pytest.approx(recon, rel=1e-5)
    assert got["test_kl"] == pytest.approx(kl, rel=1e-5)
    assert got["test_loss"] == pytest.approx(recon + 0.5 * kl, rel=1e-5)
    for name in NAMES:
        assert 0 < got[f"{name}_se"] < 0.2 * abs(got[name])


def test_test_metric_se_matches_the_scatter_of_repeats(model, digits):
    """Each repeat measures 120 test images drawn with replacement, with fresh noise: the
    SD of the repeats' means is what the reported SE estimates."""
    rng = np.random.default_rng(1)
    saved = model.eval_x, model._eval_eps
    means, ses = {k: [] for k in NAMES}, {k: [] for k in NAMES}
    try:
        for _ in range(300):
            idx = torch.from_numpy(rng.integers(0, model.test_x.shape[0], 120))
            model.eval_x = model.test_x[idx]
            model._eval_eps = torch.from_numpy(rng.standard_normal((120, 2), dtype=np.float32))
            with torch.no_grad():
                got = model.test_metrics()
            for k in NAMES:
                means[k].append(got[k])
                ses[k].append(got[f"{k}_se"])
    finally:
        model.eval_x, model._eval_eps = saved
    for k in NAMES:
        sd, se = np.std(means[k], ddof=1), np.mean(ses[k])
        assert 0.8 < sd / se < 1.2, (k, sd, se)


def test_evaluate_se_matches_the_scatter_of_repeats(model, digits):
    """evaluate() over 60 resampled test images and another seed each time."""
    rng = np.random.default_rng(2)
    names = ("neg_elbo", "recon", "kl", "nll_iw")
    means, ses = {k: [] for k in names}, {k: [] for k in names}
    saved = model.dataset, model.seed
    try:
        for r in range(150):
            idx = rng.integers(0, len(digits.test_x), 60)
            model.dataset = dataclasses.replace(digits, test_x=digits.test_x[idx],
                                                test_y=digits.test_y[idx])
            model.seed = 100 + r
            got = model.evaluate(k=10)
            for k in names:
                means[k].append(got[k])
                ses[k].append(got[f"{k}_se"])
    finally:
        model.dataset, model.seed = saved
    for k in names:
        sd, se = np.std(means[k], ddof=1), np.mean(ses[k])
        assert 0.8 < sd / se < 1.2, (k, sd, se)
    full = model.evaluate(k=10)
    assert full["neg_elbo"] == pytest.approx(full["recon"] + full["kl"])
    assert full["nll_iw_se"] < 0.02 * full["nll_iw"]  # the full test set: under 2 %
