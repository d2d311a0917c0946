"""Test-set nats per image, chunk by chunk: baseline NCLL, -ELBO and IS NCLL, with how
much the CVAE uses z (KL per image, the samples' per-pixel spread), each with its
standard error over the test images, and the IS gain's paired standard error."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from engine.core.stats import difference_se, mean_se
from engine.cvae.losses import cvae_bounds, hidden_nll
from engine.cvae.networks import CompletionModel

EVAL_ROWS = 2048  # decoded rows per evaluation chunk: bounds memory and a GUI step's time
SPREAD_SAMPLES = 16  # draws of z ~ p(z|x) behind a per-pixel spread
RESULT_NAMES = ("baseline_ncll", "cvae_neg_elbo", "cvae_ncll_is", "kl", "spread")


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
    completions, mean over hidden pixels); each with ``<name>_se``, its standard error
    over the test images (each image's value carries its own draws of z, so this is the
    whole error: images and Monte Carlo), and ``gain_se``, the standard error of the
    mean paired difference baseline - IS NCLL. Seeded and chunked the same way every
    time, so repeatable."""

    def __init__(self, model: CompletionModel, images: torch.Tensor, particles: int = 10,
                 is_samples: int = 100, seed: int = 0):
        self.model, self.images = model, images
        self.particles, self.is_samples = int(particles), int(is_samples)
        self.n = images.shape[0]
        self.done = 0
        self._values: list[np.ndarray] = []  # per chunk (5, b): base, elbo, ncll, kl, spread
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
        # Per-image values in float64 on the host (MPS has no float64).
        self._values.append(torch.stack([base, elbo, ncll, bounds["kl"], spread]
                                        ).double().cpu().numpy())
        self.done += batch.shape[0]

    def result(self) -> dict[str, float]:
        per_image = np.concatenate(self._values, axis=1) if self._values else np.zeros((5, 0))
        out: dict[str, float] = {}
        for name, v in zip(RESULT_NAMES, per_image, strict=True):
            out[name], out[f"{name}_se"] = mean_se(v)
        out["gain_se"] = difference_se(per_image[0], per_image[2])[1]
        return {**out, "particles": self.particles, "is_samples": self.is_samples,
                "n": self.done}


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
