"""``python -m engine vae``: train a VAE headless. Torch-free until training starts: the
experiment is named, not imported, so a bad flag or ``--help`` answers at once."""
from __future__ import annotations

from engine.cli import subcommand
from engine.vae.config import VAEConfig


def _cli_flags(parser) -> None:
    parser.add_argument("--iw-k", type=int, default=100,
                        help="importance samples for the -log p(x) estimate on the test set "
                             "(default 100)")


def _cli_run(config: VAEConfig, args) -> dict:
    from engine.cli import evaluate, load_dataset, run_experiment
    from engine.vae.model import VAEExperiment  # torch: only now that training starts

    exp = VAEExperiment(config, seed=args.seed, dataset=load_dataset(config, args))
    result = run_experiment(exp, args, "vae", f"vae {config.dataset}")
    result["dataset"] = config.dataset
    result["test"] = evaluate(exp, args, f"vae {config.dataset}", k=args.iw_k)
    return result


# Headless runs need an end: 5 epochs unless --epochs says otherwise (the GUI trains
# until stopped, the engine's default).
subcommand("vae", "engine.vae.model:VAEExperiment", config=VAEConfig, saves=True,
           help="train a variational autoencoder", run=_cli_run, flags=_cli_flags,
           defaults={"epochs": 5})
