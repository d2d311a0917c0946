"""Checkpoints written before the trainer gained its save/load hooks still open, the same.

``data/cvae_e8737c6.pt`` was written by main at e8737c6 (the last commit before the hooks):
digits, task q2, hidden (16,), latent 3, seed 5, 12 steps (the baseline stopped after its
one epoch, the CVAE is mid-epoch); ``cvae_e8737c6_expect.npz`` holds that run's
completions of test image 0 (n=2, seed=1). The shipped tour files are checked too."""
import numpy as np
import pytest
import torch

from engine.core import checkpoint
from engine.cvae import CVAEExperiment
from engine.vae import VAEExperiment
from tests.paths import ROOT

pytestmark = pytest.mark.usefixtures("torch_one_thread")
DATA = ROOT / "tests" / "engine" / "cvae" / "data"
OLD = DATA / "cvae_e8737c6.pt"


def completions(exp):
    out = exp.complete(exp.test_image(0), n=2, seed=1)
    return out["baseline"], out["samples"]


def test_a_cvae_file_from_before_the_hooks_reopens_with_its_progress_and_weights(tmp_path):
    exp = CVAEExperiment.load(OLD)
    assert (exp.phase, exp.steps, exp.config.task, exp.config.hidden) == ("cvae", 12, "q2", (16,))
    assert exp.baseline.epochs_done == 1 and exp.baseline.stopped_early is False
    assert exp.cvae.steps == exp.steps - exp.baseline.steps > 0
    expect = np.load(DATA / "cvae_e8737c6_expect.npz")
    base, samples = completions(exp)
    np.testing.assert_array_equal(base, expect["baseline"])
    np.testing.assert_array_equal(samples, expect["samples"])
    # Saved again by the new code, the file holds the same extra keys the old code wrote.
    exp.save(tmp_path / "again.pt")
    old_extra = checkpoint.load(OLD, kind="cvae")["extra"]
    new_extra = checkpoint.load(tmp_path / "again.pt", kind="cvae")["extra"]
    assert set(new_extra) == set(old_extra)
    for net in ("baseline", "cvae"):  # the same progress, plus the best trained epoch's loss
        new = dict(new_extra[net])
        trained_best = new.pop("trained_best")
        assert new == old_extra[net]
        old = old_extra[net]
        assert trained_best == (old["best_val"] if old["best_epoch"] > 0 else float("inf"))


def test_resuming_an_old_file_trains_on_exactly_as_a_fresh_resume_of_the_new_file(tmp_path):
    a = CVAEExperiment.load(OLD)
    a.save(tmp_path / "new.pt")
    b = CVAEExperiment.load(tmp_path / "new.pt")
    for _ in range(3):
        a.step()
        b.step()
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert a.cvae.best_val == b.cvae.best_val


def test_the_shipped_tour_checkpoints_open():
    tours = ROOT / "resources" / "tours"
    exp = CVAEExperiment.load(tours / "cvae-column.pt")
    assert exp.config.task == "column" and exp.steps > 0
    config, info = CVAEExperiment.peek(tours / "cvae-column.pt")
    assert config == exp.config and info.step == exp.steps
    for name in ("vae-elbo.pt", "vae-kl.pt", "vae-recon.pt"):
        vae = VAEExperiment.load(tours / name)
        saved = checkpoint.load(tours / name, kind="vae")
        assert vae.steps == saved["step"] > 0
        assert vae.samples_seen == saved["extra"]["samples_seen"] > 0
        for key, tensor in saved["state_dict"].items():
            assert torch.equal(vae.model.state_dict()[key], tensor), key
        moments = vae.optimizer.state_dict()["state"]  # Adam resumes, not restarts
        saved_moments = saved["extra"]["optimizer"]["state"]
        assert moments and set(moments) == set(saved_moments)
        for i, s in saved_moments.items():
            assert torch.equal(moments[i]["exp_avg"], s["exp_avg"])
