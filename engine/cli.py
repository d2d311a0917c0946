"""Headless CLI: ``python -m engine <chapter> ...`` or ``vigui-train <chapter> ...``.

Drives the same Experiment objects as the GUI. Progress goes to stderr; with
``--json`` one JSON object with the final metrics (and the metric history, bounded as
in the experiment's MetricStore) goes to stdout. Bad arguments exit with status 2 and
a message naming the argument.

Every subcommand's flags come from its config's declarations (``engine.core.params``): one
flag per declared field (``batch_size`` -> ``--batch-size``), the same defaults, ranges
and help as the engine and the GUI. Every subcommand also takes ``--seed``, ``--json``
and ``--quiet``; ``--device`` exists where the config declares a ``device``.

Adding a chapter's subcommand: one line in the chapter's own module, at module level::

    from engine.cli import subcommand
    subcommand("bbb", BBBExperiment, help="Bayes by Backprop on digits")

The experiment class names its config class in ``config_class``. With nothing more,
``python -m engine bbb --epochs 3 --out bbb.pt`` builds ``BBBExperiment(config,
seed=--seed)`` (a ``dataset`` config field is loaded first, with ``--download`` to
fetch it), steps it until ``done`` (give trainers an epoch count: ``defaults={"epochs":
5}``), then reports ``steps``, ``seconds``, the last ``train`` metrics, ``history`` and
``test`` (the experiment's ``evaluate()``); ``--out`` writes ``save(path)`` where the
experiment has one. Options of :func:`subcommand`: ``flags(parser)`` adds flags of
its own, ``run(config, args) -> dict`` replaces the default run (see ``engine/vae/cli.py``
and ``engine/cavi/model.py``), ``exclude`` and ``defaults`` adjust the declared flags.

A torch chapter names its experiment as ``"module:Class"`` with its (torch-free)
``config`` and ``saves=True``, from a module that does not import torch (its
``cli.py``)::

    subcommand("vae", "engine.vae.model:VAEExperiment", config=VAEConfig, saves=True, ...)

so that building the parser, rejecting a bad flag, ``--help`` and the ``--out`` check
never import torch (seconds); the experiment's module is imported when training starts.

The parser imports every module of the ``engine`` package once, so that each one's
registration line runs; a chapter needs no edit here.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import os
import pkgutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["subcommand", "build_parser", "main", "run_experiment", "evaluate", "check_out",
           "Progress"]


# -- registration ----------------------------------------------------------------------
@dataclass
class Subcommand:
    name: str
    experiment: type | str  # the class, or "module:Class" imported when a run starts
    help: str
    config: type
    run: Callable[[Any, argparse.Namespace], dict] | None = None
    flags: Callable[[argparse.ArgumentParser], None] | None = None
    exclude: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    saves: bool = False  # the experiment has save(path): the subcommand takes --out

    def experiment_class(self) -> type:
        """The experiment class (a ``"module:Class"`` name is imported now)."""
        if isinstance(self.experiment, str):
            module, _, name = self.experiment.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.experiment


_REGISTRY: dict[str, Subcommand] = {}


def subcommand(name: str, experiment: type | str, *, help: str, config: type | None = None,
               run: Callable[[Any, argparse.Namespace], dict] | None = None,
               flags: Callable[[argparse.ArgumentParser], None] | None = None,
               exclude: tuple[str, ...] = (), defaults: dict[str, Any] | None = None,
               saves: bool | None = None) -> None:
    """Register ``python -m engine NAME`` for ``experiment`` (see the module docstring).

    ``experiment`` is the class, or its name ``"module:Class"``, imported only when a run
    starts (a torch chapter: parsing then never imports torch); a name needs ``config``
    and ``saves`` given. ``config`` defaults to ``experiment.config_class``; ``saves``
    (the subcommand takes ``--out``) to whether the class has ``save``. ``run(config,
    args)`` gets the validated config built from the flags and the parsed namespace, and
    returns the result dict; without it :func:`default_run` is used. Registering a name
    twice with another experiment raises ValueError (two chapters would shadow each other)."""
    if isinstance(experiment, str):
        if ":" not in experiment or config is None or saves is None:
            raise TypeError(f"subcommand {name!r}: an experiment named by a string must be "
                            f"'module:Class' and come with config= and saves=, got {experiment!r}")
    else:
        config = config or getattr(experiment, "config_class", None)
        if config is None:
            raise TypeError(f"subcommand {name!r}: {experiment.__name__} has no config_class; "
                            "pass config=")
        if saves is None:
            saves = hasattr(experiment, "save")
    old = _REGISTRY.get(name)
    if old is not None and _qualname(old.experiment) != _qualname(experiment):
        raise ValueError(f"subcommand {name!r} is registered twice "
                         f"({_qualname(old.experiment)} and {_qualname(experiment)})")
    _REGISTRY[name] = Subcommand(name, experiment, help, config, run, flags, tuple(exclude),
                                 dict(defaults or {}), bool(saves))


def _qualname(experiment: type | str) -> str:
    if isinstance(experiment, str):
        return experiment.replace(":", ".")
    return f"{experiment.__module__}.{experiment.__qualname__}"


def _discover(only: str | None = None) -> None:
    """Import every engine module (or only the chapter package ``only``), so that each
    chapter's registration line has run."""
    import engine

    for info in pkgutil.iter_modules(engine.__path__):  # chapter packages register on import
        if info.name in ("cli", "__main__") or info.name.startswith("_"):
            continue
        if only is None or info.name == only:
            importlib.import_module(f"engine.{info.name}")


def _chapter_named(argv: list[str]) -> str | None:
    """The chapter a command line names first, if it is one of engine's packages: only
    that chapter is imported to parse it (another chapter may import torch, seconds)."""
    import engine

    first = next((a for a in argv if not a.startswith("-")), None)
    names = {info.name for info in pkgutil.iter_modules(engine.__path__)}
    return first if first in names - {"cli", "__main__", "core", "data"} else None


# -- progress and output -----------------------------------------------------------------
class Progress:
    """A one-line progress bar on stderr (a line per ~10% when stderr is not a terminal)."""

    def __init__(self, total: int | None, label: str, quiet: bool = False):
        self.total, self.label, self.quiet = total, label, quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._last_decile = -1

    def update(self, done: int, text: str = "") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last < 0.1 and done != self.total:
                return
            self._last = now
            if self.total:
                frac = min(1.0, done / self.total)
                bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
                sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total} {text}   ")
            else:
                sys.stderr.write(f"\r{self.label} {done} {text}   ")
            sys.stderr.flush()
        elif self.total:
            decile = int(10 * done / self.total)
            if decile != self._last_decile:
                self._last_decile = decile
                print(f"{self.label} {done}/{self.total} {text}", file=sys.stderr)

    def close(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")
        elif not self.quiet:
            print(f"{self.label}: trained", file=sys.stderr)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _download_progress(done, total, name):
    if total:
        print(f"download {name}: {done / total:5.1%}", file=sys.stderr)


# -- running ------------------------------------------------------------------------------
def run_experiment(exp, args: argparse.Namespace, name: str, label: str | None = None) -> dict:
    """Step ``exp`` until ``done`` with a progress bar; the common part of every result:
    steps, seconds, device, last train metrics, their history ({name: {"step": [...],
    "value": [...]}}, bounded) and, with ``--out``, the checkpoint written."""
    if getattr(exp.config, "threads", "absent") is None:
        # headless: all cores unless --threads says otherwise. Set here, as training
        # starts, not while parsing: a chapter's own checks answer before torch loads.
        from engine.core.runtime import set_torch_threads

        set_torch_threads()
    total = getattr(exp, "total_steps", None)
    if total is None:
        total = getattr(exp.config, "max_sweeps", None)
    bar = Progress(total, label or name, args.quiet)
    t0 = time.perf_counter()
    while not exp.done:
        values = exp.step()
        bar.update(exp.steps, "  ".join(f"{k} {v:.4g}" for k, v in list(values.items())[:3]))
    seconds = time.perf_counter() - t0
    bar.close()
    history = {}
    for metric in exp.metrics.names:
        steps, values = exp.metrics.get(metric)
        history[metric] = {"step": steps, "value": values}
    result = {"chapter": name, "config": exp.config.to_dict(), "steps": exp.steps,
              "seconds": seconds, "steps_per_s": exp.steps / seconds if seconds > 0 else None,
              "device": getattr(exp, "device", "cpu"),
              "train": {k: v for k, v in (exp.metrics.last() or {}).items() if k != "step"},
              "history": history}
    if hasattr(exp, "epoch"):
        result["epochs"] = exp.epoch
    if hasattr(exp, "samples_per_s"):
        result["samples_per_s"] = exp.samples_per_s
    if getattr(args, "out", None):
        result.update(save_checkpoint(exp, args.out, name, args.quiet))
    return result


def check_out(out: str | None) -> None:
    """ValueError unless ``--out`` names a file vigui can write, checked before any
    training (a run of hours must not end in a refused path)."""
    if not out:
        return
    path = os.path.abspath(os.path.expanduser(out))
    if os.path.isdir(path):
        raise ValueError(f"--out {out}: is a directory; give a file name such as "
                         f"{os.path.join(out, 'model.pt')}")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise ValueError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the folder {folder} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"--out {out}: the file exists and is not writable")


def save_checkpoint(exp, out: str, name: str, quiet: bool = False) -> dict:
    """Write ``exp``'s checkpoint to ``out``; if that fails (the disk filled, the folder
    went away) the trained model is written to a temporary folder instead and the
    result says where (``checkpoint_error``): training is never lost to a path."""
    try:
        exp.save(out)
        return {"checkpoint": str(out)}
    except OSError as exc:
        reason = exc.strerror or str(exc)
    rescue = os.path.join(tempfile.mkdtemp(prefix="vigui-"), f"{name}.pt")
    exp.save(rescue)
    message = f"could not write {out} ({reason}); the trained model is saved as {rescue}"
    print(f"vigui-train {name}: {message}", file=sys.stderr)
    return {"checkpoint": rescue, "checkpoint_error": message}


def evaluate(exp, args: argparse.Namespace, label: str, **kwargs) -> dict:
    """``exp.evaluate(**kwargs)`` on the test set, saying so on stderr (it can take a
    while after training's "trained" line)."""
    quiet = getattr(args, "quiet", False)
    if not quiet:
        print(f"{label}: evaluating on the test set…", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    result = exp.evaluate(**kwargs)
    if not quiet:
        print(f"{label}: evaluated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return result


def load_dataset(config, args: argparse.Namespace):
    """The dataset a config names, downloaded first with ``--download``."""
    from engine.data import datasets as data

    return data.load(config.dataset, download=getattr(args, "download", False),
                     progress=None if args.quiet else _download_progress)


def default_run(cmd: Subcommand, config, args: argparse.Namespace) -> dict:
    """Build the experiment, run it to the end, add ``test`` = ``evaluate()``."""
    experiment = cmd.experiment_class()
    kwargs = {}
    if hasattr(config, "dataset") and "dataset" in inspect.signature(experiment).parameters:
        kwargs["dataset"] = load_dataset(config, args)
    exp = experiment(config, seed=args.seed, **kwargs)
    result = run_experiment(exp, args, cmd.name)
    result["test"] = evaluate(exp, args, cmd.name)
    return result


# -- parser ------------------------------------------------------------------------------
def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every chapter's subcommand (``only``: of that chapter alone)."""
    from engine.core.params import add_arguments

    _discover(only)
    ap = argparse.ArgumentParser(prog="vigui-train", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    common.add_argument("--json", action="store_true", help="print the result as one JSON object")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sub = ap.add_subparsers(dest="chapter", required=True)
    for name in sorted(_REGISTRY):
        if only is not None and name != only:
            continue  # registered by an earlier import (tests): not this command line's
        cmd = _REGISTRY[name]
        p = sub.add_parser(name, parents=[common], help=cmd.help, description=cmd.help)
        add_arguments(p, cmd.config, exclude=cmd.exclude, defaults=cmd.defaults)
        if "dataset" in {f.name for f in dataclasses.fields(cmd.config)}:
            p.add_argument("--download", action="store_true",
                           help="download the dataset if it is not found")
        if cmd.saves:
            p.add_argument("--out", help="save a checkpoint the GUI can open")
        if cmd.flags is not None:
            cmd.flags(p)
        p.set_defaults(command=cmd)
    return ap


def main(argv=None) -> int:
    from engine.core.params import from_args

    argv = sys.argv[1:] if argv is None else list(argv)
    only = _chapter_named(argv)
    if only is not None:
        _discover(only)
    args = build_parser(only if only in _REGISTRY else None).parse_args(argv)
    cmd: Subcommand = args.command
    try:
        check_out(getattr(args, "out", None))
        config = from_args(cmd.config, args, exclude=cmd.exclude)
        result = cmd.run(config, args) if cmd.run else default_run(cmd, config, args)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"vigui-train {args.chapter}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(_jsonable(result)))
    else:
        for key, value in result.items():
            if isinstance(value, (float, int, str, bool)):
                print(f"{key}: {value}")
    return 1 if _checkpoint_errors(result) else 0


def _checkpoint_errors(result: dict) -> list[str]:
    """``checkpoint_error`` entries anywhere in a result (cvae nests one per task)."""
    found = [result["checkpoint_error"]] if "checkpoint_error" in result else []
    for entry in result.get("results", []):
        if isinstance(entry, dict):
            found += _checkpoint_errors(entry)
    return found
