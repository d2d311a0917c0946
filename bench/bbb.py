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
6. both, live page — (with --gui) the classification tab of the BBB page training in its
               child process while the page draws every frame offscreen at 1280x800.

With --gui it also times the Figure 15 regression: headless, and on the live page with
the child-process runner (the page's choice) and with the thread runner.

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

from engine.bbb import ClassificationExperiment, ClassifyConfig, PlainMLP, gradient_variance  # noqa: E402
from engine.data import datasets as data  # noqa: E402


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


def _page():
    """The BBB page in an offscreen window at 1280x800 (None if it does not exist)."""
    try:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        from vigui.pages.bbb import BBBPage
    except ImportError:
        return None, None
    page = BBBPage()
    page.resize(1280, 800)
    page.show()
    page.activate()
    return app, page


def page_rate(app, section, seconds: float, warmup: float = 3.0) -> float:
    """Steps per second of a section's run while the page draws it live: the steps the
    child reports between the end of the warm-up and ``seconds`` later."""
    seen: list[tuple[float, int]] = []
    section.run.progress.connect(lambda steps, rate: seen.append((time.perf_counter(), steps)))
    section.run.reset(play=True)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup + seconds:
        app.processEvents()
        time.sleep(0.002)
    section.run.pause()
    late = [(t, s) for t, s in seen if t >= t0 + warmup]
    if len(late) < 2:
        return float("nan")
    (ta, sa), (tb, sb) = late[0], late[-1]
    return (sb - sa) / (tb - ta)


def gui_classify_rate(app, page, ds, hidden, seconds) -> float:
    section = page.show_section("classify")
    section.params.set_values({"dataset": ds.name, "hidden": list(hidden), "device": "cpu"})
    return page_rate(app, section, seconds) * section.params.value("batch_size")


def regression_rates(app, page, seconds) -> dict[str, float]:
    """Steps/s of the Figure 15 regression: headless, and live on the page with the child
    process runner (the page's choice) and with the thread runner."""
    from engine.bbb import RegressionConfig, RegressionExperiment
    from vigui.run.process import ProcessRunner
    from vigui.run.worker import ExperimentRunner

    exp = RegressionExperiment(RegressionConfig(device="cpu", threads=1), seed=0)
    exp.step()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds:
        exp.step()
        n += 1
    out = {"headless": n / (time.perf_counter() - t0)}
    section = page.show_section("regression")
    for name, cls in (("page, child process", ProcessRunner), ("page, thread", ExperimentRunner)):
        section.run.runner_class = cls
        out[name] = page_rate(app, section, seconds)
    section.run.runner_class = ProcessRunner
    return out


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
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per live-page measurement")
    args = ap.parse_args(argv)
    os.environ.setdefault("XDG_CONFIG_HOME", "/tmp/vigui-bench-config")  # no user settings touched
    torch.set_num_threads(1)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    ds = load()
    print(f"data: {ds.name} ({len(ds.train_x)} train images), net {ds.shape[0] * ds.shape[1]}-"
          f"{'-'.join(map(str, hidden))}-{len(ds.classes)}, batch 128, 1 torch thread")
    rates: dict[str, list[float]] = {"plain": [], **{k: [] for k in VARIANTS}}
    app = page = None
    if args.gui:
        app, page = _page()
        if page is None:
            print("gui: the BBB page cannot be built here; skipped")
        else:
            rates["both, live page"] = []
    for _ in range(args.repeats):  # alternate, so drift on a shared machine hits all alike
        rates["plain"].append(plain_rate(ds, hidden, args.steps))
        for name, kw in VARIANTS.items():
            rates[name].append(exp_rate(ds, hidden, args.steps, **kw))
        if page is not None:
            rates["both, live page"].append(gui_classify_rate(app, page, ds, hidden, args.seconds))
    base = statistics.median(rates["plain"])
    print(f"{'variant':18s} {'samples/s':>10s} {'ratio':>7s}")
    for name, r in rates.items():
        m = statistics.median(r)
        print(f"{name:18s} {m:10.0f} {m / base:7.3f}")

    if page is not None:
        reg = regression_rates(app, page, args.seconds)
        print("regression (Figure 15, 1-64-64-1, batch 50), steps/s:")
        for name, r in reg.items():
            print(f"  {name:22s} {r:8.0f}  {r / reg['headless']:6.3f}")
        page.close_page()

    # What local reparameterization buys: gradient variance at the same weights.
    exp = experiment(ds, hidden)
    x, y = exp.train_x[:128], exp.train_y[:128]
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
