"""Monte Carlo estimators of ∇_λ ELBO for q = N(m, s²), λ = (m, log s) (Figure 2, eq. 13).

With f(z) = log p(x, z) and z = m + s ε, ε ~ N(0, 1):

* ``reparam`` (the reparameterization trick, Figure 2): the gradient moves inside the
  expectation over ε. ∇_m = f'(z), ∇_log s = f'(z) s ε + 1 (the entropy log s + const
  is differentiated exactly).
* ``score`` (the score function, REINFORCE, eq. 13 corrected): ∇_λ q = q ∇_λ log q, so
  ∇_λ ELBO = E_q[∇_λ log q(z) · (f(z) − log q(z))], with ∇_m log q = ε / s and
  ∇_log s log q = ε² − 1. Only f itself is needed, not its gradient.
* ``score_cv``: the score function with a control variate: a baseline b subtracted from
  f(z) − log q(z). Since E_q ∇_λ log q = 0, any b that does not depend on the current
  draws leaves the estimator unbiased. Here b is the running mean of f(z) − log q(z)
  over all *earlier* draws at the same λ (a running ELBO estimate), started from the
  deterministic f(m) + H(q) before the first draw.

All estimators average S single-sample terms. ``gradient_estimates`` draws the same ε
for every estimator (common random numbers), so their differences are the estimators'.

Standard errors of the variances (issue 18). The variance of an estimate vector X is
trace Cov X = E Y with Y = |X − g|², g the true gradient (every estimator is unbiased), so
a variance is a mean of the per-estimate Y's: its SE is sd(Y) / sqrt(n), the fourth
moment of X (for one component, :func:`engine.core.stats.variance_se`'s formula to
O(1/n)), kept as running sums of Y and of the products Y_a Y_b. The estimators share
their draws, so their variances are correlated and the independent ratio_se does not
hold: the ratio R = V_a / V_b is a ratio of two means of paired values, whose SE is
sd(Y_a − R Y_b) / (sqrt(n) mean Y_b) (the delta method with the covariance). The Y's are
heavy-tailed (the score terms are cubic in ε), so one run's SE scatters: at the Gaussian
model's (0, 0) the median run reports ~0.65 of the true SE; the root mean square of the
reported SEs matches repeats (tests/engine/vi/test_estimator_se.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from engine.core.params import Config, param
from engine.core.runtime import Experiment
from engine.vi.models import LOG_2PI, MODELS, best_gaussian_q, make_model

__all__ = ["ESTIMATORS", "ESTIMATOR_LABELS", "estimates_from_eps", "gradient_estimates",
           "initial_baseline", "pilot_baseline", "variance_table", "EstimatorConfig",
           "EstimatorExperiment", "SIZES"]

ESTIMATORS = ("reparam", "score", "score_cv")
ESTIMATOR_LABELS = {"reparam": "reparameterization", "score": "score function",
                    "score_cv": "score function + baseline"}
#: sample sizes S of the variance-against-S curve
SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def estimates_from_eps(model, m: float, log_s: float, eps: np.ndarray, method: str,
                       baseline: float = 0.0) -> np.ndarray:
    """Gradient estimates from standard-normal draws ``eps`` of shape (..., S): the mean
    over the last axis of the single-sample terms; returns (..., 2) = (∂m, ∂log s)."""
    s = math.exp(log_s)
    eps = np.asarray(eps, dtype=np.float64)
    z = m + s * eps
    if method == "reparam":
        g = model.grad_log_joint(z)
        return np.stack([g.mean(-1), (g * s * eps).mean(-1) + 1.0], -1)
    if method not in ("score", "score_cv"):
        raise ValueError(f"method must be one of {', '.join(ESTIMATORS)}, got {method!r}")
    log_q = -0.5 * LOG_2PI - log_s - 0.5 * eps ** 2
    h = model.log_joint(z) - log_q
    if method == "score_cv":
        h = h - baseline
    return np.stack([(eps / s * h).mean(-1), ((eps ** 2 - 1) * h).mean(-1)], -1)


def gradient_estimates(model, m: float, log_s: float, samples: int, reps: int,
                       rng: np.random.Generator, baseline: float | None = None) -> dict:
    """``reps`` independent S-sample estimates of each estimator, (reps, 2) each, from
    common draws. ``baseline`` None: :func:`initial_baseline`."""
    if int(samples) < 1:
        raise ValueError(f"samples must be at least 1, got {samples!r}")
    eps = rng.standard_normal((int(reps), int(samples)))
    b = initial_baseline(model, m, log_s) if baseline is None else baseline
    return {k: estimates_from_eps(model, m, log_s, eps, k, b) for k in ESTIMATORS}


def initial_baseline(model, m: float, log_s: float) -> float:
    """f(m) + H(q): the ELBO to first order, known before any draw."""
    return float(model.log_joint(m) + model.entropy(math.exp(log_s)))


def pilot_baseline(model, m: float, log_s: float, rng: np.random.Generator,
                   draws: int = 1000) -> float:
    """The running-mean baseline after ``draws`` earlier draws: mean of f(z) − log q(z)."""
    eps = rng.standard_normal(draws)
    z = m + math.exp(log_s) * eps
    return float(np.mean(model.log_joint(z) + 0.5 * LOG_2PI + log_s + 0.5 * eps ** 2))


def variance_table(model, m: float, log_s: float, sizes=SIZES, reps: int = 400,
                   seed: int | None = 0, baseline: float | None = None) -> dict:
    """Total variance (trace of the 2×2 covariance) of each estimator at each S, from
    ``reps`` replicates, and its standard error ``<estimator>_se`` (sd of |X − g|² over
    sqrt(reps), as in :meth:`EstimatorExperiment.variance_se`). ``baseline`` None: the
    running mean after 1000 earlier draws."""
    rng = np.random.default_rng(seed)
    if baseline is None:
        baseline = pilot_baseline(model, m, log_s, rng)
    truth = model.grad_elbo(m, log_s)
    out: dict[str, Any] = {name: np.zeros(len(sizes)) for k in ESTIMATORS for name in (k, f"{k}_se")}
    for i, size in enumerate(sizes):
        est = gradient_estimates(model, m, log_s, size, reps, rng, baseline)
        for k in ESTIMATORS:
            out[k][i] = float(np.sum(np.var(est[k], axis=0, ddof=1)))
            y = ((est[k] - truth) ** 2).sum(1)
            out[f"{k}_se"][i] = float(np.std(y, ddof=1) / math.sqrt(len(y))) if len(y) > 3 else math.inf
    out["sizes"] = np.asarray(sizes, dtype=np.float64)
    out["baseline"] = baseline
    return out


@dataclass(frozen=True)
class EstimatorConfig(Config):
    model: str = param("gaussian", choices=MODELS,
                       choice_labels=("conjugate Gaussian", "logistic regression"),
                       label="Model", help="gaussian: z ~ N(0,1), x_i ~ N(z, σx²); "
                       "logistic: w ~ N(0,1), y_i ~ Bernoulli(σ(w x_i))")
    n: int = param(20, lo=1, hi=500, label="Data points n")
    true_z: float = param(1.0, lo=-5.0, hi=5.0, label="True z / w",
                          help="the latent value the data are drawn with")
    sigma_x: float = param(1.0, lo=0.1, hi=10.0, label="σx", help="noise sd (Gaussian model)")
    data_seed: int = param(0, lo=0, hi=2**31 - 1, label="Data seed")
    m: float = param(0.0, lo=-5.0, hi=5.0, label="q mean m",
                     help="where the estimators are compared and SGD starts")
    log_s: float = param(0.0, lo=-5.0, hi=2.0, label="q log sd", help="log s at that point")
    samples: int = param(1, lo=1, hi=1000, log=True, label="Samples S",
                         help="Monte Carlo samples per gradient estimate")
    batch: int = param(20, lo=1, hi=1000, label="Estimates / step",
                       help="new S-sample estimates per estimator per step (histograms)")
    lr: float = param(0.01, lo=1e-5, hi=1.0, log=True, label="SGD step",
                      help="the same step size for every estimator's trajectory")
    max_steps: int = param(500, lo=1, hi=100_000, label="SGD steps")
    seed: int = param(0, lo=0, hi=2**31 - 1, label="Seed")


HISTORY = 5000  # estimates kept per estimator for the histograms
MAX_PATH_POINTS = 2000  # a path in a snapshot: at most this many points (views stay cheap)


def thin_path(points, limit: int = MAX_PATH_POINTS) -> np.ndarray:
    """The path as an (n, 2) array of at most ``limit`` points, evenly thinned, the first
    and last point always kept."""
    path = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(path) <= limit:
        return path.copy()
    keep = np.unique(np.linspace(0, len(path) - 1, limit).round().astype(int))
    return path[keep]
BINS = 60


@lru_cache(maxsize=8)
def _variance_curve(model: str, n: int, true_z: float, sigma_x: float, data_seed: int,
                    m: float, log_s: float, seed: int) -> dict:
    """The experiment's variance-against-S table (0.4-0.6 s) for the model its config
    builds, kept for runs that differ in nothing it depends on (S, batch, step size: a
    tour's next stop, a Reset); its arrays are read-only, as it is shared."""
    table = variance_table(make_model(model, n, true_z, sigma_x, data_seed), m, log_s,
                           reps=200, seed=seed + 2)
    for value in table.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return table


class EstimatorExperiment(Experiment):
    """Each step: ``batch`` new S-sample estimates of each estimator at the fixed point
    λ₀ = (m, log s) (histograms, running mean and variance), and one SGD step of each
    estimator's own trajectory from λ₀ (same step size, same draws).

    Metrics: ``elbo_<estimator>`` (the exact ELBO at each trajectory's point) and
    ``var_<estimator>`` (total variance of the S-sample estimates so far).
    """

    def __init__(self, config: EstimatorConfig | None = None, model=None):
        config = (config or EstimatorConfig()).validate()
        super().__init__(config, config.seed)
        c = config
        self._own_model = model is None
        self.model = model or make_model(c.model, c.n, c.true_z, c.sigma_x, c.data_seed)
        self.true_grad = self.model.grad_elbo(c.m, c.log_s)
        self.rng = np.random.default_rng(c.seed)
        self.buffers = {k: np.zeros((0, 2)) for k in ESTIMATORS}
        self.count = 0
        self._sum = {k: np.zeros(2) for k in ESTIMATORS}
        self._sumsq = {k: np.zeros(2) for k in ESTIMATORS}
        # Y = |estimate − true gradient|² per estimator: sums of Y and of Y Yᵀ (the SEs)
        self._y_sum = np.zeros(len(ESTIMATORS))
        self._y_outer = np.zeros((len(ESTIMATORS), len(ESTIMATORS)))
        # the baseline of the histograms: running mean of f − log q over earlier draws
        self.baseline = initial_baseline(self.model, c.m, c.log_s)
        self._h_sum, self._h_n = 0.0, 0
        # trajectories: identical draws for every estimator (one generator each, same seed)
        self.paths = {k: [(c.m, c.log_s)] for k in ESTIMATORS}
        self.diverged = {k: False for k in ESTIMATORS}
        self._traj_rng = {k: np.random.default_rng(c.seed + 1) for k in ESTIMATORS}
        self._traj_baseline: dict[str, float | None] = {k: None for k in ESTIMATORS}
        self._variance_curve = None
        self.best_q = best_gaussian_q(self.model)
        self.elbo_optimum = self.best_q[2]

    # -- one step --------------------------------------------------------------------
    def _step(self):
        c = self.config
        eps = self.rng.standard_normal((c.batch, c.samples))
        new = {k: estimates_from_eps(self.model, c.m, c.log_s, eps, k, self.baseline)
               for k in ESTIMATORS}
        # update the running baseline with these draws only after using it
        z = c.m + math.exp(c.log_s) * eps
        h = self.model.log_joint(z) + 0.5 * LOG_2PI + c.log_s + 0.5 * eps ** 2
        self._h_sum += float(h.sum())
        self._h_n += h.size
        self.baseline = self._h_sum / self._h_n
        for k, est in new.items():
            self.buffers[k] = np.concatenate([self.buffers[k], est])[-HISTORY:]
            self._sum[k] += est.sum(0)
            self._sumsq[k] += (est ** 2).sum(0)
        y = np.stack([((new[k] - self.true_grad) ** 2).sum(1) for k in ESTIMATORS], 1)
        self._y_sum += y.sum(0)
        self._y_outer += y.T @ y
        self.count += c.batch
        out = {}
        for k in ESTIMATORS:
            if self.steps < c.max_steps:
                self._sgd_step(k)
            m, log_s = self.paths[k][-1]
            out[f"elbo_{k}"] = float(self.model.elbo(m, math.exp(log_s)))
            out[f"var_{k}"] = float(np.sum(self.variance(k))) if self.count > 1 else 0.0
            se = self.variance_se(k)
            if math.isfinite(se):  # from the fourth estimate on; a kept run's table shows ± SE
                out[f"var_{k}_se"] = se
        return out

    def _sgd_step(self, k: str) -> None:
        if self.diverged[k]:
            return
        m, log_s = self.paths[k][-1]
        eps = self._traj_rng[k].standard_normal((1, self.config.samples))
        b = self._traj_baseline[k]
        if b is None:
            b = initial_baseline(self.model, m, log_s)
        g = estimates_from_eps(self.model, m, log_s, eps, k, b)[0]
        if k == "score_cv":  # running mean of f − log q along the path (earlier draws only)
            z = m + math.exp(log_s) * eps
            h = float(np.mean(self.model.log_joint(z) + 0.5 * LOG_2PI + log_s + 0.5 * eps ** 2))
            prev = self._traj_baseline[k]
            self._traj_baseline[k] = h if prev is None else 0.9 * prev + 0.1 * h
        m, log_s = m + self.config.lr * g[0], log_s + self.config.lr * g[1]
        if not (math.isfinite(m) and math.isfinite(log_s)) or abs(m) > 50 or not -12 < log_s < 5:
            self.diverged[k] = True  # stays at its last good point
            return
        self.paths[k].append((m, log_s))

    # -- views -----------------------------------------------------------------------
    def mean(self, k: str) -> np.ndarray:
        return self._sum[k] / max(self.count, 1)

    def variance(self, k: str) -> np.ndarray:
        """Per-component sample variance of the S-sample estimates so far."""
        n = self.count
        if n < 2:
            return np.full(2, np.nan)
        return np.maximum(self._sumsq[k] - n * self.mean(k) ** 2, 0.0) / (n - 1)

    def stderr(self, k: str) -> np.ndarray:
        return np.sqrt(self.variance(k) / max(self.count, 1))

    def _y_cov(self) -> np.ndarray:
        """Sample covariance (n − 1) of the estimators' Y = |estimate − true gradient|²."""
        n = self.count
        mean = self._y_sum / n
        return (self._y_outer - n * np.outer(mean, mean)) / (n - 1)

    def variance_se(self, k: str) -> float:
        """Standard error of the total variance ``sum(variance(k))``: sd(Y) / sqrt(n)."""
        n = self.count
        if n < 4:
            return math.inf
        i = ESTIMATORS.index(k)
        return math.sqrt(max(self._y_cov()[i, i], 0.0) / n)

    def ratio(self, a: str, b: str = "reparam") -> tuple[float, float]:
        """Total variance of ``a`` over that of ``b`` and its standard error, for estimates
        from the same draws: sd(Y_a − R Y_b) / (sqrt(n) mean Y_b)."""
        n = self.count
        va, vb = float(np.sum(self.variance(a))), float(np.sum(self.variance(b)))
        if n < 4 or not vb > 0:
            return (va / vb if vb > 0 else math.nan), math.inf
        r = va / vb
        i, j = ESTIMATORS.index(a), ESTIMATORS.index(b)
        cov = self._y_cov()
        spread = cov[i, i] - 2 * r * cov[i, j] + r * r * cov[j, j]
        return r, math.sqrt(max(spread, 0.0) / n) / (self._y_sum[j] / n)

    def histograms(self) -> dict:
        """Counts of the kept estimates on common bins per component, centred on the true
        gradient and ±4 sd of the widest estimator wide."""
        out = {}
        for j in range(2):
            spread = max(float(np.std(self.buffers[k][:, j])) if len(self.buffers[k]) > 1 else 0.0
                         for k in ESTIMATORS)
            half = 4 * spread if spread > 0 else 1.0
            edges = np.linspace(self.true_grad[j] - half, self.true_grad[j] + half, BINS + 1)
            out[j] = {"edges": edges,
                      **{k: np.histogram(self.buffers[k][:, j], edges)[0].astype(float)
                         for k in ESTIMATORS}}
        return out

    @property
    def done(self) -> bool:
        return self.steps >= self.config.max_steps

    def snapshot(self):
        return {
            "step": self.steps, "count": self.count, "true_grad": self.true_grad.copy(),
            "histograms": self.histograms(),
            "mean": {k: self.mean(k) for k in ESTIMATORS},
            "stderr": {k: self.stderr(k) for k in ESTIMATORS},
            "variance": {k: self.variance(k) for k in ESTIMATORS},
            "variance_se": {k: self.variance_se(k) for k in ESTIMATORS},
            "ratio": {k: self.ratio(k)[0] for k in ("score", "score_cv")},
            "ratio_se": {k: self.ratio(k)[1] for k in ("score", "score_cv")},
            "paths": {k: thin_path(v) for k, v in self.paths.items()},
            "diverged": dict(self.diverged), "baseline": self.baseline,
            "elbo_optimum": self.elbo_optimum, "last": self.metrics.last(),
        }

    def heavy_snapshot(self):
        if self._variance_curve is None:
            c = self.config
            if self._own_model:  # the same model, point and seed: the same table
                self._variance_curve = dict(_variance_curve(c.model, c.n, c.true_z, c.sigma_x,
                                                            c.data_seed, c.m, c.log_s, c.seed))
            else:
                self._variance_curve = variance_table(self.model, c.m, c.log_s, reps=200,
                                                      seed=c.seed + 2)
        return {"variance_curve": self._variance_curve}

    def evaluate(self) -> dict:
        out: dict[str, Any] = {}
        for k in ESTIMATORS:
            m, log_s = self.paths[k][-1]
            out[k] = {"mean": self.mean(k).tolist(), "stderr": self.stderr(k).tolist(),
                      "variance": self.variance(k).tolist(),
                      "variance_total_se": self.variance_se(k), "final_m": m, "final_log_s": log_s,
                      "final_elbo": float(self.model.elbo(m, math.exp(log_s))),
                      "diverged": self.diverged[k]}
        for k in ("score", "score_cv"):
            out[f"ratio_{k}"], out[f"ratio_{k}_se"] = self.ratio(k)
        out["true_grad"] = self.true_grad.tolist()
        out["elbo_optimum"] = self.elbo_optimum
        return out
