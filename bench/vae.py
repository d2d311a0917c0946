"""VAE training speed and quality: a plain PyTorch loop vs vigui's trainer, side by side.

Runs in one process on the same data (Fashion-MNIST from Debian's dataset-fashion-mnist,
else digits), the reference model of PyTorch's examples/vae (784-400-20, BCE summed,
Adam 1e-3, batch 128):

1. plain   — a minimal PyTorch loop of that model (tensor indexing, no DataLoader);
2. headless — vigui's VAEExperiment stepped in a loop;
3. GUI     — the same experiment driven by a GUI runner, with the real VAE page's views
             redrawn from its snapshots (offscreen Qt), heavy views (latent scatter of
             10,000 test points) included: the thread runner (ExperimentRunner, the
             page's thread count) and the process runner (ProcessRunner, a spawned
             child, 1 and 2 torch threads); also frames drawn per second and the worst
             stall of a 20 ms GUI timer, so the variants draw comparably.

Prints samples/s and the ratios to the plain loop (median over alternating repeats),
then, with --epochs N (default 10), trains plain and headless for N epochs each and
compares the test negative ELBO (nats per image, same evaluation for both).
Run: python bench/vae.py [--speed-steps 469] [--repeats 3] [--epochs 10] [--no-gui]
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
from torch import nn  # noqa: E402

from engine.data import datasets as data  # noqa: E402
from engine.vae.model import VAEConfig, VAEExperiment  # noqa: E402


class PlainVAE(nn.Module):
    """PyTorch examples/vae, verbatim in structure."""

    def __init__(self, n_in=784, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, n_in)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def plain_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


class PlainTrainer:
    def __init__(self, train_x: torch.Tensor, seed=0, batch=128):
        torch.manual_seed(seed)
        self.model = PlainVAE(train_x.shape[1])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x, self.batch = train_x, batch
        self.perm, self.pos, self.epoch = torch.randperm(len(train_x)), 0, 0

    def step(self):
        if self.pos >= len(self.x):
            self.perm, self.pos, self.epoch = torch.randperm(len(self.x)), 0, self.epoch + 1
        xb = self.x[self.perm[self.pos:self.pos + self.batch]]
        self.pos += self.batch
        self.opt.zero_grad()
        recon, mu, logvar = self.model(xb)
        loss = plain_loss(recon, xb, mu, logvar)
        loss.backward()
        self.opt.step()
        return loss.item() / len(xb)


@torch.no_grad()
def test_neg_elbo(encode, decode_probs, test_x: torch.Tensor, seed=123) -> float:
    """One-sample negative ELBO per image in nats, fixed noise: the same ruler for both."""
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for i in range(0, len(test_x), 1000):
        x = test_x[i:i + 1000]
        mu, logvar = encode(x)
        z = mu + torch.randn(mu.shape, generator=g) * torch.exp(0.5 * logvar)
        p = decode_probs(z).clamp(1e-7, 1 - 1e-7)
        bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum()
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        total += float(bce + kld)
    return total / len(test_x)


def ours_config(dataset: str) -> VAEConfig:
    return VAEConfig(dataset=dataset, latent=20, hidden=(400,), lr=1e-3, batch_size=128)


def time_plain(train_x, steps):
    trainer = PlainTrainer(train_x)
    trainer.step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return steps * 128 / (time.perf_counter() - t0)


def time_headless(ds, steps):
    exp = VAEExperiment(ours_config(ds.name), seed=0, dataset=ds)
    exp.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        exp.step()
    return steps * 128 / (time.perf_counter() - t0)


def time_gui(ds, steps, app, runner="thread", threads=None):
    """Our trainer driven by a GUI runner, the real VAE page drawing every snapshot it gets.

    runner: "thread" (ExperimentRunner, a Python thread of this process) or "process"
    (ProcessRunner, a spawned child process that loads the dataset itself). threads:
    torch threads of the trainer (default: the page's choice). Timed between two
    progress events, as the GUI sees them: from the first step after play (the warm-up
    step) to the first report at or past ``steps`` more.
    """
    from dataclasses import replace
    from functools import partial

    from engine.core.runtime import default_threads
    from vigui.pages.vae import VAEPage
    from vigui.run.events import wait
    from vigui.run.process import ProcessRunner
    from vigui.run.worker import ExperimentRunner

    page = VAEPage()
    page.resize(1280, 800)
    page.show()
    threads_before = torch.get_num_threads()
    config = replace(ours_config(ds.name), threads=threads or default_threads("thread"))
    if runner == "process":
        gui = ProcessRunner(partial(VAEExperiment, config, seed=0),
                            max_fps=VAEPage.max_fps, view_budget=VAEPage.view_budget)
    else:
        gui = ExperimentRunner(lambda: VAEExperiment(config, seed=0, dataset=ds),
                               max_fps=VAEPage.max_fps, view_budget=VAEPage.view_budget)
    gui.snapshot_ready.connect(page.render)
    drawn = []
    gui.snapshot_ready.connect(lambda _: drawn.append(time.perf_counter()))
    # GUI responsiveness: how late a 20 ms timer fires (the worst gap between ticks).
    from PySide6.QtCore import QTimer
    ticks = []
    probe = QTimer()
    probe.setInterval(20)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    marks = []
    gui.progress.connect(lambda n, rate: marks.append((time.perf_counter(), n)))
    ready = []
    gui.ready.connect(ready.append)
    t_start = time.perf_counter()
    while not ready:
        wait(10)
    startup = time.perf_counter() - t_start
    gui.play()
    probe.start()
    while not marks or marks[-1][1] < 1 + steps:
        wait(5)
    first = next(m for m in marks if m[1] >= 1)
    last = marks[-1]
    elapsed = last[0] - first[0]
    speed = (last[1] - first[1]) * 128 / elapsed
    view_seconds = gui.view_seconds
    probe.stop()
    fps = sum(first[0] <= t <= last[0] for t in drawn) / elapsed
    inside = [t for t in ticks if first[0] <= t <= last[0]]
    worst_gap = max((b - a for a, b in zip(inside, inside[1:], strict=False)), default=0.0)
    gui.close()
    torch.set_num_threads(threads_before)
    page.close_page()
    page.close()
    page.deleteLater()
    return speed, view_seconds / elapsed, startup, fps, worst_gap


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed-steps", type=int, default=469, help="steps per speed measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10, help="quality comparison epochs (0: skip)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-gui", action="store_true",
                    help="plain vs headless only (no Qt, no runners)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    name = "fashion-mnist" if data.available().get("fashion-mnist") else "digits"
    ds = data.load(name)
    train_x = torch.from_numpy(ds.train_x.reshape(len(ds.train_x), -1).copy())  # writable
    test_x = torch.from_numpy(ds.test_x.reshape(len(ds.test_x), -1).copy())
    print(f"dataset {name}: {len(train_x):,} train / {len(test_x):,} test, "
          f"{train_x.shape[1]} pixels; torch {torch.__version__}, {torch.get_num_threads()} threads")

    variants, app = [], None
    if not args.no_gui:
        from PySide6.QtWidgets import QApplication
        app = QApplication.instance() or QApplication(sys.argv[:1])
        from engine.core.runtime import default_threads

        n_threads = default_threads("thread")
        variants = [("thread", n_threads), ("process", n_threads)]
        for t in sorted({1, 2, max(1, (os.cpu_count() or 1) - 1)} - {n_threads}):
            variants.append(("process", t))
    speeds = {"plain": [], "headless": []}
    speeds.update({f"GUI {kind} {t} thr": [] for kind, t in variants})
    shares = {key: [] for key in speeds}
    startups = {key: [] for key in speeds}
    fpss = {key: [] for key in speeds}
    gaps = {key: [] for key in speeds}
    for _r in range(args.repeats):
        speeds["plain"].append(time_plain(train_x, args.speed_steps))
        speeds["headless"].append(time_headless(ds, args.speed_steps))
        for kind, t in variants:
            speed, share, startup, fps, gap = time_gui(ds, args.speed_steps, app, kind, t)
            key = f"GUI {kind} {t} thr"
            speeds[key].append(speed)
            shares[key].append(share)
            startups[key].append(startup)
            fpss[key].append(fps)
            gaps[key].append(gap)
    base = statistics.median(speeds["plain"])
    print(f"\nspeed, 784-400-20, batch 128, median of {args.repeats} x {args.speed_steps} steps:")
    for key, values in speeds.items():
        med = statistics.median(values)
        extra = ""
        if startups[key]:
            extra = (f"   views {100 * statistics.median(shares[key]):.1f}% of the trainer's time,"
                     f" start {statistics.median(startups[key]):.1f} s,"
                     f" {statistics.median(fpss[key]):.1f} frames/s drawn,"
                     f" worst GUI stall {1000 * statistics.median(gaps[key]):.0f} ms")
        print(f"  {key:20s} {med:9,.0f} samples/s   ratio to plain {med / base:5.2f}"
              f"   (runs: {', '.join(f'{v:,.0f}' for v in values)}){extra}")

    if args.epochs:
        steps = args.epochs * -(-len(train_x) // 128)
        plain = PlainTrainer(train_x, seed=0)
        for _ in range(steps):
            plain.step()
        plain_loss_ = test_neg_elbo(plain.model.encode, plain.model.decode, test_x)
        exp = VAEExperiment(ours_config(name), seed=0, dataset=ds)
        for _ in range(steps):
            exp.step()
        model = exp.model.eval()
        ours_loss = test_neg_elbo(model.encode, lambda z: torch.sigmoid(model.decode(z)), test_x)
        print(f"\nquality after {args.epochs} epochs ({steps} steps), test -ELBO nats/image:")
        print(f"  plain    {plain_loss_:8.2f}")
        print(f"  vigui    {ours_loss:8.2f}   ({100 * (ours_loss / plain_loss_ - 1):+.2f}% vs plain)")


if __name__ == "__main__":
    main()
