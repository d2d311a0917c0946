"""Test-set nats per image, chunk by chunk: baseline NCLL, -ELBO and IS NCLL, with how
much the CVAE uses z (KL per image, the samples' per-pixel spread) and the IS gain's
standard error."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from engine.cvae.losses import cvae_bounds, hidden_nll
from engine.cvae.networks import CompletionModel

EVAL_ROWS = 2048  # decoded rows per evaluation chunk: bounds memory and a GUI step's time
SPREAD_SAMPLES = 16  # draws of z ~ p(z|x) behind a per-pixel spread


@torch.no_grad()
def sample_spread(model: CompletionModel, images: torch.Tensor, n: int = SPREAD_SAMPLES,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """(b, D) inputs -> (b, D): each pixel's standard deviation across n completions
    z ~ p(z|x) (0 on observed pixels). Near 0 everywhere: z is not used and every
    sample is the same completion."""
    samples = model.sample_completions(images, n, generator)  # (b, n, D), observed pixels pasted
    return samples.std(1, correction=0)


def mean_hidden(per_pixel: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """(b, D) -> (b,): the mean over each image's hidden pixels."""
    return (per_pixel * (1.0 - observed)).sum(-1) / (1.0 - observed).sum()


class Evaluation:
    """Test-set nats per image, accumulated chunk by chunk (so a GUI run can show
    progress): baseline NCLL, the ``particles``-sample -ELBO and the ``is_samples`` IS
    NCLL; ``kl`` (KL(q||p) per image), ``spread`` (per-pixel std across SPREAD_SAMPLES
    completions, mean over hidden pixels) and ``gain_se``, the standard error of the
    mean paired difference baseline - IS NCLL over the test images. Seeded and chunked
    the same way every time, so repeatable."""

    def __init__(self, model: CompletionModel, images: torch.Tensor, particles: int = 10,
                 is_samples: int = 100, seed: int = 0):
        self.model, self.images = model, images
        self.particles, self.is_samples = int(particles), int(is_samples)
        self.n = images.shape[0]
        self.done = 0
        self._sums = np.zeros(6)  # base, elbo, ncll, kl, spread, (base - ncll)^2
        self._gen = torch.Generator(device=images.device).manual_seed(seed)
        self._chunk = max(1, EVAL_ROWS // max(self.particles, self.is_samples))

    @property
    def finished(self) -> bool:
        return self.done >= self.n

    @torch.no_grad()
    def step(self) -> None:
        """Evaluate the next chunk of images."""
        m = self.model
        m.eval()
        batch = self.images[self.done:self.done + self._chunk]
        base = hidden_nll(m.baseline_logits(batch), batch, m.observed)
        elbo = cvae_bounds(m, batch, self.particles, self._gen)["neg_elbo"]
        bounds = cvae_bounds(m, batch, self.is_samples, self._gen)
        ncll = bounds["ncll_is"]
        spread = mean_hidden(sample_spread(m, batch, SPREAD_SAMPLES, self._gen), m.observed)
        # Sum per-image values in float64 on the host (MPS has no float64).
        self._sums += torch.stack([base.sum(), elbo.sum(), ncll.sum(), bounds["kl"].sum(),
                                   spread.sum(), (base - ncll).square().sum()]
                                  ).double().cpu().numpy()
        self.done += batch.shape[0]

    def result(self) -> dict[str, float]:
        n = max(self.done, 1)
        base, elbo, ncll, kl, spread, sq = self._sums / n
        gain = base - ncll
        var = max(sq - gain * gain, 0.0) * n / max(n - 1, 1)  # sample variance of the gain
        return {"baseline_ncll": float(base), "cvae_neg_elbo": float(elbo),
                "cvae_ncll_is": float(ncll), "kl": float(kl), "spread": float(spread),
                "gain_se": float(np.sqrt(var / n)), "particles": self.particles,
                "is_samples": self.is_samples, "n": self.done}


def evaluate_model(model: CompletionModel, images: torch.Tensor, particles: int = 10,
                   is_samples: int = 100, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """All of :class:`Evaluation` at once; ``progress(done, n)`` after each chunk."""
    ev = Evaluation(model, images, particles, is_samples, seed)
    while not ev.finished:
        ev.step()
        if progress is not None:
            progress(ev.done, ev.n)
    return ev.result()
