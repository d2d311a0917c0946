"""Chapter 4: the variational autoencoder, trained live on digits or the MNIST family.

Parameters on the left (dataset with a download button, architecture, β, learning
rate, loss mode, likelihood, device; Save / Open model), views in the middle (see
:mod:`vigui.pages.vae_views`). The model lives on the runner's worker thread: every
use of it from here (interpolation, save, load weights) goes through ``runner.call``.
"""
from __future__ import annotations

import math
import os
import time
from functools import partial
from itertools import combinations

import numpy as np
from PySide6.QtWidgets import (
    QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
    QWidget,
)

from engine import data
from engine.runtime import available_devices
from engine.vae import VAEConfig, VAEExperiment

from ..process_runner import ProcessRunner
from ..worker import FAILED, FINISHED, PAUSED, BackgroundJob
from .base import ExperimentPage
from .vae_inputs import LogSpinBox, SizesEdit
from .vae_views import N_INTERP, VAEViews

__all__ = ["VAEPage", "LogSpinBox", "SizesEdit"]

DATASET_TITLES = {"digits": "Digits 8×8", **data.TITLES}
FILE_FILTER = "vigui checkpoints (*.pt *.ckpt);;All files (*)"
SCREENSHOT_STEPS = 1500
INTERP_REFRESH_S = 1.0  # while training, the decoded path is refreshed this often


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
    page_id = "vae"
    title = "Variational autoencoder"
    theory = "vae"
    # Training is the point: 12 frames a second and 6% of the time for views keep the
    # curves smooth while leaving the CPU to the steps (bench/vae.py measures it).
    max_fps = 12.0
    view_budget = 0.06
    # The model trains in a child process: pyqtgraph's drawing (Python, holding the
    # GIL) no longer stalls the training loop between torch ops (bench/vae.py).
    runner_class = ProcessRunner

    # -- parameters --------------------------------------------------------------------
    def build_params(self, form) -> None:
        self._syncing = False
        self._run_config: VAEConfig | None = None  # the config of the current run
        self._pending_experiment = None
        self._jobs: list[BackgroundJob] = []
        self._download: BackgroundJob | None = None
        self._shot = False

        self.choice_param("dataset", "Dataset", self._dataset_items(), "digits",
                          tip="digits (8×8, bundled) learns in seconds; the MNIST family "
                              "(28×28) needs its files, found on disk or downloaded")
        self._param_widgets["dataset"].currentIndexChanged.connect(self._update_download_row)
        form.addRow(self._build_download_row())
        self.int_param("latent", "Latent dim", 2, 64, 2,
                       tip="Size of z. With 2 the latent space is drawn as it is and the "
                           "decoded manifold is shown; above 2 a PCA plane of it is drawn")
        self.add_param("hidden", "Hidden sizes", SizesEdit("256"),
                       tip="Units per hidden layer of the encoder (the decoder mirrors it): "
                           "256, or 512,256 for two layers; each 16 to 1024")
        self.float_param("beta", "β (KL weight)", 0.0, 100.0, 1.0, decimals=2, step=0.25,
                         tip="loss = recon + β·KL. β = 1 is the ELBO; larger β pulls the "
                             "codes towards the prior, smaller lets them spread")
        self.add_param("lr", "Learning rate", LogSpinBox(1e-5, 10.0, 1e-3),
                       tip="Adam step size (arrows: 1, 2, 5 per decade). Try 10 to see a "
                           "run fail with a NaN: it stops and keeps the last good weights")
        self.int_param("batch", "Batch size", 1, 4096, 128, step=32,
                       tip="Images per step")
        self.choice_param("loss_mode", "Train on", [("ELBO: recon + β·KL", "elbo"),
                                                    ("Reconstruction only", "recon"),
                                                    ("KL only", "kl")], "elbo",
                          tip="The lecture's Figures 10-11: reconstruction alone gives "
                              "sharp images but a gappy latent space; KL alone collapses "
                              "every code onto the prior. Both terms are always measured.")
        self.choice_param("likelihood", "Likelihood", [("Bernoulli", "bernoulli"),
                                                       ("Gaussian (σ = 0.1)", "gaussian")],
                          "bernoulli", tip="p(x|z): Bernoulli pixels (cross-entropy) or a "
                                           "Gaussian with fixed σ")
        self.choice_param("device", "Device", [(d, d) for d in available_devices()], "auto")
        self.int_param("seed", "Seed", 0, 1_000_000, 0,
                       tip="Seeds the weights, the shuffles and the noise: same seed, same run")
        form.addRow(self._build_model_buttons())
        self._update_download_row()

    def _build_download_row(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(3)
        self.download_note = QLabel()
        self.download_note.setWordWrap(True)
        self.download_note.setStyleSheet("QLabel { color: #8b4500; }")
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Fetch the four IDX files (about 30 MB) into "
                                        f"{data.cache_dir()}")
        self.download_button.clicked.connect(lambda: self.start_download())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.setVisible(False)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        self.download_progress = QProgressBar()
        self.download_progress.setRange(0, 1000)
        self.download_progress.setTextVisible(True)
        self.download_progress.setVisible(False)
        self.download_status = QLabel()
        self.download_status.setWordWrap(True)
        self.download_status.setStyleSheet("QLabel { color: #555; font-size: 8pt; }")
        self.download_status.setVisible(False)
        lay.addWidget(self.download_note)
        lay.addLayout(buttons)
        lay.addWidget(self.download_progress)
        lay.addWidget(self.download_status)
        self.download_box = box
        return box

    def _build_model_buttons(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 6, 0, 0)
        grid.setSpacing(4)
        save = QPushButton("Save model…")
        save.setToolTip("Write the weights, optimizer state, settings and history to a file")
        save.clicked.connect(lambda: self.save_model())
        open_ = QPushButton("Open model…")
        open_.setToolTip("Resume a saved run: its settings, weights and history replace "
                         "the current ones (which stay if the file cannot be used)")
        open_.clicked.connect(lambda: self.open_model())
        weights = QPushButton("Load weights into this model…")
        weights.setToolTip("Keep these settings and history, take a saved model's weights "
                           "(same latent size, layers and dataset shape); e.g. train with "
                           "the ELBO, then continue with another β or loss")
        weights.clicked.connect(lambda: self.load_weights())
        grid.addWidget(save, 0, 0)
        grid.addWidget(open_, 0, 1)
        grid.addWidget(weights, 1, 0, 1, 2)
        self.model_buttons = (save, open_, weights)
        return box

    @staticmethod
    def _dataset_items() -> list[tuple[str, str]]:
        found = data.available()
        items = []
        for name in data.KNOWN:
            where = found.get(name)
            state = "bundled" if where == "bundled" else ("found" if where else "not downloaded")
            items.append((f"{DATASET_TITLES.get(name, name)} ({state})", name))
        return items

    def refresh_datasets(self) -> None:
        """Re-check which datasets are on disk and relabel the chooser."""
        box = self._param_widgets["dataset"]
        for i, (text, name) in enumerate(self._dataset_items()):
            j = box.findData(name)
            if j >= 0:
                box.setItemText(j, text)
        self._update_download_row()

    def _dataset_missing(self, name: str | None = None) -> bool:
        name = name or self.param("dataset")
        return name in data.KNOWN and data.available().get(name) is None

    def _update_download_row(self, *_) -> None:
        name = self.param("dataset")
        downloading = self._download is not None
        missing = self._dataset_missing(name)
        self.download_box.setVisible(missing or downloading)
        title = DATASET_TITLES.get(name, name)
        self.download_note.setText(f"{title} is not on this computer. Download it "
                                   f"(about 30 MB) or pick another dataset.")
        self.download_note.setVisible(missing and not downloading)
        self.download_button.setEnabled(not downloading)

    def config(self) -> VAEConfig:
        return VAEConfig(
            dataset=self.param("dataset"), latent=self.param("latent"),
            hidden=self._param_widgets["hidden"].sizes(), likelihood=self.param("likelihood"),
            beta=float(self.param("beta")), loss_mode=self.param("loss_mode"),
            lr=float(self.param("lr")), batch_size=self.param("batch"),
            device=self.param("device"), threads=self.train_threads())

    def train_threads(self) -> int:
        return process_threads() if self.runner_class is ProcessRunner else default_threads()

    def make_factory(self):
        if self._pending_experiment is not None:  # an opened checkpoint, checked already
            (path, device, config), self._pending_experiment = self._pending_experiment, None
            self._run_config = config
            # Built again where it runs: only the file travels, not the model.
            return partial(VAEExperiment.load, path, device=device, threads=self.train_threads())
        name = self.param("dataset")
        if self._dataset_missing(name):
            raise ValueError(f"{DATASET_TITLES.get(name, name)} is not on this computer. "
                             "Press Download under the dataset chooser, or pick another "
                             "dataset.")
        config = self.config().validate()
        seed = self.param("seed")
        self._run_config = config
        return partial(VAEExperiment, config, seed=seed)  # picklable, for the child process

    def _param_changed(self, *args) -> None:
        if not self._syncing:
            super()._param_changed(*args)

    def restore_settings(self, state: dict) -> None:
        state = dict(state)
        hidden = state.pop("hidden", None)
        if hidden is not None:
            try:
                self._param_widgets["hidden"].setValue(hidden)
            except (TypeError, ValueError):
                pass
        super().restore_settings(state)

    def activate(self) -> None:
        self.refresh_datasets()
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

    def clear_views(self) -> None:
        self._reset_view_state()
        self.views.clear()

    def render(self, snap: dict) -> None:
        v = self.views
        self._steps = int(snap.get("step", 0))
        v.show_metrics(snap.get("metrics", {}))
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
        m = snap.get("metrics", {})
        parts = [f"step {snap.get('step', 0):,}",
                 f"epoch {snap.get('epoch', 0.0):,.1f}",
                 f"{snap.get('samples_seen', 0):,} images seen"]
        rate = snap.get("samples_per_s", math.nan)
        if rate == rate and rate > 0:
            parts.append(f"{rate:,.0f} images/s")
        text = " · ".join(parts)
        last = _last_finite(m, ("test_loss", "test_recon", "test_kl"))
        if last is not None:
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
    def save_model(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save VAE model", "vae.pt", FILE_FILTER)
            if not path:
                return
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

    def open_model(self, path: str | None = None) -> None:
        """Resume a saved run in place of the current one. The file is read and the model
        built on a background thread; only if that works is the current run replaced."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open VAE model", "", FILE_FILTER)
            if not path:
                return
        path = str(path)
        device = self.param("device")
        job = BackgroundJob(lambda report, cancelled: VAEExperiment.load(path, device=device),
                            parent=self)
        self._jobs.append(job)
        self.state_label.setText(f"opening {os.path.basename(path)}…")
        job.done.connect(lambda exp: self._on_opened(job, path, exp))
        job.failed.connect(lambda msg: self._on_open_failed(job, path, msg))

    def _finish_job(self, job: BackgroundJob) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        job.close()
        job.deleteLater()

    def _on_open_failed(self, job, path: str, message: str) -> None:
        self._finish_job(job)
        if self.runner is not None:
            self._on_state(self.runner.state)
        self.show_message(f"Could not open {path}:\n{message}\n"
                          "The current model is unchanged.")

    def _on_opened(self, job, path: str, exp: VAEExperiment) -> None:
        self._finish_job(job)
        cfg = exp.config
        self._syncing = True
        try:
            box = self._param_widgets["dataset"]
            if box.findData(cfg.dataset) >= 0:
                box.setCurrentIndex(box.findData(cfg.dataset))
            self._param_widgets["latent"].setValue(cfg.latent)
            self._param_widgets["hidden"].setValue(cfg.hidden)
            self._param_widgets["beta"].setValue(cfg.beta)
            self._param_widgets["lr"].setValue(cfg.lr)
            self._param_widgets["batch"].setValue(cfg.batch_size)
            for name, value in (("loss_mode", cfg.loss_mode), ("likelihood", cfg.likelihood)):
                w = self._param_widgets[name]
                if w.findData(value) >= 0:
                    w.setCurrentIndex(w.findData(value))
            if 0 <= exp.seed <= 1_000_000:
                self._param_widgets["seed"].setValue(int(exp.seed))
        finally:
            self._syncing = False
        # The run loads the file again where it trains (only the path travels).
        self._pending_experiment = (path, self.param("device"), exp.config)
        self.reset(play=False)
        self.show_message(f"Opened {path}: step {exp.steps:,}, epoch {exp.epoch:.1f}, "
                          f"{cfg.dataset}, latent {cfg.latent}. Press Play to continue "
                          f"training it.", error=False)

    def load_weights(self, path: str | None = None) -> None:
        """Put a saved model's weights into the current one (same architecture); on any
        problem the current weights stay."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load weights", "", FILE_FILTER)
            if not path:
                return
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

    # -- downloads -----------------------------------------------------------------------------
    def start_download(self, name: str | None = None) -> None:
        name = name or self.param("dataset")
        if self._download is not None or name not in data.KNOWN or name == "digits":
            return

        def work(report, cancelled):
            try:
                folder = data.fetch(name, progress=lambda done, total, f: report(done, total, f),
                                    cancel=cancelled)
            except data.DownloadCancelled:
                return ("cancelled", "")
            except (OSError, ValueError) as exc:  # DownloadError, no network, disk full
                return ("error", str(exc) or type(exc).__name__)
            return ("ok", str(folder))

        self.clear_message()
        job = BackgroundJob(work, parent=self)
        self._download = job
        job.progress.connect(self._on_download_progress)
        job.done.connect(lambda result: self._on_download_done(job, name, result))
        job.failed.connect(lambda msg: self._on_download_done(job, name, ("error", msg)))
        self.download_progress.setValue(0)
        self.download_progress.setVisible(True)
        self.download_status.setText(f"Connecting to download {DATASET_TITLES[name]}…")
        self.download_status.setVisible(True)
        self.cancel_button.setVisible(True)
        self._update_download_row()

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()
            self.download_status.setText("Cancelling…")

    def _on_download_progress(self, args) -> None:
        done, total, filename = args
        names = [f + ".gz" for f in data.IDX_FILES.values()]
        index = names.index(filename) if filename in names else 0
        fraction = done / total if total else 0.0
        self.download_progress.setValue(int(1000 * (index + fraction) / len(names)))
        size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        self.download_status.setText(f"{filename}: {size} (file {index + 1} of {len(names)})")

    def _on_download_done(self, job: BackgroundJob, name: str, result) -> None:
        if job is not self._download:
            return
        self._download = None
        job.close()
        job.deleteLater()
        kind, detail = result
        self.download_progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.download_status.setVisible(False)
        self.refresh_datasets()
        title = DATASET_TITLES[name]
        if kind == "ok":
            if self.param("dataset") == name:
                self.reset()
            self.show_message(f"Downloaded {title} to {detail}.", error=False)
        elif kind == "cancelled":
            self.show_message(f"Download of {title} cancelled; nothing was kept.", error=False)
        else:
            self.show_message(
                f"Could not download {title}. Is this computer offline?\n{detail}\n\n"
                f"Without a connection, copy the four IDX files ({', '.join(data.IDX_FILES.values())}, "
                f"each optionally .gz) into {data.cache_dir() / name} or a folder named by "
                "$VIGUI_DATA_DIR, then choose the dataset again.")

    # -- lifecycle --------------------------------------------------------------------------
    def close_page(self) -> None:
        for job in [*self._jobs, *([self._download] if self._download else [])]:
            job.close()
        self._jobs.clear()
        self._download = None
        super().close_page()

    def prepare_screenshot(self) -> None:
        self._syncing = True
        try:
            self.restore_settings({"dataset": "digits", "latent": 2, "hidden": "256",
                                   "beta": 1.0, "lr": 1e-3, "batch": 128, "loss_mode": "elbo",
                                   "likelihood": "bernoulli", "device": "cpu", "seed": 0})
        finally:
            self._syncing = False
        self._shot = True
        self.reset(play=True)

    def screenshot_ready(self) -> bool:
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
        labels, latent = self._labels, self._latent
        centres = [latent[labels == k].mean(0) for k in np.unique(labels)]
        a, b = max(combinations(centres, 2), key=lambda p: float(np.sum((p[0] - p[1]) ** 2)))
        self._point_a = self._point_b = None
        self.pick_latent(*a)
        self.pick_latent(*b)


def _last_finite(metrics: dict, keys) -> tuple[float, ...] | None:
    cols = [metrics.get(k) for k in keys]
    if any(c is None or len(c) == 0 for c in cols):
        return None
    ok = np.flatnonzero(np.isfinite(cols[0]))
    if len(ok) == 0:
        return None
    i = ok[-1]
    return tuple(float(c[i]) for c in cols)


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
