"""Black-box VI's Monte Carlo figures carry standard errors (issue 18): the per-step ELBO
(and KL(q‖p) = log Z − ELBO), its moving average and the forward KL, each against the
scatter of the same figure over repeats with fresh draws at a frozen q."""
import math

import numpy as np
import pytest
import torch

from engine.core.runtime import MetricStore
from engine.vi.bbvi import AVG_WEIGHT, BBVIConfig, BBVIExperiment, average_se

pytestmark = pytest.mark.usefixtures("torch_one_thread")

REPEATS = 150
STEPS = 30


def frozen_repeats(divergence: str) -> dict[str, np.ndarray]:
    """A q fitted for 60 steps, then frozen (no Adam step); ``REPEATS`` runs of ``STEPS``
    steps with fresh draws each: the last step's metrics of every run."""
    exp = BBVIExperiment(BBVIConfig(device="cpu", target="banana", family="fullcov",
                                    divergence=divergence, samples=32, max_steps=60), seed=0)
    while not exp.done:
        exp.step()
    exp.opt.step = lambda: None
    rows = []
    for seed in range(REPEATS):
        exp.gen = torch.Generator().manual_seed(1000 + seed)
        exp.metrics = MetricStore()
        for _ in range(STEPS):
            values = exp.step()
        rows.append({**values, "elbo_avg_se": exp.metrics.latest("elbo_avg_se")})
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


@pytest.fixture(scope="module")
def forward():
    return frozen_repeats("forward")


def test_step_elbo_and_kl_se_match_repeats(forward):
    sd = float(np.std(forward["elbo"], ddof=1))
    assert rms(forward["elbo_se"]) == pytest.approx(sd, rel=0.2)
    assert float(np.std(forward["kl"], ddof=1)) == pytest.approx(sd)  # KL = log Z − ELBO


def test_forward_kl_se_matches_repeats(forward):
    sd = float(np.std(forward["kl_forward"], ddof=1))
    assert rms(forward["kl_forward_se"]) == pytest.approx(sd, rel=0.2)


def test_moving_average_se_matches_repeats(forward):
    """The average's noise after STEPS steps: far below one step's, and as reported."""
    sd = float(np.std(forward["elbo_avg"], ddof=1))
    assert rms(forward["elbo_avg_se"]) == pytest.approx(sd, rel=0.2)
    assert sd < 0.4 * float(np.std(forward["elbo"], ddof=1))


def test_moving_average_se_closed_form():
    """Equal step SEs σ: after t steps var = σ² ((1 − w)^(2(t−1)) + w² Σ_(i<t−1) (1 − w)^(2i))."""
    se, w = 0.7, AVG_WEIGHT
    value = average_se(math.nan, se, first=True)
    for _ in range(STEPS - 1):
        value = average_se(value, se, first=False)
    t = STEPS
    var = se ** 2 * ((1 - w) ** (2 * (t - 1)) + w ** 2 * sum((1 - w) ** (2 * i) for i in range(t - 1)))
    assert value == pytest.approx(math.sqrt(var), rel=1e-12)
    assert math.isnan(average_se(math.nan, se, first=False))  # unknown stays unknown


def test_one_sample_has_no_se_and_still_runs():
    exp = BBVIExperiment(BBVIConfig(device="cpu", samples=1, max_steps=3), seed=0)
    for _ in range(3):
        values = exp.step()
    assert "elbo_se" not in values and math.isnan(exp.metrics.latest("elbo_avg_se"))
    ev = exp.evaluate(n=2000)
    assert ev["kl_reverse_se"] == ev["elbo_se"] > 0 and ev["kl_forward_se"] > 0
