"""Chapter 4: the variational autoencoder, trained live on digits or the MNIST family.

Parameters on the left (dataset with a download button, architecture, β, learning
rate, loss mode, likelihood, device; Save / Open model), views in the middle (see
:mod:`vigui.pages.vae.views`). The model trains in a child process
(:class:`~vigui.run.process.ProcessRunner`): every use of it from here
(interpolation, save, load weights) goes through ``runner.call``.
"""
from __future__ import annotations

import math
import os
import time
from functools import partial

import numpy as np
from PySide6.QtWidgets import QWidget

from engine.core.params import Param
from engine.vae.model import VAEConfig, VAEExperiment
from vigui.pages.base import ExperimentPage
from vigui.pages.vae.views import N_INTERP, VAEViews, demo_pair
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED, PAUSED
from vigui.teaching.frames import frame_path, load_frame
from vigui.widgets.model_files import ModelFileButtons
from vigui.widgets.param_form import ParamForm

__all__ = ["VAEPage", "default_threads", "process_threads"]

SCREENSHOT_STEPS = 1500
INTERP_REFRESH_S = 1.0  # while training, the decoded path is refreshed this often
FIELDS = ["dataset", "latent", "hidden", "beta", "lr", "batch_size", "loss_mode", "likelihood",
          "device", "seed"]
SEED = Param(name="seed", kind="int", default=0, lo=0, hi=1_000_000, label="Seed",
             help="Seeds the weights, the shuffles and the noise: same seed, same run")
SCREENSHOT = {"dataset": "digits", "latent": 2, "hidden": [256], "beta": 1.0, "lr": 1e-3,
              "batch_size": 128, "loss_mode": "elbo", "likelihood": "bernoulli", "device": "cpu",
              "seed": 0}


def default_threads() -> int:
    """Torch threads for training in a thread of the GUI process: leave a core to the
    GUI (2 cores: one thread)."""
    n = os.cpu_count() or 1
    return 1 if n <= 2 else min(n - 1, 8)


def process_threads() -> int:
    """Torch threads for training in the page's child process. No GIL is shared with
    the GUI there, but a core is: cores - 1 (up to 8) keeps the views smooth. On 2 cores
    bench/vae.py measured 0.88x the plain loop with 1 thread (5.3 frames/s drawn) and
    1.01x with 2 (4.0 frames/s, longer GUI stalls)."""
    n = os.cpu_count() or 1
    return max(1, min(n - 1, 8))


class VAEPage(ExperimentPage):
    theory = "vae"
    # Training is the point: 12 frames a second and 6% of the time for views keep the
    # curves smooth while leaving the CPU to the steps (bench/vae.py measures it).
    max_fps = 12.0
    view_budget = 0.06
    # The model trains in a child process: pyqtgraph's drawing (Python, holding the
    # GIL) no longer stalls the training loop between torch ops (bench/vae.py).
    runner_class = ProcessRunner

    # -- parameters --------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        self._run_config: VAEConfig | None = None  # the config of the current run
        self._pending_experiment = None
        self._shot = False
        form = ParamForm(VAEConfig, FIELDS, extra=[SEED])
        self.datasets = form.widget("dataset")
        self.datasets.message.connect(self.show_message)
        self.datasets.downloaded.connect(self._on_downloaded)
        self.model_files = ModelFileButtons("VAE model", default_name="vae.pt")
        self.model_files.save_requested.connect(self.save_model)
        self.model_files.open_requested.connect(self.open_model)
        self.model_files.weights_requested.connect(self.load_weights)
        form.add_row(self.model_files)
        return form

    def config(self) -> VAEConfig:
        """The validated config of the parameters shown (ValueError naming a bad one)."""
        return self.params.config(threads=self.train_threads())

    def train_threads(self) -> int:
        return process_threads() if self.runner_class is ProcessRunner else default_threads()

    def make_factory(self):
        if self._pending_experiment is not None:  # an opened checkpoint, checked already
            (path, device, config), self._pending_experiment = self._pending_experiment, None
            self._run_config = config
            # Built again where it runs: only the file travels, not the model.
            return partial(VAEExperiment.load, path, device=device, threads=self.train_threads())
        self.datasets.require()
        config = self.config()
        self._run_config = config
        # picklable, for the child process
        return partial(VAEExperiment, config, seed=self.param("seed"))

    def _on_downloaded(self, name: str) -> None:
        if self.param("dataset") == name:
            self.reset()

    def activate(self) -> None:
        self.datasets.refresh()
        super().activate()

    # -- views ----------------------------------------------------------------------------
    def build_views(self) -> QWidget:
        self.views = VAEViews()
        self.views.picked.connect(self.pick_latent)
        self._reset_view_state()
        return self.views

    def _reset_view_state(self) -> None:
        self._point_a = self._point_b = None
        self._interp_token = 0
        self._interp_busy = False
        self._interp_step = -1
        self._interp_time = 0.0
        self._interp_shown = False
        self._latent_shown = None
        self._latent = None
        self._labels = None
        self._steps = 0
        self._latent_dim = 2
        self._from_file = False  # the views show the opened file's saved frame

    def clear_views(self) -> None:
        self._reset_view_state()
        self.views.clear()

    def render(self, snap: dict) -> None:
        v = self.views
        self._steps = int(snap.get("step", 0))
        v.show_metrics(snap["metrics"])
        v.show_images(snap)
        latent = snap.get("latent")
        if latent is not None and latent is not self._latent_shown:
            self._latent_shown = latent
            self._latent, self._labels = latent, snap["labels"]
            self._latent_dim = int(self._experiment_latent())
            v.show_latent(latent, snap["labels"], snap.get("classes", ()),
                          snap.get("projection", "identity"), snap.get("explained_variance"),
                          self._latent_dim)
            if "manifold" in snap:
                tile = snap["originals"].shape[1:] if "originals" in snap else None
                v.show_manifold(snap["manifold"], snap["manifold_extent"], tile)
        v.set_summary(self._summary(snap))
        self._maybe_refresh_interpolation()
        if self._shot and self._steps >= SCREENSHOT_STEPS and self.runner is not None:
            self._shot = False
            self.pause()

    def _experiment_latent(self) -> int:
        cfg = self._run_config
        return cfg.latent if cfg is not None else self.param("latent")

    def _summary(self, snap: dict) -> str:
        m = snap["metrics"]
        parts = [f"step {snap.get('step', 0):,}",
                 f"epoch {snap.get('epoch', 0.0):,.1f}",
                 f"{snap.get('samples_seen', 0):,} images seen"]
        rate = snap.get("samples_per_s", math.nan)
        if rate == rate and rate > 0:
            parts.append(f"{rate:,.0f} images/s")
        text = " · ".join(parts)
        last = [m.latest(name) for name in ("test_loss", "test_recon", "test_kl")]
        if all(math.isfinite(v) for v in last):  # measured together, at the same step
            text += "<br>test, nats per image: " + _objective_text(self._run_config, *last)
        if "sigma" in snap:
            text += f" · σ = {snap['sigma']:.3f}"
        return text

    # -- latent picking and interpolation -------------------------------------------------
    def pick_latent(self, x: float, y: float) -> None:
        """A click in the latent plot: the first sets A, the second B and decodes the
        path A → B; a third click starts a new pair."""
        p = (float(x), float(y))
        if self._point_a is None or self._point_b is not None:
            self._point_a, self._point_b = p, None
            self._interp_token += 1
            self._interp_shown = False
            self.views.show_interpolation(None, "A picked; now click B")
        else:
            self._point_b = p
            self._request_interpolation()
        self.views.set_markers(self._point_a, self._point_b)

    def _request_interpolation(self) -> None:
        if self.runner is None or self._point_a is None or self._point_b is None:
            return
        self._interp_token += 1
        token = self._interp_token
        a, b = np.array(self._point_a), np.array(self._point_b)
        self._interp_busy = True
        self._interp_time = time.monotonic()
        self.runner.call(lambda exp: (exp.steps, exp.interpolate(a, b, N_INTERP)),
                         on_done=lambda result: self._on_interpolation(token, result),
                         on_error=lambda msg: self._on_interpolation_error(token, msg))

    def _maybe_refresh_interpolation(self) -> None:
        """While training, redecode the same path now and then: it follows the model."""
        if (self._point_b is None or self._interp_busy or self._steps == self._interp_step
                or time.monotonic() - self._interp_time < INTERP_REFRESH_S):
            return
        self._request_interpolation()

    def _on_interpolation(self, token: int, result) -> None:
        if token != self._interp_token:
            return  # a newer pick (or a reset) came since
        self._interp_busy = False
        if result is None:  # the experiment was not built (yet)
            return
        steps, images = result
        self._interp_step = steps
        self._interp_shown = True
        self.views.show_interpolation(images, f"Path A → B, decoded in {len(images)} steps")

    def _on_interpolation_error(self, token: int, message: str) -> None:
        if token == self._interp_token:
            self._interp_busy = False
            self.show_message(f"Could not decode the path: {message}")

    @property
    def interpolation_shown(self) -> bool:
        return self._interp_shown

    # -- save / open -------------------------------------------------------------------------
    def save_model(self, path: str) -> None:
        """Write the current model, its optimizer state and history to ``path``."""
        if self.runner is None:
            self.show_message("There is no model to save: press Reset to build one.")
            return
        path = str(path)

        def save(exp):
            exp.save(path)
            return exp.steps

        def done(steps):
            if steps is None:
                self.show_message("The model is still being built; save again in a moment.")
            else:
                self.show_message(f"Saved the model at step {steps:,} to {path}", error=False)

        self.runner.call(save, on_done=done,
                         on_error=lambda msg: self.show_message(f"Could not save to {path}:\n{msg}"))

    def open_model(self, path: str) -> None:
        """Resume a saved run in place of the current one. The file's config is read
        first (a cheap peek: no model, no dataset); only if it is a usable VAE checkpoint
        is the current run replaced by one that loads the file where it trains."""
        path = str(path)
        try:
            config, info = VAEExperiment.peek(path, device=self.param("device"))
        except Exception as exc:  # CheckpointError, OSError, ...: say so, keep this run
            self.show_message(f"Could not open {path}:\n{exc}\nThe current model is unchanged.")
            return
        shown = {name: value for name, value in config.to_dict().items()
                 if name in self.params.fields and name != "device"}
        seed = info.extra.get("seed")
        if isinstance(seed, int) and 0 <= seed <= SEED.hi:
            shown["seed"] = seed
        self.params.restore(shown, emit=False)  # the file's settings, no reset per field
        # The run loads the file again where it trains (only the path travels).
        self._pending_experiment = (path, self.param("device"), config)
        self.reset(play=False)
        self._draw_saved_frame(path, info)
        epoch = float(info.extra.get("epoch", 0.0))
        self.show_message(f"Opened {path}: step {info.step:,}, epoch {epoch:.1f}, "
                          f"{config.dataset}, latent {config.latent}. Press Play to continue "
                          f"training it.", error=False)

    def _draw_saved_frame(self, path: str, info) -> None:
        """Draw the views saved beside the file (:mod:`vigui.teaching.frames`) at once,
        while the run loads the model where it trains; its first frame then redraws the
        same step. Nothing is drawn for a frame of another step than the file's."""
        frame = load_frame(frame_path(path))
        if frame is None or frame.get("step") != info.step:
            return
        from engine.core.runtime import MetricStore

        try:
            frame["metrics"] = MetricStore.from_state(info.metrics)
        except (TypeError, ValueError):
            return
        self.render(frame)
        self._from_file = True
        if "interp" in frame:
            self._point_a = tuple(float(v) for v in frame["interp_a"])
            self._point_b = tuple(float(v) for v in frame["interp_b"])
            self.views.set_markers(self._point_a, self._point_b)
            self._interp_step, self._interp_time = self._steps, time.monotonic()
            self._on_interpolation(self._interp_token, (self._steps, frame["interp"]))

    def load_weights(self, path: str) -> None:
        """Put a saved model's weights into the current one (same architecture); on any
        problem the current weights stay."""
        if self.runner is None:
            self.show_message("There is no model to load weights into: press Reset first.")
            return
        path = str(path)

        def load(exp):
            exp.load_weights(path)
            return exp.steps

        def done(steps):
            if steps is not None:
                self._interp_step = -1  # the path is decoded again with these weights
                self._interp_time = 0.0
                self.show_message(f"Loaded the weights of {path} (Adam restarts; the "
                                  "history so far stays).", error=False)

        self.runner.call(load, on_done=done, on_error=lambda msg: self.show_message(
            f"Could not load weights from {path}:\n{msg}\nThe current model is unchanged."))

    # -- lifecycle --------------------------------------------------------------------------
    def close_page(self) -> None:
        self.datasets.close_jobs()
        super().close_page()

    def prepare_screenshot(self) -> None:
        self.params.restore(SCREENSHOT, emit=False)
        self._shot = True
        self.reset(play=True)

    def screenshot_ready(self) -> bool:
        if self._from_file and self._interp_shown:
            return True  # the opened file's frame, drawn in full
        runner = self.runner
        if runner is None or runner.state == FAILED:
            return True
        if runner.state not in (PAUSED, FINISHED) or self._latent is None:
            return False
        if self._point_b is None:
            self._pick_demo_pair()
            return False
        return self._interp_shown and not self._interp_busy

    def _pick_demo_pair(self) -> None:
        """The two class centres farthest apart: a path across the whole latent space."""
        a, b = demo_pair(self._latent, self._labels)
        self._point_a = self._point_b = None
        self.pick_latent(*a)
        self.pick_latent(*b)


def _objective_text(cfg: VAEConfig | None, loss: float, recon: float, kl: float) -> str:
    mode = cfg.loss_mode if cfg is not None else "elbo"
    if mode == "recon":
        return f"objective = recon <b>{recon:.2f}</b> (KL {kl:.2f}, not trained)"
    if mode == "kl":
        return f"objective = KL <b>{kl:.2f}</b> (recon {recon:.2f}, not trained)"
    beta = cfg.beta if cfg is not None else 1.0
    name = "−ELBO" if beta == 1 else "objective"
    weight = "" if beta == 1 else f"{beta:g}·"
    return f"{name} <b>{loss:.2f}</b> = recon {recon:.2f} + {weight}KL {kl:.2f}"
