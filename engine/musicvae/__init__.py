"""Chapter 4b: MusicVAE on melodies: the data (``data``: Bach chorales, MIDI folders),
the model and trainer (``model``) and a small synthesiser (``synth``)."""

from engine.musicvae.model import (  # noqa: F401  (the chapter's public API)
    MODELS,
    MelodyVAE,
    MusicVAEConfig,
    MusicVAEExperiment,
    RollVAE,
    slerp,
)
