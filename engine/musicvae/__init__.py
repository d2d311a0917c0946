"""Chapter 4b: MusicVAE on melodies: the data (``data``: Bach chorales, MIDI folders),
the config (``config``, no torch), the model and trainer (``model``), a small synthesiser
(``synth``) and ``python -m engine musicvae`` (``cli``).

Importing the package does not import torch: the model's names load on first use
(:mod:`engine.core.lazy`), so ``vigui-train musicvae --help`` answers at once."""
from typing import TYPE_CHECKING

from engine.core.lazy import lazy_exports
from engine.musicvae import cli as _cli  # noqa: F401  (registers `python -m engine musicvae`)
from engine.musicvae.config import MODELS, MusicVAEConfig

__all__ = ["MODELS", "MelodyVAE", "MusicVAEConfig", "MusicVAEExperiment", "RollVAE", "slerp"]

__getattr__ = lazy_exports(__name__, {"model": ("MelodyVAE", "MusicVAEExperiment", "RollVAE",
                                                "slerp")})

if TYPE_CHECKING:
    from engine.musicvae.model import MelodyVAE, MusicVAEExperiment, RollVAE, slerp
