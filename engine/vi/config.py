"""Black-box VI's configuration (:mod:`engine.vi.bbvi`), without torch: the page's form and
``vigui-train vi``'s flags and checks are built from it before torch is imported."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core.params import Config, param

__all__ = ["BBVIConfig", "TARGETS", "TARGET_LABELS", "FAMILIES", "FAMILY_LABELS"]

TARGETS = ("gaussian", "banana", "mixture", "funnel", "ring")
TARGET_LABELS = {"gaussian": "correlated Gaussian", "banana": "banana", "mixture": "two Gaussians",
                 "funnel": "funnel", "ring": "ring"}
FAMILIES = ("meanfield", "fullcov", "flow")
FAMILY_LABELS = {"meanfield": "mean-field Gaussian", "fullcov": "full-covariance Gaussian",
                 "flow": "normalising flow"}


@dataclass(frozen=True)
class BBVIConfig(Config):
    target: str = param("banana", choices=TARGETS, choice_labels=tuple(TARGET_LABELS.values()),
                        label="Target")
    rho: float = param(0.8, lo=-0.99, hi=0.99, label="Correlation ρ",
                       help="correlation of the Gaussian target")
    family: str = param("fullcov", choices=FAMILIES, choice_labels=tuple(FAMILY_LABELS.values()),
                        label="Family q")
    divergence: str = param("reverse", choices=("reverse", "forward"),
                            choice_labels=("reverse KL(q‖p)", "forward KL(p‖q)"),
                            label="Divergence")
    samples: int = param(64, lo=1, hi=4096, log=True, label="Samples / step",
                         help="Monte Carlo samples per gradient step")
    lr: float = param(0.02, lo=1e-5, hi=1.0, log=True, label="Learning rate", help="Adam's step")
    layers: int = param(6, lo=1, hi=16, label="Flow layers", help="affine couplings of the flow")
    max_steps: int = param(3000, lo=1, hi=1_000_000, label="Steps")
    anneal: bool = param(True, label="Anneal step",
                         help="cosine-decay Adam's step to lr/100 over the steps, so the "
                         "Monte Carlo noise of the last iterates dies down")
    device: str = param("auto", label="Device", help="auto | cpu | cuda | mps", gui=False)
    threads: int | None = param(1, lo=1, hi=256, optional=True, label="Torch threads", gui=False,
                                help="intra-op threads (None: leave torch's setting); these "
                                "tensors are tiny, so one thread is fastest and a second one "
                                "only waits on a busy core")
