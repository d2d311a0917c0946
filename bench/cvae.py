"""CVAE training speed: a plain PyTorch loop vs vigui's trainer, headless and live, side by side.

In one process, on the same data (Fashion-MNIST from Debian's dataset-fashion-mnist,
else digits), the same networks (Pyro's sizes: 500-500 hidden units, z = 200, batch 128,
Adam 1e-3, one quadrant observed, the generation net adding to the frozen baseline's
logits), timing the CVAE phase (the baseline frozen):

1. plain    — a minimal PyTorch loop of those networks (tensor indexing, no DataLoader);
2. headless — vigui's CVAEExperiment (its CVAETrainer) stepped in a loop;
3. live     — the same experiment in the CVAE page's child process (ProcessRunner), the
              real page drawing every snapshot it gets (offscreen Qt): loss curves and the
              Figure 14 strip.

Prints samples/s and the ratios to the plain loop (median over alternating repeats), and
the canvas latency: from a stroke on the page's drawing canvas to the refreshed
completions (8 samples) drawn, through the child process, median and worst of 30 strokes;
also the bare engine call (``complete``) for comparison.
Every variant uses the same number of torch threads (the page's child process's: cores
- 1, at least 1). Run: python bench/cvae.py [--steps 60] [--repeats 5] [--no-live]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from engine.cvae import CVAEConfig, CVAEExperiment  # noqa: E402
from engine.cvae.tasks import task_mask  # noqa: E402
from engine.data import datasets as data  # noqa: E402

BATCH = 128


def mlp(*sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class PlainCVAE(nn.Module):
    """The same networks, written the plain way."""

    def __init__(self, d, hidden=500, latent=200):
        super().__init__()
        self.baseline = mlp(d, hidden, hidden, d)
        self.prior = mlp(d, hidden, hidden, 2 * latent)
        self.recog = mlp(d, hidden, hidden, 2 * latent)
        self.gen = mlp(latent, hidden, hidden, d)


class PlainTrainer:
    def __init__(self, train_x: torch.Tensor, observed: torch.Tensor, seed=0):
        torch.manual_seed(seed)
        self.model = PlainCVAE(train_x.shape[1])
        m = self.model
        self.opt = torch.optim.Adam([*m.prior.parameters(), *m.recog.parameters(),
                                     *m.gen.parameters()], lr=1e-3)
        self.x, self.obs = train_x, observed
        self.perm, self.pos = torch.randperm(len(train_x)), 0

    def step(self):
        if self.pos >= len(self.x):
            self.perm, self.pos = torch.randperm(len(self.x)), 0
        x = self.x[self.perm[self.pos:self.pos + BATCH]]
        self.pos += BATCH
        m, obs = self.model, self.obs
        with torch.no_grad():
            base = m.baseline(x * obs - (1 - obs))
            filled = x * obs + torch.sigmoid(base) * (1 - obs)
        mu_p, lv_p = m.prior(filled).chunk(2, -1)
        mu_q, lv_q = m.recog(x).chunk(2, -1)
        z = mu_q + torch.exp(0.5 * lv_q) * torch.randn_like(mu_q)
        logits = base + m.gen(z)
        recon = (F.binary_cross_entropy_with_logits(logits, x, reduction="none") * (1 - obs)).sum(-1)
        kl = 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p) ** 2) / lv_p.exp() - 1).sum(-1)
        loss = (recon + kl).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()


def config(name: str, threads=None) -> CVAEConfig:
    # Pyro's z = 200 and no free bits: the plain loop's networks and loss, not the defaults.
    return CVAEConfig(dataset=name, task="q1", latent=200, free_bits=0.0, device="cpu",
                      threads=threads)


def cvae_phase(ds, threads=None) -> CVAEExperiment:
    """Our experiment in its CVAE phase; ``ds`` a Dataset, or its name (a child process
    loads it itself rather than receive it through the pipe)."""
    if isinstance(ds, str):
        ds = data.load(ds)
    exp = CVAEExperiment(config(ds.name, threads), seed=0, dataset=ds)
    exp.phase = "cvae"  # speed only: skip the baseline's training, time the CVAE's steps
    return exp


def time_plain(train_x, observed, steps):
    trainer = PlainTrainer(train_x, observed)
    trainer.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return steps * BATCH / (time.perf_counter() - t0)


def time_headless(ds, steps):
    exp = cvae_phase(ds)
    exp.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        exp.step()
    return steps * BATCH / (time.perf_counter() - t0)


def make_page(ds, app):
    from vigui.pages.cvae import CVAEPage

    page = CVAEPage()
    page.resize(1280, 800)
    page.show()
    return page


def time_live(ds, steps, app, threads):
    """The page's own runner (a child process) with the page drawing; timed between two
    progress reports as the GUI sees them, from the first CVAE step on."""
    from functools import partial

    from vigui.pages.cvae import CVAEPage
    from vigui.run.events import wait
    from vigui.run.process import ProcessRunner

    page = make_page(ds, app)
    gui = ProcessRunner(partial(cvae_phase, ds.name, threads),
                        max_fps=CVAEPage.max_fps, view_budget=CVAEPage.view_budget)
    gui.snapshot_ready.connect(page.render)
    marks, ready = [], []
    gui.progress.connect(lambda n, rate: marks.append((time.perf_counter(), n)))
    gui.ready.connect(ready.append)
    while not ready:
        wait(10)
    gui.play()
    while not marks or marks[-1][1] < 1 + steps:
        wait(5)
    first = next(m for m in marks if m[1] >= 1)
    last = marks[-1]
    speed = (last[1] - first[1]) * BATCH / (last[0] - first[0])
    gui.close()
    page.close_page()
    page.close()
    page.deleteLater()
    return speed


def canvas_latency(ds, app, strokes=30):
    """Stroke on the page's canvas -> completions redrawn, through the child process."""
    from vigui.run.events import wait

    page = make_page(ds, app)
    page.restore_settings({"dataset": ds.name, "task": "q1", "device": "cpu"})
    page.activate()  # builds the page's own run (paused): the model in its child process
    while not page.drawing_ready():
        wait(10)
    times = []
    h, w = ds.shape
    rng = np.random.default_rng(0)
    for i in range(strokes):
        before = page.completions_version
        t0 = time.perf_counter()
        r, c = int(rng.integers(h // 2, h)), int(rng.integers(0, w // 2))
        page.canvas.stroke_at(r, c, paint=bool(i % 2))
        while page.completions_version == before:
            wait(1)
        times.append(time.perf_counter() - t0)
    page.close_page()
    page.close()
    page.deleteLater()
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="steps per speed measurement")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of every variant (default: the page's child process's)")
    ap.add_argument("--no-live", action="store_true", help="skip the page measurements")
    args = ap.parse_args(argv)
    from engine.core.runtime import default_threads
    threads = args.threads or default_threads("process")
    torch.set_num_threads(threads)  # the same for all: the page's child uses this many
    name = "fashion-mnist" if data.available().get("fashion-mnist") else "digits"
    ds = data.load(name)
    train_x = torch.from_numpy(ds.train_x.reshape(len(ds.train_x), -1).copy())
    observed = torch.from_numpy(task_mask("q1", ds.shape).ravel().astype(np.float32))
    print(f"dataset {name}: {len(train_x):,} train images, {train_x.shape[1]} pixels; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads in this process")

    app = None
    if not args.no_live:
        from PySide6.QtWidgets import QApplication
        app = QApplication.instance() or QApplication(sys.argv[:1])
    speeds = {"plain": [], "headless": []}
    if app is not None:
        speeds["live page (child process)"] = []
    for _ in range(args.repeats):
        speeds["plain"].append(time_plain(train_x, observed, args.steps))
        speeds["headless"].append(time_headless(ds, args.steps))
        if app is not None:
            speeds["live page (child process)"].append(time_live(ds, args.steps, app, threads))
    base = statistics.median(speeds["plain"])
    print(f"\nCVAE phase speed, 500-500 / z 200, batch {BATCH}, {threads} torch thread(s), "
          f"median of {args.repeats} x {args.steps} steps:")
    for key, values in speeds.items():
        med = statistics.median(values)
        ratios = [v / p for v, p in zip(values, speeds["plain"], strict=False)]
        print(f"  {key:27s} {med:8,.0f} samples/s   ratio to plain {med / base:5.2f}"
              f" (median of paired ratios {statistics.median(ratios):4.2f})"
              f"   (runs: {', '.join(f'{v:,.0f}' for v in values)})", flush=True)

    exp = CVAEExperiment(config(name), seed=0, dataset=ds)
    img = ds.test_x[0]
    exp.complete(img, 8)
    calls = []
    for i in range(30):
        t0 = time.perf_counter()
        exp.complete(img, 8, seed=i)
        calls.append(time.perf_counter() - t0)
    print(f"\nengine complete(image, 8 samples): median {1000 * statistics.median(calls):.1f} ms",
          flush=True)
    if app is not None:
        lat = canvas_latency(ds, app)
        print(f"canvas stroke -> 8 completions drawn (page, child process): median "
              f"{1000 * statistics.median(lat):.1f} ms, worst {1000 * max(lat):.1f} ms "
              f"over {len(lat)} strokes", flush=True)


if __name__ == "__main__":
    main()
