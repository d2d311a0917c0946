"""The Music VAE's configuration, without torch: the page's form, ``vigui-train musicvae``'s
flags and its argument checks are built from it before torch is imported (see
:mod:`engine.musicvae.model`)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core import config as training
from engine.core.config import TrainingConfig
from engine.core.params import param

__all__ = ["MusicVAEConfig", "MODELS"]

MODELS = ("gru", "mlp")


@dataclass(frozen=True)
class MusicVAEConfig(TrainingConfig):
    """A MusicVAE run, each parameter declared once (engine.core.params)."""

    dataset: str = param("bach", label="Melodies", help=(
        "bach: the soprano lines of the Bach chorales music21 ships (parsed once, then "
        "cached) | folder:<path>: your own MIDI or MusicXML files"))
    transpose: int = param(5, lo=0, hi=12, label="Transpose ±", help=(
        "Training phrases are also played up to this many semitones up and down "
        "(augmentation; the test phrases stay in their key)"))
    latent: int = param(32, lo=2, hi=64, label="Latent dim",
                        help="Size of z (MusicVAE's 2-bar model uses 256; 8-64 here)")
    hidden: int = param(128, lo=16, hi=1024, label="Hidden units",
                        help="Units of the encoder GRU (each direction) and the decoder GRU "
                             "(or of each MLP layer)")
    model: str = param("gru", choices=MODELS, label="Model",
                       choice_labels=("GRU (MusicVAE)", "MLP on the roll"),
                       help="gru: bidirectional GRU encoder, autoregressive GRU decoder, as "
                            "MusicVAE. mlp: an MLP VAE over the flattened one-hot roll whose "
                            "decoder predicts every step independently (the baseline)")
    beta: float = param(1.0, lo=0.0, hi=10.0, decimals=2, step=0.1, label="β (KL weight)",
                        help="loss = recon + β·max(KL − free bits, 0); β = 1, no free bits "
                             "is the ELBO")
    free_bits: float = param(8.0, lo=0.0, hi=200.0, decimals=1, step=1.0,
                             label="Free bits (nats)",
                             help="KL per phrase below this costs nothing: keeps the "
                                  "decoder from ignoring z (posterior collapse)")
    kl_warmup: int = param(1000, lo=0, hi=10**7, label="KL warm-up steps",
                           help="β rises linearly from 0 over this many steps (annealing)")
    batch_size: int = training.batch_size_param(help="Phrases per step")
    eval_size: int = training.eval_size_param(help="First eval_size test phrases: cheap, smooth")
