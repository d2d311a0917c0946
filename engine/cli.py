"""Headless CLI: ``python -m engine <chapter> ...`` or ``vigui-train <chapter> ...``.

Drives the same Experiment objects as the GUI. Progress goes to stderr; with
``--json`` one JSON object with the final metrics goes to stdout.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


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
            print(f"{self.label} done", file=sys.stderr)


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


def run_cavi(args) -> dict:
    from .cavi import CaviConfig, CaviExperiment

    config = CaviConfig(k=args.k, n=args.n, sigma2=args.sigma2, dim=args.dim, data_seed=args.seed,
                        init_seed=args.init_seed if args.init_seed is not None else args.seed,
                        true_k=args.true_k, mode=args.mode, alpha=args.alpha,
                        max_sweeps=args.max_sweeps)
    exp = CaviExperiment(config)
    bar = Progress(args.max_sweeps, "cavi", args.quiet)
    t0 = time.perf_counter()
    while not exp.done:
        exp.step()
        bar.update(exp.steps, f"ELBO {exp.shown.elbo():.6f}")
    seconds = time.perf_counter() - t0
    bar.close()
    run = exp.shown
    metrics = exp.metrics.as_arrays()
    return {
        "chapter": "cavi",
        "elbo": run.elbo(),
        "m": run.m,
        "s2": run.s2,
        "sweeps": exp.steps,
        "converged": exp.converged,
        "elbo_history": metrics["elbo" if args.mode == "cavi" else "elbo_gradient"],
        "true_mu": exp.true_mu,
        "seconds": seconds,
        "steps_per_s": exp.steps / seconds if seconds > 0 else None,
    }


def run_vae(args) -> dict:
    from . import data
    from .runtime import set_torch_threads
    from .vae import VAEConfig, VAEExperiment

    hidden = tuple(int(h) for h in str(args.hidden).split(",") if h.strip())
    config = VAEConfig(dataset=args.dataset, latent=args.latent, hidden=hidden, beta=args.beta,
                       likelihood=args.likelihood, loss_mode=args.loss_mode, lr=args.lr,
                       batch_size=args.batch_size, device=args.device, epochs=args.epochs,
                       threads=args.threads).validate()
    if args.threads is None:
        set_torch_threads()
    dataset = data.load(args.dataset, download=args.download,
                        progress=None if args.quiet else _download_progress)
    exp = VAEExperiment(config, seed=args.seed, dataset=dataset)
    steps_per_epoch = -(-len(dataset.train_x) // config.batch_size)
    bar = Progress(steps_per_epoch * args.epochs, f"vae {args.dataset}", args.quiet)
    t0 = time.perf_counter()
    while not exp.done:
        values = exp.step()
        bar.update(exp.steps, f"epoch {values['epoch']:.2f} loss {values['loss']:.2f}")
    seconds = time.perf_counter() - t0
    bar.close()
    result = {"chapter": "vae", "dataset": args.dataset, "config": config.to_dict(),
              "steps": exp.steps, "epochs": exp.epoch, "seconds": seconds,
              "samples_per_s": exp.samples_per_s, "device": exp.device,
              "train": {k: v for k, v in (exp.metrics.last() or {}).items() if k != "step"},
              "test": exp.evaluate(k=args.iw_k)}
    if args.out:
        exp.save(args.out)
        result["checkpoint"] = str(args.out)
    return result


def run_cvae(args) -> dict:
    """Train baseline + CVAE for each requested task; evaluate each on the test set."""
    import dataclasses
    from pathlib import Path

    from . import data, params
    from .cvae import CVAEExperiment
    from .cvae_tasks import CVAEConfig
    from .runtime import set_torch_threads

    tasks = _cvae_tasks(args.quadrants, args.task)
    base = params.from_args(CVAEConfig, args, dataset=args.dataset, device=args.device,
                            threads=args.threads, task=tasks[0])
    if args.threads is None:
        set_torch_threads()
    dataset = data.load(args.dataset, download=args.download,
                        progress=None if args.quiet else _download_progress)
    results = []
    for task in tasks:
        config = dataclasses.replace(base, task=task).validate()
        exp = CVAEExperiment(config, seed=args.seed, dataset=dataset)
        n_fit = exp.baseline._n
        per_epoch = -(-n_fit // config.batch_size)
        bar = Progress(2 * per_epoch * config.epochs, f"cvae {args.dataset} {task}", args.quiet)
        t0 = time.perf_counter()
        while not exp.done:
            values = exp.step()
            loss = values.get("baseline_loss", values.get("cvae_loss", math.nan))
            bar.update(exp.steps, f"{exp.phase} epoch {values.get('epoch', 0):.2f} loss {loss:.2f}")
        train_s = time.perf_counter() - t0
        bar.close()
        t1 = time.perf_counter()
        entry = exp.evaluate()
        entry.update(train_seconds=train_s, eval_seconds=time.perf_counter() - t1,
                     steps=exp.steps, samples_per_s=exp.samples_per_s)
        if args.out:
            out = Path(args.out)
            if len(tasks) > 1:
                out = out.with_name(f"{out.stem}-{task}{out.suffix or '.pt'}")
            exp.save(out)
            entry["checkpoint"] = str(out)
        results.append(entry)
        if not args.quiet:
            print(f"{task}: baseline {entry['baseline_ncll']:.2f}  CVAE -ELBO "
                  f"{entry['cvae_neg_elbo']:.2f}  IS NCLL {entry['cvae_ncll_is']:.2f} nats "
                  f"({train_s:.0f} s)", file=sys.stderr)
    return {"chapter": "cvae", "dataset": args.dataset, "config": base.to_dict(),
            "device": exp.device, "results": results}


def _cvae_tasks(quadrants: str | None, task: str | None) -> list[str]:
    """--quadrants 1,2,3 -> ["q1", "q2", "q3"]; --task column etc. as given."""
    if task and task not in ("q1", "q2", "q3") and quadrants:
        raise ValueError("give --quadrants or --task, not both")
    if quadrants:
        out = []
        for part in str(quadrants).split(","):
            part = part.strip()
            if part not in ("1", "2", "3"):
                raise ValueError(f"quadrants must be 1, 2 or 3 (comma separated), got {part!r}")
            out.append(f"q{part}")
        return out
    return [task or "q1"]


def _download_progress(done, total, name):
    if total:
        print(f"download {name}: {done / total:5.1%}", file=sys.stderr)


def add_vae_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--dataset", default="digits", help="digits | mnist | fashion-mnist | kmnist | idx:<folder>")
    ap.add_argument("--download", action="store_true", help="download the dataset if it is not found")
    ap.add_argument("--latent", type=int, default=2)
    ap.add_argument("--hidden", default="400", help="hidden layer sizes, e.g. 400 or 512,256")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--loss-mode", choices=("elbo", "recon", "kl"), default="elbo")
    ap.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--iw-k", type=int, default=100,
                    help="importance samples for the -log p(x) estimate on the test set")
    ap.add_argument("--out", help="save a checkpoint the GUI can open")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vigui-train", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    common.add_argument("--json", action="store_true", help="print final metrics as one JSON object")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sub = ap.add_subparsers(dest="chapter", required=True)

    cavi = sub.add_parser("cavi", parents=[common], help="mean-field CAVI on a Bayesian Gaussian mixture")
    cavi.add_argument("--n", type=int, default=1000)
    cavi.add_argument("--k", type=int, default=3)
    cavi.add_argument("--true-k", type=int, default=None, help="clusters in the generated data (default: k)")
    cavi.add_argument("--sigma2", type=float, default=10.0)
    cavi.add_argument("--dim", type=int, default=1, choices=(1, 2))
    cavi.add_argument("--init-seed", type=int, default=None, help="default: --seed")
    cavi.add_argument("--mode", choices=("cavi", "gradient"), default="cavi")
    cavi.add_argument("--alpha", type=float, default=1e-3)
    cavi.add_argument("--max-sweeps", type=int, default=5000)
    cavi.set_defaults(run=run_cavi)

    vae = sub.add_parser("vae", parents=[common], help="train a variational autoencoder")
    add_vae_arguments(vae)
    vae.set_defaults(run=run_vae)

    from . import params
    from .cvae_tasks import CVAEConfig

    cvae = sub.add_parser("cvae", parents=[common],
                          help="complete partly hidden images: baseline regressor vs conditional VAE")
    cvae.add_argument("--dataset", default="digits", help="digits | mnist | fashion-mnist | kmnist | idx:<folder>")
    cvae.add_argument("--download", action="store_true", help="download the dataset if it is not found")
    cvae.add_argument("--quadrants", default=None,
                      help="observed quadrants: 1, 2, 3 or a list such as 1,2,3 (default: 1)")
    cvae.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    cvae.add_argument("--out", help="save a checkpoint the GUI can open (one per task: NAME-qK.pt)")
    params.add_arguments(cvae, CVAEConfig, exclude=("mask",))
    cvae.set_defaults(run=run_cvae)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
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
    return 0
