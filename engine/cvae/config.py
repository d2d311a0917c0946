"""The CVAE chapter's configuration: one completion task on one dataset. No torch: the
page's form and ``vigui-train cvae``'s flags and checks are built from it before torch loads."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core import config as training
from engine.core.config import TrainingConfig
from engine.core.params import param
from engine.cvae.tasks import TASK_LABELS, TASKS

FREE_BITS_SCALINGS = ("hidden2", "hidden", "none")
FREE_BITS_SCALING_LABELS = {"hidden2": "hidden pixels² (default)", "hidden": "hidden pixels",
                            "none": "nothing (per image)"}
FREE_BITS_REFERENCE_SHARE = 0.75  # free_bits are the nats of the 1-quadrant task: 3/4 hidden


def scaled_free_bits(free_bits: float, hidden_share: float, scaling: str) -> float:
    """The free nats per image of a mask hiding ``hidden_share`` of the pixels:
    free_bits * min(1, (hidden_share / 3/4)^k), k = 2 (``hidden2``), 1 (``hidden``) or 0
    (``none``). On digits, 3 constant free nats cost the 2- and 3-quadrant tasks
    likelihood (their IS NCLL rose above the baseline's); k = 2 keeps the 1-quadrant
    task as it was and gives the others 4/3 and 1/3 nats (README, the CVAE's numbers).
    Masks hiding more than 3/4 (the middle column) keep free_bits: never measured above."""
    if scaling not in FREE_BITS_SCALINGS:
        raise ValueError(f"free_bits_scaling must be one of {FREE_BITS_SCALINGS}, got {scaling!r}")
    if not 0.0 <= hidden_share <= 1.0:
        raise ValueError(f"hidden_share must be in [0, 1], got {hidden_share!r}")
    power = {"hidden2": 2, "hidden": 1, "none": 0}[scaling]
    return float(free_bits) * min(1.0, (hidden_share / FREE_BITS_REFERENCE_SHARE) ** power)


KIND = "cvae"  # checkpoint kind of the chapter's files


@dataclass(frozen=True)
class CVAEConfig(TrainingConfig):
    """One completion task on one dataset: the baseline and the CVAE trained for it.

    Hidden sizes are Pyro's (500-500; Adam 1e-3, batch 128, patience 3); z = 16 and 3
    free nats per image make the CVAE use z on the default page (digits, 1 quadrant) in
    less time than before: with Pyro's z = 200 and no free bits the KL fell to ~0.001
    nats per image and every sample was the same completion. Fewer hidden pixels get
    fewer free nats (``free_bits_scaling``): 3 constant nats made the 2- and 3-quadrant
    tasks' IS NCLL worse than the baseline's."""

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
                                  "keeps z in use where the KL would switch it off; with a "
                                  "scaling, the nats of the 1-quadrant task (3/4 hidden)")
    free_bits_scaling: str = param("hidden2", choices=FREE_BITS_SCALINGS,
                                   choice_labels=tuple(FREE_BITS_SCALING_LABELS[s]
                                                       for s in FREE_BITS_SCALINGS),
                                   label="Free bits scale with",
                                   help="hidden2: free bits x (hidden share / 3/4)^2, so fewer "
                                        "hidden pixels get fewer forced nats (3, 1.3, 0.3 for "
                                        "1, 2, 3 observed quadrants; never more than free "
                                        "bits); hidden: to the power 1; none: the same nats "
                                        "for every mask")
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
