"""vigui's Bayes by Backprop and black-box VI against public peers, side by side.

One process, one torch thread, the same data, epochs and steps on both sides, runs
alternating (ours, then each peer, per seed) so drift on a shared machine hits all alike:

1. BBB classifier (digits by default, 64-400-400-10, batch 128, Adam 1e-3, scale-mixture
   prior pi 0.5, sigma1 e^0, sigma2 e^-6, KL weighted 1/N per image): ours
   (``ClassificationExperiment``, BBB net only) vs blitz (``BayesianLinear`` with the same
   prior, ``sample_elbo``) vs bayesian-torch (``LinearReparameterization``, its Gaussian
   prior N(0, 1), closed-form KL); a plain MLP of the same shape as the reference.
   Test error of the 10-sample predictive mean, training samples/s.
2. BBB regression toy (Figure 15: 200 points, 1-64-64-1, batch 50, Adam 1e-2, 2,000
   steps, Gaussian likelihood sigma 0.05): ours vs blitz with the same recipe. RMSE of the
   predictive median to the noiseless curve, and the 5-95 % band inside the data and at
   x = 1.1, each from enough draws that its standard error is under 2 % (printed).
3. Black-box VI on the banana (3,000 steps, 64 samples per step, Adam 0.02 decayed to
   0.0002): ours (mean-field, full-covariance, flow) vs Pyro's AutoNormal,
   AutoMultivariateNormal and AutoIAFNormal (6 transforms of [32, 32]) with
   ``Trace_ELBO``; the ELBO (log Z = 0, so -ELBO is KL(q||p)) on 20,000 fresh samples.

Pyro's CVAE example is not part of the pyro wheel and is not reproduced here; the CVAE
comparison lives in bench/cvae.py's notes (ANCHORS.md). A peer that is not installed is
skipped with a one-line note. Install them without touching torch:
``pip install --no-deps blitz-bayesian-pytorch bayesian-torch pyro-ppl pyro-api opt_einsum tqdm``
(the ``peers`` extra in pyproject.toml lists them).

Run: python bench/peers.py [--seeds 2] [--epochs 100] [--steps 2000] [--vi-steps 3000]
     [--only bbb,regression,vi] [--dataset digits] [--vi-families meanfield,fullcov,flow]
"""
from __future__ import annotations

import argparse
import importlib
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bbb import (
    ClassificationExperiment,
    ClassifyConfig,
    PlainMLP,
    RegressionConfig,
    RegressionExperiment,
)
from engine.bbb.bands import band_with_error
from engine.bbb.layers import gaussian_nll
from engine.bbb.regression import true_curve
from engine.data import datasets as data

PI, LOG_S1, LOG_S2 = 0.5, 0.0, -6.0
EVAL_DRAWS = 10  # predictive samples per test prediction, ours and peers alike


def have(module: str) -> bool:
    """Whether a peer imports; if not, one line saying its rows are skipped."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        print(f"  ({module} is not installed or does not import ({exc}): its rows are skipped)")
        return False
    return True


def _adam(params, lr):
    return torch.optim.Adam(list(params), lr=lr)


# -- 1. classifier -------------------------------------------------------------------------------
def ours_classifier(ds, hidden, epochs, seed):
    cfg = ClassifyConfig(dataset=ds.name, hidden=hidden, device="cpu", epochs=epochs, train_plain=False,
                         eval_every=10**9, pred_samples=EVAL_DRAWS)
    exp = ClassificationExperiment(cfg, seed=seed, dataset=ds)
    t0 = time.perf_counter()
    while not exp.done:
        exp.step()
    rate = exp.samples_seen / (time.perf_counter() - t0)
    return rate, exp.evaluate()["test_error"], exp


def _peer_loop(model, loss_fn, x, y, epochs, seed, batch=128, lr=1e-3):
    """Adam over shuffled minibatches; returns samples/s."""
    opt = _adam(model.parameters(), lr)
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss = loss_fn(model, x[idx], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()  # ours syncs once per step too
    return epochs * n / (time.perf_counter() - t0)


def _error(probs, y):
    return 100.0 * float((probs.argmax(-1) != y).float().mean())


def blitz_classifier(exp, hidden, epochs, seed):
    from blitz.modules import BayesianLinear
    from blitz.utils import variational_estimator

    torch.manual_seed(seed)

    @variational_estimator
    class Net(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            prior = dict(prior_pi=PI, prior_sigma_1=math.exp(LOG_S1), prior_sigma_2=math.exp(LOG_S2))
            self.layers = nn.ModuleList(BayesianLinear(a, b, **prior)
                                        for a, b in zip(sizes[:-1], sizes[1:], strict=True))

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < len(self.layers) - 1:
                    x = torch.relu(x)
            return x

    net = Net([exp.n_in, *hidden, exp.n_classes])
    n = exp.n_train
    loss = lambda m, x, y: m.sample_elbo(x, y, F.cross_entropy, 1, 1.0 / n)  # noqa: E731
    rate = _peer_loop(net, loss, exp.train_x, exp.train_y, epochs, seed)
    with torch.no_grad():
        probs = torch.stack([torch.softmax(net(exp.test_x), -1) for _ in range(EVAL_DRAWS)]).mean(0)
    return rate, _error(probs, exp.test_y)


def bayesian_torch_classifier(exp, hidden, epochs, seed):
    from bayesian_torch.layers import LinearReparameterization

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.layers = nn.ModuleList(LinearReparameterization(a, b)
                                        for a, b in zip(sizes[:-1], sizes[1:], strict=True))

        def forward(self, x):
            kl = 0.0
            for i, layer in enumerate(self.layers):
                x, k = layer(x)
                kl = kl + k
                if i < len(self.layers) - 1:
                    x = torch.relu(x)
            return x, kl

    net = Net([exp.n_in, *hidden, exp.n_classes])
    n = exp.n_train

    def loss(m, x, y):
        out, kl = m(x)
        return F.cross_entropy(out, y) + kl / n

    rate = _peer_loop(net, loss, exp.train_x, exp.train_y, epochs, seed)
    with torch.no_grad():
        probs = torch.stack([torch.softmax(net(exp.test_x)[0], -1) for _ in range(EVAL_DRAWS)]).mean(0)
    return rate, _error(probs, exp.test_y)


def plain_classifier(exp, hidden, epochs, seed):
    net = PlainMLP([exp.n_in, *hidden, exp.n_classes], seed=seed)
    rate = _peer_loop(net, lambda m, x, y: F.cross_entropy(m(x), y), exp.train_x, exp.train_y, epochs, seed)
    with torch.no_grad():
        return rate, _error(net(exp.test_x), exp.test_y)


def bench_classifier(args, seeds):
    ds = data.load(args.dataset)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    print(f"\n1. BBB classifier: {ds.name}, {ds.shape[0] * ds.shape[1]}-{'-'.join(map(str, hidden))}-"
          f"{len(ds.classes)}, {args.epochs} epochs, batch 128, Adam 1e-3, {len(seeds)} seed(s)")
    peers = {"plain MLP": plain_classifier}
    if have("blitz"):
        peers["blitz"] = blitz_classifier
    if have("bayesian_torch"):
        peers["bayesian-torch"] = bayesian_torch_classifier
    rows: dict[str, list[tuple[float, float]]] = {"ours (BBB)": [], **{k: [] for k in peers}}
    for seed in seeds:
        rate, err, exp = ours_classifier(ds, hidden, args.epochs, seed)
        rows["ours (BBB)"].append((rate, err))
        for name, fn in peers.items():
            rows[name].append(fn(exp, hidden, args.epochs, seed))
    _table(rows, "ours (BBB)", ("samples/s", "test error %"))


# -- 2. regression toy ----------------------------------------------------------------------------
def _regression_summary(draw, x_data, truth):
    """RMSE of the median to the truth, and the two bands with their errors."""
    med = np.median(draw(x_data, 2000, 7), 0)
    inside = np.linspace(0.0, 0.5, 51)
    b_in = band_with_error(lambda n, s: draw(inside, n, s), seed=11)
    b_out = band_with_error(lambda n, s: draw(np.array([1.1]), n, s), seed=12)
    return float(np.sqrt(np.mean((med - truth) ** 2))), b_in, b_out


def ours_regression(steps, seed):
    exp = RegressionExperiment(RegressionConfig(device="cpu"), seed=seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        exp.step()
    rate = exp.samples_seen / (time.perf_counter() - t0)
    summary = _regression_summary(lambda x, n, s: exp.predictive(x, n, s), exp.x,
                                  true_curve("blundell", exp.x))
    return rate, summary, exp


def blitz_regression(exp, steps, seed):
    from blitz.modules import BayesianLinear
    from blitz.utils import variational_estimator

    torch.manual_seed(seed)

    @variational_estimator
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            prior = dict(prior_pi=PI, prior_sigma_1=math.exp(LOG_S1), prior_sigma_2=math.exp(LOG_S2))
            self.a, self.b, self.c = (BayesianLinear(1, 64, **prior), BayesianLinear(64, 64, **prior),
                                      BayesianLinear(64, 1, **prior))

        def forward(self, x):
            return self.c(torch.relu(self.b(torch.relu(self.a(x)))))

    net = Net()
    cfg = exp.config
    x = torch.tensor(exp.x, dtype=torch.float32)[:, None]
    y = torch.tensor(exp.y, dtype=torch.float32)[:, None]
    log_sigma = torch.tensor(math.log(cfg.noise_sigma))
    nll = lambda out, t: gaussian_nll(out, t, log_sigma) / len(t)  # noqa: E731  per point, as ours
    n, bs = len(x), cfg.batch_size
    opt = _adam(net.parameters(), cfg.lr)
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=g), 0
    t0 = time.perf_counter()
    for _ in range(steps):
        if pos >= n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + bs]
        pos += bs
        loss = net.sample_elbo(x[idx], y[idx], nll, 1, 1.0 / n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
    rate = steps * bs / (time.perf_counter() - t0)

    @torch.no_grad()
    def draw(xs, k, s):
        torch.manual_seed(s)
        xt = torch.tensor(np.asarray(xs), dtype=torch.float32).reshape(-1, 1)
        return torch.stack([net(xt)[:, 0] for _ in range(k)]).double().numpy()

    return rate, _regression_summary(draw, exp.x, true_curve("blundell", exp.x))


def bench_regression(args, seeds):
    print(f"\n2. BBB regression toy (Figure 15): 200 points, 1-64-64-1, batch 50, Adam 1e-2, "
          f"{args.steps} steps, {len(seeds)} seed(s); bands with their bootstrap SE")
    if not have("blitz"):
        return
    rows: dict[str, list] = {"ours": [], "blitz": []}
    for seed in seeds:
        rate, summary, exp = ours_regression(args.steps, seed)
        rows["ours"].append((rate, *summary))
        rate, summary = blitz_regression(exp, args.steps, seed)
        rows["blitz"].append((rate, *summary))
    print(f"  {'':8s} {'samples/s':>10s} {'RMSE truth':>11s} {'band inside':>16s} {'band at 1.1':>16s}")
    for name, r in rows.items():
        for seed, (rate, rmse, b_in, b_out) in zip(seeds, r, strict=True):
            print(f"  {name:8s} {rate:10.0f} {rmse:11.4f} {b_in[0]:9.4f}±{b_in[1]:.4f} "
                  f"{b_out[0]:9.3f}±{b_out[1]:.3f}  (seed {seed})")
    for name, r in rows.items():
        print(f"  {name:8s} mean over seeds: RMSE {statistics.mean(v[1] for v in r):.4f}, band inside "
              f"{statistics.mean(v[2][0] for v in r):.4f}, at 1.1 {statistics.mean(v[3][0] for v in r):.3f}")
    speed = statistics.median(v[0] for v in rows["ours"]) / statistics.median(v[0] for v in rows["blitz"])
    print(f"  speed ours / blitz: {speed:.2f}x")


# -- 3. black-box VI on the banana -----------------------------------------------------------------
def ours_vi(family, steps, seed):
    from engine.vi.bbvi import BBVIConfig, BBVIExperiment

    exp = BBVIExperiment(BBVIConfig(target="banana", family=family, max_steps=steps, device="cpu"), seed=seed)
    t0 = time.perf_counter()
    while not exp.done:
        exp.step()
    rate = steps * exp.config.samples / (time.perf_counter() - t0)
    ev = exp.evaluate()
    return rate, ev["elbo"]


def pyro_vi(guide_name, steps, seed, samples=64, lr=0.02):
    import pyro
    import pyro.distributions as dist
    from pyro.infer import SVI, Trace_ELBO, autoguide

    from engine.vi.bbvi import BananaTarget

    a, b = BananaTarget.a, BananaTarget.b

    def model():
        x1 = pyro.sample("x1", dist.Normal(torch.tensor(0.0, dtype=torch.float64), a))
        pyro.sample("x2", dist.Normal(b * (x1 ** 2 - a ** 2), torch.tensor(1.0, dtype=torch.float64)))

    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    if guide_name == "AutoIAFNormal":
        guide = autoguide.AutoIAFNormal(model, hidden_dim=[32, 32], num_transforms=6)
    else:
        guide = getattr(autoguide, guide_name)(model)
    optim = pyro.optim.ClippedAdam({"lr": lr, "lrd": 0.01 ** (1.0 / steps)})  # to lr/100, as ours
    svi = SVI(model, guide, optim, Trace_ELBO(num_particles=samples, vectorize_particles=True))
    t0 = time.perf_counter()
    for _ in range(steps):
        svi.step()
    rate = steps * samples / (time.perf_counter() - t0)
    with torch.no_grad():
        elbo = -Trace_ELBO(num_particles=20_000, vectorize_particles=True).loss(model, guide)
    return rate, float(elbo)


def bench_vi(args, seeds):
    print(f"\n3. Black-box VI, banana (log Z = 0): {args.vi_steps} steps, 64 samples/step, "
          f"Adam 0.02 -> 0.0002, {len(seeds)} seed(s); ELBO on 20,000 samples")
    pairs = (("meanfield", "AutoNormal"), ("fullcov", "AutoMultivariateNormal"), ("flow", "AutoIAFNormal"))
    pairs = [(ours, peer) for ours, peer in pairs if ours in args.vi_families.split(",")]
    use_pyro = have("pyro")
    torch.set_default_dtype(torch.float64)  # the banana is fitted in float64 on both sides
    try:
        for ours, peer in pairs:
            rows: dict[str, list] = {f"ours {ours}": []}
            if use_pyro:
                rows[f"pyro {peer}"] = []
            for seed in seeds:
                rows[f"ours {ours}"].append(ours_vi(ours, args.vi_steps, seed))
                if use_pyro:
                    rows[f"pyro {peer}"].append(pyro_vi(peer, args.vi_steps, seed))
            _table(rows, f"ours {ours}", ("samples/s", "ELBO"), fmt=("{:10.0f}", "{:10.4f}"))
    finally:
        torch.set_default_dtype(torch.float32)


# -- output ----------------------------------------------------------------------------------------
def _table(rows, base, names, fmt=("{:10.0f}", "{:10.2f}")):
    """Median rate and mean quality per row, the rate as a ratio to ``base``."""
    base_rate = statistics.median(v[0] for v in rows[base])
    print(f"  {'':28s} {names[0]:>10s} {'ours/peer':>9s} {names[1]:>13s}  per seed")
    for name, r in rows.items():
        rate = statistics.median(v[0] for v in r)
        q = [v[1] for v in r]
        print(f"  {name:28s} {fmt[0].format(rate)} {base_rate / rate:9.2f} "
              f"{fmt[1].format(statistics.mean(q)):>13s}  {' '.join(fmt[1].format(v).strip() for v in q)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--hidden", default="400,400")
    ap.add_argument("--epochs", type=int, default=100, help="classifier epochs")
    ap.add_argument("--steps", type=int, default=2000, help="regression steps")
    ap.add_argument("--vi-steps", type=int, default=3000)
    ap.add_argument("--vi-families", default="meanfield,fullcov,flow")
    ap.add_argument("--only", default="bbb,regression,vi")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    parts = set(args.only.split(","))
    print("peers, one process, one torch thread, alternating per seed")
    if "bbb" in parts:
        bench_classifier(args, seeds)
    if "regression" in parts:
        bench_regression(args, seeds)
    if "vi" in parts:
        bench_vi(args, seeds)
    print("\n(Pyro's CVAE example: not reproduced here; see bench/cvae.py and ANCHORS.md.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
