"""The baseline regressor and the CVAE's networks for one mask.

Models, with Pyro's wiring (``examples/cvae/baseline.py``, ``cvae.py``)::

    baseline    y_hat = sigmoid(f(x_in))          MLP, x_in = image with hidden pixels at -1
    prior       p(z | x)    = N(mu_p, sigma_p^2)  encoder of x with its hidden pixels filled
                                                  by the (frozen) baseline's y_hat
    recognition q(z | x, y) = N(mu_q, sigma_q^2)  the same encoder class, fed the whole image
    generation  p(y | x, z) = Bernoulli(sigmoid(f(x_in) + g(z)))   (``residual``, default)
           or   p(y | z)    = Bernoulli(sigmoid(g(z)))              (Pyro's, residual=False)

only the hidden pixels count in every likelihood.

Why Pyro's wiring rather than Sohn's (where the generation net sees x through its own
input): it is the wiring behind the published table this chapter is checked against,
and an independent ablation (enhuiz/cvae, importance-sampled NCLL on MNIST) found that
feeding x to the generation net made NCLL worse (79.5 vs 72.3 nats). The baseline is
trained first (early stopping), then frozen while the CVAE trains. One change by
default, ``residual``: the generation net adds g(z) to the frozen baseline's logits,
with g's last layer starting at zero, so the CVAE starts exactly as the baseline and z
has to carry only what the baseline cannot. Pyro's p(y|z) must rebuild from z alone
what x already tells, and on small data (8x8 digits: 1,300 training images) it ends
above the baseline's NCLL on 2 and 3 quadrants; with ``residual`` it does not. KL
warm-up (``kl_warmup``) lets z be used before the KL can switch it off; free bits
(``free_bits``, on by default) let the first nats z carries cost nothing, so the
optimiser never switches it off (without them, at z = 200 on digits, it did: KL ~0.001
nats per image, every sample alike).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.core.nets import mlp


class GaussianEncoder(nn.Module):
    """An image (n, D) -> mean and log-variance of a diagonal Gaussian over z."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], latent: int):
        super().__init__()
        self.body = nn.Sequential(mlp([n_in, *hidden]), nn.ReLU())
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class CompletionModel(nn.Module):
    """The baseline regressor and the CVAE's three networks for one mask.

    ``observed`` is a float (D,) buffer, 1 where the pixel is part of x. Every method
    takes flat images (n, D) in [0, 1]; only their observed pixels are ever read,
    except by :meth:`recognition`, which is the one network allowed to see y."""

    observed: torch.Tensor  # a buffer

    def __init__(self, observed: np.ndarray, hidden: tuple[int, ...] = (500, 500),
                 latent: int = 200, residual: bool = True):
        super().__init__()
        self.residual = bool(residual)
        obs = np.asarray(observed, dtype=bool).ravel()
        d = obs.size
        self.n_pixels, self.latent = d, int(latent)
        self.register_buffer("observed", torch.as_tensor(obs, dtype=torch.float32))
        hidden = tuple(int(h) for h in hidden)
        self.baseline = mlp([d, *hidden, d])
        self.prior_net = GaussianEncoder(d, hidden, latent)
        self.recognition_net = GaussianEncoder(d, hidden, latent)
        self.generation_net = mlp([latent, *hidden[::-1], d])
        if self.residual:  # start as the baseline: g(z) = 0, so the CVAE begins at its NCLL
            last = self.generation_net[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    # -- pieces --------------------------------------------------------------------------
    def net_input(self, images: torch.Tensor) -> torch.Tensor:
        """x as the networks see it: observed pixels kept, hidden ones set to -1 (Pyro)."""
        obs = self.observed
        return images * obs - (1.0 - obs)

    def baseline_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.baseline(self.net_input(images))

    def prior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z|x): x with its hidden pixels filled by the baseline's (frozen) prediction."""
        with torch.no_grad():
            y_hat = torch.sigmoid(self.baseline_logits(images))
        obs = self.observed
        return self.prior_net(images * obs + y_hat * (1.0 - obs))

    def recognition(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, y): x with its hidden pixels filled by the true y, i.e. the whole image."""
        return self.recognition_net(images)

    def generate(self, z: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
        """p(y|x, z): Bernoulli logits for every pixel (only hidden ones are used).

        ``base`` is :meth:`base_logits` of the inputs (any shape broadcasting against
        the output); with ``residual`` the logits are base + g(z), else g(z) alone."""
        out = self.generation_net(z)
        return out + base if self.residual else out

    def base_logits(self, images: torch.Tensor) -> torch.Tensor | None:
        """The frozen baseline's logits the generation net adds to (None if not residual)."""
        if not self.residual:
            return None
        with torch.no_grad():
            return self.baseline_logits(images)

    # -- completions ---------------------------------------------------------------------
    def paste(self, images: torch.Tensor, hidden_values: torch.Tensor) -> torch.Tensor:
        """Observed pixels from ``images``, hidden ones from ``hidden_values``."""
        obs = self.observed
        return images * obs + hidden_values * (1.0 - obs)

    @torch.no_grad()
    def baseline_completion(self, images: torch.Tensor) -> torch.Tensor:
        return self.paste(images, torch.sigmoid(self.baseline_logits(images)))

    @torch.no_grad()
    def sample_completions(self, images: torch.Tensor, n: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """(b, D) inputs -> (b, n, D): n draws z ~ p(z|x), each shown as its mean image
        on the hidden pixels (as in Pyro's and the lecture's figures)."""
        mu, logvar = self.prior(images)
        eps = torch.randn(n, *mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (n, b, L)
        y = torch.sigmoid(self.generate(z, self.base_logits(images)))
        return self.paste(images.unsqueeze(0), y).transpose(0, 1)
