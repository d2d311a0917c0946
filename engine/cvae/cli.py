"""Command line: python -m engine cvae. Torch-free until training starts: the experiment is
named, not imported, so a bad flag or ``--help`` answers at once."""
from __future__ import annotations

import dataclasses
import sys
import time

from engine.cli import subcommand
from engine.cvae.config import CVAEConfig


def _cli_flags(parser) -> None:
    parser.add_argument("--quadrants", default=None,
                        help="observed quadrants: 1, 2 or 3, or several such as 1,2,3 (each "
                             "trains its own pair of networks; overrides --task)")


def _cli_tasks(config: CVAEConfig, quadrants: str | None) -> list[str]:
    """--quadrants 1,2,3 -> ["q1", "q2", "q3"]; without it, the config's task."""
    if not quadrants:
        return [config.task]
    out = []
    for part in str(quadrants).split(","):
        part = part.strip()
        if part not in ("1", "2", "3"):
            raise ValueError(f"quadrants must be 1, 2 or 3 (comma separated), got {part!r}")
        out.append(f"q{part}")
    return out


def _rate(net) -> float | None:
    """A trainer's training images per second this session (None if it never trained)."""
    return net._session_samples / net._train_time if net._train_time > 0 else None


def _cli_run(config: CVAEConfig, args) -> dict:
    """Train baseline + CVAE for each task; evaluate each on the test set (nats/image)."""
    from pathlib import Path

    from engine.cli import evaluate, load_dataset, run_experiment

    tasks = _cli_tasks(config, args.quadrants)
    dataset = load_dataset(config, args)
    from engine.cvae.experiment import CVAEExperiment  # torch: only now that training starts

    out, results = args.out, []
    for task in tasks:
        exp = CVAEExperiment(dataclasses.replace(config, task=task), seed=args.seed,
                             dataset=dataset)
        if out and len(tasks) > 1:  # one file per task: NAME-q1.pt, NAME-q2.pt, ...
            path = Path(out)
            args.out = str(path.with_name(f"{path.stem}-{task}{path.suffix or '.pt'}"))
        run = run_experiment(exp, args, "cvae", f"cvae {config.dataset} {task}")
        t0 = time.perf_counter()
        entry = evaluate(exp, args, f"cvae {config.dataset} {task}")
        entry.update(train_seconds=run["seconds"], eval_seconds=time.perf_counter() - t0,
                     steps=exp.steps, samples_per_s=exp.samples_per_s,
                     # each network's own rate: the baseline is far cheaper per image
                     **{f"{net}_samples_per_s": _rate(getattr(exp, net))
                        for net in ("baseline", "cvae")})
        for key in ("checkpoint", "checkpoint_error"):
            if key in run:
                entry[key] = run[key]
        if not args.quiet:
            print(f"{task}: baseline {entry['baseline_ncll']:.2f}  CVAE -ELBO "
                  f"{entry['cvae_neg_elbo']:.2f}  IS NCLL {entry['cvae_ncll_is']:.2f} nats/image "
                  f"({entry['baseline_epochs']}+{entry['cvae_epochs']} epochs, "
                  f"{run['seconds']:.0f} s)", file=sys.stderr)
        results.append(entry)
    args.out = out
    return {"chapter": "cvae", "dataset": config.dataset, "config": config.to_dict(),
            "device": exp.device, "results": results}


# Headless runs need an end: at most 20 epochs per network (early stopping usually
# ends sooner); the GUI trains until early stopping ends it.
subcommand("cvae", "engine.cvae.experiment:CVAEExperiment", config=CVAEConfig, saves=True,
           run=_cli_run, flags=_cli_flags, exclude=("mask",), defaults={"epochs": 20},
           help="complete partly hidden images: baseline regressor vs conditional VAE")
