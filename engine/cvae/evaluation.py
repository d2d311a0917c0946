"""Test-set nats per image, chunk by chunk: baseline NCLL, -ELBO and IS NCLL."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from engine.cvae.losses import cvae_bounds, hidden_nll
from engine.cvae.networks import CompletionModel

EVAL_ROWS = 2048  # decoded rows per evaluation chunk: bounds memory and a GUI step's time


class Evaluation:
    """Test-set nats per image, accumulated chunk by chunk (so a GUI run can show
    progress): baseline NCLL, the ``particles``-sample -ELBO and the ``is_samples`` IS
    NCLL. Seeded and chunked the same way every time, so repeatable."""

    def __init__(self, model: CompletionModel, images: torch.Tensor, particles: int = 10,
                 is_samples: int = 100, seed: int = 0):
        self.model, self.images = model, images
        self.particles, self.is_samples = int(particles), int(is_samples)
        self.n = images.shape[0]
        self.done = 0
        self._sums = np.zeros(3)
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
        ncll = cvae_bounds(m, batch, self.is_samples, self._gen)["ncll_is"]
        # Sum per-image values in float64 on the host (MPS has no float64).
        self._sums += torch.stack([base.sum(), elbo.sum(), ncll.sum()]).double().cpu().numpy()
        self.done += batch.shape[0]

    def result(self) -> dict[str, float]:
        base, elbo, ncll = self._sums / max(self.done, 1)
        return {"baseline_ncll": float(base), "cvae_neg_elbo": float(elbo),
                "cvae_ncll_is": float(ncll), "particles": self.particles,
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
