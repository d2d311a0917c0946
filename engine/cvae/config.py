"""The CVAE chapter's configuration: one completion task on one dataset. No torch: the
page's form and ``vigui-train cvae``'s flags and checks are built from it before torch loads."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core import config as training
from engine.core.config import TrainingConfig
from engine.core.params import param
from engine.cvae.tasks import TASK_LABELS, TASKS

KIND = "cvae"  # checkpoint kind of the chapter's files


@dataclass(frozen=True)
class CVAEConfig(TrainingConfig):
    """One completion task on one dataset: the baseline and the CVAE trained for it.

    Hidden sizes are Pyro's (500-500; Adam 1e-3, batch 128, patience 3); z = 16 and 3
    free nats per image make the CVAE use z on the default page (digits, 1 quadrant) in
    less time than before: with Pyro's z = 200 and no free bits the KL fell to ~0.001
    nats per image and every sample was the same completion."""

    task: str = param("q1", choices=TASKS, choice_labels=tuple(TASK_LABELS[t] for t in TASKS),
                      label="Observed part",
                      help="q1/q2/q3: observed quadrants (Sohn et al., Pyro); column: the middle "
                           "column (the lecture's Figure 14); custom: a mask you draw")
    hidden: tuple[int, ...] = param((500, 500), lo=8, hi=4096, length=(1, 4),
                                    label="Hidden sizes", help="units per hidden layer of every "
                                                               "network (Pyro: 500,500)")
    latent: int = param(16, lo=1, hi=512, label="Latent dim", help="size of z (Pyro: 200; 16 keeps it in use "
                                                                "on 8×8 digits)")
    residual: bool = param(True, label="Generation sees baseline",
                           help="p(y|x,z) = Bernoulli(sigmoid(baseline logits(x) + g(z))); off: "
                                "Pyro's p(y|z) = Bernoulli(sigmoid(g(z)))")
    kl_warmup: int = param(0, lo=0, hi=10_000, label="KL warm-up (epochs)",
                           help="the CVAE's KL weight rises linearly from 0 to 1 over these "
                                "epochs (against posterior collapse); early stopping waits for it")
    free_bits: float = param(3.0, lo=0.0, hi=1000.0, decimals=1, label="Free bits (nats)",
                             help="the first this many nats per image of KL(q||p) cost nothing "
                                  "(spread evenly over z's coordinates; Kingma et al. 2016): "
                                  "keeps z in use where the KL would switch it off")
    patience: int = param(3, lo=1, hi=1000, label="Patience",
                          help="epochs without a better validation loss before a network stops")
    val_fraction: float = param(1 / 12, lo=0.01, hi=0.5, decimals=3, label="Validation share",
                                gui=False, help="share of the training set held out for early "
                                                "stopping (never the test set)")
    particles: int = param(10, lo=1, hi=10_000, label="ELBO particles", gui=False,
                           help="samples of z in the reported negative conditional ELBO (Pyro: 10)")
    is_samples: int = param(100, lo=1, hi=100_000, label="IS samples", gui=False,
                            help="importance samples S of the NCLL estimate (Sohn et al.: 100)")
    epochs: int | None = training.epochs_param(
        help="Epochs per network at most; None: until early stopping ends it")
    eval_every: int = training.eval_every_param(10**9)  # validation runs at epoch ends
    mask: str = ""  # the custom task's observed pixels (mask_to_string); "" otherwise

    def validate(self) -> CVAEConfig:
        super().validate()
        if not isinstance(self.mask, str):
            raise ValueError(f"mask must be a '0'/'1' string, got {type(self.mask).__name__}")
        if self.task == "custom" and not self.mask:
            raise ValueError("mask must be given for the custom task")
        return self
