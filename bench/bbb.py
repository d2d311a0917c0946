"""Bayes by Backprop training speed: BBB vs a plain MLP of the same size, side by side.

One process, the same data (Fashion-MNIST from Debian's dataset-fashion-mnist, else
digits), the same shape (input-400-400-classes, ReLU), Adam 1e-3, batch 128, one torch
thread (the machine's cores are shared):

1. plain     — a minimal PyTorch loop of the plain MLP (cross-entropy);
2. bbb       — vigui's ClassificationExperiment, BBB net only (one weight sample per
               minibatch, Monte Carlo KL with the scale-mixture prior);
3. bbb-local — the same with local reparameterization (pre-activations sampled per
               example; the KL by Monte Carlo at a separate weight sample);
4. bbb-local-closed — local reparameterization with a Gaussian prior and the closed-form KL;
5. both      — the experiment as the page runs it (BBB and the plain twin each step);
6. gui       — (with --gui, when vigui.pages.bbb exists) the experiment driven by the
               page's runner with its live views drawn offscreen.

Prints samples/s and the ratio to the plain loop (median over alternating repeats), and
what local reparameterization buys: the variance across eps draws of a minibatch's
gradient of the data term in the first layer's weight means, sampled vs local.
Run: python bench/bbb.py [--steps 60] [--repeats 3] [--hidden 400,400] [--gui]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine import data  # noqa: E402
from engine.bbb import (ClassificationExperiment, ClassifyConfig, PlainMLP,  # noqa: E402
                        gradient_variance)


def load():
    try:
        return data.load("fashion-mnist")
    except (FileNotFoundError, ValueError):
        return data.load("digits")


def plain_rate(ds, hidden, steps, batch=128) -> float:
    x = torch.tensor(ds.train_x.reshape(len(ds.train_x), -1).astype("float32"))
    y = torch.tensor(ds.train_y.astype("int64"))
    net = PlainMLP([x.shape[1], *hidden, len(ds.classes)], seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    perm = torch.randperm(len(x))
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[(i * batch) % (len(x) - batch):][:batch]
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # the experiment syncs once per step too
    return steps * batch / (time.perf_counter() - t0)


def experiment(ds, hidden, **kw) -> ClassificationExperiment:
    cfg = ClassifyConfig(dataset=ds.name, hidden=hidden, device="cpu", eval_every=10**9, **kw)
    return ClassificationExperiment(cfg, seed=0, dataset=ds)


def exp_rate(ds, hidden, steps, **kw) -> float:
    exp = experiment(ds, hidden, **kw)
    exp.step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        exp.step()
    return steps * exp.config.batch_size / (time.perf_counter() - t0)


def gui_rate(ds, hidden, steps) -> float | None:
    try:
        from vigui.pages.bbb import bench_page_rate
    except ImportError:
        return None
    return bench_page_rate(ds, hidden, steps)


VARIANTS = {
    "bbb": dict(train_plain=False),
    "bbb-local": dict(train_plain=False, local_reparam=True),
    "bbb-local-closed": dict(train_plain=False, local_reparam=True, prior="gaussian", kl_method="closed"),
    "both": dict(),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hidden", default="400,400")
    ap.add_argument("--gui", action="store_true", help="also time the live page")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    ds = load()
    print(f"data: {ds.name} ({len(ds.train_x)} train images), net {ds.shape[0] * ds.shape[1]}-"
          f"{'-'.join(map(str, hidden))}-{len(ds.classes)}, batch 128, 1 torch thread")
    rates: dict[str, list[float]] = {"plain": [], **{k: [] for k in VARIANTS}}
    if args.gui:
        rates["gui"] = []
    for _ in range(args.repeats):  # alternate, so drift on a shared machine hits all alike
        rates["plain"].append(plain_rate(ds, hidden, args.steps))
        for name, kw in VARIANTS.items():
            rates[name].append(exp_rate(ds, hidden, args.steps, **kw))
        if args.gui:
            r = gui_rate(ds, hidden, args.steps)
            if r is None:
                rates.pop("gui")
                args.gui = False
                print("gui: the BBB page does not exist yet; skipped")
            else:
                rates["gui"].append(r)
    base = statistics.median(rates["plain"])
    print(f"{'variant':18s} {'samples/s':>10s} {'ratio':>7s}")
    for name, r in rates.items():
        m = statistics.median(r)
        print(f"{name:18s} {m:10.0f} {m / base:7.3f}")

    # What local reparameterization buys: gradient variance at the same weights.
    exp = experiment(ds, hidden)
    x, y = exp._train_x[:128], exp._train_y[:128]
    ce = lambda out, t: F.cross_entropy(out, t, reduction="sum") / len(t)  # noqa: E731
    for rho in (-5.0, -3.0):
        with torch.no_grad():
            for layer in exp.net.layers:
                layer.weight_rho.fill_(rho)
                layer.bias_rho.fill_(rho)
        vs = gradient_variance(exp.net, ce, x, y, "sample", 30)
        vl = gradient_variance(exp.net, ce, x, y, "local", 30)
        sigma = float(torch.nn.functional.softplus(torch.tensor(rho)))
        print(f"gradient variance (first-layer mu, batch 128, sigma {sigma:.4f}): sampled {vs:.3e}  "
              f"local {vl:.3e}  ratio {vs / vl:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
