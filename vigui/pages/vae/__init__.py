"""Chapter 4: the variational autoencoder, trained live on digits or the MNIST family.

Parameters on the left (dataset with a download button, architecture, β, learning
rate, loss mode, likelihood, device; Save / Open model), views in the middle (see
:mod:`vigui.pages.vae.views`). The model trains in a child process
(:class:`~vigui.run.process.ProcessRunner`): every use of it from here
(interpolation, save, load weights) goes through ``runner.call``.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
from PySide6.QtWidgets import QWidget

from engine.vae.model import VAEConfig, VAEExperiment
from vigui.pages.frames import frame_path, load_frame
from vigui.pages.trainer import SEED, TrainerPage
from vigui.pages.vae.views import N_INTERP, VAEViews, demo_pair
from vigui.run.worker import FINISHED, PAUSED
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import ParamForm

__all__ = ["VAEPage"]

SCREENSHOT_STEPS = 1500
FIELDS = ["dataset", "latent", "hidden", "beta", "lr", "batch_size", "loss_mode", "likelihood",
          "device", "seed"]
SCREENSHOT = {"dataset": "digits", "latent": 2, "hidden": [256], "beta": 1.0, "lr": 1e-3,
              "batch_size": 128, "loss_mode": "elbo", "likelihood": "bernoulli", "device": "cpu",
              "seed": 0}


class VAEPage(TrainerPage):
    # 12 frames a second keep the curves smooth while leaving the CPU to the steps
    # (bench/vae.py measures it).
    max_fps = 12.0
    # The model trains in a child process (TrainerPage): pyqtgraph's drawing (Python,
    # holding the GIL) no longer stalls the training loop between torch ops (bench/vae.py).
    model_what, model_file = "VAE model", "vae.pt"
    screenshot_params = SCREENSHOT

    def init_state(self) -> None:
        super().init_state()
        self._run_config: VAEConfig | None = None  # the config of the current run
        self._opened_config: VAEConfig | None = None  # the config of a file opened
        self._reset_view_state()

    # -- parameters --------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        form = ParamForm(VAEConfig, FIELDS, extra=[SEED])
        form.add_row(self.trainer.file_buttons())
        return form

    def config(self) -> VAEConfig:
        """The validated config of the parameters shown (ValueError naming a bad one)."""
        return self.params.config(threads=self.train_threads())

    def make_factory(self):
        opened = self.trainer.take_opened()  # an opened checkpoint, checked already
        if opened is not None:
            self._run_config = self._opened_config
            return opened
        self.trainer.require()
        config = self.config()
        self._run_config = config
        # picklable, for the child process
        return partial(VAEExperiment, config, seed=self.param("seed"))

    # -- views ----------------------------------------------------------------------------
    compare_columns = ("test_loss", "test_recon", "test_kl")

    def compare_plots(self) -> dict:
        # the two parts, measured whatever the objective: recon only, KL only and both compare
        return {"test_recon": self.views.loss_plot, "test_kl": self.views.loss_plot}

    def build_views(self) -> QWidget:
        self.views = VAEViews()
        self.views.picked.connect(self.pick_latent)
        return self.views

    def _reset_view_state(self) -> None:
        self._point_a = self._point_b = None
        self.live.invalidate()  # an answer for the old run is dropped
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
        opened, self._frame_to_draw = getattr(self, "_frame_to_draw", None), None
        if opened is not None:  # the run of a file just opened is being built
            self._draw_saved_frame(*opened)

    def _draw_saved_frame(self, path: str, info) -> None:
        """Draw the views saved beside the file (:mod:`vigui.pages.frames`) at once,
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
            self._on_interpolation((self._steps, frame["interp"]))

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
        names = ("test_loss", "test_recon", "test_kl")
        last = [m.latest(name) for name in names]
        if all(math.isfinite(v) for v in last):  # measured together, at the same step
            # "± ?": a file saved before the errors were measured
            shown = [_nowrap(fmt_se(v, m.latest(f"{name}_se")))
                     for v, name in zip(last, names, strict=True)]
            text += "<br>test, nats per image: " + _objective_text(self._run_config, *shown)
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
            self.live.invalidate()
            self._interp_shown = False
            self.views.show_interpolation(None, "A picked; now click B")
        else:
            self._point_b = p
            self._request_interpolation()
        self.views.set_markers(self._point_a, self._point_b)

    def _request_interpolation(self) -> None:
        if self._point_a is None or self._point_b is None:
            return
        a, b = np.array(self._point_a), np.array(self._point_b)
        self.ask_live(lambda exp: (exp.steps, exp.interpolate(a, b, N_INTERP)),
                      self._on_interpolation, "Could not decode the path")

    def _maybe_refresh_interpolation(self) -> None:
        """While training, redecode the same path now and then: it follows the model."""
        if self._point_b is not None and self.live.due(self._steps):
            self._request_interpolation()

    def _on_interpolation(self, result) -> None:
        if result is None:  # the experiment was not built (yet)
            return
        steps, images = result
        self.live.step = steps
        self._interp_shown = True
        self.views.show_interpolation(images, f"Path A → B, decoded in {len(images)} steps")

    @property
    def interpolation_shown(self) -> bool:
        return self._interp_shown

    # -- model files (TrainerPage) ------------------------------------------------------------
    def peek_model(self, path: str, device: str | None):
        return VAEExperiment.peek(path, device=device)  # a worker thread: no model, no Qt

    def load_factory(self, path: str):
        # Built again where it runs: only the file travels, not the model.
        return partial(VAEExperiment.load, path, device=self.param("device"),
                       threads=self.train_threads())

    def opened(self, path: str, config: VAEConfig, info) -> str:
        self._opened_config = config
        self._frame_to_draw = (path, info)  # drawn as the file's run is reset (clear_views)
        epoch = float(info.extra.get("epoch", 0.0))
        return (f"Opened {path}: step {info.step:,}, epoch {epoch:.1f}, {config.dataset}, "
                f"latent {config.latent}. Press Play to continue training it.")

    def weights_loaded(self) -> None:
        self.live.stale()  # the path is decoded again with these weights

    # -- lifecycle --------------------------------------------------------------------------
    def screenshot_ready(self) -> bool:
        if super().screenshot_ready() or self._from_file and self._interp_shown:
            return True  # (or: the opened file's frame, drawn in full)
        runner = self.runner
        if runner.state not in (PAUSED, FINISHED) or self._latent is None:
            return False
        if self._point_b is None:
            self._pick_demo_pair()
            return False
        return self._interp_shown and not self.live.busy

    def _pick_demo_pair(self) -> None:
        """The two class centres farthest apart: a path across the whole latent space."""
        a, b = demo_pair(self._latent, self._labels)
        self._point_a = self._point_b = None
        self.pick_latent(*a)
        self.pick_latent(*b)


def _objective_text(cfg: VAEConfig | None, loss: str, recon: str, kl: str) -> str:
    """The test figures (formatted, each "value ± SE") named by what was trained."""
    mode = cfg.loss_mode if cfg is not None else "elbo"
    if mode == "recon":
        return f"objective = recon <b>{recon}</b> (KL {kl}, not trained)"
    if mode == "kl":
        return f"objective = KL <b>{kl}</b> (recon {recon}, not trained)"
    beta = cfg.beta if cfg is not None else 1.0
    name = "−ELBO" if beta == 1 else "objective"
    weight = "" if beta == 1 else f"{beta:g}·"
    return f"{name} <b>{loss}</b> = recon\u00a0{recon} + {weight}KL\u00a0{kl}"


def _nowrap(text: str) -> str:
    """A figure and its error kept on one line when the summary wraps."""
    return text.replace(" ", "\u00a0")
