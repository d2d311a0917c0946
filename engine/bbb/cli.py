"""``python -m engine bbb --task classify|regression ...``: one subcommand, two experiments.

The flags are those of :class:`ClassifyConfig` plus the regression-only ones of
:class:`RegressionConfig`. Where both declare a field with different defaults (hidden
sizes, learning rate, batch size, predictive samples), a flag the user did not give
takes the chosen task's own default: the parser's defaults are marked so the run can
tell them from given values.

Torch-free until training starts: the experiments are named, not imported, so a bad flag
or ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from engine.bbb.config import ClassifyConfig, RegressionConfig
from engine.cli import evaluate, load_dataset, run_experiment, subcommand
from engine.core.params import add_arguments, from_args, specs

if TYPE_CHECKING:
    from engine.bbb.classify import ClassificationExperiment
    from engine.bbb.regression import RegressionExperiment

#: Headless runs need an end (the GUI trains until stopped).
EPOCHS = {"classify": 5, "regression": 500}


class _Unset:
    """Mixin: a parser default the user did not type (keeps its type's behaviour)."""


def _unset(value):
    if value is None or isinstance(value, bool):
        return value
    cls = type(f"Unset{type(value).__name__}", (type(value), _Unset), {})
    return cls(value)


def _plain(value):
    """The value without its mark (configs are saved in checkpoints: plain types only)."""
    return type(value).__mro__[1](value) if isinstance(value, _Unset) else value


def _names(config_cls) -> set[str]:
    return {f.name for f in dataclasses.fields(config_cls)}


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=("classify", "regression"), default="classify",
                        help="classify images (digits, Fashion-MNIST, ...) or fit the 1-D curve "
                             "of the lecture's Figure 15 (default classify)")
    add_arguments(parser, RegressionConfig, exclude=_names(ClassifyConfig))
    shared = _names(ClassifyConfig) & _names(RegressionConfig)
    marks = {}
    for action in parser._actions:
        if action.dest in shared:
            marks[action.dest] = _unset(action.default)
            if action.type is not None:  # argparse converts string defaults: keep the mark
                action.type = _keeping_marks(action.type)
    parser.set_defaults(**marks)


def _keeping_marks(convert):
    def convert_given(value):
        return value if isinstance(value, _Unset) else convert(value)
    return convert_given


def _run(config: ClassifyConfig, args: argparse.Namespace) -> dict:
    exp: ClassificationExperiment | RegressionExperiment
    given = {name: _plain(getattr(args, name)) for name in vars(args)
             if not isinstance(getattr(args, name), _Unset) and getattr(args, name) is not None}
    epochs = given.get("epochs", EPOCHS[args.task])
    if args.task == "classify":
        config = config.replace(epochs=epochs, **{f.name: _plain(getattr(config, f.name))
                                                  for f in dataclasses.fields(config)
                                                  if f.name != "epochs"}).validate()
        dataset = load_dataset(config, args)
        from engine.bbb.classify import ClassificationExperiment  # torch: training starts

        exp = ClassificationExperiment(config, seed=args.seed, dataset=dataset)
        label = f"bbb {config.dataset}"
    else:
        own = {p.name for p in specs(RegressionConfig)}
        values = {k: v for k, v in given.items() if k in own}
        values["epochs"] = epochs
        # A 1-64-64-1 net is far too small to share among threads: one is fastest.
        values.setdefault("threads", 1)
        ns = argparse.Namespace(**{k: (str(v) if isinstance(v, str) else v) for k, v in values.items()})
        reg_config = from_args(RegressionConfig, ns)
        from engine.bbb.regression import RegressionExperiment  # torch: training starts

        exp = RegressionExperiment(reg_config, seed=args.seed)
        label = f"bbb {reg_config.function}"
    result = run_experiment(exp, args, "bbb", label)
    result["task"] = args.task
    result["test"] = evaluate(exp, args, label)
    return result


subcommand("bbb", "engine.bbb.classify:ClassificationExperiment", config=ClassifyConfig, saves=True,
           run=_run, flags=_flags,
           help="Bayes by Backprop: classify images beside a plain MLP, or the 1-D regression "
                "of Figure 15 (--task regression)")
