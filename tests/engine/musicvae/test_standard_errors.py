"""The Music VAE's test figures carry standard errors with the piece as the unit, and
they match a brute-force scatter: the same model measured on other pieces (drawn with
replacement) with other draws of z. Phrases are overlapping 2-bar windows, so the
per-phrase standard error would understate it; a test shows by how much."""
import dataclasses

import numpy as np
import pytest
import torch

from engine.core.stats import mean_se
from engine.musicvae import data as music
from engine.musicvae.model import MusicVAEConfig, MusicVAEExperiment, tune_mean_se

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = ("test_neg_elbo", "test_recon", "test_kl", "test_acc")
BARS = 10  # per toy piece: 9 overlapping 2-bar phrases


def _piece(rng, name: str) -> music.Tune:
    """A toy piece with a character of its own (register, note lengths), as a piece has:
    its phrases resemble each other more than another piece's."""
    centre, lengths = int(rng.integers(54, 79)), rng.choice([[1, 2, 2, 4], [4, 4, 8, 8]])
    steps = BARS * 16
    notes, t = [], 0
    while t < steps:
        length = min(int(rng.choice(lengths)), steps - t)
        notes.append((centre + int(rng.integers(-5, 6)), t, length))
        t += length
    return music.Tune(name, music.notes_to_tokens(notes, steps), np.arange(0, steps, 16))


def _melodies(n_train=40, n_test=60, seed=0) -> music.Melodies:
    rng = np.random.default_rng(seed)
    pieces = [_piece(rng, f"p{i}") for i in range(n_train + n_test)]
    phrases = [music.phrases_of(p) for p in pieces]
    tune = np.concatenate([np.full(len(p), i) for i, p in enumerate(phrases)])
    x = np.concatenate(phrases).astype(np.float32)
    train = tune < n_train
    zeros = np.zeros(len(x), dtype=np.int64)
    return music.Melodies("folder:toy", x[train], zeros[train], x[~train], zeros[~train],
                          tune[train], tune[~train], zeros[train],
                          tunes=tuple(p.name for p in pieces))


@pytest.fixture(scope="module")
def model():
    mel = _melodies()
    exp = MusicVAEExperiment(MusicVAEConfig(dataset=mel.name, hidden=32, latent=8, lr=3e-3,
                                            kl_warmup=0, free_bits=0.0, threads=1,
                                            eval_every=10**6), seed=0, dataset=mel)
    for _ in range(30):
        exp.step()
    return exp


def test_tune_mean_se_is_mean_se_with_one_phrase_per_piece():
    v = np.random.default_rng(0).normal(3.0, 2.0, 50)
    assert tune_mean_se(v, np.arange(50)) == pytest.approx(mean_se(v))
    assert tune_mean_se(v, None) == pytest.approx(mean_se(v))
    assert tune_mean_se(v, np.zeros(50))[1] == np.inf  # one piece: no spread to measure
    # Two pieces of identical phrases: the spread is between pieces only.
    m, se = tune_mean_se([1, 1, 1, 3, 3, 3], [0, 0, 0, 1, 1, 1])
    assert m == 2 and se == pytest.approx(1.0)  # sqrt(2 * (3^2 + 3^2)) / 6


def _pieces(exp, rng, k):
    """k test pieces drawn with replacement: their phrases, relabelled 0..k-1."""
    tunes = exp.dataset.test_tune
    pick = rng.choice(np.unique(tunes), k, replace=True)
    idx = [np.flatnonzero(tunes == t) for t in pick]
    return np.concatenate(idx), np.repeat(np.arange(k), [len(i) for i in idx])


def test_test_metric_se_matches_the_scatter_over_pieces(model):
    rng = np.random.default_rng(1)
    saved = model.eval_tokens, model._eval_eps, model.eval_tunes
    means, ses, naive = {k: [] for k in NAMES}, {k: [] for k in NAMES}, []
    try:
        for r in range(150):
            idx, tunes = _pieces(model, rng, 20)
            model.eval_tokens = model.test_tokens[torch.from_numpy(idx)]
            model._eval_eps = torch.from_numpy(
                rng.standard_normal((len(idx), 8), dtype=np.float32))
            model.eval_tunes = tunes
            with torch.no_grad():
                got = model.test_metrics()
                if r % 5 == 0:
                    recon = model.test_values(model.eval_tokens, model._eval_eps)[1]
                    naive.append(mean_se(recon)[1])
            for k in NAMES:
                means[k].append(got[k])
                ses[k].append(got[f"{k}_se"])
    finally:
        model.eval_tokens, model._eval_eps, model.eval_tunes = saved
    for k in NAMES:
        sd, se = np.std(means[k], ddof=1), np.mean(ses[k])
        assert 0.8 < sd / se < 1.2, (k, sd, se)
    # Phrases as independent units would understate the error (the reason for pieces).
    sd = np.std(means["test_recon"], ddof=1)
    assert np.mean(naive) < 0.75 * sd, (np.mean(naive), sd)


def test_evaluate_se_matches_the_scatter_over_pieces(model):
    rng = np.random.default_rng(2)
    names = ("neg_elbo", "recon", "kl", "nll_iw", "acc", "acc_forced")
    means, ses = {k: [] for k in names}, {k: [] for k in names}
    saved = model.dataset, model.test_tokens, model.seed
    mel = model.dataset
    try:
        for r in range(100):
            idx, tunes = _pieces(model, rng, 20)  # a piece drawn twice counts twice
            model.dataset = dataclasses.replace(mel, test_x=mel.test_x[idx],
                                                test_y=mel.test_y[idx], test_tune=tunes)
            model.test_tokens = saved[1][torch.from_numpy(idx)]
            model.seed = 100 + r
            got = model.evaluate(k=4)
            for k in names:
                means[k].append(got[k])
                ses[k].append(got[f"{k}_se"])
    finally:
        model.dataset, model.test_tokens, model.seed = saved
    for k in names:
        sd, se = np.std(means[k], ddof=1), np.mean(ses[k])
        assert 0.75 < sd / se < 1.25, (k, sd, se)
    full = model.evaluate(k=4)
    assert full["neg_elbo"] == pytest.approx(full["recon"] + full["kl"])
    assert full["n"] == len(mel.test_x)


def test_one_test_piece_still_records_the_figures_without_an_error():
    """A single test piece gives no spread between pieces: the figures are recorded (the
    page shows "± ?"), their SEs left out rather than dropping the measurement."""
    mel = _melodies(n_train=4, n_test=1)
    exp = MusicVAEExperiment(MusicVAEConfig(dataset=mel.name, hidden=16, latent=4, threads=1,
                                            batch_size=64), seed=0, dataset=mel)
    while exp.epoch < 1:
        exp.step()
    assert all(np.isfinite(exp.metrics.latest(k)) for k in NAMES)
    assert not any(f"{k}_se" in exp.metrics.names for k in NAMES)
