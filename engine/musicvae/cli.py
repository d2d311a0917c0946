"""``python -m engine musicvae``: train a Music VAE headless. Torch-free until training
starts: the experiment is named, not imported, so a bad flag or ``--help`` answers at once."""
from __future__ import annotations

from engine.cli import subcommand
from engine.musicvae import data as music
from engine.musicvae.config import MusicVAEConfig


def _cli_flags(parser) -> None:
    parser.add_argument("--iw-k", type=int, default=20,
                        help="importance samples for the -log p(x) bound on the test set "
                             "(default 20)")


def _cli_run(config: MusicVAEConfig, args) -> dict:
    import time

    from engine.cli import Progress, evaluate, run_experiment

    bar = Progress(None, f"parsing {config.dataset}", args.quiet)
    t0 = time.perf_counter()
    melodies = music.load_melodies(config.dataset, transpose=config.transpose,
                                   progress=lambda done, total, name: _bar(bar, done, total))
    load_s = time.perf_counter() - t0
    from engine.musicvae.model import MusicVAEExperiment  # torch: only now that training starts

    exp = MusicVAEExperiment(config, seed=args.seed, dataset=melodies)
    result = run_experiment(exp, args, "musicvae", f"musicvae {config.dataset}")
    result.update({"dataset": config.dataset, "load_seconds": load_s,
                   "train_phrases": int(melodies.train_x.shape[0]),
                   "test_phrases": int(melodies.test_x.shape[0]),
                   "pieces": len(melodies.tunes),
                   # what each data rule removed (engine.musicvae.data's docstring)
                   "corpus": {k: len(v) if isinstance(v, list) else v
                              for k, v in melodies.stats.items()}})
    result["test"] = evaluate(exp, args, f"musicvae {config.dataset}", k=args.iw_k)
    return result


def _bar(bar, done: int, total: int) -> None:
    bar.total = total
    bar.update(done)


subcommand("musicvae", "engine.musicvae.model:MusicVAEExperiment", config=MusicVAEConfig,
           saves=True, help="train a MusicVAE on melodies (Bach chorales)",
           run=_cli_run, flags=_cli_flags, defaults={"epochs": 5})
