"""Conditional VAE for image completion (the lecture's Figure 14; Sohn, Lee & Yan 2015).

Each image is split by a *mask* into an observed part x and a hidden part y. A model
sees x and predicts y. Tasks (``task_mask``): 1, 2 or 3 observed quadrants as in Sohn
et al. and Pyro's ``examples/cvae`` (``q1``: the bottom-left quadrant is observed;
``q2``: the left half; ``q3``: all but the bottom-right quadrant), the middle column of
pixels (``column``, Doersch's tutorial, the lecture's Figure 14) and any mask the user
draws (``custom``). Observed and hidden pixels partition the image.

Modules, one concern each: ``tasks`` (masks) and ``config`` (no torch), ``networks``, ``losses``,
``evaluation``, ``trainers``, ``experiment`` (what the page and the CLI run, with its
checkpoints), ``table`` (the NCLL table) and ``cli`` (``python -m engine cvae``).
"""

from typing import TYPE_CHECKING

from engine.core.lazy import lazy_exports
from engine.cvae import cli as _cli  # noqa: F401  (registers `python -m engine cvae`)
from engine.cvae.config import KIND, CVAEConfig
from engine.cvae.tasks import QUADRANT_TASKS, TASK_LABELS, TASKS, mask_from_string, mask_to_string, task_mask

__all__ = [
    "TASKS", "QUADRANT_TASKS", "TASK_LABELS", "task_mask", "mask_to_string", "mask_from_string",
    "CVAEConfig", "CompletionModel", "BaselineTrainer", "CVAETrainer", "CVAEExperiment",
    "hidden_nll", "gaussian_kl", "cvae_loss", "cvae_bounds", "Evaluation", "evaluate_model",
    "NCLLTable", "split_validation", "KIND", "free_bits_kl", "sample_spread", "SPREAD_SAMPLES",
]

# The torch parts load on first use (engine.core.lazy): importing the package, as
# `vigui-train cvae --help` does, stays torch-free.
__getattr__ = lazy_exports(__name__, {
    "evaluation": ("SPREAD_SAMPLES", "Evaluation", "evaluate_model", "sample_spread"),
    "experiment": ("CVAEExperiment",),
    "losses": ("cvae_bounds", "cvae_loss", "free_bits_kl", "gaussian_kl", "hidden_nll"),
    "networks": ("CompletionModel",),
    "table": ("NCLLTable",),
    "trainers": ("BaselineTrainer", "CVAETrainer", "split_validation"),
})

if TYPE_CHECKING:
    from engine.cvae.evaluation import SPREAD_SAMPLES, Evaluation, evaluate_model, sample_spread
    from engine.cvae.experiment import CVAEExperiment
    from engine.cvae.losses import cvae_bounds, cvae_loss, free_bits_kl, gaussian_kl, hidden_nll
    from engine.cvae.networks import CompletionModel
    from engine.cvae.table import NCLLTable
    from engine.cvae.trainers import BaselineTrainer, CVAETrainer, split_validation
