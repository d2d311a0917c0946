"""The CVAE's figures with their standard errors (the NCLL table's entries, the strip's
spread) checked against brute-force scatters, and early stopping that lets every task's
CVAE train (patience counts against the best trained epoch, not the untrained start)."""
import math

import numpy as np
import pytest
import torch

from engine.cvae import CVAEConfig, CVAEExperiment, Evaluation
from engine.cvae.trainers import BaselineTrainer

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = ("baseline_ncll", "cvae_neg_elbo", "cvae_ncll_is", "kl", "spread")


def run(exp):
    while not exp.done:
        exp.step()
    return exp


@pytest.fixture(scope="module")
def trained(digits):
    """Small networks on digits' 1-quadrant task, to their early stop (seconds)."""
    return run(CVAEExperiment(CVAEConfig(hidden=(32,), latent=4, patience=1, lr=3e-3,
                                         device="cpu"), seed=0, dataset=digits))


def test_evaluation_ses_match_the_scatter_over_images_and_draws(trained):
    """Each repeat: 60 test images drawn with replacement, another seed for the draws."""
    rng = np.random.default_rng(0)
    x_all = trained._test_x
    means = {k: [] for k in (*NAMES, "gain")}
    ses = {k: [] for k in (*NAMES, "gain")}
    for r in range(150):
        x = x_all[torch.from_numpy(rng.integers(0, x_all.shape[0], 60))]
        ev = Evaluation(trained.model, x, particles=3, is_samples=10, seed=r)
        while not ev.finished:
            ev.step()
        got = ev.result()
        got["gain"] = got["baseline_ncll"] - got["cvae_ncll_is"]
        for k in NAMES:
            means[k].append(got[k])
            ses[k].append(got[f"{k}_se"])
        means["gain"].append(got["gain"])
        ses["gain"].append(got["gain_se"])
    for k in means:
        sd, se = np.std(means[k], ddof=1), np.mean(ses[k])
        assert 0.8 < sd / se < 1.2, (k, sd, se)
    full = trained.evaluate()
    assert full["n"] == x_all.shape[0] and all(full[f"{k}_se"] > 0 for k in NAMES)


def test_strip_spread_se_matches_the_scatter_over_images(trained):
    """The strip's spread over 6 test images: other images and seeds each repeat."""
    rng = np.random.default_rng(1)
    saved = trained._strip, trained._strip_seed
    spreads, ses = [], []
    try:
        for r in range(200):
            idx = torch.from_numpy(rng.integers(0, trained._test_x.shape[0], 6))
            trained._strip, trained._strip_seed = trained._test_x[idx], 1000 + r
            snap = trained.snapshot()
            spreads.append(snap["spread_mean"])
            ses.append(snap["spread_mean_se"])
    finally:
        trained._strip, trained._strip_seed = saved
    sd, se = np.std(spreads, ddof=1), np.mean(ses)
    assert 0.8 < sd / se < 1.2, (sd, se)


# -- early stopping ---------------------------------------------------------------------------
class Scripted(BaselineTrainer):
    """A real trainer whose validation losses are given: the start's, then one an epoch."""

    losses: list[float] = []

    def val_loss(self):
        return self.losses.pop(0)


def _stop(digits, losses, patience=3):
    Scripted.losses = list(losses)
    t = Scripted(CVAEConfig(hidden=(8,), latent=2, patience=patience, device="cpu"), seed=0,
                 dataset=digits)
    while not t.done:
        t.step()
    return t


def test_patience_counts_against_the_best_trained_epoch_not_the_start(digits):
    """The residual CVAE starts at the baseline's optimum; its first epochs (learning to
    spend KL) sit just above it and then improve: the 3-quadrant CVAE of seed 1 on
    digits (start 5.9325, epochs 5.9386, 5.9367, 5.9417, ..., 5.8945 at epoch 9).
    Counted against the start, 3 epochs stopped it with its untrained weights."""
    t = _stop(digits, [5.9325, 5.9386, 5.9367, 5.9417, 5.9412, 5.9360, 5.9359, 5.9240,
                       5.9014, 5.8945, 5.9053, 5.8973, 5.9160, 6.0])
    assert t.best_epoch == 9 and t.best_val == pytest.approx(5.8945)
    assert t.epochs_done == 12 and t.stopped_early  # 3 epochs after the best


def test_the_start_is_kept_when_no_epoch_beats_it(digits):
    t = _stop(digits, [1.0, 1.2, 1.1, 1.15, 1.12, 1.13, 9.0])
    assert t.stopped_early and t.epochs_done == 5  # 1.1 at epoch 2 was the trained best
    assert t.best_epoch == 0 and t.best_val == 1.0  # finish() puts back the start


def test_a_position_saved_before_trained_best_resumes(digits):
    t = _stop(digits, [1.0, 0.9, 0.95, 0.97, 0.98, 9.0])
    pos = t.position()
    assert pos["trained_best"] == pytest.approx(0.9)
    old = {k: v for k, v in pos.items() if k != "trained_best"}
    t.restore_position(old)  # a best found by training is the trained best
    assert t.trained_best == pytest.approx(0.9)
    t.restore_position({**old, "best_epoch": 0, "best_val": 1.0})  # the start: unknown
    assert t.trained_best == math.inf


@pytest.mark.slow
def test_every_quadrant_count_trains_its_cvae_with_seed_1(digits):
    """The page's defaults, seed 1: before the fix the 3-quadrant CVAE kept its
    untrained weights (best epoch 0); now each task's kept CVAE is a trained one."""
    for task in ("q1", "q2", "q3"):
        exp = run(CVAEExperiment(CVAEConfig(task=task, threads=1), seed=1, dataset=digits))
        assert exp.cvae.best_epoch > 0, task
