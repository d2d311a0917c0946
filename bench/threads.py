"""Torch threads vs training speed: 1 thread, 2 threads and torch's own default, side by side.

Three trainers the app runs (the CVAE's CVAE phase at Pyro's 500-500 sizes, the VAE at its
defaults and BBB classification with its plain twin), each trained for a fixed number of
steps under each thread setting, in one process, the settings alternating round by round
so that a machine shared with other work slows them alike. Prints samples/s (median over
the rounds) and each setting's ratio to one thread.

"old" is what a config's ``threads=None`` meant before engine.core.runtime.default_threads
became the policy: torch's own setting, one thread per core. "policy" is
``default_threads("cli")`` on this machine.

Run: python bench/threads.py [--dataset digits|fashion-mnist] [--steps 40] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

OLD_DEFAULT = torch.get_num_threads()  # torch's own choice, before anything sets it

from engine.bbb import ClassificationExperiment, ClassifyConfig  # noqa: E402
from engine.core.runtime import default_threads  # noqa: E402
from engine.cvae import CVAEConfig, CVAEExperiment  # noqa: E402
from engine.data import datasets as data  # noqa: E402
from engine.vae import VAEConfig, VAEExperiment  # noqa: E402

WARMUP = 3  # steps before timing: allocator, fused-Adam state, first-call costs


def cvae_phase(dataset, threads):
    """The CVAE phase's trainer (baseline frozen), 500-500 hidden, z = 200, batch 128."""
    exp = CVAEExperiment(CVAEConfig(dataset=dataset.name, hidden=(500, 500), latent=200,
                                    threads=threads, device="cpu"), seed=0, dataset=dataset)
    return exp.cvae


def vae(dataset, threads):
    return VAEExperiment(VAEConfig(dataset=dataset.name, threads=threads, device="cpu",
                                   eval_every=10**9), seed=0, dataset=dataset)


def bbb(dataset, threads):
    return ClassificationExperiment(ClassifyConfig(dataset=dataset.name, threads=threads,
                                                   device="cpu", eval_every=10**9),
                                    seed=0, dataset=dataset)


TRAINERS = {"CVAE 500-500": cvae_phase, "VAE": vae, "BBB classify": bbb}


def timed(trainer, threads: int, steps: int) -> float:
    """samples/s of ``steps`` training steps under ``threads`` torch threads."""
    torch.set_num_threads(threads)
    for _ in range(WARMUP):
        trainer.step()
    seen = trainer.samples_seen
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return (trainer.samples_seen - seen) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits", help="digits or fashion-mnist")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="rounds (settings alternate)")
    args = ap.parse_args()
    dataset = data.load(args.dataset)
    settings = {"1 thread": 1, "2 threads": 2, f"old ({OLD_DEFAULT})": OLD_DEFAULT}
    print(f"{os.cpu_count()} cores; torch's default {OLD_DEFAULT} threads; policy "
          f"default_threads('cli') = {default_threads('cli')}, ('process') = "
          f"{default_threads('process')}; dataset {dataset.name}; {args.steps} steps x "
          f"{args.repeats} rounds (median)")
    # One trainer per (model, setting), built once; each run continues where it stopped.
    trainers = {(m, s): make(dataset, n) for m, make in TRAINERS.items()
                for s, n in settings.items()}
    rates: dict[tuple[str, str], list[float]] = {k: [] for k in trainers}
    for _ in range(args.repeats):
        for model in TRAINERS:
            for s, n in settings.items():
                rates[model, s].append(timed(trainers[model, s], n, args.steps))
    head = f"{'trainer':<14}" + "".join(f"{s:>14}" for s in settings) + \
        "".join(f"{s + ' / 1':>16}" for s in list(settings)[1:])
    print(head)
    for model in TRAINERS:
        med = {s: statistics.median(rates[model, s]) for s in settings}
        one = med["1 thread"]
        print(f"{model:<14}" + "".join(f"{med[s]:>12.0f}/s" for s in settings)
              + "".join(f"{med[s] / one:>15.2f}x" for s in list(settings)[1:]))


if __name__ == "__main__":
    main()
