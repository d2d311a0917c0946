"""The lecture's Figure 15: Bayes by Backprop on a 1-D curve beside a plain network.

The paper's toy data (Blundell et al. 2015, Sec. 5.2)::

    y = x + 0.3 sin(2 pi (x + eps)) + 0.3 sin(4 pi (x + eps)) + eps,   eps ~ N(0, 0.02)

with x drawn on [0, 0.5] and the fit drawn on [-0.4, 1.2]. The paper does not say
whether 0.02 is a variance or a standard deviation; ``noise_std`` defaults to 0.02 as a
standard deviation (the variance reading is ``noise_std = 0.141``). Because eps also
enters inside the sines, the targets scatter around the noiseless curve by about 0.062
(standard deviation), not 0.02.

:class:`RegressionExperiment` trains, one minibatch per step, a :class:`BayesMLP` with a
Gaussian likelihood (fixed or learned noise) and a :class:`PlainMLP` of the same shape
with squared error, on the same batches. Its snapshot holds what Figure 15 shows: the
median and the 25-75 % and 5-95 % bands of S predictive samples of the BBB function,
a few sampled functions, and the plain net's single curve.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.bbb.bands import REL_SE, band_se_order, band_width, band_with_error
from engine.bbb.config import MAX_POINTS, RegressionConfig
from engine.bbb.curves import FUNCTIONS, PLOT_RANGE, TRAIN_RANGE, make_curve, true_curve
from engine.bbb.layers import BayesMLP, PlainMLP, _histogram, elbo_parts, gaussian_nll, kl_weights, pruned
from engine.bbb.options import make_prior_of
from engine.core import checkpoint
from engine.core.nets import adam
from engine.core.runtime import Experiment, resolve_device, set_torch_threads
from engine.core.trainer import Checkpointed, Throughput, check_optimizer_state, restore_noise

__all__ = ["FUNCTIONS", "make_curve", "true_curve", "RegressionConfig", "RegressionExperiment",
           "TRAIN_RANGE", "PLOT_RANGE"]

GRID = 161  # points on PLOT_RANGE where the functions are drawn
N_CURVES = 5  # sampled functions shown
SAMPLE_CHUNK = 2000  # weight samples drawn at once

# -- the experiment ------------------------------------------------------------------------------
class RegressionState(nn.Module):
    """What a checkpoint's weights are: the BBB net (``bbb.*``), the plain net
    (``plain.*``), the likelihood's ``log_noise``, and the training points ``x``, ``y``
    (float64 buffers on the CPU: the page edits them, and a file reopens with its own)."""

    x: torch.Tensor
    y: torch.Tensor

    def __init__(self, sizes: list[int], prior, rho_init: float, noise_sigma: float,
                 learn_noise: bool, seed: int):
        super().__init__()
        self.bbb = BayesMLP(sizes, prior, rho_init, seed=seed)
        self.plain = PlainMLP(sizes, seed=seed)
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise_sigma)), requires_grad=learn_noise)
        self.register_buffer("x", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("y", torch.zeros(0, dtype=torch.float64))


class RegressionExperiment(Checkpointed, Throughput, Experiment):
    """BBB and a plain MLP on 1-D points, one minibatch per step (both nets, same batch).

    Step metrics: ``kl`` (the KL estimate, nats, whole net), ``kl_per_point`` (kl / N),
    ``nll`` (BBB negative log-likelihood per point of the batch), ``loss`` (the minibatch
    cost pi_i KL + NLL_batch, per point), ``plain_mse``, ``noise_sigma``, ``epoch``.

    Checkpoints are :class:`~engine.core.trainer.Checkpointed`'s (kind
    ``bbb-regression``): the weights and points are :class:`RegressionState`; the hooks
    add both Adams, the batch order and the noise streams, so a resumed run continues
    exactly. Files from before the hooks (weights, points, seed, samples seen) open
    with fresh Adams.
    """

    kind = "bbb-regression"
    config_class = RegressionConfig
    architecture = ("hidden",)
    model: RegressionState
    seed: int  # always set (drawn when None is given)
    shape = (1,)  # one input: x
    n_in = 1

    def __init__(self, config: RegressionConfig | None = None, seed: int | None = 0,
                 points: tuple[np.ndarray, np.ndarray] | None = None):
        config = (config or RegressionConfig()).validate()
        seed = 0 if seed is None else int(seed)
        super().__init__(config, seed)
        set_torch_threads(config.threads)  # None: the policy (runtime.default_threads)
        self.device = resolve_device(config.device)
        self._dev = torch.device(self.device)
        self._rng = np.random.default_rng(seed)
        self.model = RegressionState([1, *config.hidden, 1], make_prior_of(config), config.rho_init,
                                     config.noise_sigma, config.learn_noise, seed).to(self._dev)
        self.net, self.plain, self.log_noise = self.model.bbb, self.model.plain, self.model.log_noise
        self.optimizer = adam(self._bbb_params(), config.lr)
        self.plain_optimizer = adam(self.plain.parameters(), config.lr)
        self._noise = torch.Generator(device=self._dev).manual_seed(seed + 1)
        self.net.set_noise(self._noise)
        self._view_noise = torch.Generator(device=self._dev).manual_seed(seed + 2)
        self.prune_fraction = 0.0  # views only: training always uses every weight
        self.function = config.function
        self.samples_seen = 0
        # The user's own x,y pairs: no true curve, ranges from the data.
        self.own_data = config.data_file is not None
        self.train_range, plot_range = TRAIN_RANGE, PLOT_RANGE
        if points is None and self.own_data:
            from engine.data.points import read_xy

            points = read_xy(str(config.data_file), max_rows=MAX_POINTS)
        if self.own_data:
            assert points is not None  # read above, or given
            lo, hi = float(np.min(points[0])), float(np.max(points[0]))
            span = max(hi - lo, 1e-6)
            # Beyond the data as Figure 15 is beyond [0, 0.5]: -0.8 and +1.4 spans.
            self.train_range, plot_range = (lo, hi), (lo - 0.8 * span, hi + 1.4 * span)
        if points is None:
            points = make_curve(config.function, config.n_points, config.noise_std, *TRAIN_RANGE,
                                seed=seed)
        self.set_points(*points)
        self._grid = torch.linspace(*plot_range, GRID, device=self._dev)[:, None]

    # -- data the page edits ---------------------------------------------------------------------
    def set_points(self, x, y) -> None:
        """Replace the training points (the fit follows from the current weights)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"points: x and y differ in length ({x.size} vs {y.size})")
        if not 1 <= x.size <= MAX_POINTS:
            raise ValueError(f"points: need 1 to {MAX_POINTS} points, got {x.size}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("points: x and y must be finite")
        self.x, self.y = x, y
        self.model.x, self.model.y = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
        self._x = torch.tensor(x, dtype=torch.float32, device=self._dev)[:, None]
        self._y = torch.tensor(y, dtype=torch.float32, device=self._dev)[:, None]
        self._order: np.ndarray | None = None
        self._batch = 0

    def add_point(self, x: float, y: float) -> None:
        self.set_points(np.append(self.x, float(x)), np.append(self.y, float(y)))

    def remove_nearest(self, x: float, y: float, radius: float = 0.05) -> bool:
        """Remove the point nearest (x, y) if within ``radius`` (in plot units); True if removed.

        The last point is never removed (a fit needs data)."""
        if self.x.size <= 1:
            return False
        d = np.hypot(self.x - x, self.y - y)
        i = int(np.argmin(d))
        if d[i] > radius:
            return False
        self.set_points(np.delete(self.x, i), np.delete(self.y, i))
        return True

    def set_function(self, name: str, n: int | None = None) -> None:
        """New training points from another curve (same noise, fresh draw)."""
        n = self.config.n_points if n is None else n
        self.function = name
        self.set_points(*make_curve(name, n, self.config.noise_std, *TRAIN_RANGE,
                                    seed=int(self._rng.integers(2**31))))

    def set_prune(self, fraction: float) -> None:
        """Show the fit with the lowest-SNR ``fraction`` of weights removed (views only)."""
        if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
            raise ValueError(f"prune fraction must be between 0 and 1, got {fraction!r}")
        self.prune_fraction = float(fraction)

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.x.size // self.config.batch_size)

    # -- training ----------------------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, int, int]:
        m = self.batches_per_epoch
        if self._order is None or self._batch >= m:
            self._order = self._rng.permutation(self.x.size)
            self._batch = 0
        i = self._batch
        bs = self.config.batch_size
        idx = torch.as_tensor(self._order[i * bs:(i + 1) * bs], device=self._dev)
        self._batch += 1
        return idx, i, m

    def _step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg = self.config
        idx, i, m = self._next_batch()
        pi = float(kl_weights(m, cfg.weighting)[i])
        x, y = self._x[idx], self._y[idx]
        b = x.shape[0]
        kl, nll = elbo_parts(self.net, x, lambda out: gaussian_nll(out, y, self.log_noise),
                             cfg.train_samples, cfg.local_reparam, cfg.kl_method)
        loss = (pi * kl + nll) / b
        plain_mse = (self.plain(x) - y).square().mean()
        values = torch.stack([loss, kl, nll / b, plain_mse]).detach().cpu().numpy()
        if not np.isfinite(values).all():  # before the update: the last good state stays
            return dict(zip(("loss", "kl", "nll", "plain_mse"), values.tolist(), strict=False))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.plain_optimizer.zero_grad(set_to_none=True)
        plain_mse.backward()
        self.plain_optimizer.step()
        self.samples_seen += b
        self.count(b, time.perf_counter() - t0)
        loss_v, kl_v, nll_v, mse_v = values.tolist()
        return {"loss": loss_v, "kl": kl_v, "kl_per_point": kl_v / self.x.size, "nll": nll_v,
                "plain_mse": mse_v, "noise_sigma": math.exp(float(self.log_noise.detach())),
                "epoch": self.samples_seen / self.x.size}

    @property
    def done(self) -> bool:
        e = self.config.epochs
        return e is not None and self.samples_seen >= e * self.x.size

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.x.size

    @property
    def total_steps(self) -> int | None:
        e = self.config.epochs
        return None if e is None else e * self.batches_per_epoch

    # -- views -------------------------------------------------------------------------------------
    @torch.no_grad()
    def predictive(self, x, samples: int | None = None, seed: int | None = None) -> np.ndarray:
        """BBB function values f(x; w) of ``samples`` weight samples: (S, len(x)) float64,
        with the current view pruning applied."""
        samples = samples or self.config.pred_samples
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(-1, 1), device=self._dev)
        gen = self._view_noise if seed is None else torch.Generator(device=self._dev).manual_seed(seed)
        self.net.set_noise(gen)
        try:
            with pruned(self.net, self.prune_fraction):
                # Draws in chunks: thousands of (64, 64) weight samples at once cost memory.
                out = torch.cat([self.net.predict(xt, min(SAMPLE_CHUNK, samples - s))[..., 0]
                                 for s in range(0, samples, SAMPLE_CHUNK)])
        finally:
            self.net.set_noise(self._noise)
        return out.double().cpu().numpy()

    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views (numpy copies). Keys: step, epoch, grid (GRID,), quantiles (5, GRID)
        at 5/25/50/75/95 %, curves (N_CURVES, GRID) sampled functions, plain (GRID,),
        truth (GRID,) the noiseless curve, x, y the training points, noise_sigma,
        prune_fraction, function, samples_seen, device."""
        grid = self._grid[:, 0].double().cpu().numpy()
        # Fixed noise for the views: the bands move only when the posterior moves.
        f = self.predictive(grid, seed=self.seed + 3)
        q = np.quantile(f, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        # The page's band figures come from these S draws: each with its error (one sort).
        lo, hi = self.train_range
        inside = (grid >= lo) & (grid <= hi)
        far = int(np.argmin(np.abs(grid - self.far_x)))
        band = {"band_inside": band_width(f[:, inside]), "band_inside_se": band_se_order(f[:, inside]),
                "band_far": band_width(f[:, far]), "band_far_se": band_se_order(f[:, far]),
                "band_far_x": float(grid[far]), "band_draws": int(f.shape[0])}
        return {**band,
            "step": self.steps, "epoch": self.samples_seen / self.x.size, "device": self.device,
            "grid": grid, "quantiles": q, "curves": f[:N_CURVES].copy(),
            "plain": self.plain(self._grid)[:, 0].double().cpu().numpy(),
            "truth": np.full_like(grid, np.nan) if self.own_data else true_curve(self.function, grid),
            "x": self.x.copy(), "y": self.y.copy(),
            "function": f"file:{self.config.data_file}" if self.own_data else self.function,
            "train_range": self.train_range,
            "noise_sigma": math.exp(float(self.log_noise.detach())),
            "prune_fraction": self.prune_fraction, "samples_seen": self.samples_seen,
        }

    def heavy_snapshot(self) -> dict[str, Any]:
        """The weights panel: histograms of log10 sigma and log10 SNR, and the SNR
        threshold of the current pruning."""
        mu, sigma = self.net.weight_stats()
        snr = np.abs(mu) / sigma
        k = int(round(self.prune_fraction * snr.size))
        return {"sigma_hist": _histogram(sigma), "snr_hist": _histogram(snr),
                "snr_threshold": float(np.sort(snr)[k - 1]) if k > 0 else 0.0,
                "n_weights": int(snr.size)}

    @property
    def far_x(self) -> float:
        """Where the band is read off the data: x = 1.1 for the paper's [0, 0.5]."""
        lo, hi = self.train_range
        return hi + 1.2 * (hi - lo)

    def evaluate(self, rel_se: float = REL_SE) -> dict[str, float]:
        """On the training range: RMSE of the BBB median against the points and against
        the noiseless curve, the oracle RMSE (noiseless curve vs points: the noise level),
        the plain net's RMSE, and the 5-95 % band width inside the range (mean over 51 x)
        and at x = 1.1, each from enough draws that its standard error (``*_se``, by the
        bootstrap) is under ``rel_se`` of it (``*_draws`` says how many)."""
        f = self.predictive(self.x, samples=max(self.config.pred_samples, 2000), seed=self.seed + 4)
        med = np.median(f, 0)
        truth = None if self.own_data else true_curve(self.function, self.x)
        with torch.no_grad():
            plain = self.plain(self._x)[:, 0].double().cpu().numpy()
        inside = np.linspace(*self.train_range, 51)
        band_in, se_in, n_in = band_with_error(lambda n, s: self.predictive(inside, n, s), rel_se,
                                               seed=self.seed + 5)
        band_out, se_out, n_out = band_with_error(lambda n, s: self.predictive([self.far_x], n, s),
                                                  rel_se, seed=self.seed + 6)
        rms = lambda a: float(np.sqrt(np.mean(np.square(a))))  # noqa: E731
        nan = float("nan")  # the user's own data: no true curve to compare with
        return {"rmse": rms(med - self.y),
                "rmse_truth": nan if truth is None else rms(med - truth),
                "noise_level": nan if truth is None else rms(truth - self.y),
                "plain_rmse": rms(plain - self.y),
                "band_inside": band_in, "band_inside_se": se_in, "band_inside_draws": float(n_in),
                "band_at_1.1": band_out, "band_at_1.1_se": se_out, "band_at_1.1_draws": float(n_out),
                "kl": float(self.metrics.latest("kl")),
                "noise_sigma": math.exp(float(self.log_noise.detach())), "steps": float(self.steps)}

    # -- checkpoints (Checkpointed's format; the hooks add the training state) ------------------
    def _bbb_params(self) -> list[nn.Parameter]:
        """What the BBB Adam moves: the BBB net and, when learned, the likelihood's log σ."""
        return list(self.net.parameters()) + ([self.log_noise] if self.config.learn_noise else [])

    @property
    def dataset_name(self) -> str:
        return self.function

    @classmethod
    def for_checkpoint(cls, config, ckpt: dict, dataset=None) -> RegressionExperiment:
        """Built on the file's own points (not the function's, not the data file, which
        may be gone) and showing the file's function."""
        state, extra = ckpt["state_dict"], ckpt.get("extra") or {}
        try:
            points = (state["x"].double().numpy(), state["y"].double().numpy())
            exp = cls(config, seed=int(extra.get("seed", 0)), points=points)
        except (KeyError, AttributeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"checkpoint points do not fit ({exc})") from exc
        exp.function = str(ckpt["dataset"])
        return exp

    def on_save_checkpoint(self, state: dict[str, Any]) -> None:
        """Where training stands: samples seen, both Adams, the batch order and the
        training noise stream."""
        state.update(samples_seen=int(self.samples_seen),
                     optimizer=self.optimizer.state_dict(),
                     plain_optimizer=self.plain_optimizer.state_dict(),
                     batch_rng=_plain_state(self._rng.bit_generator.state),
                     batch=int(self._batch), noise_rng=self._noise.get_state())
        if self._order is not None:
            state["order"] = torch.from_numpy(self._order)

    def on_load_checkpoint(self, state: dict[str, Any]) -> None:
        """Validate, then take, what :meth:`on_save_checkpoint` wrote; a file from before
        the hooks has only ``samples_seen``: Adam and the batch order start afresh."""
        path, err = self.loading_path, checkpoint.CheckpointError
        opts = [(state.get(key), params) for key, params in
                (("optimizer", self._bbb_params()), ("plain_optimizer", list(self.plain.parameters())))]
        for opt, params in opts:
            if opt is not None:
                check_optimizer_state(opt, params, path)
        order = state.get("order")
        if order is not None and not (isinstance(order, torch.Tensor)
                                      and sorted(order.tolist()) == list(range(self.x.size))):
            raise err(f"{path}: checkpoint's batch order does not fit its {self.x.size} points")
        rng = np.random.default_rng()
        try:
            if "batch_rng" in state:
                rng.bit_generator.state = state["batch_rng"]
            batch = int(state.get("batch", 0))
            samples_seen = int(state.get("samples_seen", 0))
        except (TypeError, ValueError, KeyError) as exc:
            raise err(f"{path}: checkpoint's training position is malformed ({exc})") from exc
        # Validated: from here on nothing can fail halfway.
        for (opt, _), optimizer in zip(opts, (self.optimizer, self.plain_optimizer), strict=True):
            if opt is not None:
                optimizer.load_state_dict(opt)
        self.samples_seen = samples_seen
        if "batch_rng" in state:
            self._rng = rng
        self._order = order.numpy().copy() if order is not None else None
        self._batch = batch
        restore_noise(self._noise, state)

    def weights_changed(self) -> None:
        """Points loaded with the weights (``load_weights`` of a file with as many other
        points) become the training points."""
        x, y = self.model.x.numpy(), self.model.y.numpy()
        if not (np.array_equal(x, self.x) and np.array_equal(y, self.y)):
            self.set_points(x, y)


def _plain_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A numpy bit generator's state as plain data (a checkpoint refuses numpy scalars)."""
    return {k: (_plain_state(v) if isinstance(v, dict) else v if isinstance(v, str) else int(v))
            for k, v in state.items()}
