"""The gradient estimators' variances and variance ratios carry standard errors (issue 18):
each reported SE against the scatter of the same figure over independent repeats.

The per-estimate squared errors are heavy-tailed (the score terms are cubic in ε), so one
run's SE scatters; the root mean square of the reported SEs estimates the true one, and
is what is compared with the repeats' standard deviation."""
import math

import numpy as np
import pytest

from engine.core.stats import ratio_se, variance_se
from engine.vi.estimators import ESTIMATORS, EstimatorConfig, EstimatorExperiment
from engine.vi.models import make_model

REPEATS = 150


def repeat_runs(kind: str, m: float, log_s: float, samples: int, batch: int, steps: int):
    """``REPEATS`` runs of the estimators (seeds 0, 1, ...; one shared model): per run the
    total variances, their SEs, the two ratios and theirs."""
    model = make_model(kind, 20, 1.0, 1.0, 0)
    rows = []
    for seed in range(REPEATS):
        exp = EstimatorExperiment(EstimatorConfig(model=kind, m=m, log_s=log_s, samples=samples,
                                                  batch=batch, max_steps=steps, seed=seed),
                                  model=model)
        exp._sgd_step = lambda k: None  # only the estimates at λ₀ matter here
        for _ in range(steps):
            exp.step()
        snap = exp.snapshot()
        rows.append({**{f"v_{k}": float(np.sum(snap["variance"][k])) for k in ESTIMATORS},
                     **{f"v_{k}_se": snap["variance_se"][k] for k in ESTIMATORS},
                     **{f"r_{k}": snap["ratio"][k] for k in ("score", "score_cv")},
                     **{f"r_{k}_se": snap["ratio_se"][k] for k in ("score", "score_cv")}})
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


CASES = [("gaussian", 1.0, -1.0, 3), ("logistic", -1.5, 0.5, 10)]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def runs(request):
    kind, m, log_s, samples = request.param
    return repeat_runs(kind, m, log_s, samples, batch=200, steps=4)


def test_variance_se_matches_the_scatter_of_repeats(runs):
    for k in ESTIMATORS:
        sd = float(np.std(runs[f"v_{k}"], ddof=1))
        assert rms(runs[f"v_{k}_se"]) == pytest.approx(sd, rel=0.2), k


def test_ratio_se_matches_the_scatter_of_repeats(runs):
    """The estimators share their draws: the paired SE matches the repeats, while the
    formula for independent estimates is too large (the shared draws move both variances
    together: 1.4 times for the logistic case, 5 for the Gaussian)."""
    for k in ("score", "score_cv"):
        sd = float(np.std(runs[f"r_{k}"], ddof=1))
        assert rms(runs[f"r_{k}_se"]) == pytest.approx(sd, rel=0.2), k
    independent = [ratio_se(vs, ss, vr, sr) for vs, ss, vr, sr in
                   zip(runs["v_score"], runs["v_score_se"], runs["v_reparam"], runs["v_reparam_se"],
                       strict=True)]
    assert rms(independent) > 1.25 * float(np.std(runs["r_score"], ddof=1))


def test_running_sums_give_the_direct_se_and_the_shared_formula():
    """The running sums give what the kept estimates give directly, and one component's
    share is stats.variance_se's fourth-moment formula (to O(1/n): Y is centred on the
    true gradient, variance_se on the sample mean)."""
    model = make_model("gaussian", 20, 1.0, 1.0, 0)
    exp = EstimatorExperiment(EstimatorConfig(samples=2, batch=500, max_steps=4, seed=3), model=model)
    for _ in range(4):
        exp.step()
    for k in ESTIMATORS:
        kept = exp.buffers[k]
        assert len(kept) == exp.count == 2000  # every estimate is still in the history
        y = ((kept - exp.true_grad) ** 2).sum(1)
        assert exp.variance_se(k) == pytest.approx(np.std(y, ddof=1) / math.sqrt(len(y)), rel=1e-9)
        one = (kept[:, 0] - exp.true_grad[0]) ** 2
        assert np.std(one, ddof=1) / math.sqrt(len(one)) == pytest.approx(variance_se(kept[:, 0])[1],
                                                                           rel=0.02), k


def test_too_few_estimates_have_an_unknown_se():
    exp = EstimatorExperiment(EstimatorConfig(samples=1, batch=2, max_steps=3))
    exp.step()
    assert exp.variance_se("score") == math.inf and exp.ratio("score")[1] == math.inf
    exp.step()
    assert math.isfinite(exp.variance_se("score")) and math.isfinite(exp.ratio("score")[1])
    assert exp.evaluate()["ratio_score"] == pytest.approx(exp.snapshot()["ratio"]["score"])


def test_variance_table_se_matches_repeats():
    """The variance-against-S curve's points (200 replicates each on the page) carry their
    SE: its root mean square over tables of fresh draws matches their scatter."""
    from engine.vi.estimators import variance_table
    model = make_model("logistic", 20, 1.0, 1.0, 0)
    tables = [variance_table(model, -1.0, 0.3, sizes=(10,), reps=200, seed=seed, baseline=-14.0)
              for seed in range(REPEATS)]
    for k in ESTIMATORS:
        values = np.array([t[k] for t in tables])
        ses = np.array([t[f"{k}_se"] for t in tables])
        assert rms(ses[:, 0]) == pytest.approx(np.std(values[:, 0], ddof=1), rel=0.2), k
