"""Chapter 2 numbers in one run: estimator variances and BBVI steps per second.

1. Total variance (trace of the covariance) of the S-sample ELBO-gradient estimates at
   S = 1 and S = 100 on the conjugate Gaussian model and on 1-D Bayesian logistic
   regression (n = 20 each), at q = the prior N(0, 1) and at q near the posterior;
   ratios score function / reparameterization, with and without the control variate
   (baseline = running mean of f(z) − log q(z) over 1000 earlier draws).
2. BBVI steps/s per family (banana target, S = 64, reverse KL, one torch thread),
   and our full-covariance step against a plain torch.distributions loop side by side.

Run: python bench/vi.py [--reps 4000] [--steps 300]
"""
from __future__ import annotations

import argparse
import math
import time


def variance_report(reps: int) -> None:
    from engine.vi.estimators import variance_table
    from engine.vi.models import make_model

    print("Variance of ∇(m, log s) ELBO estimates (trace), ratios to reparameterization")
    print(f"{'model':<10} {'q':<10} {'S':>4} {'reparam':>11} {'score':>11} {'score+cv':>11}"
          f" {'score/rep':>10} {'cv/rep':>8} {'score/cv':>9}")
    for kind in ("gaussian", "logistic"):
        model = make_model(kind, 20, 1.0, 1.0, seed=0)
        post_sd = getattr(model, "post_sd", 0.4)
        for label, (m, log_s) in (("prior", (0.0, 0.0)),
                                  ("posterior", (model.post_mean, math.log(post_sd)))):
            table = variance_table(model, m, log_s, sizes=(1, 100), reps=reps, seed=0)
            for i, size in enumerate((1, 100)):
                r, s, c = table["reparam"][i], table["score"][i], table["score_cv"][i]
                print(f"{kind:<10} {label:<10} {size:>4} {r:>11.4g} {s:>11.4g} {c:>11.4g}"
                      f" {s / r:>10.3g} {c / r:>8.3g} {s / c:>9.3g}")


def plain_fullcov_steps(steps: int, samples: int) -> float:
    """The textbook loop: MultivariateNormal(scale_tril) rsample + log_prob, Adam."""
    import torch

    from engine.vi.bbvi import make_target

    target = make_target("banana")
    mu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    raw = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([mu, raw], lr=0.02)
    t0 = time.perf_counter()
    for _ in range(steps):
        tril = torch.stack([torch.stack([raw[0].exp(), torch.zeros((), dtype=torch.float64)]),
                            torch.stack([raw[1], raw[2].exp()])])
        q = torch.distributions.MultivariateNormal(mu, scale_tril=tril)
        z = q.rsample((samples,))
        loss = -(target.log_prob(z) - q.log_prob(z)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def bbvi_report(steps: int, device: str) -> None:
    import torch

    from engine.vi.bbvi import FAMILIES, BBVIConfig, BBVIExperiment

    torch.set_num_threads(1)
    print(f"\nBBVI steps/s (banana, S = 64, {steps} steps, 1 torch thread, device {device})")
    rates = {}
    for divergence in ("reverse", "forward"):
        for family in FAMILIES:
            exp = BBVIExperiment(BBVIConfig(target="banana", family=family, divergence=divergence,
                                            max_steps=steps, device=device), seed=0)
            exp.step()  # warm-up
            t0 = time.perf_counter()
            while not exp.done:
                exp.step()
            rate = (exp.steps - 1) / (time.perf_counter() - t0)
            rates[(divergence, family)] = rate
            print(f"  {divergence:<8} {family:<10} {rate:8.0f} steps/s   "
                  f"final ELBO {exp.evaluate()['elbo']:+.3f}")
    plain = plain_fullcov_steps(steps, 64)
    ours = rates[("reverse", "fullcov")]
    print(f"  plain torch.distributions full-cov loop {plain:8.0f} steps/s; "
          f"ours / plain = {ours / plain:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu", help="auto | cpu | cuda")
    args = ap.parse_args()
    from engine.core.runtime import resolve_device

    variance_report(args.reps)
    bbvi_report(args.steps, resolve_device(args.device))


if __name__ == "__main__":
    main()
