"""Chapter 5: the conditional VAE (masks in ``tasks``; networks, losses, trainers and the
NCLL table)."""

from engine.cvae.model import (  # noqa: F401  (the chapter's public API)
    TASKS, QUADRANT_TASKS, TASK_LABELS, task_mask, mask_to_string, mask_from_string,
    CVAEConfig, CompletionModel, BaselineTrainer, CVAETrainer, CVAEExperiment, hidden_nll,
    gaussian_kl, cvae_loss, cvae_bounds, Evaluation, evaluate_model, NCLLTable,
    split_validation, KIND,
)
