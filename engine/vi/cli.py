"""``python -m engine vi --section estimators|bbvi ... --json``: chapter 2 headless.

``estimators``: runs :class:`~engine.vi.estimators.EstimatorExperiment` (histograms and
SGD trajectories of the three gradient estimators) and adds the variance table at
S = 1 and S = 100 with the score-function / reparameterization ratios.
``bbvi``: fits a family to a 2-D target (:class:`~engine.vi.bbvi.BBVIExperiment`) and
reports the final ELBO, KL both ways, q's moments and steps per second.

Flags come from the two configs' declarations; a flag both declare (``--samples``,
``--lr``, ``--max-steps``) takes the chosen section's default when not given.
"""
from __future__ import annotations

import argparse
import time

from engine.core.params import add_arguments, from_args, specs
from engine.vi.config import BBVIConfig
from engine.vi.estimators import ESTIMATORS, EstimatorConfig, EstimatorExperiment, variance_table

SECTIONS = ("estimators", "bbvi")


def add_flags(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--section", choices=SECTIONS, default="estimators",
                    help="estimators: gradient estimators on a 1-D model; bbvi: black-box VI in 2-D")
    taken = set(ap._option_string_actions)
    before = len(ap._actions)
    add_arguments(ap, EstimatorConfig, exclude={"seed"} | {p.name for p in specs(EstimatorConfig)
                                                             if p.flag in taken})
    taken = set(ap._option_string_actions)
    bbvi = {p.name: p for p in specs(BBVIConfig)}
    add_arguments(ap, BBVIConfig, exclude={n for n, p in bbvi.items() if p.flag in taken})
    estimators = {p.name for p in specs(EstimatorConfig)}
    for action in ap._actions[before:]:
        action.default = argparse.SUPPRESS  # absent flags keep the section's own default
        if action.dest in estimators and action.dest in bbvi:  # both sections' ranges
            other = bbvi[action.dest]
            rng = other.describe_range()
            action.help = (f"{action.help or ''} [bbvi: {rng}; default {other.default}]" if rng
                           else f"{action.help or ''} [bbvi: default {other.default}]")


def run(args: argparse.Namespace, progress=None) -> dict:
    if args.section == "estimators":
        config = from_args(EstimatorConfig, args, seed=args.seed)
        return run_estimators(config, progress)
    config = from_args(BBVIConfig, args)
    return run_bbvi(config, args.seed, progress)


def _loop(exp, progress):
    t0 = time.perf_counter()
    while not exp.done:
        values = exp.step()
        if progress is not None:
            progress(exp.steps, values)
    return time.perf_counter() - t0


def run_estimators(config: EstimatorConfig, progress=None) -> dict:
    exp = EstimatorExperiment(config)
    seconds = _loop(exp, progress)
    table = variance_table(exp.model, config.m, config.log_s, sizes=(1, 100), reps=4000,
                           seed=config.seed)
    ratios = {f"S={s}": {"score/reparam": table["score"][i] / table["reparam"][i],
                         "score_cv/reparam": table["score_cv"][i] / table["reparam"][i],
                         "score/score_cv": table["score"][i] / table["score_cv"][i]}
              for i, s in enumerate((1, 100))}
    return {"chapter": "vi", "section": "estimators", "config": config.to_dict(),
            "steps": exp.steps, "seconds": seconds,
            "steps_per_s": exp.steps / seconds if seconds > 0 else None,
            "estimators": exp.evaluate(),
            "variance": {k: table[k] for k in ESTIMATORS},
            "variance_se": {k: table[f"{k}_se"] for k in ESTIMATORS}, "variance_sizes": [1, 100],
            "variance_ratios": ratios, "baseline": table["baseline"]}


def run_bbvi(config: BBVIConfig, seed: int, progress=None) -> dict:
    from engine.vi.bbvi import BBVIExperiment  # torch: only now that training starts

    exp = BBVIExperiment(config, seed=seed)
    seconds = _loop(exp, progress)
    return {"chapter": "vi", "section": "bbvi", "config": config.to_dict(), "device": exp.device,
            "steps": exp.steps, "seconds": seconds,
            "steps_per_s": exp.steps / seconds if seconds > 0 else None,
            "final": exp.evaluate()}


def cli_run(config, args: argparse.Namespace) -> dict:
    """The subcommand's run (``config`` is unused: each section builds its own)."""
    from engine.cli import Progress

    bar = Progress(None, f"vi {args.section}", args.quiet)
    result = run(args, lambda steps, values: bar.update(steps))
    bar.close()
    return result


def register() -> None:
    """``python -m engine vi``: flags of both sections' configs (see the module docstring)."""
    from engine.cli import subcommand

    subcommand("vi", EstimatorExperiment, config=EstimatorConfig,
               help="chapter 2: gradient estimators (--section estimators) or black-box VI "
                    "on 2-D targets (--section bbvi)",
               flags=add_flags, run=cli_run, exclude=tuple(p.name for p in specs(EstimatorConfig)))
