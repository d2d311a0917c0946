"""BBB regression checkpoints on the shared base (engine.core.trainer.Checkpointed).

``data/bbb_regression_bf43b3a.pt`` was written by main at bf43b3a (the last commit with
the regression's own save/load): the sine curve, 20 points plus one added by hand,
hidden (8,), learned likelihood sigma, seed 3, 25 steps; ``..._expect.npz`` holds that
run's snapshot quantiles, points and sigma. The shipped tour file is checked too.
"""
import numpy as np
import pytest
import torch

from engine.bbb import RegressionConfig, RegressionExperiment
from engine.core import checkpoint
from tests.paths import ROOT

pytestmark = pytest.mark.usefixtures("torch_one_thread")
DATA = ROOT / "tests" / "engine" / "bbb" / "data"
OLD = DATA / "bbb_regression_bf43b3a.pt"
TOUR = ROOT / "resources" / "tours" / "bbb-regression.pt"
SMALL = dict(hidden=(8,), n_points=20, batch_size=8, learn_noise=True, pred_samples=50,
             device="cpu", threads=1)


def weights(exp):
    return {k: v.clone() for k, v in exp.model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_file_from_before_the_shared_base_opens_as_it_was_saved(tmp_path):
    exp = RegressionExperiment.load(OLD)
    expect = np.load(DATA / "bbb_regression_bf43b3a_expect.npz")
    assert (exp.steps, exp.samples_seen, exp.function, exp.seed) == (25, 168, "sine", 3)
    np.testing.assert_array_equal(exp.x, expect["x"])
    np.testing.assert_array_equal(exp.y, expect["y"])
    snap = exp.snapshot()
    np.testing.assert_array_equal(snap["quantiles"], expect["quantiles"])
    assert snap["noise_sigma"] == float(expect["noise_sigma"])
    assert len(exp.metrics.get("kl")[1]) == 25
    # Its state_dict keys are today's (the file layout did not change), plus the hooks' extra.
    old = checkpoint.load(OLD, kind="bbb-regression")
    exp.save(tmp_path / "again.pt")
    new = checkpoint.load(tmp_path / "again.pt", kind="bbb-regression")
    assert set(new["state_dict"]) == set(old["state_dict"])
    assert set(old["extra"]) < set(new["extra"])
    for _ in range(3):  # and it trains on (with a fresh Adam: the old file had none)
        assert np.isfinite(exp.step()["loss"])


def test_the_shipped_tour_file_opens_and_draws_its_frame():
    from vigui.pages.frames import frame_path, load_frame

    exp = RegressionExperiment.load(TOUR)
    assert exp.steps == 1200 and exp.function == "blundell" and exp.x.size == 200
    frame = load_frame(frame_path(str(TOUR)))
    snap = exp.snapshot()
    np.testing.assert_allclose(snap["quantiles"], frame["quantiles"], atol=1e-5)
    np.testing.assert_array_equal(exp.x, frame["x"])


def test_resume_continues_exactly_as_the_run_that_never_stopped(tmp_path):
    # Mid-epoch, after the page added a point, with a learned sigma: every piece of state.
    cfg = RegressionConfig(**SMALL)
    straight = RegressionExperiment(cfg, seed=4)
    for _ in range(7):
        straight.step()
    straight.add_point(0.33, 0.2)
    for _ in range(5):
        straight.step()
    straight.save(tmp_path / "mid.pt")
    resumed = RegressionExperiment.load(tmp_path / "mid.pt")
    assert (resumed.steps, resumed.samples_seen, resumed._batch) == (12, straight.samples_seen, 2)
    for _ in range(9):  # over an epoch end (a fresh shuffle) too
        a, b = straight.step(), resumed.step()
        assert a == b
    assert_same(weights(straight), weights(resumed))
    for key in ("exp_avg", "exp_avg_sq"):
        s0 = straight.plain_optimizer.state_dict()["state"][0][key]
        assert torch.equal(s0, resumed.plain_optimizer.state_dict()["state"][0][key])


def test_a_file_that_does_not_fit_is_refused_naming_the_problem(tmp_path):
    exp = RegressionExperiment(RegressionConfig(**SMALL), seed=0)
    for _ in range(3):
        exp.step()
    exp.save(tmp_path / "good.pt")
    ckpt = checkpoint.load(tmp_path / "good.pt", kind="bbb-regression")
    bad_order = {**ckpt["extra"], "order": torch.arange(5)}
    bad_adam = {**ckpt["extra"], "plain_optimizer": ckpt["extra"]["optimizer"]}
    for extra, words in ((bad_order, "batch order"), (bad_adam, "optimizer state")):
        path = tmp_path / "bad.pt"
        checkpoint.save(path, kind="bbb-regression", state_dict=ckpt["state_dict"],
                        config=ckpt["config"], dataset=ckpt["dataset"], step=ckpt["step"],
                        metrics=ckpt["metrics"], extra=extra)
        with pytest.raises(checkpoint.CheckpointError, match=words):
            RegressionExperiment.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="bbb-regression"):
        RegressionExperiment.load(DATA.parent.parent / "cvae" / "data" / "cvae_e8737c6.pt")


def test_samples_per_s_is_the_shared_throughput():
    exp = RegressionExperiment(RegressionConfig(**SMALL), seed=0)
    assert np.isnan(exp.samples_per_s)
    for _ in range(3):
        exp.step()
    assert exp._session_samples == exp.samples_seen == 20 and exp.samples_per_s > 0  # 8 + 8 + 4
