"""Music VAE training speed: a plain PyTorch loop vs vigui's trainer, GRU vs MLP, and the
corpus parse (cold vs cached), side by side in one process.

1. plain    — a minimal PyTorch loop of the same MelodyVAE (same batch, same loss with
              free bits, Adam), indexing the same token tensor;
2. headless — MusicVAEExperiment.step() in a loop (shuffles, NaN guard, metrics, test
              evaluations every eval_every steps).

Prints phrases/s (median over alternating repeats) and the ratio headless / plain for
model=gru and model=mlp, prior samples decoded per second greedily and at temperature 1
(the samples view; the ratio sampled / greedy), and the seconds to read the corpus:
parsed with music21 into an empty cache (``--cold``, about a minute and a half for the
408 chorales on an idle machine) and from the cache.
Run: python bench/musicvae.py [--steps 60] [--repeats 3] [--threads 1] [--cold]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

from engine.musicvae import data as music
from engine.musicvae.model import MusicVAEConfig, MusicVAEExperiment, kl_to_prior


def plain_loop(exp: MusicVAEExperiment, steps: int) -> float:
    """Phrases per second of a bare loop over the experiment's own model and data."""
    model, x_all = exp.model, exp.train_x.long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    bs, fb = exp.config.batch_size, exp.config.free_bits
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, x_all.shape[0], (bs,), generator=g)
        x = x_all[idx]
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
        loss = (model.neg_log_lik(z, x) + torch.clamp(kl_to_prior(mu, logvar) - fb, min=0)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * bs / (time.perf_counter() - t0)


def headless(exp: MusicVAEExperiment, steps: int) -> float:
    n0, t0 = exp.samples_seen, time.perf_counter()
    for _ in range(steps):
        exp.step()
    return (exp.samples_seen - n0) / (time.perf_counter() - t0)


def decode_rate(exp: MusicVAEExperiment, temperature: float, n: int = 256) -> float:
    """Prior samples decoded per second (one batch of n)."""
    t0 = time.perf_counter()
    exp.prior_samples(n, temperature=temperature, seed=0)
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="also time a cold parse (minutes)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            old = os.environ.get("XDG_CACHE_HOME")
            os.environ["XDG_CACHE_HOME"] = tmp
            t0 = time.perf_counter()
            music.load_melodies("bach")
            cold = time.perf_counter() - t0
            if old is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = old
        print(f"corpus, cold parse (music21, the 408 files of music21's bach folder): {cold:.1f} s")
    t0 = time.perf_counter()
    melodies = music.load_melodies("bach")
    print(f"corpus, from the cache: {time.perf_counter() - t0:.2f} s "
          f"({len(melodies.train_x):,} training phrases, {len(melodies.test_x)} test; "
          f"{melodies.source})")

    for model in ("gru", "mlp"):
        cfg = MusicVAEConfig(model=model, threads=args.threads, device="cpu")
        plain, mine = [], []
        for _ in range(args.repeats):
            exp = MusicVAEExperiment(cfg, seed=0, dataset=melodies)
            plain.append(plain_loop(exp, args.steps))
            exp = MusicVAEExperiment(cfg, seed=0, dataset=melodies)
            mine.append(headless(exp, args.steps))
        p, m = statistics.median(plain), statistics.median(mine)
        print(f"{model}: plain {p:,.0f} phrases/s, headless {m:,.0f} phrases/s, "
              f"ratio {m / p:.2f}")
        greedy, warm = [], []
        for _ in range(args.repeats):
            greedy.append(decode_rate(exp, 0.0))
            warm.append(decode_rate(exp, 1.0))
        g, w = statistics.median(greedy), statistics.median(warm)
        print(f"{model}: prior samples greedy {g:,.0f}/s, at temperature 1 {w:,.0f}/s, "
              f"ratio {w / g:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
