"""Two one-latent-variable models for the evidence gap and the gradient estimators.

* :class:`ConjugateGaussian`: z ~ N(0, τ²), x_i | z ~ N(z, σ_x²). Everything is
  closed-form: the posterior, the evidence log p(x), the ELBO of q = N(m, s²), its two
  decompositions (eq. 12), KL(q ‖ p(z|x)) and the ELBO's gradient.
* :class:`LogisticRegression`: one weight w ~ N(0, τ²), y_i | w ~ Bernoulli(σ(w x_i)).
  No conjugate posterior: expectations under q are computed by Gauss–Hermite quadrature
  (accurate to ~1e-10 here), which gives the "true" ELBO and gradient that the Monte
  Carlo estimators are compared with.

Both share one interface: ``log_joint(z)`` and ``grad_log_joint(z)`` for z of any
shape (elementwise in z), ``elbo(m, s)`` and ``grad_elbo(m, log_s)`` (gradient with
respect to λ = (m, log s)). q(z) = N(m, s²) throughout; results in nats.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["ConjugateGaussian", "LogisticRegression", "gaussian_data", "logistic_data",
           "quadrature_nodes", "make_model", "MODELS"]

LOG_2PI = math.log(2 * math.pi)


def _trapz(y: np.ndarray, x: np.ndarray) -> np.float64:
    """The trapezoid rule on a 1-D grid: numpy's own formula, written out because numpy
    1.26 names it ``trapz`` and 2.x ``trapezoid`` (and 2.4 dropped ``trapz``)."""
    return np.float64((np.diff(x) * (y[1:] + y[:-1]) / 2.0).sum())

MODELS = ("gaussian", "logistic")


def quadrature_nodes(k: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t and weights w with Σ w f(t) ≈ E_{ε~N(0,1)} f(ε) (probabilists' Hermite)."""
    t, w = np.polynomial.hermite_e.hermegauss(k)
    return t, w / math.sqrt(2 * math.pi)


_NODES = quadrature_nodes()


def _check_positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_data(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty: the model needs at least one data point")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def gaussian_data(n: int, true_z: float, sigma_x: float, seed: int | None = 0) -> np.ndarray:
    """n draws x_i ~ N(true_z, σ_x²)."""
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    sigma_x = _check_positive(sigma_x, "sigma_x")
    return float(true_z) + sigma_x * np.random.default_rng(seed).standard_normal(int(n))


def logistic_data(n: int, true_w: float, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points x_i ~ N(0, 1), y_i ~ Bernoulli(σ(true_w · x_i))."""
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(n))
    y = (rng.random(int(n)) < 1 / (1 + np.exp(-float(true_w) * x))).astype(np.float64)
    return x, y


class _Model:
    """Shared pieces: q's entropy, expectations by quadrature, the ELBO gradient."""

    prior_sd = 1.0

    def grad_log_joint(self, z):  # pragma: no cover - each model has its own
        raise NotImplementedError

    def log_prior(self, z):
        z = np.asarray(z, dtype=np.float64)
        return -0.5 * LOG_2PI - math.log(self.prior_sd) - 0.5 * (z / self.prior_sd) ** 2

    @staticmethod
    def entropy(s):
        """H(q) = ½ log(2πe s²)."""
        return 0.5 * (LOG_2PI + 1) + np.log(s)

    def expect(self, fn, m, s):
        """E_{z~N(m, s²)} fn(z) by Gauss–Hermite quadrature; m and s broadcast."""
        t, w = _NODES
        m, s = np.asarray(m, dtype=np.float64), np.asarray(s, dtype=np.float64)
        z = m[..., None] + s[..., None] * t
        return np.sum(fn(z) * w, axis=-1)

    def energy(self, m, s):
        """E_q log p(x, z) (the lecture's "energy")."""
        return self.expect(self.log_joint, m, s)

    def elbo(self, m, s):
        return self.energy(m, s) + self.entropy(s)

    def grad_elbo(self, m, log_s) -> np.ndarray:
        """∇_(m, log s) ELBO = (E[f'(z)], s E[f'(z) ε] + 1), f = log p(x, z), by quadrature."""
        t, w = _NODES
        s = math.exp(log_s)
        g = self.grad_log_joint(m + s * t)
        return np.array([np.sum(w * g), s * np.sum(w * g * t) + 1.0])


class ConjugateGaussian(_Model):
    """z ~ N(0, τ²), x_i | z ~ N(z, σ_x²): the model of the evidence-gap section."""

    def __init__(self, x, sigma_x: float = 1.0, prior_sd: float = 1.0):
        self.x = _check_data(x)
        self.sigma_x = _check_positive(sigma_x, "sigma_x")
        self.prior_sd = _check_positive(prior_sd, "prior_sd")
        self.n = len(self.x)
        self.sum_x = float(self.x.sum())
        self.sum_x2 = float(np.sum(self.x ** 2))
        self.precision = 1 / self.prior_sd ** 2 + self.n / self.sigma_x ** 2
        self.post_mean = self.sum_x / self.sigma_x ** 2 / self.precision
        self.post_sd = 1 / math.sqrt(self.precision)

    # -- densities -----------------------------------------------------------------
    def log_lik(self, z):
        """log p(x | z) = Σ_i log N(x_i; z, σ_x²), elementwise in z."""
        z = np.asarray(z, dtype=np.float64)
        sq = self.sum_x2 - 2 * z * self.sum_x + self.n * z ** 2  # Σ (x_i - z)²
        return -0.5 * self.n * (LOG_2PI + 2 * math.log(self.sigma_x)) - sq / (2 * self.sigma_x ** 2)

    def log_joint(self, z):
        return self.log_lik(z) + self.log_prior(z)

    def grad_log_joint(self, z):
        z = np.asarray(z, dtype=np.float64)
        return (self.sum_x - self.n * z) / self.sigma_x ** 2 - z / self.prior_sd ** 2

    def log_posterior(self, z):
        z = np.asarray(z, dtype=np.float64)
        return -0.5 * LOG_2PI - math.log(self.post_sd) - 0.5 * ((z - self.post_mean) / self.post_sd) ** 2

    def log_evidence(self) -> float:
        """log p(x) = log p(x, z) − log p(z | x), the same for every z (here z = 0)."""
        return float(self.log_joint(0.0) - self.log_posterior(0.0))

    # -- q = N(m, s²) ----------------------------------------------------------------
    def expected_log_lik(self, m, s):
        """E_q log p(x | z) in closed form: Σ (x_i − m)² + n s² over 2σ_x²."""
        m, s = np.asarray(m, dtype=np.float64), np.asarray(s, dtype=np.float64)
        return self.log_lik(m) - self.n * s ** 2 / (2 * self.sigma_x ** 2)

    def expected_log_prior(self, m, s):
        m, s = np.asarray(m, dtype=np.float64), np.asarray(s, dtype=np.float64)
        return self.log_prior(m) - s ** 2 / (2 * self.prior_sd ** 2)

    def energy(self, m, s):
        return self.expected_log_lik(m, s) + self.expected_log_prior(m, s)

    def kl_prior(self, m, s):
        """KL(q ‖ p(z)) in closed form."""
        return _gauss_kl(m, s, 0.0, self.prior_sd)

    def kl_posterior(self, m, s):
        """KL(q ‖ p(z | x)) in closed form: exactly the gap log p(x) − ELBO(q)."""
        return _gauss_kl(m, s, self.post_mean, self.post_sd)

    def elbo(self, m, s):
        return self.energy(m, s) + self.entropy(s)

    def grad_elbo(self, m, log_s) -> np.ndarray:
        """Closed form: (P (μ_post − m), 1 − P s²) with P the posterior precision."""
        s2 = math.exp(2 * log_s)
        return np.array([self.precision * (self.post_mean - m), 1.0 - self.precision * s2])

    def with_point(self, value: float) -> ConjugateGaussian:
        return ConjugateGaussian(np.append(self.x, float(value)), self.sigma_x, self.prior_sd)

    def without_point(self, index: int) -> ConjugateGaussian:
        if self.n <= 1:
            raise ValueError("the model needs at least one data point; cannot remove the last")
        return ConjugateGaussian(np.delete(self.x, int(index)), self.sigma_x, self.prior_sd)


def _gauss_kl(m, s, mu, sd):
    m, s = np.asarray(m, dtype=np.float64), np.asarray(s, dtype=np.float64)
    return np.log(sd / s) + (s ** 2 + (m - mu) ** 2) / (2 * sd ** 2) - 0.5


class LogisticRegression(_Model):
    """One weight w ~ N(0, τ²); y_i ~ Bernoulli(σ(w x_i)). Expectations by quadrature."""

    def __init__(self, x, y, prior_sd: float = 1.0):
        self.x = _check_data(x)
        self.y = _check_data(y, "y")
        if self.y.shape != self.x.shape:
            raise ValueError(f"x and y have different lengths {len(self.x)} and {len(self.y)}")
        if not np.all((self.y == 0) | (self.y == 1)):
            raise ValueError("y must contain only 0 and 1")
        self.prior_sd = _check_positive(prior_sd, "prior_sd")
        self.n = len(self.x)
        # Σ y_i log σ(w x_i) + (1 − y_i) log σ(−w x_i) = Σ (y_i − 1) w x_i − log(1 + e^{−w x_i})
        self._a = float(np.sum((self.y - 1) * self.x))

    def log_lik(self, z):
        z = np.asarray(z, dtype=np.float64)
        t = z[..., None] * self.x
        return self._a * z - np.sum(np.logaddexp(0.0, -t), axis=-1)

    def log_joint(self, z):
        return self.log_lik(z) + self.log_prior(z)

    def grad_log_joint(self, z):
        z = np.asarray(z, dtype=np.float64)
        t = z[..., None] * self.x
        sig_neg = 0.5 * (1 - np.tanh(0.5 * t))  # σ(−t), stable
        return self._a + np.sum(self.x * sig_neg, axis=-1) - z / self.prior_sd ** 2

    def posterior_mode(self) -> float:
        """The MAP weight (Newton's method on the concave log joint)."""
        w = 0.0
        for _ in range(100):
            t = w * self.x
            p = 0.5 * (1 + np.tanh(0.5 * t))
            hess = -np.sum(self.x ** 2 * p * (1 - p)) - 1 / self.prior_sd ** 2
            step = float(self.grad_log_joint(w)) / hess
            w -= step
            if abs(step) < 1e-12:
                break
        return w

    def _posterior_grid(self):
        """A fine grid over ±12 Laplace standard deviations around the mode, with the
        unnormalised log posterior on it (the posterior is log-concave and 1-D)."""
        if not hasattr(self, "_grid"):
            mode = self.posterior_mode()
            p = 0.5 * (1 + np.tanh(0.5 * mode * self.x))
            sd = 1 / math.sqrt(np.sum(self.x ** 2 * p * (1 - p)) + 1 / self.prior_sd ** 2)
            z = np.linspace(mode - 12 * sd, mode + 12 * sd, 4001)
            self._grid = (z, self.log_joint(z))
        return self._grid

    def log_evidence(self) -> float:
        """log p(y | x) = log ∫ p(y, w | x) dw on the posterior grid (trapezoid rule)."""
        z, lj = self._posterior_grid()
        top = lj.max()
        return float(top + np.log(_trapz(np.exp(lj - top), z)))

    @property
    def post_mean(self) -> float:
        """The posterior mean (trapezoid rule on the posterior grid)."""
        z, lj = self._posterior_grid()
        w = np.exp(lj - lj.max())
        return float(_trapz(w * z, z) / _trapz(w, z))


def make_model(kind: str = "gaussian", n: int = 20, true_z: float = 1.0, sigma_x: float = 1.0,
               seed: int | None = 0):
    """The estimators' model from a few numbers: data drawn with ``seed``."""
    if kind == "gaussian":
        return ConjugateGaussian(gaussian_data(n, true_z, sigma_x, seed), sigma_x)
    if kind == "logistic":
        return LogisticRegression(*logistic_data(n, true_z, seed))
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {kind!r}")


def elbo_surface(model, m_range: tuple[float, float], log_s_range: tuple[float, float],
                 size: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m values, log s values, ELBO[log s, m]) on a size × size grid."""
    m = np.linspace(*m_range, size)
    ls = np.linspace(*log_s_range, size)
    mm, ll = np.meshgrid(m, ls)
    if isinstance(model, ConjugateGaussian):
        return m, ls, model.elbo(mm, np.exp(ll))
    out = np.empty_like(mm)
    for i in range(size):  # row by row: size × nodes × n numbers at a time
        out[i] = model.elbo(mm[i], np.exp(ll[i]))
    return m, ls, out


def best_gaussian_q(model) -> tuple[float, float, float]:
    """(m, log s, ELBO) of the best q = N(m, s²): the posterior for the conjugate model,
    else gradient ascent on the quadrature ELBO (steps scaled by s², natural-gradient-like)."""
    if isinstance(model, ConjugateGaussian):
        return model.post_mean, math.log(model.post_sd), float(model.log_evidence())
    lam = np.array([model.post_mean, -1.0])
    for _ in range(500):
        g = model.grad_elbo(*lam)
        step = np.array([0.5 * math.exp(2 * lam[1]), 0.25]) * g
        lam += np.clip(step, -0.5, 0.5)
        if np.max(np.abs(g)) < 1e-10:
            break
    return float(lam[0]), float(lam[1]), float(model.elbo(lam[0], math.exp(lam[1])))


__all__ += ["elbo_surface", "best_gaussian_q"]
