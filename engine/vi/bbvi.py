"""Black-box VI on 2-D targets: stochastic optimisation of the reparameterized ELBO
(torch autograd, Adam) for three variational families, with reverse KL(q‖p) or
forward KL(p‖q).

Targets (``TARGETS``): a correlated Gaussian (correlation ρ), a banana, a mixture of two
Gaussians, Neal's funnel and a ring. The fit uses only the unnormalised log density
log p̃(z); each target also knows its log normaliser log Z (closed form) and how to
draw exact samples, so the page can show KL(q‖p) = log Z − ELBO and the forward KL can
be fitted on samples.

Families (``FAMILIES``): mean-field Gaussian (eq. 14), full-covariance Gaussian and a
normalising flow (affine-coupling layers on a full-covariance Gaussian base), each with
``rsample(n) -> (z, log q(z))`` and ``log_prob(z)``.

Objectives: ``reverse`` maximises ELBO = E_q[log p̃(z) − log q(z)] with z = g_λ(ε)
(reparameterized); ``forward`` maximises E_p[log q(x)] over exact samples x ~ p, which
minimises KL(p‖q) (mass-covering where the reverse KL is mode-seeking).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.core.runtime import Experiment, resolve_device, set_torch_threads
from engine.vi.config import FAMILIES, FAMILY_LABELS, TARGET_LABELS, TARGETS, BBVIConfig
from engine.vi.optim import Adam, CosineAnnealing

__all__ = ["TARGETS", "TARGET_LABELS", "FAMILIES", "FAMILY_LABELS", "make_target", "make_family",
           "BBVIConfig", "BBVIExperiment", "target_grid", "EXTENTS"]

#: the plotting window of each target: (x0, x1, y0, y1)
EXTENTS = {"gaussian": (-4.0, 4.0, -4.0, 4.0), "banana": (-4.5, 4.5, -3.0, 6.0),
           "mixture": (-5.0, 5.0, -5.0, 5.0), "funnel": (-6.0, 6.0, -5.0, 5.0),
           "ring": (-3.5, 3.5, -3.5, 3.5)}
LOG_2PI = math.log(2 * math.pi)
#: every family starts as N(μ₀, START_SD² I), μ₀ a small seeded offset from 0
START_SD = 0.5


# -- targets ---------------------------------------------------------------------------
class Target:
    """An unnormalised 2-D density: ``log_prob`` (log p̃), ``log_z``, ``sample``."""

    name = ""
    log_z = 0.0

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


class GaussianTarget(Target):
    """N(μ, Σ) with sds (1.5, 1) and correlation ρ."""

    name = "gaussian"

    def __init__(self, rho: float = 0.8):
        if not -0.99 <= rho <= 0.99:
            raise ValueError(f"rho must be between -0.99 and 0.99, got {rho!r}")
        self.rho = float(rho)
        self.mean = torch.tensor([0.5, -0.5], dtype=torch.float64)
        sd = torch.tensor([1.5, 1.0], dtype=torch.float64)
        corr = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
        self.cov = sd[:, None] * corr * sd[None, :]
        self.chol = torch.linalg.cholesky(self.cov)
        self.precision = torch.linalg.inv(self.cov)
        # log p̃ leaves out the normaliser; log Z = log(2π |Σ|^½)
        self.log_z = float(LOG_2PI + 0.5 * torch.logdet(self.cov))

    def log_prob(self, z):
        d = z - self.mean.to(z)
        return -0.5 * torch.einsum("ni,ij,nj->n", d, self.precision.to(z), d)

    def sample(self, n, generator):
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return self.mean + eps @ self.chol.T


class BananaTarget(Target):
    """x₁ ~ N(0, a²), x₂ | x₁ ~ N(b (x₁² − a²), 1): a bent Gaussian (normalised, log Z = 0)."""

    name = "banana"
    a, b = 1.5, 0.6

    def log_prob(self, z):
        x1, x2 = z[:, 0], z[:, 1]
        return (-0.5 * (x1 / self.a) ** 2 - math.log(self.a)
                - 0.5 * (x2 - self.b * (x1 ** 2 - self.a ** 2)) ** 2 - LOG_2PI)

    def sample(self, n, generator):
        u = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x1 = self.a * u[:, 0]
        return torch.stack([x1, u[:, 1] + self.b * (x1 ** 2 - self.a ** 2)], 1)


class MixtureTarget(Target):
    """Two equally weighted isotropic Gaussians at (±d, 0.5 d) with sd 0.7 (log Z = 0)."""

    name = "mixture"
    sd = 0.7

    def __init__(self, d: float = 2.4):
        self.centres = torch.tensor([[-d, -0.5 * d], [d, 0.5 * d]], dtype=torch.float64)

    def log_prob(self, z):
        d2 = ((z[:, None, :] - self.centres.to(z)) ** 2).sum(-1)
        comp = -0.5 * d2 / self.sd ** 2 - 2 * math.log(self.sd) - LOG_2PI
        return torch.logsumexp(comp, 1) - math.log(2)

    def sample(self, n, generator):
        k = torch.randint(0, 2, (n,), generator=generator)
        return self.centres[k] + self.sd * torch.randn(n, 2, generator=generator, dtype=torch.float64)


class FunnelTarget(Target):
    """Neal's funnel in (x, v): v ~ N(0, 1.5²) (vertical), x | v ~ N(0, e^v) (log Z = 0)."""

    name = "funnel"
    sv = 1.5

    def log_prob(self, z):
        x, v = z[:, 0], z[:, 1]
        return (-0.5 * (v / self.sv) ** 2 - math.log(self.sv)
                - 0.5 * x ** 2 * torch.exp(-v) - 0.5 * v - LOG_2PI)

    def sample(self, n, generator):
        u = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        v = self.sv * u[:, 1]
        return torch.stack([torch.exp(0.5 * v) * u[:, 0], v], 1)


class RingTarget(Target):
    """p̃(z) = exp(−(‖z‖ − R)² / 2σ²) with R = 2, σ = 0.3.

    log Z = log 2π ∫₀^∞ r e^{−(r−R)²/2σ²} dr
          = log 2π [σ² e^{−R²/2σ²} + R σ √(π/2) (1 + erf(R / σ√2))]."""

    name = "ring"
    radius, width = 2.0, 0.3

    def __init__(self):
        r, s = self.radius, self.width
        radial = s * s * math.exp(-r * r / (2 * s * s)) \
            + r * s * math.sqrt(math.pi / 2) * (1 + math.erf(r / (s * math.sqrt(2))))
        self.log_z = math.log(2 * math.pi * radial)

    def log_prob(self, z):
        return -0.5 * ((torch.linalg.norm(z, dim=1) - self.radius) / self.width) ** 2

    def sample(self, n, generator):
        # radius ∝ r exp(−(r−R)²/2σ²): propose N(R, σ), accept with r / (R + 6σ) (r > 0)
        out = []
        have = 0
        cap = self.radius + 6 * self.width
        while have < n:
            r = self.radius + self.width * torch.randn(2 * n, generator=generator, dtype=torch.float64)
            u = torch.rand(2 * n, generator=generator, dtype=torch.float64)
            r = r[(r > 0) & (u < r / cap)]
            out.append(r)
            have += len(r)
        r = torch.cat(out)[:n]
        theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)


def make_target(name: str, rho: float = 0.8) -> Target:
    if name == "gaussian":
        return GaussianTarget(rho)
    classes = {"banana": BananaTarget, "mixture": MixtureTarget, "funnel": FunnelTarget,
               "ring": RingTarget}
    if name not in classes:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {name!r}")
    return classes[name]()


def target_grid(name: str, rho: float = 0.8, size: int = 120):
    """(xs, ys, density[y, x]) of the normalised target on its plotting window (numpy)."""
    target = make_target(name, rho)
    x0, x1, y0, y1 = EXTENTS[name]
    xs, ys = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    gx, gy = np.meshgrid(xs, ys)
    z = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    with torch.no_grad():
        lp = target.log_prob(z).numpy() - target.log_z
    return xs, ys, np.exp(lp).reshape(size, size)


# -- families ----------------------------------------------------------------------------
class Family(nn.Module):
    """q(z; λ) on ℝ²: ``rsample(n, generator)`` gives reparameterized (z, log q(z))."""

    def rsample(self, n: int, generator=None):
        raise NotImplementedError

    def log_prob(self, z):
        raise NotImplementedError

    def moments(self):
        """(mean, covariance) for the Gaussian families; None for flows."""
        return None


def _eps(n, ref: torch.Tensor, generator):
    return torch.randn(n, 2, generator=generator, dtype=ref.dtype, device="cpu").to(ref.device)


def _std_normal_logp(eps):
    return -0.5 * (eps ** 2).sum(-1) - LOG_2PI


class MeanField(Family):
    """q(z) = N(z₁; μ₁, σ₁²) N(z₂; μ₂, σ₂²) (eq. 14)."""

    def __init__(self, mean):
        super().__init__()
        self.mu = nn.Parameter(torch.as_tensor(mean, dtype=torch.float64).clone())
        self.log_sd = nn.Parameter(torch.full((2,), math.log(START_SD), dtype=torch.float64))

    def rsample(self, n, generator=None):
        eps = _eps(n, self.mu, generator)
        return self.mu + torch.exp(self.log_sd) * eps, _std_normal_logp(eps) - self.log_sd.sum()

    def log_prob(self, z):
        eps = (z - self.mu) * torch.exp(-self.log_sd)
        return _std_normal_logp(eps) - self.log_sd.sum()

    def moments(self):
        return self.mu.detach(), torch.diag(torch.exp(2 * self.log_sd.detach()))


class FullCovariance(Family):
    """q(z) = N(μ, L Lᵀ), L lower-triangular with a positive (exp) diagonal."""

    def __init__(self, mean):
        super().__init__()
        self.mu = nn.Parameter(torch.as_tensor(mean, dtype=torch.float64).clone())
        self.log_diag = nn.Parameter(torch.full((2,), math.log(START_SD), dtype=torch.float64))
        self.off = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def chol(self):
        d = torch.exp(self.log_diag)
        zero = torch.zeros_like(self.off)
        return torch.stack([torch.cat([d[:1], zero]), torch.cat([self.off, d[1:]])])

    def rsample(self, n, generator=None):
        eps = _eps(n, self.mu, generator)
        return self.mu + eps @ self.chol().T, _std_normal_logp(eps) - self.log_diag.sum()

    def log_prob(self, z):
        eps = torch.linalg.solve_triangular(self.chol(), (z - self.mu).T, upper=False).T
        return _std_normal_logp(eps) - self.log_diag.sum()

    def moments(self):
        chol = self.chol().detach()
        return self.mu.detach(), chol @ chol.T


class Coupling(nn.Module):
    """One affine coupling layer: z_b ← z_b · exp(s(z_a)) + t(z_a), z_a unchanged.

    The conditioner is a ReLU net (as Pyro's IAF): it grows linearly in the tails, where a
    tanh net saturates and cannot follow a shift such as the banana's b z_a² (banana, 3,000
    steps, 2 seeds: ELBO −0.0007 with ReLU vs −0.0089 with tanh; Pyro's IAF −0.0011)."""

    def __init__(self, keep: int, hidden: int = 32):
        super().__init__()
        self.keep, self.change = keep, 1 - keep
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 2)).double()
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # starts as the identity
        nn.init.zeros_(last.bias)

    def _st(self, za):
        out = self.net(za[:, None])
        return 2.0 * torch.tanh(out[:, 0] / 2.0), out[:, 1]  # |log scale| < 2 per layer

    def forward(self, z):
        za, zb = z[:, self.keep], z[:, self.change]
        s, t = self._st(za)
        out = [None, None]
        out[self.keep], out[self.change] = za, zb * torch.exp(s) + t
        return torch.stack(out, 1), s

    def inverse(self, y):
        ya, yb = y[:, self.keep], y[:, self.change]
        s, t = self._st(ya)
        out = [None, None]
        out[self.keep], out[self.change] = ya, (yb - t) * torch.exp(-s)
        return torch.stack(out, 1), -s


class Flow(Family):
    """A full-covariance Gaussian base pushed through ``layers`` affine couplings that
    alternate which coordinate they change. log q(z) = log q₀(z₀) − Σ log-scales."""

    def __init__(self, mean, layers: int = 6, hidden: int = 32):
        super().__init__()
        self.base = FullCovariance(mean)
        self.layers = nn.ModuleList([Coupling(i % 2, hidden) for i in range(layers)])

    def rsample(self, n, generator=None):
        z, log_q = self.base.rsample(n, generator)
        for layer in self.layers:
            z, s = layer(z)
            log_q = log_q - s
        return z, log_q

    def log_prob(self, z):
        log_det = torch.zeros(len(z), dtype=z.dtype, device=z.device)
        for layer in reversed(self.layers):
            z, s = layer.inverse(z)
            log_det = log_det + s
        return self.base.log_prob(z) + log_det


def make_family(name: str, mean=(0.0, 0.0), layers: int = 6) -> Family:
    if name == "meanfield":
        return MeanField(mean)
    if name == "fullcov":
        return FullCovariance(mean)
    if name == "flow":
        return Flow(mean, layers)
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {name!r}")


# -- the experiment ---------------------------------------------------------------------
GRID = 64          # q's density on GRID × GRID points for the views
SHOWN_SAMPLES = 400
EVAL_SAMPLES = 20_000


AVG_WEIGHT = 0.05  # the ELBO's exponential moving average: each step's weight


def _mean_se(values: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The mean of one step's per-sample values and its SE (nan for one sample)."""
    n = values.numel()
    se = float(values.detach().std() / math.sqrt(n)) if n > 1 else math.nan
    return values.mean(), se


def average_se(prev_se: float, step_se: float, first: bool, weight: float = AVG_WEIGHT) -> float:
    """SE of the exponential moving average a_t = a_(t−1) + w (e_t − a_(t−1)) from its
    last SE and the new estimate's: var a_t = (1 − w)² var a_(t−1) + w² var e_t, the
    draws of each step being fresh. It covers the Monte Carlo noise of the averaged
    estimates given the q's they were drawn at, not the average's lag behind a q that
    still moves. nan once either is unknown."""
    if first:
        return step_se
    return math.sqrt((1 - weight) ** 2 * prev_se ** 2 + weight ** 2 * step_se ** 2)


class BBVIExperiment(Experiment):
    """One Adam step on the chosen objective per step. Metrics: ``elbo`` (the S-sample
    estimate at this step's q), ``elbo_avg`` (its moving average, weight 0.05) and
    ``kl`` = log Z − elbo (the reverse KL estimate); in
    forward mode also ``kl_forward`` (E_p[log p − log q] on this step's samples).
    With S ≥ 2 each comes with its Monte Carlo standard error: ``elbo_se`` (sd of the
    per-sample log p − log q over sqrt S; also the SE of ``kl``), ``elbo_avg_se``
    (:func:`average_se`), ``kl_forward_se`` (sd of the per-sample log-ratio over sqrt S)."""

    def __init__(self, config: BBVIConfig | None = None, seed: int | None = 0):
        config = (config or BBVIConfig()).validate()
        super().__init__(config, seed)
        c = config
        self.device = resolve_device(c.device)
        if self.device == "mps":  # everything here is float64, which MPS lacks
            if c.device.strip().lower() == "mps":
                raise ValueError("device 'mps' cannot run black-box VI: it computes in float64, "
                                 "which MPS does not support; use cpu or cuda")
            self.device = "cpu"
        if c.threads is not None:
            set_torch_threads(c.threads)
        self.target = make_target(c.target, c.rho)
        self.gen = torch.Generator().manual_seed(int(seed or 0))
        start = 0.5 * torch.randn(2, generator=self.gen, dtype=torch.float64)  # breaks symmetry
        torch.manual_seed(int(seed or 0))
        self.q = make_family(c.family, start, c.layers).to(self.device)
        # torch.optim's arithmetic without torch.optim, which imports torch._dynamo
        # (seconds on this GUI-process thread): engine/vi/optim.py
        self.opt = Adam(self.q.parameters(), lr=c.lr)
        self.sched = None
        if c.anneal:
            self.sched = CosineAnnealing(self.opt, t_max=c.max_steps, eta_min=0.01 * c.lr)
        x0, x1, y0, y1 = EXTENTS[c.target]
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
        self._grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).to(self.device)

    def _log_p(self, z):
        return self.target.log_prob(z)

    def _step(self):
        c = self.config
        self.opt.zero_grad()
        out = {}
        errors = {}  # the SEs join the metrics only when known (S ≥ 2)
        if c.divergence == "reverse":
            z, log_q = self.q.rsample(c.samples, self.gen)
            elbo, errors["elbo_se"] = _mean_se(self._log_p(z) - log_q)
            loss = -elbo
        else:
            x = self.target.sample(c.samples, self.gen).to(self.device)
            log_qx = self.q.log_prob(x)
            loss = -log_qx.mean()
            with torch.no_grad():
                kl_f, errors["kl_forward_se"] = _mean_se(self._log_p(x) - self.target.log_z - log_qx)
                out["kl_forward"] = float(kl_f)
                z, log_q = self.q.rsample(c.samples, self.gen)
                elbo, errors["elbo_se"] = _mean_se(self._log_p(z) - log_q)
        loss.backward()
        out["elbo"] = float(elbo.detach())
        out["kl"] = self.target.log_z - out["elbo"]
        # an exponential moving average: the trend of the noisy per-step estimate
        prev = self.metrics.latest("elbo_avg")
        first = math.isnan(prev)
        out["elbo_avg"] = out["elbo"] if first else prev + AVG_WEIGHT * (out["elbo"] - prev)
        errors["elbo_avg_se"] = average_se(self.metrics.latest("elbo_avg_se"), errors["elbo_se"], first)
        params = list(self.q.parameters())
        finite = all(math.isfinite(v) for v in out.values()) and math.isfinite(float(loss.detach())) \
            and all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)
        if not finite:  # no step taken: q is still the last good state
            out["elbo"] = math.nan
            return out  # Experiment.step raises NonFiniteError
        before = [p.detach().clone() for p in params]
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        if not all(bool(torch.isfinite(p).all()) for p in params):
            with torch.no_grad():
                for p, old in zip(params, before, strict=False):
                    p.copy_(old)
            out["elbo"] = math.nan
            return out
        out.update({k: v for k, v in errors.items() if math.isfinite(v)})
        return out

    @property
    def done(self) -> bool:
        return self.steps >= self.config.max_steps

    def density_grid(self) -> np.ndarray:
        with torch.no_grad():
            lq = self.q.log_prob(self._grid)
        return torch.exp(lq).reshape(GRID, GRID).cpu().numpy()

    def snapshot(self):
        with torch.no_grad():
            z, _ = self.q.rsample(SHOWN_SAMPLES, torch.Generator().manual_seed(12345))
        moments = self.q.moments()
        out = {"step": self.steps, "density": self.density_grid(), "extent": EXTENTS[self.config.target],
               "samples": z.cpu().numpy(), "log_z": self.target.log_z, "last": self.metrics.last(),
               "family": self.config.family, "divergence": self.config.divergence}
        if moments is not None:
            out["mean"], out["cov"] = moments[0].cpu().numpy(), moments[1].cpu().numpy()
        return out

    def evaluate(self, n: int = EVAL_SAMPLES) -> dict:
        """ELBO and KL(q‖p) on ``n`` fresh samples (fixed seed), KL(p‖q) on n target samples."""
        gen = torch.Generator().manual_seed(2024)
        with torch.no_grad():
            z, log_q = self.q.rsample(n, gen)
            elbo_t, elbo_se = _mean_se(self._log_p(z) - log_q)
            elbo = float(elbo_t)
            x = self.target.sample(n, gen).to(self.device)
            kl_f, kl_f_se = _mean_se(self._log_p(x) - self.target.log_z - self.q.log_prob(x))
        out = {"elbo": elbo, "elbo_se": elbo_se, "log_z": self.target.log_z,
               "kl_reverse": self.target.log_z - elbo, "kl_reverse_se": elbo_se,
               "kl_forward": float(kl_f), "kl_forward_se": kl_f_se, "steps": self.steps}
        moments = self.q.moments()
        if moments is not None:
            out["mean"] = moments[0].cpu().numpy().tolist()
            out["cov"] = moments[1].cpu().numpy().tolist()
        return out
