"""Chapter 5: the conditional VAE (masks in ``tasks``; networks, losses, trainers and the
NCLL table)."""

from engine.cvae.model import (  # noqa: F401  (the chapter's public API)
    KIND,
    QUADRANT_TASKS,
    TASK_LABELS,
    TASKS,
    BaselineTrainer,
    CompletionModel,
    CVAEConfig,
    CVAEExperiment,
    CVAETrainer,
    Evaluation,
    NCLLTable,
    cvae_bounds,
    cvae_loss,
    evaluate_model,
    gaussian_kl,
    hidden_nll,
    mask_from_string,
    mask_to_string,
    split_validation,
    task_mask,
)
