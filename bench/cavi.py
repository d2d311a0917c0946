"""Seconds per CAVI sweep at N = 1,000,000, K = 10, 1-D: vigui's engine vs plain numpy.

The plain version is the textbook implementation of the same three updates plus the
ELBO evaluated term by term, as one would first write it. Both start from the same
means and must reach the same ELBO; the ratio is printed. Run: python bench/cavi.py
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from engine.cavi.model import CAVI, elbo_direct, sample_mixture


def plain_numpy_sweep(x, m, s2, sigma2):
    """One CAVI sweep written plainly in numpy (x: (N,1), m: (K,1)); returns phi, m, s2, ELBO."""
    logits = x @ m.T - 0.5 * (np.sum(m**2, 1) + s2)[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    phi = np.exp(logits)
    phi /= phi.sum(axis=1, keepdims=True)
    nk = phi.sum(0)
    m = (phi.T @ x) / (1.0 / sigma2 + nk)[:, None]
    s2 = 1.0 / (1.0 / sigma2 + nk)
    return phi, m, s2, elbo_direct(x, phi, m, s2, sigma2)


def time_sweeps(fn, sweeps):
    times = []
    for _ in range(sweeps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--sweeps", type=int, default=7)
    args = ap.parse_args(argv)

    x, _, _ = sample_mixture(args.n, args.k, sigma2=10.0, dim=1, seed=0)
    sigma2 = 10.0
    m0 = x[np.random.default_rng(0).choice(args.n, args.k, replace=False)]
    s20 = np.ones(args.k)

    state = {"m": m0.copy(), "s2": s20.copy()}

    def plain():
        _, state["m"], state["s2"], state["elbo"] = plain_numpy_sweep(x, state["m"], state["s2"], sigma2)

    ours = CAVI(x, args.k, sigma2, m=m0.copy(), s2=s20.copy())
    results = {}
    for name, fn in (("plain numpy", plain), ("vigui CAVI", ours.step)):
        fn()  # warm-up (allocations, thread pools)
        results[name] = time_sweeps(fn, args.sweeps)

    # Same trajectory: both did 1 + sweeps sweeps from the same start.
    gap = abs(state["elbo"] - ours.elbo()) / abs(ours.elbo())
    print(f"N = {args.n:,}, K = {args.k}, 1-D, median of {args.sweeps} sweeps")
    for name, sec in results.items():
        print(f"  {name:12s} {sec * 1e3:8.1f} ms/sweep")
    ratio = results["vigui CAVI"] / results["plain numpy"]
    print(f"  ratio vigui/plain = {ratio:.2f}  (aim <= 0.5); ELBO agreement {gap:.1e} relative")
    assert math.isfinite(ratio)
    return ratio


if __name__ == "__main__":
    main()
