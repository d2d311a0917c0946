"""Conditional VAE: masks, losses, bounds against quadrature, training, checkpoints."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import checkpoint
from engine.core.runtime import NonFiniteError
from engine.cvae import (
    CompletionModel,
    CVAEConfig,
    CVAEExperiment,
    cvae_bounds,
    gaussian_kl,
    hidden_nll,
)
from engine.cvae.tasks import TASKS, check_mask, mask_from_string, mask_to_string, task_mask
from tests.paths import ROOT

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def make(digits, seed=0, **kw):
    kw.setdefault("hidden", (64, 64))
    kw.setdefault("latent", 8)
    kw.setdefault("device", "cpu")
    return CVAEExperiment(CVAEConfig(**kw), seed=seed, dataset=digits)


def run(exp, steps=None):
    while not exp.done and (steps is None or steps > 0):
        exp.step()
        steps = None if steps is None else steps - 1
    return exp


@pytest.fixture(scope="module")
def trained(digits):
    """Baseline and CVAE trained to their early stop on digits' 1 quadrant task."""
    return run(make(digits, epochs=40, patience=5, kl_warmup=5, lr=3e-3))


# -- masks -------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(h=st.integers(2, 30), w=st.integers(2, 30), task=st.sampled_from(TASKS[:4]))
def test_masks_partition_the_image(h, w, task):
    obs = task_mask(task, (h, w))
    hidden = ~obs
    assert obs.shape == (h, w) and obs.dtype == bool
    assert not (obs & hidden).any() and (obs | hidden).all()
    assert obs.any() and hidden.any()
    # 1 quadrant within 2 within 3, as in Sohn et al. and Pyro.
    q1, q2, q3 = (task_mask(t, (h, w)) for t in ("q1", "q2", "q3"))
    assert (q1 <= q2).all() and (q2 <= q3).all()


def test_quadrants_are_pyros():
    q1, q2, q3 = (task_mask(t, (28, 28)) for t in ("q1", "q2", "q3"))
    assert q1[14:, :14].all() and q1.sum() == 14 * 14  # bottom left observed
    assert q2[:, :14].all() and q2.sum() == 28 * 14  # left half
    assert not q3[14:, 14:].any() and q3.sum() == 3 * 14 * 14  # all but bottom right
    col = task_mask("column", (28, 28))
    assert col[:, 13].all() and col.sum() == 28  # Doersch's column 13


def test_custom_masks_are_checked():
    m = np.zeros((8, 8), bool)
    m[:, :3] = True
    assert (task_mask("custom", (8, 8), m) == m).all()
    assert (mask_from_string(mask_to_string(m), (8, 8)) == m).all()
    for bad in (np.ones((8, 8), bool), np.zeros((8, 8), bool), np.ones((4, 4), bool)):
        with pytest.raises(ValueError, match="mask"):
            check_mask(bad, (8, 8))
    with pytest.raises(ValueError, match="mask"):
        task_mask("custom", (8, 8))
    with pytest.raises(ValueError, match="mask"):
        mask_from_string("01" * 10, (8, 8))
    with pytest.raises(ValueError, match="task"):
        task_mask("q4", (8, 8))
    with pytest.raises(ValueError, match="mask"):
        CVAEConfig(task="custom").validate()
    with pytest.raises(ValueError, match="latent"):
        CVAEConfig(latent=0).validate()


# -- losses ------------------------------------------------------------------------------
def test_hidden_nll_is_bernoulli_on_hidden_pixels_only():
    g = torch.Generator().manual_seed(0)
    obs = torch.tensor(task_mask("q2", (4, 4)).ravel(), dtype=torch.float64)
    logits = torch.randn(5, 16, generator=g, dtype=torch.float64)
    y = (torch.rand(5, 16, generator=g, dtype=torch.float64) > 0.5).double()
    expected = -(torch.distributions.Bernoulli(logits=logits).log_prob(y) * (1 - obs)).sum(-1)
    torch.testing.assert_close(hidden_nll(logits, y, obs), expected)
    # Observed pixels of the target and their logits do not count.
    y2, l2 = y.clone(), logits.clone()
    y2[:, obs.bool()] = 1 - y2[:, obs.bool()]
    l2[:, obs.bool()] += 5.0
    torch.testing.assert_close(hidden_nll(l2, y2, obs), expected)


def test_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(1)
    mq, mp = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    lq, lp = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mq, torch.exp(0.5 * lq))
    p = torch.distributions.Normal(mp, torch.exp(0.5 * lp))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(gaussian_kl(mq, lq, mp, lp), expected)


def test_prior_and_baseline_never_see_the_hidden_pixels(digits):
    model = make(digits).model
    x = torch.rand(4, 64)
    x2 = x.clone()
    hidden = model.observed == 0
    x2[:, hidden] = torch.rand(4, int(hidden.sum()))
    torch.testing.assert_close(model.baseline_logits(x), model.baseline_logits(x2))
    for a, b in zip(model.prior(x), model.prior(x2), strict=False):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(model.recognition(x)[0], model.recognition(x2)[0])


# -- bounds ------------------------------------------------------------------------------
def _tiny_model(residual):
    """A 1-D latent model with random weights: exact NCLL by quadrature over z."""
    torch.manual_seed(3)
    model = CompletionModel(task_mask("q2", (4, 4)), hidden=(16,), latent=1,
                            residual=residual).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.7)
        # A unit-variance prior and a broad proposal: IS with 20,000 draws is then exact
        # to a few hundredths, so any error in the weights shows.
        model.prior_net.logvar.weight.zero_()
        model.prior_net.logvar.bias.fill_(0.0)
        model.recognition_net.logvar.weight.zero_()
        model.recognition_net.logvar.bias.fill_(1.5)
    return model


@pytest.mark.parametrize("residual", [True, False])
def test_is_ncll_matches_quadrature_and_bounds_hold(residual):
    model = _tiny_model(residual)
    x = torch.rand(3, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mu_p, lv_p = model.prior(x)
    sd = torch.exp(0.5 * lv_p)
    t = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    z = mu_p.T + sd.T * t[:, None]  # (grid, b)
    log_py = -hidden_nll(model.generate(z[..., None], model.base_logits(x)), x, model.observed)
    log_pz = -0.5 * (math.log(2 * math.pi) + lv_p.T + (z - mu_p.T) ** 2 / sd.T ** 2)
    dz = (sd.T * (t[1] - t[0]))
    exact = -torch.logsumexp(log_py + log_pz + torch.log(dz), 0)

    g = torch.Generator().manual_seed(5)
    big = cvae_bounds(model, x, 20000, g)
    torch.testing.assert_close(big["ncll_is"], exact, atol=0.03, rtol=0)
    assert (big["neg_elbo"] >= exact - 1e-6).all()  # the ELBO is a lower bound on log p
    torch.testing.assert_close(big["neg_elbo_mc"], big["neg_elbo"], atol=0.1, rtol=0)
    one = cvae_bounds(model, x, 1, torch.Generator().manual_seed(6))
    torch.testing.assert_close(one["ncll_is"], one["neg_elbo_mc"])


def test_is_ncll_below_neg_elbo_on_every_batch_and_settles(trained):
    model, x = trained.model, trained._test_x
    g = torch.Generator().manual_seed(0)
    is100, elbo10 = [], []
    for batch in x[:320].split(32):
        for s in (10, 100):  # Jensen, per image, with the same draws: exact, not on average
            b = cvae_bounds(model, batch, s, g)
            assert (b["ncll_is"] <= b["neg_elbo_mc"] + 1e-5).all()
        is100.append(b["ncll_is"])
        elbo10.append(cvae_bounds(model, batch, 10, g)["neg_elbo"])
    # Against Pyro's 10-particle figure (analytic KL, its own draws): below on the whole.
    assert torch.cat(is100).mean() <= torch.cat(elbo10).mean() + 0.02
    batch = x[:64]
    est = {s: cvae_bounds(model, batch, s, torch.Generator().manual_seed(s))["ncll_is"].mean().item()
           for s in (1, 10, 100, 1000, 3000)}
    assert est[1] > est[10] > est[100] - 0.02
    assert abs(est[3000] - est[1000]) < 0.25 * abs(est[10] - est[1]) + 0.01


# -- training ----------------------------------------------------------------------------
def test_training_lowers_ncll_within_a_few_hundred_steps(digits):
    exp = make(digits, epochs=15, patience=15, lr=3e-3)
    before = exp.evaluate(n=200)
    run(exp, 330)  # 15 epochs of baseline + 15 of CVAE, 11 steps each
    assert exp.done
    after = exp.evaluate(n=200)
    assert after["baseline_ncll"] < 0.7 * before["baseline_ncll"]
    assert after["cvae_ncll_is"] < 0.7 * before["cvae_ncll_is"]
    val = exp.metrics.get("cvae_val")[1]
    assert val[-1] < val[0]  # the CVAE phase itself improved its validation -ELBO
    assert {"baseline_loss", "baseline_val", "cvae_loss", "cvae_neg_elbo", "cvae_recon",
            "cvae_kl", "epoch"} <= set(exp.metrics.names)


def test_cvae_beats_baseline_on_digits(trained):
    r = trained.evaluate()
    assert r["cvae_ncll_is"] < r["baseline_ncll"]
    assert r["cvae_ncll_is"] <= r["cvae_neg_elbo"]


def test_early_stopping_restores_the_best_weights(digits):
    exp = run(make(digits, epochs=200, patience=2, lr=3e-2))
    assert exp.baseline.stopped_early and exp.baseline.epochs_done < 200
    with torch.no_grad():
        assert exp.baseline.val_loss() == pytest.approx(exp.baseline.best_val, rel=1e-5)


def test_cvae_samples_differ_baseline_does_not(trained, digits):
    img = digits.test_x[0]
    a = trained.complete(img, n=8, seed=1)
    obs = trained.observed
    samples = a["samples"]
    assert samples.shape == (8, 8, 8)
    np.testing.assert_allclose(samples[:, obs], np.broadcast_to(img[obs], (8, obs.sum())))
    spread = samples[:, ~obs].std(0).mean()
    assert spread > 0.01
    b = trained.complete(img, n=8, seed=2)
    np.testing.assert_array_equal(a["baseline"], b["baseline"])  # deterministic regressor
    assert not np.allclose(a["samples"], b["samples"])
    np.testing.assert_array_equal(a["samples"], trained.complete(img, n=8, seed=1)["samples"])
    with pytest.raises(ValueError, match="image"):
        trained.complete(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="n must"):
        trained.complete(img, n=0)


def test_snapshot_strip(trained):
    trained.set_samples(3)
    snap = trained.snapshot()
    assert snap["samples"].shape == (6, 3, 8, 8)
    for key in ("inputs", "baseline", "truth"):
        assert snap[key].shape == (6, 8, 8)
    hidden = ~snap["observed"]
    assert (snap["inputs"][:, hidden] == 0).all()
    np.testing.assert_array_equal(snap["baseline"][:, ~hidden], snap["truth"][:, ~hidden])
    with pytest.raises(ValueError, match="n_samples"):
        trained.set_samples(0)


def test_non_finite_step_keeps_the_last_good_state(digits):
    exp = run(make(digits), 3)
    before = {k: v.clone() for k, v in exp.model.state_dict().items()}
    with torch.no_grad():
        exp.model.baseline[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        exp.step()
    assert exp.steps == 3
    for k, v in exp.model.state_dict().items():
        if k != "baseline.0.weight":
            torch.testing.assert_close(v, before[k])


# -- checkpoints ---------------------------------------------------------------------------
def test_checkpoint_round_trip(trained, digits, tmp_path):
    path = tmp_path / "m.pt"
    trained.save(path)
    back = CVAEExperiment.load(path, dataset=digits)
    assert back.phase == trained.phase == "done"
    assert back.config.task == "q1" and back.steps == trained.steps
    assert back.evaluate(n=100) == trained.evaluate(n=100)
    np.testing.assert_array_equal(back.metrics.column("cvae_val"), trained.metrics.column("cvae_val"))


def test_checkpoint_resumes_mid_training(digits, tmp_path):
    exp = run(make(digits, task="column", epochs=3), 40)
    exp.save(tmp_path / "mid.pt")
    back = CVAEExperiment.load(tmp_path / "mid.pt", dataset=digits)
    assert back.phase == exp.phase == "cvae" and back.baseline.epochs_done == 3
    run(back)
    assert back.done and back.cvae.epochs_done == 3


def test_custom_mask_survives_a_checkpoint(digits, tmp_path):
    m = np.zeros((8, 8), bool)
    m[::2] = True
    exp = make(digits, task="custom", mask=mask_to_string(m))
    exp.save(tmp_path / "c.pt")
    assert (CVAEExperiment.load(tmp_path / "c.pt", dataset=digits).observed == m).all()


def test_foreign_and_corrupt_files_give_clear_errors(trained, digits, tmp_path):
    from engine.vae.model import VAEConfig, VAEExperiment

    vae = VAEExperiment(VAEConfig(hidden=(16,), device="cpu"), seed=0, dataset=digits)
    vae.save(tmp_path / "vae.pt")
    with pytest.raises(checkpoint.CheckpointError, match="'vae' checkpoint, not a 'cvae'"):
        CVAEExperiment.load(tmp_path / "vae.pt", dataset=digits)
    trained.save(tmp_path / "ok.pt")
    raw = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupt"):
        CVAEExperiment.load(tmp_path / "cut.pt", dataset=digits)
    (tmp_path / "t.pt").write_text("hello")
    with pytest.raises(checkpoint.CheckpointError, match="not a PyTorch checkpoint"):
        CVAEExperiment.load(tmp_path / "t.pt", dataset=digits)
    # A checkpoint whose weights do not fit (another architecture) is refused whole.
    other = make(digits, hidden=(32,))
    other.save(tmp_path / "other.pt")
    data = torch.load(tmp_path / "other.pt", weights_only=True)
    data["config"]["hidden"] = [64, 64]
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(checkpoint.CheckpointError, match="do not fit|shape"):
        CVAEExperiment.load(tmp_path / "bad.pt", dataset=digits)


# -- CLI -----------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", "cvae", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_prints_ncll_entries_and_saves(tmp_path, digits):
    out = tmp_path / "m.pt"
    r = _cli("--dataset", "digits", "--quadrants", "2", "--epochs", "2", "--hidden", "32",
             "--latent", "4", "--is-samples", "20", "--threads", "1", "--device", "cpu",
             "--json", "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    assert len(res) == 1 and res[0]["task"] == "q2" and res[0]["is_samples"] == 20
    assert res[0]["baseline_ncll"] > 0 and res[0]["cvae_ncll_is"] > 0
    for name in ("baseline_ncll", "cvae_neg_elbo", "cvae_ncll_is", "kl", "spread"):
        assert 0 < res[0][f"{name}_se"] < abs(res[0][name])  # each entry with its SE
    exp = CVAEExperiment.load(out, dataset=digits)
    assert exp.config.task == "q2" and exp.done


def test_cli_rejects_bad_quadrants():
    r = _cli("--quadrants", "4", "--quiet", "--epochs", "1")
    assert r.returncode == 2 and "quadrants must be 1, 2 or 3" in r.stderr


# -- the NCLL table ------------------------------------------------------------------------
def test_ncll_table_reuses_checkpoints_and_trains_the_rest(trained, digits, tmp_path):
    from engine.cvae import NCLLTable

    trained.save(tmp_path / "q1.pt")
    cfg = CVAEConfig(hidden=(32,), latent=4, epochs=3, device="cpu", is_samples=20)
    table = NCLLTable(cfg, seed=0, dataset=digits, checkpoints={"q1": str(tmp_path / "q1.pt")},
                      tasks=("q1", "q3"), n_test=100)
    progress = []
    while not table.done:
        progress.append(table.step()["progress"])
    assert progress == sorted(progress) and progress[-1] == 1.0
    rows = table.evaluate()
    assert set(rows) == {"q1", "q3"}
    assert not rows["q1"]["trained_here"] and rows["q3"]["trained_here"]
    # The checkpointed task gives exactly what its own experiment reports.
    assert rows["q1"]["cvae_ncll_is"] == trained.evaluate(n=100)["cvae_ncll_is"]
    assert rows["q3"]["cvae_epochs"] == 3 and rows["q3"]["is_samples"] == 20
    assert table.snapshot()["stage"] == "done"
    with pytest.raises(ValueError, match="tasks"):
        NCLLTable(cfg, dataset=digits, tasks=("custom",))


def test_validation_split_is_carved_from_the_training_set(digits):
    from engine.cvae import split_validation

    fit, val = split_validation(1437, 1 / 12)
    assert len(val) == 120 and len(fit) + len(val) == 1437
    assert not set(fit) & set(val) and set(fit) | set(val) == set(range(1437))
    again = split_validation(1437, 1 / 12)
    assert all(np.array_equal(a, b) for a, b in zip((fit, val), again, strict=False))  # every run, every seed
    exp = make(digits, val_fraction=1 / 12)
    assert exp.baseline.n_train == 1437 - 120 and exp.baseline.val_x.shape[0] == 120
    # The validation images are training images, none of them a test image.
    train = digits.train_x.reshape(len(digits.train_x), -1)
    np.testing.assert_array_equal(exp.baseline.val_x.numpy(), train[val])
    with pytest.raises(ValueError, match="val_fraction"):
        split_validation(1, 0.5)


def test_kl_warmup_weighs_the_kl_from_0_to_1(digits):
    exp = make(digits, kl_warmup=2, free_bits=0.0)  # the plain KL: loss = -ELBO at weight 1
    exp.phase = "cvae"
    t = exp.cvae
    assert t.kl_weight() == 0.0
    values = exp.step()
    # The objective is recon + 0 * KL at the start; the reported -ELBO keeps the whole KL.
    assert values["cvae_loss"] == pytest.approx(values["cvae_recon"], rel=1e-6)
    assert values["cvae_neg_elbo"] == pytest.approx(values["cvae_recon"] + values["cvae_kl"],
                                                    rel=1e-6)
    run(exp, t.steps_per_epoch - 1)
    assert t.kl_weight() == pytest.approx(0.5)
    run(exp, t.steps_per_epoch)
    assert t.kl_weight() == 1.0
    values = exp.step()
    assert values["cvae_loss"] == pytest.approx(values["cvae_neg_elbo"], rel=1e-6)
