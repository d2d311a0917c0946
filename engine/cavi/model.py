"""Mean-field coordinate-ascent VI (CAVI) for the Bayesian Gaussian mixture.

The model is Blei, Kucukelbir & McAuliffe (2017), section 3, in ``d`` dimensions::

    mu_k ~ N(0, sigma2 I)        k = 1..K       (cluster means)
    c_i  ~ Uniform{1..K}         i = 1..N       (assignments)
    x_i  ~ N(mu_{c_i}, I)

and the mean-field family ``q(mu_k) = N(m_k, s2_k I)``, ``q(c_i) = Categorical(phi_i)``.
The three closed-form updates, each the exact maximiser of the ELBO in its block::

    phi_ik ∝ exp(x_i·m_k - (m_k·m_k + d s2_k) / 2)
    m_k    = sum_i phi_ik x_i / (1/sigma2 + sum_i phi_ik)
    s2_k   = 1 / (1/sigma2 + sum_i phi_ik)

so the ELBO can never fall from one sweep to the next. :meth:`CAVI.elbo` keeps every
constant, which makes it comparable with a Monte Carlo estimate of
``E_q[log p(x, c, mu) - log q(c, mu)]`` and with scikit-learn's variational mixture.

Speed: one sweep is one pass over the N x K responsibilities. The ELBO after a sweep
needs only the per-cluster sufficient statistics (sum_i phi_ik, sum_i phi_ik x_i) and
the per-point log-normalisers that the phi update already computed, so measuring it
is O(K d), not another O(N K) pass. Large N x K work runs in torch (multi-threaded)
when it pays; numpy otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.cli import subcommand
from engine.core.params import Config, param
from engine.core.runtime import Experiment

__all__ = ["sample_mixture", "CAVI", "GradientAscent", "CaviConfig", "CaviExperiment",
           "LOG_2PI"]

LOG_2PI = math.log(2.0 * math.pi)


# -- validation -------------------------------------------------------------------
def _check_k(k, n: int | None = None) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"K must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"K must be at least 1, got {k}")
    if n is not None and k > n:
        raise ValueError(f"K = {k} exceeds the number of data points N = {n}")
    return int(k)


def _check_sigma2(sigma2) -> float:
    sigma2 = float(sigma2)
    if not math.isfinite(sigma2) or sigma2 <= 0:
        raise ValueError(f"prior variance sigma2 must be positive and finite, got {sigma2}")
    return sigma2


def _check_data(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N,) or (N, d), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x is empty (shape {x.shape})")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    return np.ascontiguousarray(x)


# -- data -----------------------------------------------------------------------------
def sample_mixture(n: int, k: int, sigma2: float = 10.0, dim: int = 1, seed=None):
    """Draw ``n`` points from the generative model.

    Returns ``(x, mu, c)``: data (n, dim), true means (k, dim), assignments (n,).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"N must be a positive integer, got {n!r}")
    k = _check_k(k, n)
    sigma2 = _check_sigma2(sigma2)
    if dim not in (1, 2) and not (isinstance(dim, (int, np.integer)) and dim >= 1):
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, math.sqrt(sigma2), size=(k, dim))
    c = rng.integers(0, k, size=n)
    x = mu[c] + rng.standard_normal((n, dim))
    return x, mu, c


# -- the backend for the N x K pass ---------------------------------------------------
_TORCH_MIN_CELLS = 200_000  # below this, torch's dispatch overhead outweighs its threads


def _responsibilities(x, m, s2, use_torch):
    """One E-step pass. Returns (phi (N,K), sum_i log-normaliser, N_k (K,), S_k (K,d)).

    logits_ik = x_i·m_k - (m_k·m_k + d s2_k)/2 (the terms constant in k are dropped;
    they are added back in the ELBO).
    """
    d = x.shape[1]
    bias = -0.5 * (np.einsum("kd,kd->k", m, m) + d * s2)
    if use_torch:
        import torch

        xt = torch.from_numpy(x)
        logits = torch.addmm(torch.from_numpy(bias)[None, :], xt, torch.from_numpy(m).T)
        lse = torch.logsumexp(logits, dim=1, keepdim=True)
        phi = logits.sub_(lse).exp_()
        nk = phi.sum(0)
        sk = phi.T @ xt
        return phi.numpy(), float(lse.sum()), nk.numpy(), sk.numpy()
    logits = x @ m.T
    logits += bias
    top = logits.max(axis=1, keepdims=True)
    logits -= top
    np.exp(logits, out=logits)
    norm = logits.sum(axis=1, keepdims=True)
    logits /= norm
    lse_sum = float(np.log(norm).sum() + top.sum())
    return logits, lse_sum, logits.sum(0), logits.T @ x


# -- CAVI -----------------------------------------------------------------------------
class CAVI:
    """Coordinate-ascent mean-field VI for the mixture above.

    ``CAVI(x, k, sigma2, m=None, s2=None, seed=None)``: ``x`` is (N,) or (N, d). Without
    ``m``/``s2`` the means start at K distinct data points chosen with ``seed`` and
    ``s2 = 1``; given, they are the exact start. ``phi`` is initialised by one E-step.
    ``step()`` runs one sweep (phi, then m and s2) and returns the ELBO after it.
    """

    def __init__(self, x, k, sigma2, m=None, s2=None, seed=None, backend: str = "auto"):
        self.x = _check_data(x)
        n, d = self.x.shape
        self.k = _check_k(k, n)
        self.sigma2 = _check_sigma2(sigma2)
        if backend not in ("auto", "numpy", "torch"):
            raise ValueError(f"backend must be auto, numpy or torch, got {backend!r}")
        self._use_torch = backend == "torch" or (backend == "auto" and n * self.k >= _TORCH_MIN_CELLS)
        if m is None:
            rng = np.random.default_rng(seed)
            m = self.x[rng.choice(n, size=self.k, replace=False)]
        m = np.array(m, dtype=np.float64)
        if m.ndim == 1 and d == 1:
            m = m[:, None]
        if m.shape != (self.k, d):
            raise ValueError(f"m must have shape ({self.k}, {d}), got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("m contains NaN or infinite values")
        s2 = np.ones(self.k) if s2 is None else np.array(s2, dtype=np.float64).reshape(-1)
        if s2.shape != (self.k,):
            raise ValueError(f"s2 must have shape ({self.k},), got {s2.shape}")
        if not np.all(np.isfinite(s2)) or np.any(s2 <= 0):
            raise ValueError("s2 must be positive and finite")
        self.m, self.s2 = m, s2
        self._sum_x2 = float(np.einsum("nd,nd->", self.x, self.x))
        self.sweeps = 0
        self._estep()  # phi from the starting m, s2

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def _estep(self) -> None:
        self.phi, self._lse_sum, self._nk, self._sk = _responsibilities(
            self.x, self.m, self.s2, self._use_torch)
        # Entropy of q(c) expressed through the E-step's own quantities:
        # -sum phi log phi = sum_i lse_i - sum_ik phi_ik logit_ik.
        self._entropy_c = self._lse_sum - self._expected_logit(self.m, self.s2)

    def _expected_logit(self, m, s2) -> float:
        """sum_ik phi_ik (x_i·m_k - (m_k·m_k + d s2_k)/2), from sufficient statistics."""
        mm = np.einsum("kd,kd->k", m, m)
        return float(np.einsum("kd,kd->", self._sk, m) - 0.5 * np.dot(self._nk, mm + self.dim * s2))

    def _mstep(self) -> None:
        precision = 1.0 / self.sigma2 + self._nk
        self.m = self._sk / precision[:, None]
        self.s2 = 1.0 / precision

    def step(self) -> float:
        """One sweep: phi given (m, s2), then (m, s2) given phi. Returns the ELBO."""
        if self.sweeps:
            self._estep()
        self._mstep()
        self.sweeps += 1
        return self.elbo()

    def elbo(self) -> float:
        """The exact ELBO in nats at the current (phi, m, s2), every constant included."""
        return elbo_from_stats(self.m, self.s2, self.sigma2, self._nk, self._sk, self._sum_x2,
                               self._entropy_c, self.n, self.k, self.dim)

    def elbo_direct(self) -> float:
        """The ELBO by a direct O(N K) evaluation (a check on :meth:`elbo`)."""
        return elbo_direct(self.x, self.phi, self.m, self.s2, self.sigma2)


def elbo_from_stats(m, s2, sigma2, nk, sk, sum_x2, entropy_c, n, k, d) -> float:
    mm = np.einsum("kd,kd->k", m, m)
    # E log p(mu) - E log q(mu): Gaussian prior cross-entropy and posterior entropy.
    mu_terms = float(np.sum(-0.5 * d * math.log(sigma2) - (mm + d * s2) / (2 * sigma2)
                            + 0.5 * d * (np.log(s2) + 1.0)))
    # E log p(x | c, mu) summed over points, via sufficient statistics.
    lik = (-0.5 * n * d * LOG_2PI - 0.5 * sum_x2 + float(np.einsum("kd,kd->", sk, m))
           - 0.5 * float(np.dot(nk, mm + d * s2)))
    return mu_terms + lik - n * math.log(k) + entropy_c


def elbo_direct(x, phi, m, s2, sigma2) -> float:
    """Straightforward ELBO, term by term (used in tests and the plain benchmark)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    n, d = x.shape
    k = m.shape[0]
    e_log_p_mu = np.sum(-0.5 * d * math.log(2 * math.pi * sigma2) - (np.sum(m**2, 1) + d * s2) / (2 * sigma2))
    sq = (np.sum(x**2, 1)[:, None] - 2 * x @ m.T + np.sum(m**2, 1)[None, :] + d * s2[None, :])
    e_log_p_x = np.sum(phi * (-0.5 * d * LOG_2PI - 0.5 * sq))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent_c = -np.sum(np.where(phi > 0, phi * np.log(phi), 0.0))
    ent_mu = np.sum(0.5 * d * (np.log(2 * math.pi * s2) + 1.0))
    return float(e_log_p_mu - n * math.log(k) + e_log_p_x + ent_c + ent_mu)


class GradientAscent(CAVI):
    """The lecture's "Coordinate Ascent" slide taken literally.

    phi keeps its closed-form update; m_k and s2_k each take one gradient step of size
    ``alpha`` per sweep on dELBO/dm_k = S_k - (1/sigma2 + N_k) m_k and
    dELBO/ds2_k = d/2 (1/s2_k - 1/sigma2 - N_k). s2 is kept positive by halving it
    whenever a step would cross zero. With N_k points the curvature in m_k is about N_k
    and in s2_k about d N_k^2 / 2 (at the optimum s2_k ~ 1/N_k), so alpha must be below
    ~2/N_k for m and ~4/(d N_k^2) for s2 or the ascent oscillates; no single alpha is fast
    for both. That is the point of the comparison with the closed-form updates.
    """

    def __init__(self, x, k, sigma2, alpha=1e-3, **kwargs):
        alpha = float(alpha)
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"step size alpha must be positive, got {alpha}")
        self.alpha = alpha
        super().__init__(x, k, sigma2, **kwargs)

    def _mstep(self) -> None:
        precision = 1.0 / self.sigma2 + self._nk
        grad_m = self._sk - precision[:, None] * self.m
        grad_s2 = 0.5 * self.dim * (1.0 / self.s2 - precision)
        self.m = self.m + self.alpha * grad_m
        s2 = self.s2 + self.alpha * grad_s2
        self.s2 = np.where(s2 > 0, s2, self.s2 / 2)


# -- the Experiment the GUI and CLI run -----------------------------------------------
@dataclass(frozen=True)
class CaviConfig(Config):
    """Everything that defines a CAVI run, each parameter declared once (engine.core.params)."""

    k: int = param(3, lo=1, hi=10, symbol="K", label="K (clusters fitted)",
                   help="Number of mixture components in q")
    n: int = param(1000, lo=10, hi=1_000_000, step=100, symbol="N", label="N (data points)",
                   help="Points drawn from the model")
    sigma2: float = param(10.0, lo=0.1, hi=100.0, decimals=2, step=1.0, label="Prior variance σ²",
                          help="μ_k ~ N(0, σ² I): how far apart the true means tend to be")
    dim: int = param(1, choices=(1, 2), choice_labels=("1-D", "2-D"), label="Dimension",
                     help="Dimension d of the data")
    data_seed: int = param(0, lo=0, hi=1_000_000, label="Data seed",
                           help="Seeds the data drawn from the model")
    init_seed: int = param(0, lo=0, hi=1_000_000, label="Init seed",
                           help="Which data points the means start at")
    true_k: int | None = param(None, lo=1, hi=10, optional=True, symbol="true K",
                               label="Clusters in data",
                               help="Components of the generative model that drew the data; "
                                    "None: the same as K")
    mode: str = param("cavi", choices=("cavi", "gradient"),
                      choice_labels=("CAVI (closed form)", "Gradient ascent vs CAVI"),
                      label="Method",
                      help="The lecture's 'Coordinate Ascent' slide: gradient steps of size α "
                           "on m_k and s²_k, overlaid on CAVI from the same start")
    alpha: float = param(1e-4, lo=1e-6, hi=1.0, log=True, label="Step size α",
                         help="Gradient step size (gradient mode only)")
    tol: float = param(1e-8, lo=1e-15, hi=0.1, log=True, gui=False, label="Tolerance",
                       help="Converged when |ΔELBO| < tol · max(1, |ELBO|)")
    max_sweeps: int = param(5000, lo=1, hi=10_000_000, gui=False, label="Max sweeps",
                            help="Stop after this many sweeps")
    data_file: str | None = param(None, optional=True, widget="points_file", label="Own data",
                                  help="A CSV file of 1-D or 2-D points (one per line, an "
                                       "optional header) fitted instead of data drawn from the "
                                       "model; N and the dimension then come from the file. "
                                       "The model assumes unit-variance clusters: scale the data "
                                       "so that a cluster's spread is about 1. None: draw from "
                                       "the model")

    def validate(self) -> CaviConfig:
        super().validate()
        if self.k > self.n:  # unreachable with today's ranges (K <= 10 <= N); kept for safety
            raise ValueError(f"K = {self.k} exceeds the number of data points N = {self.n}")
        return self


class CaviExperiment(Experiment):
    """A CAVI run on data drawn from the model (or read from ``config.data_file``, a CSV
    of 1-D or 2-D points), as an Experiment (one step = one sweep).

    In ``mode="gradient"`` the gradient-ascent variant runs alongside a CAVI run from the
    same start, so the two ELBO curves can be overlaid; the views show the gradient run.

    Metrics per sweep: ``elbo`` (CAVI), ``elbo_gradient`` (gradient mode), and for the
    shown run ``m{j}`` (first coordinate of the mean m_j) and ``s{j}`` (its sd sqrt(s2_j)),
    j = 0..K-1: the trajectories of the means plot, from sweep 1 on.
    """

    config_class = CaviConfig

    def __init__(self, config: CaviConfig | None = None, seed: int | None = None):
        config = (config or CaviConfig()).validate()
        super().__init__(config, seed)
        c = config
        if c.data_file is not None:  # the user's own points: no true means to show
            from engine.data.points import read_points

            self.x = read_points(c.data_file)
            self.true_mu = np.zeros((0, self.x.shape[1]))
            self.true_c = None
        else:
            self.x, self.true_mu, self.true_c = sample_mixture(
                c.n, c.true_k or c.k, c.sigma2, c.dim, seed=c.data_seed)
        if c.k > len(self.x):
            raise ValueError(f"K = {c.k} exceeds N = {len(self.x)}")
        self.cavi = CAVI(self.x, c.k, c.sigma2, seed=c.init_seed)
        self.gradient = None
        if c.mode == "gradient":
            self.gradient = GradientAscent(self.x, c.k, c.sigma2, alpha=c.alpha,
                                           m=self.cavi.m.copy(), s2=self.cavi.s2.copy())
        self.converged = False
        self._cavi_converged = False

    @property
    def shown(self) -> CAVI:
        """The run the views display."""
        return self.gradient if self.gradient is not None else self.cavi

    def _step(self):
        values = {}
        for name, run in (("elbo", self.cavi), ("elbo_gradient", self.gradient)):
            if run is None or (run is self.cavi and self._cavi_converged and self.gradient is not None):
                continue
            before = run.elbo() if run.sweeps else None
            values[name] = run.step()
            if before is not None:
                change = abs(values[name] - before)
                if change < self.config.tol * max(1.0, abs(values[name])):
                    if run is self.shown:
                        self.converged = True
                    else:
                        self._cavi_converged = True
        run = self.shown
        s = np.sqrt(run.s2)
        for j in range(run.k):  # the trajectories the means plot draws
            values[f"m{j}"] = float(run.m[j, 0])
            values[f"s{j}"] = float(s[j])
        return values

    @property
    def done(self) -> bool:
        return self.converged or self.steps >= self.config.max_sweeps

    def snapshot(self):
        run = self.shown
        return {
            "step": self.steps,
            "m": run.m.copy(),
            "s2": run.s2.copy(),
            "phi": run.phi,  # replaced, never mutated in place, by the next sweep
            "converged": self.converged,
            "done": self.done,
            "elbo": run.elbo(),
            # Never mutated after construction, so shared rather than copied per frame.
            "x": self.x,
            "true_mu": self.true_mu,
        }

    def evaluate(self):
        run = self.shown
        return {"elbo": run.elbo(), "sweeps": self.steps, "converged": self.converged}


# -- command line: python -m engine cavi ---------------------------------------------------
def _cli_flags(parser) -> None:
    parser.add_argument("--init-seed", type=int, default=None,
                        help="which data points the means start at (default: --seed)")


def _cli_run(config: CaviConfig, args) -> dict:
    """--seed draws the data (and the start, unless --init-seed is given)."""
    from engine.cli import run_experiment

    init_seed = args.init_seed if args.init_seed is not None else args.seed
    exp = CaviExperiment(config.replace(data_seed=args.seed, init_seed=init_seed).validate())
    result = run_experiment(exp, args, "cavi")
    run = exp.shown
    result.update({"elbo": run.elbo(), "m": run.m, "s2": run.s2, "sweeps": exp.steps,
                   "converged": exp.converged, "true_mu": exp.true_mu,
                   "elbo_history": exp.metrics.get("elbo" if config.mode == "cavi"
                                                   else "elbo_gradient")[1]})
    return result


subcommand("cavi", CaviExperiment, help="mean-field CAVI on a Bayesian Gaussian mixture",
           run=_cli_run, flags=_cli_flags, exclude=("data_seed", "init_seed"))
