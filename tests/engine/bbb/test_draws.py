"""The standard errors of figures averaged over weight draws, against brute force: repeat
the computation many times (fresh draws, fresh test images) and compare the scatter of
the repeats with the reported SE."""
import math

import numpy as np
import pytest
import torch

from engine.bbb import ClassificationExperiment, ClassifyConfig
from engine.bbb.draws import WithError, entropy_with_se, error_with_se, image_se, percent_se

pytestmark = pytest.mark.usefixtures("torch_one_thread")
DRAWS = 10  # the page's predictive samples
REPEATS = 200


@pytest.fixture(scope="module")
def net(digits):
    # Five epochs: ~14 % error, so the draws move the error by ~3 % of it (not nothing).
    exp = ClassificationExperiment(ClassifyConfig(hidden=(100, 100), epochs=5, device="cpu",
                                                  train_plain=False), seed=0, dataset=digits)
    while not exp.done:
        exp.step()
    return exp


def fresh_probs(exp, seed, x=None):
    exp.net.set_noise(torch.Generator().manual_seed(seed))
    return exp.bbb_probs(exp.test_x if x is None else x, DRAWS)


def figures(probs, y, sampled=True):
    return np.array([error_with_se(probs, y, sampled), entropy_with_se(probs, sampled)], dtype=object)


def check(repeats, reported, what):
    """The SD of the repeated figures vs the mean reported SE, within 20 %."""
    sd = np.std([r.value for r in repeats], ddof=1)
    se = np.mean([getattr(r, what) for r in reported])
    assert se == pytest.approx(sd, rel=0.2), (what, se, sd)


def test_draws_se_matches_the_scatter_of_fresh_draws(net):
    # Same images, fresh weight draws: only the Monte Carlo noise is left.
    y = net.test_y
    runs = np.array([figures(fresh_probs(net, 1000 + s), y, sampled=False) for s in range(REPEATS)])
    estimates = np.array([figures(fresh_probs(net, 9000 + s), y) for s in range(12)])
    for col in range(2):
        check(runs[:, col], estimates[:, col], "draws_se")


def test_images_se_matches_the_scatter_of_fresh_test_images(net):
    # Fixed draws, test sets of 100 images drawn afresh: only the images' noise is left.
    probs = fresh_probs(net, 7)
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(500):
        idx = torch.as_tensor(rng.integers(0, net.test_x.shape[0], 100))
        runs.append(figures(probs[:, idx], net.test_y[idx], sampled=False))
    runs = np.array(runs)
    for col in range(2):
        check(runs[:, col], runs[:, col], "images_se")


def test_total_se_matches_the_scatter_of_fresh_draws_and_images(net):
    rng = np.random.default_rng(1)
    runs = []
    for s in range(REPEATS):
        idx = torch.as_tensor(rng.integers(0, net.test_x.shape[0], 100))
        runs.append(figures(fresh_probs(net, 3000 + s, net.test_x[idx]), net.test_y[idx], s < 20))
    runs = np.array(runs)
    for col in range(2):
        check(runs[:, col], runs[:20, col], "se")
        assert all(r.se >= r.images_se > 0 for r in runs[:20, col])


def test_nets_without_draws_and_single_draws():
    probs = torch.tensor([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]])
    y = torch.tensor([0, 1, 1, 1])
    plain = error_with_se(probs, y, sampled=False)
    assert plain.value == 25.0 and plain.draws_se == 0.0
    # one wrong in four: sd (n - 1) of (0, 0, 1, 0) is 0.5, over sqrt(4)
    assert plain.images_se == pytest.approx(25.0) == plain.se
    assert percent_se(np.array([25.0]), 4)[0] == pytest.approx(plain.images_se)
    assert math.isinf(error_with_se(probs, y).draws_se)  # one draw: no spread to measure
    # independent noises: variances add (at n = 100 the images' part hides this above)
    assert WithError(1.0, 3.0, 4.0).se == 5.0
    ent = entropy_with_se(probs, sampled=False)
    per_image = -(probs[0] * probs[0].log()).sum(-1)
    assert ent.value == pytest.approx(float(per_image.mean()))
    assert ent.images_se == pytest.approx(float(per_image.std()) / 2) == image_se(per_image)
