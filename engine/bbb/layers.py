"""Bayes by Backprop (Blundell et al. 2015, arXiv 1505.05424): the lecture's eqs. 19-20.

Every weight w of a network gets a Gaussian variational posterior
``q(w | theta) = N(mu, sigma^2)`` with ``sigma = softplus(rho)``; a sample is drawn by
reparameterization ``w = mu + sigma * eps``, ``eps ~ N(0, 1)``, so the cost

    F(D, theta) = KL[q(w | theta) || p(w)] - E_q[log p(D | w)]          (eq. 20)

is minimised with ordinary backpropagation. Pieces:

* priors: :class:`GaussianPrior` N(0, s^2) (closed-form KL) and the paper's
  :class:`ScaleMixturePrior` pi N(0, s1^2) + (1 - pi) N(0, s2^2) (no closed form);
* :class:`BayesLinear`: the layer; the KL is estimated by Monte Carlo as the paper does
  (log q(w) - log p(w) at the sampled w) or, for the Gaussian prior, in closed form;
  ``mode="local"`` is the local reparameterization trick (Kingma et al. 2015): the
  pre-activations ``x W^T + b`` are Gaussian given x, so they are sampled directly, one
  independent draw per example (lower-variance gradients, no (out, in) weight sample);
* :func:`kl_weights`: minibatch i of M gets ``pi_i KL``, uniform ``1/M`` or the paper's
  ``2^(M-i) / (2^M - 1)`` (both sum to 1 over an epoch, so an epoch's cost is eq. 20);
* means start at N(0, 0.1^2) (``MU_INIT_STD``; the peers' start), sigma at softplus(rho_init);
* :class:`BayesMLP` / :class:`PlainMLP`: the networks (a plain one of the same shape for
  comparison); predictive sampling draws S weight samples at once (batched matmuls);
* the experiments live beside this module: ``regression.py`` (the lecture's Figure 15)
  and ``classify.py`` (digits, Fashion-MNIST).

Pruning (paper Sec. 5.1): weights with the lowest signal-to-noise ratio |mu| / sigma are
set to exactly zero (mu = sigma = 0) through a mask; :meth:`BayesMLP.prune` sets it.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.core.nets import mlp

__all__ = [
    "GaussianPrior", "ScaleMixturePrior", "make_prior", "BayesLinear", "BayesMLP", "PlainMLP",
    "kl_weights", "log_gaussian", "softplus_inv", "gaussian_nll", "predictive_entropy",
    "pruned", "gradient_variance", "elbo_parts",
]

LOG_2PI = math.log(2.0 * math.pi)
MODES = ("sample", "local", "mean")
KL_METHODS = ("mc", "closed")
WEIGHTINGS = ("uniform", "blundell")
#: weight and bias means start at N(0, 0.1^2). With nn.Linear's U(+-1/sqrt(fan-in)) the
#: means of a 784- or 400-wide layer start within +-0.05, where the scale mixture's narrow
#: component (sigma2 = e^-6) holds them near zero: digits, 2 epochs, 4 seeds, test error
#: 13.3-16.4 % with the uniform start vs 7.5-9.7 % with N(0, 0.1^2) (blitz: 8.6 %).
MU_INIT_STD = 0.1


def softplus_inv(s: float) -> float:
    """rho with softplus(rho) = s (s > 0), stable for small and large s."""
    if not s > 0:
        raise ValueError(f"sigma must be positive, got {s!r}")
    return s + math.log(-math.expm1(-s))


def log_gaussian(w: torch.Tensor, mu, sigma) -> torch.Tensor:
    """Elementwise log N(w; mu, sigma^2)."""
    sigma = torch.as_tensor(sigma, dtype=w.dtype, device=w.device)
    return -0.5 * LOG_2PI - torch.log(sigma) - (w - mu).square() / (2.0 * sigma.square())


# -- priors -----------------------------------------------------------------------------
class GaussianPrior:
    """p(w) = N(0, sigma^2) for every weight."""

    name = "gaussian"

    def __init__(self, sigma: float = 1.0):
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"prior sigma must be a positive number, got {sigma!r}")
        self.sigma = float(sigma)
        self.log_sigma = math.log(self.sigma)

    def log_prob(self, w: torch.Tensor) -> torch.Tensor:
        """log p(w) summed over all elements."""
        return (-0.5 * LOG_2PI - self.log_sigma - w.square() / (2.0 * self.sigma**2)).sum()

    def kl(self, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, s^2)) summed: log(s/sigma) + (sigma^2 + mu^2)/(2 s^2) - 1/2."""
        return (self.log_sigma - torch.log(sigma)
                + (sigma.square() + mu.square()) / (2.0 * self.sigma**2) - 0.5).sum()

    def describe(self) -> str:
        return f"N(0, {self.sigma:g}^2)"


class ScaleMixturePrior:
    """p(w) = pi N(0, sigma1^2) + (1 - pi) N(0, sigma2^2) for every weight (paper eq. 7):
    a wide component and a narrow one (sigma2 << 1) that pulls many weights to zero."""

    name = "mixture"

    def __init__(self, pi: float = 0.5, sigma1: float = 1.0, sigma2: float = math.exp(-6)):
        if not (0.0 < pi < 1.0):
            raise ValueError(f"mixture weight pi must be in (0, 1), got {pi!r}")
        for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
            if not (math.isfinite(s) and s > 0):
                raise ValueError(f"prior {name} must be a positive number, got {s!r}")
        self.pi, self.sigma1, self.sigma2 = float(pi), float(sigma1), float(sigma2)
        self._log_w = (math.log(self.pi), math.log1p(-self.pi))
        self._log_s = (math.log(self.sigma1), math.log(self.sigma2))

    def log_prob(self, w: torch.Tensor) -> torch.Tensor:
        """log p(w) summed over all elements (log-sum-exp of the two components)."""
        sq = w.square() * 0.5
        a = self._log_w[0] - self._log_s[0] - sq / self.sigma1**2
        b = self._log_w[1] - self._log_s[1] - sq / self.sigma2**2
        return (torch.logaddexp(a, b) - 0.5 * LOG_2PI).sum()

    kl = None  # no closed form: Monte Carlo only

    def describe(self) -> str:
        return f"{self.pi:g} N(0, {self.sigma1:.3g}^2) + {1 - self.pi:g} N(0, {self.sigma2:.3g}^2)"


def make_prior(kind: str = "mixture", sigma: float = 1.0, pi: float = 0.5,
               log_sigma1: float = 0.0, log_sigma2: float = -6.0):
    """A prior by name: ``gaussian`` N(0, sigma^2) or ``mixture`` with sigma_k = e^log_sigma_k."""
    if kind == "gaussian":
        return GaussianPrior(sigma)
    if kind == "mixture":
        return ScaleMixturePrior(pi, math.exp(log_sigma1), math.exp(log_sigma2))
    raise ValueError(f"prior must be 'gaussian' or 'mixture', got {kind!r}")


# -- minibatch KL weights ---------------------------------------------------------------
def kl_weights(m: int, scheme: str = "uniform") -> np.ndarray:
    """The KL weight pi_i of minibatches i = 1..M of an epoch (they sum to 1).

    ``uniform``: 1/M. ``blundell``: 2^(M-i) / (2^M - 1) (paper Sec. 3.4): the first
    minibatches carry most of the KL, the last ones almost only the data. Computed as
    2^-i / (1 - 2^-M), which cannot overflow for large M."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"number of minibatches m must be a positive integer, got {m!r}")
    if scheme == "uniform":
        return np.full(int(m), 1.0 / m)
    if scheme == "blundell":
        i = np.arange(1, m + 1, dtype=np.float64)
        return np.ldexp(1.0, -i.astype(np.int64)) / -math.expm1(-m * math.log(2.0))
    raise ValueError(f"kl weighting must be one of {WEIGHTINGS}, got {scheme!r}")


# -- layers -------------------------------------------------------------------------------
class BayesLinear(nn.Module):
    """A linear layer with a factorised Gaussian posterior over its weights and biases.

    ``forward(x, mode, kl)`` returns ``(output, kl_term)``:

    * ``mode="sample"``: one weight sample per call (x of shape (N, in)), or one per
      leading index when x has shape (S, N, in) (S samples at once, for prediction);
    * ``mode="local"``: local reparameterization, output ~ N(x mu^T + b_mu,
      x^2 (sigma^2)^T + sigma_b^2) sampled per example;
    * ``mode="mean"``: the posterior means (a deterministic net).

    ``kl="mc"`` gives log q(w) - log p(w) at the weights used (for ``local``, which
    never forms a weight sample, at a separate weight sample: still unbiased);
    ``kl="closed"`` gives the exact KL (Gaussian prior only); ``kl=None`` skips it.
    Pruned weights (mask 0) are exactly zero and do not count in the KL.
    """

    weight_mask: torch.Tensor  # a buffer (register_buffer): 1 keeps a weight, 0 prunes it

    def __init__(self, n_in: int, n_out: int, prior, rho_init: float = -5.0,
                 mu_std: float = MU_INIT_STD, generator: torch.Generator | None = None):
        super().__init__()
        self.n_in, self.n_out, self.prior = int(n_in), int(n_out), prior
        if mu_std > 0:  # N(0, mu_std^2), as blitz and bayesian-torch start their means
            w = torch.randn(n_out, n_in, generator=generator) * mu_std
            b = torch.randn(n_out, generator=generator) * mu_std
        else:  # nn.Linear's U(-1/sqrt(n_in), 1/sqrt(n_in))
            bound = 1.0 / math.sqrt(n_in)
            w = (torch.rand(n_out, n_in, generator=generator) * 2 - 1) * bound
            b = (torch.rand(n_out, generator=generator) * 2 - 1) * bound
        self.weight_mu = nn.Parameter(w)
        self.bias_mu = nn.Parameter(b)
        self.weight_rho = nn.Parameter(torch.full((n_out, n_in), float(rho_init)))
        self.bias_rho = nn.Parameter(torch.full((n_out,), float(rho_init)))
        self.register_buffer("weight_mask", torch.ones(n_out, n_in))
        self.masked = False  # any weight pruned? (skips the mask's cost when not)
        self.noise: torch.Generator | None = None  # the eps stream (None: torch's global one)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.noise, device=self.weight_mu.device)

    @property
    def weight_sigma(self) -> torch.Tensor:
        return F.softplus(self.weight_rho)

    @property
    def bias_sigma(self) -> torch.Tensor:
        return F.softplus(self.bias_rho)

    def sample_weights(self, shape: tuple[int, ...] = ()):
        """(w, b, eps_w, eps_b): a reparameterized sample (leading dims ``shape``)."""
        eps_w = self._randn(*shape, self.n_out, self.n_in)
        eps_b = self._randn(*shape, self.n_out)
        w = self.weight_mu + self.weight_sigma * eps_w
        if self.masked:
            w = w * self.weight_mask
        b = self.bias_mu + self.bias_sigma * eps_b
        return w, b, eps_w, eps_b

    def forward(self, x: torch.Tensor, mode: str = "sample", kl: str | None = "mc"):
        if mode == "mean":
            out = _linear(x, self._masked(self.weight_mu), self.bias_mu)
            return out, self._kl(kl)
        if mode == "sample":
            shape = (x.shape[0],) if x.dim() == 3 else ()
            w, b, eps_w, eps_b = self.sample_weights(shape)
            out = _linear(x, w, b)
            if kl == "mc":
                return out, self._kl_mc(eps_w, eps_b) / max(1, x.shape[0] if shape else 1)
            return out, self._kl(kl)
        if mode == "local":
            mean = _linear(x, self._masked(self.weight_mu), self.bias_mu)
            var = _linear(x.square(), self._masked(self.weight_sigma.square()), self.bias_sigma.square())
            out = mean + var.clamp_min(1e-16).sqrt() * self._randn(*mean.shape)
            return out, self._kl(kl)
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    @torch.no_grad()
    def set_mask(self, keep: torch.Tensor) -> None:
        """Keep the weights where ``keep`` is true, zero the others (all true: none pruned)."""
        self.weight_mask.copy_(keep.reshape(self.weight_mask.shape).float())
        self.masked = not bool(keep.all())

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.masked = not bool(self.weight_mask.bool().all())

    def _masked(self, t: torch.Tensor) -> torch.Tensor:
        return t * self.weight_mask if self.masked else t

    def _kl(self, kl: str | None) -> torch.Tensor | None:
        if kl is None:
            return None
        if kl == "closed":
            return self.kl_closed()
        if kl == "mc":
            _, _, eps_w, eps_b = self.sample_weights()
            return self._kl_mc(eps_w, eps_b)
        raise ValueError(f"kl must be one of {KL_METHODS} or None, got {kl!r}")

    def _kl_mc(self, eps_w: torch.Tensor, eps_b: torch.Tensor) -> torch.Tensor:
        """log q(w) - log p(w) at w = mu + sigma eps, summed (over leading samples too)."""
        sw, sb = self.weight_sigma, self.bias_sigma
        w = self.weight_mu + sw * eps_w
        b = self.bias_mu + sb * eps_b
        # log q at its own sample: -log(2 pi)/2 - log sigma - eps^2/2 (exact, no cancellation)
        log_q_w = (-0.5 * LOG_2PI - torch.log(sw) - 0.5 * eps_w.square())
        log_q_b = (-0.5 * LOG_2PI - torch.log(sb) - 0.5 * eps_b.square()).sum()
        if not self.masked:
            log_q = log_q_w.sum() + log_q_b
            return log_q - self.prior.log_prob(w) - self.prior.log_prob(b)
        mask = self.weight_mask.bool()
        log_q = (log_q_w * mask).sum() + log_q_b
        return log_q - self.prior.log_prob(w[..., mask]) - self.prior.log_prob(b)

    def kl_closed(self) -> torch.Tensor:
        """The exact KL(q || p) of this layer (Gaussian prior only)."""
        if getattr(self.prior, "kl", None) is None:
            raise ValueError("the closed-form KL needs a Gaussian prior; "
                             "the scale mixture has none (use kl='mc')")
        if not self.masked:
            return (self.prior.kl(self.weight_mu, self.weight_sigma)
                    + self.prior.kl(self.bias_mu, self.bias_sigma))
        mask = self.weight_mask.bool()
        return (self.prior.kl(self.weight_mu[mask], self.weight_sigma[mask])
                + self.prior.kl(self.bias_mu, self.bias_sigma))


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x (N, in) or (S, N, in) times w^T (+ b): w may carry a leading S dimension."""
    if w.dim() == 3:
        if x.dim() == 2:
            x = x.expand(w.shape[0], *x.shape)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
    return F.linear(x, w, b)


# -- networks ------------------------------------------------------------------------------
class BayesMLP(nn.Module):
    """BayesLinear layers with ReLU between them (none after the last).

    ``forward(x, mode, kl)`` returns ``(output, kl_sum)``; ``predict(x, samples)`` the
    outputs of ``samples`` weight samples, (S, N, out)."""

    def __init__(self, sizes: list[int], prior, rho_init: float = -5.0, seed: int = 0,
                 mu_std: float = MU_INIT_STD):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and an output size, got {sizes!r}")
        gen = torch.Generator().manual_seed(int(seed))
        self.sizes = [int(s) for s in sizes]
        self.layers = nn.ModuleList(BayesLinear(a, b, prior, rho_init, mu_std, generator=gen)
                                    for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=False))

    @property
    def bayes_layers(self) -> list[BayesLinear]:
        """``layers`` typed as what they are (iterating an nn.ModuleList gives nn.Module)."""
        return [layer for layer in self.layers if isinstance(layer, BayesLinear)]

    def set_noise(self, generator: torch.Generator | None) -> None:
        """Draw every eps from ``generator`` (on the model's device): reproducible runs."""
        for layer in self.bayes_layers:
            layer.noise = generator

    def forward(self, x: torch.Tensor, mode: str = "sample", kl: str | None = "mc"):
        total = None
        for i, layer in enumerate(self.layers):
            x, k = layer(x, mode, kl)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
            if k is not None:
                total = k if total is None else total + k
        return x, total

    @torch.no_grad()
    def predict(self, x: torch.Tensor, samples: int = 100, chunk: int = 4096) -> torch.Tensor:
        """Outputs of ``samples`` independent weight samples: (S, N, out)."""
        outs = []
        for xc in x.split(chunk):
            outs.append(self(xc.expand(samples, *xc.shape), "sample", None)[0])
        return torch.cat(outs, 1)

    def kl_closed(self) -> torch.Tensor:
        first, *rest = self.bayes_layers
        total = first.kl_closed()
        for layer in rest:
            total = total + layer.kl_closed()
        return total

    # -- weights, SNR, pruning -------------------------------------------------------------
    @torch.no_grad()
    def weight_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of every weight (biases excluded) as flat float64 arrays."""
        mu = torch.cat([l.weight_mu.flatten() for l in self.bayes_layers])
        sigma = torch.cat([l.weight_sigma.flatten() for l in self.bayes_layers])
        return mu.double().cpu().numpy(), sigma.double().cpu().numpy()

    def snr(self) -> np.ndarray:
        """Signal-to-noise ratio |mu| / sigma of every weight (paper Sec. 5.1)."""
        mu, sigma = self.weight_stats()
        return np.abs(mu) / sigma

    @torch.no_grad()
    def prune(self, fraction: float) -> float:
        """Zero the ``fraction`` of weights with the lowest SNR (and restore the others).

        Returns the SNR threshold (weights with SNR <= it are removed); 0 removes none."""
        if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
            raise ValueError(f"prune fraction must be between 0 and 1, got {fraction!r}")
        snr = torch.cat([(l.weight_mu.abs() / l.weight_sigma).flatten() for l in self.bayes_layers])
        k = int(round(fraction * snr.numel()))
        keep = torch.ones_like(snr, dtype=torch.bool)
        threshold = 0.0
        if k > 0:
            order = torch.argsort(snr)
            keep[order[:k]] = False
            threshold = float(snr[order[k - 1]])
        start = 0
        for l in self.bayes_layers:
            n = l.weight_mu.numel()
            l.set_mask(keep[start:start + n])
            start += n
        return threshold

    @property
    def pruned_fraction(self) -> float:
        total = sum(l.weight_mask.numel() for l in self.bayes_layers)
        kept = sum(float(l.weight_mask.sum()) for l in self.bayes_layers)
        return 1.0 - kept / total


class PlainMLP(nn.Module):
    """An ordinary network of the same shape (nn.Linear + ReLU), for comparison."""

    def __init__(self, sizes: list[int], seed: int = 0):
        super().__init__()
        self.net = mlp(sizes, generator=torch.Generator().manual_seed(int(seed) + 7919))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- likelihoods ----------------------------------------------------------------------------
def gaussian_nll(pred: torch.Tensor, y: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """-log N(y; pred, sigma^2) summed over all elements, every constant kept."""
    return (0.5 * LOG_2PI + log_sigma + (y - pred).square() * torch.exp(-2.0 * log_sigma) * 0.5).sum()


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the mean predictive distribution: probs (S, N, K) -> (N,)."""
    p = probs.mean(0)
    return -(p * torch.log(p.clamp_min(1e-30))).sum(-1)


def gradient_variance(net: BayesMLP, loss_fn, x: torch.Tensor, y: torch.Tensor, mode: str,
                      repeats: int = 50) -> float:
    """Mean over the first layer's weight means of the variance, across ``repeats`` draws
    of eps, of the minibatch gradient of ``loss_fn(output, y)`` (KL left out: it is the
    likelihood term whose noise local reparameterization removes)."""
    grads = []
    for _ in range(repeats):
        net.zero_grad(set_to_none=True)
        out, _ = net(x, mode, None)
        loss_fn(out, y).backward()
        grad = net.bayes_layers[0].weight_mu.grad
        if grad is None:
            raise ValueError("loss_fn(output, y) does not depend on the network's weights")
        grads.append(grad.detach().flatten().clone())
    net.zero_grad(set_to_none=True)
    return float(torch.stack(grads).var(0).mean())


# -- shared helpers for the experiments ----------------------------------------------------------
def elbo_parts(net: BayesMLP, x: torch.Tensor, nll: Callable[[torch.Tensor], torch.Tensor],
               samples: int, local: bool, kl: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A minibatch's KL and NLL (``nll(output)``, summed over the batch), each the mean over
    ``samples`` weight draws: the Monte Carlo estimate of the ELBO's two parts (Blundell et
    al., eq. 2). ``local``: local reparameterization (activations drawn, not weights)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    mode = "local" if local else "sample"
    out, kl_sum = net(x, mode, kl)
    nll_sum = nll(out)
    for _ in range(samples - 1):
        out, k = net(x, mode, kl)
        kl_sum = kl_sum + k
        nll_sum = nll_sum + nll(out)
    return kl_sum / samples, nll_sum / samples


class pruned:
    """``with pruned(net, 0.5): ...`` predicts with the lowest-SNR half removed, then
    restores every weight (training never sees the mask)."""

    def __init__(self, net: BayesMLP, fraction: float):
        self.net, self.fraction = net, fraction

    def __enter__(self):
        self.threshold = self.net.prune(self.fraction)
        return self

    def __exit__(self, *exc):
        self.net.prune(0.0)
        return False


def _histogram(values: np.ndarray, bins: int = 40, log: bool = True) -> dict[str, np.ndarray]:
    """Counts of ``values`` (log10 when ``log``) on ``bins`` equal bins: edges and counts."""
    v = np.asarray(values, dtype=np.float64)
    if log:
        v = np.log10(np.maximum(v, 1e-12))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"edges": np.linspace(0, 1, bins + 1), "counts": np.zeros(bins)}
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"edges": edges, "counts": counts.astype(np.float64)}
