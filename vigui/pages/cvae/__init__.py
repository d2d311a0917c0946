"""Chapter 5: the conditional VAE, completing images whose pixels are partly hidden.

Parameters on the left (dataset, observed part, networks, training; Save / Open; the
Evaluate run with its progress bar), views in the middle: the loss curves of the
baseline and the CVAE (train and validation), the NCLL table for 1/2/3 observed
quadrants, the lecture's Figure 14 strip and a drawing canvas whose completions refresh
as one draws. Training runs in a child process (ProcessRunner), like the VAE's; every
use of the model from here goes through ``runner.call``.

Choosing another observed part ("mask") starts another run: a model already trained to
its early stop for that mask (same dataset, networks and seed) is reopened from this
page's cache instead of trained again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.core.params import Param
from engine.cvae.tasks import TASK_LABELS, mask_to_string
from vigui.pages.base import ExperimentPage
from vigui.pages.cvae.canvas import DrawingCanvas
from vigui.pages.cvae.views import LEGEND_HTML, CompletionRow, CurvesView, NCLLTableView, StripView
from vigui.pages.vae import process_threads
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED, RUNNING
from vigui.widgets.datasets import dataset_title
from vigui.widgets.model_files import ModelFileButtons
from vigui.widgets.param_form import ParamForm

__all__ = ["CVAEPage", "process_threads"]

FIELDS = ["dataset", "task", "hidden", "latent", "lr", "patience", "kl_warmup", "residual",
          "device", "seed"]
SEED = Param(name="seed", kind="int", default=0, lo=0, hi=1_000_000, label="Seed",
             help="Seeds the weights, the shuffles and the noise: same seed, same run")
SCREENSHOT = {"dataset": "digits", "task": "q1", "hidden": [256, 256], "latent": 16,
              "lr": 1e-3, "patience": 10, "kl_warmup": 30, "residual": True, "device": "cpu",
              "seed": 0}
N_DRAW = 8  # completions of the drawing
REFRESH_S = 1.0  # while training, the drawing's completions follow the model this often
PHASES = {"baseline": "training the baseline", "cvae": "training the CVAE",
          "done": "both networks trained"}


# -- functions run in the child process, next to the model --------------------------------
def _complete(image, n, exp):
    return exp.steps, exp.complete(image, n, seed=0), exp.observed


def _test_image(index, exp):
    return exp.test_image(index), exp.observed


def _save(path, exp):
    exp.save(path)
    return exp.steps, exp.phase


def _set_samples(n, exp):
    exp.set_samples(n)


def _metrics_delta(cursor, exp):
    return exp.metrics.delta(cursor)


class CVAEPage(ExperimentPage):
    page_id = "cvae"
    title = "Conditional VAE"
    theory = "cvae"
    max_fps = 10.0
    view_budget = 0.06
    runner_class = ProcessRunner

    # -- parameters ----------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        from engine.cvae import CVAEConfig  # torch: only once the page is opened

        self._custom_mask: np.ndarray | None = None
        self._pending_open = None
        self._cache = tempfile.mkdtemp(prefix="vigui-cvae-")
        self._cached: dict[str, str] = {}  # config key -> checkpoint of a finished run
        self._eval_runner: ProcessRunner | None = None
        self._shot = False
        form = ParamForm(CVAEConfig, FIELDS, extra=[SEED], overrides={
            "residual": {"label": "+ baseline logits"}, "kl_warmup": {"label": "KL warm-up"}})
        for name in ("dataset", "task"):  # long item texts must not widen the column
            combo = form.widget(name)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.datasets = form.widget("dataset")
        self.datasets.message.connect(self.show_message)
        self.datasets.downloaded.connect(self._on_downloaded)
        self.samples = QSpinBox()
        self.samples.setRange(1, 12)
        self.samples.setValue(4)
        self.samples.setToolTip("CVAE samples per input in the Figure 14 strip")
        self.samples.valueChanged.connect(self._samples_changed)
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Samples shown"))
        lay.addWidget(self.samples)
        form.add_row(row)
        self.model_files = ModelFileButtons("CVAE model", default_name="cvae.pt", weights=False)
        self.model_files.save.setToolTip("Both networks, the observed part (mask), settings "
                                         "and history")
        self.model_files.save_requested.connect(self.save_model)
        self.model_files.open_requested.connect(self.open_model)
        form.add_row(self.model_files)
        form.add_row(self._build_evaluate_box())
        self.run.ready.connect(self._on_ready)
        self.run.state_changed.connect(self._on_state)
        return form

    def _on_downloaded(self, name: str) -> None:
        if self.param("dataset") == name:
            self.reset()

    def activate(self) -> None:
        self.datasets.refresh()
        super().activate()

    def _build_evaluate_box(self) -> QWidget:
        box = QWidget()
        lay = QGridLayout(box)
        lay.setContentsMargins(0, 6, 0, 0)
        self.evaluate_button = QPushButton("Evaluate 1/2/3")
        self.evaluate_button.setToolTip(
            "Test-set NCLL for 1, 2 and 3 observed quadrants with these settings: trained "
            "models are reused, the others are trained first (training here pauses)")
        self.evaluate_button.clicked.connect(lambda: self.evaluate())
        self.cancel_eval = QPushButton("Cancel")
        self.cancel_eval.clicked.connect(self.cancel_evaluation)
        self.cancel_eval.setEnabled(False)
        self.eval_progress = QProgressBar()
        self.eval_progress.setRange(0, 1000)
        self.eval_progress.setValue(0)
        self.eval_progress.setFormat("%p%")
        self.eval_stage = QLabel("")
        self.eval_stage.setStyleSheet("QLabel { color: #555; font-size: 8pt; }")
        lay.addWidget(self.evaluate_button, 0, 0)
        lay.addWidget(self.cancel_eval, 0, 1)
        lay.addWidget(self.eval_progress, 1, 0, 1, 2)
        lay.addWidget(self.eval_stage, 2, 0, 1, 2)
        return box

    def config(self, task: str | None = None):
        """The validated config of the parameters shown (for ``task``, default the one
        chosen); ValueError naming a bad parameter, or asking for a drawn mask."""
        task = task or self.param("task")
        mask = ""
        if task == "custom":
            if self._custom_mask is None:
                raise ValueError("Draw a mask first: choose Hide / Show on the canvas, mark "
                                 "pixels, then press 'Train on this mask'.")
            mask = mask_to_string(self._custom_mask)
        return self.params.config(task=task, mask=mask, threads=process_threads())

    def _key(self, config) -> str:
        plain = {k: v for k, v in config.to_dict().items() if k not in ("device", "threads")}
        plain["seed"] = self.param("seed")
        return hashlib.sha1(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]

    def make_factory(self):
        from engine.cvae import CVAEExperiment

        if self._pending_open is not None:
            path, self._pending_open = self._pending_open, None
            self._run_key = None  # an opened file is not this page's to cache
            return partial(CVAEExperiment.load, path, device=self.param("device"),
                           threads=process_threads())
        self.datasets.require()
        config = self.config()
        self._run_key = self._key(config)
        self._run_config = config
        cached = self._cached.get(self._run_key)
        if cached and os.path.exists(cached):  # trained already: reopen, do not retrain
            return partial(CVAEExperiment.load, cached, device=config.device,
                           threads=config.threads)
        return partial(CVAEExperiment, config, seed=self.param("seed"))

    def restore_settings(self, state: dict) -> None:
        if isinstance(state, dict) and state.get("task") == "custom":
            state = {k: v for k, v in state.items() if k != "task"}  # a drawing is not kept
        super().restore_settings(state)

    # -- views ---------------------------------------------------------------------------------
    def build_views(self) -> QWidget:
        self._run_key = None
        self._run_config = None
        self._model_mask: np.ndarray | None = None
        self._phase = None
        self._steps = 0
        self._draw_busy = False
        self._draw_dirty = False
        self._draw_time = 0.0
        self._draw_step = -1
        self.completions_version = 0
        self._test_index = 0

        root = QSplitter(Qt.Vertical)
        top = QSplitter(Qt.Horizontal)
        self.curves = CurvesView()
        self.table = NCLLTableView()
        top.addWidget(self.curves)
        top.addWidget(self.table)
        top.setSizes([430, 330])

        middle = QWidget()
        mlay = QVBoxLayout(middle)
        mlay.setContentsMargins(0, 0, 0, 0)
        mlay.setSpacing(1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("QLabel { font-size: 9pt; }")
        self.summary.setMinimumWidth(50)
        legend = QLabel(LEGEND_HTML)
        legend.setStyleSheet("QLabel { font-size: 8pt; }")
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(legend, 0)
        mlay.addLayout(head)
        self.strip = StripView()
        mlay.addWidget(self.strip, 1)

        bottom = QWidget()
        blay = QHBoxLayout(bottom)
        blay.setContentsMargins(0, 0, 0, 0)
        blay.addWidget(self._build_tools())
        self.canvas = DrawingCanvas()
        self.canvas.edited.connect(self._on_canvas_edited)
        self.canvas.setMaximumWidth(230)
        blay.addWidget(self.canvas, 2)
        right = QVBoxLayout()
        self.draw_note = QLabel("Draw in the given (blue) part: the completions follow.")
        self.draw_note.setWordWrap(True)
        self.draw_note.setStyleSheet("QLabel { font-size: 8pt; color: #444; }")
        self.completions = CompletionRow()
        right.addWidget(self.draw_note)
        right.addWidget(self.completions, 1)
        blay.addLayout(right, 5)

        root.addWidget(top)
        root.addWidget(middle)
        root.addWidget(bottom)
        root.setSizes([230, 300, 220])
        return root

    def _build_tools(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.tool_group = QButtonGroup(box)
        for i, (tool, text, tip) in enumerate((
                ("paint", "Paint", "Add ink to the given pixels"),
                ("erase", "Erase", "Remove ink"),
                ("hide", "Hide", "Mark pixels hidden (a mask of your own)"),
                ("show", "Show", "Mark pixels given"))):
            b = QRadioButton(text)
            b.setToolTip(tip)
            b.setChecked(i == 0)
            b.toggled.connect(lambda on, t=tool: on and self.canvas.set_tool(t))
            self.tool_group.addButton(b)
            lay.addWidget(b)
        clear = QPushButton("Clear")
        clear.setToolTip("Erase all ink")
        clear.clicked.connect(lambda: self.canvas.clear_ink())
        test = QPushButton("Test image")
        test.setToolTip("Start from the next test image")
        test.clicked.connect(lambda: self.start_drawing_from_test(self._test_index + 1))
        self.train_mask = QPushButton("Train on\nthis mask")
        self.train_mask.setToolTip("Train the baseline and the CVAE for the mask drawn here")
        self.train_mask.clicked.connect(self.train_on_drawn_mask)
        self.train_mask.setEnabled(False)
        for b in (clear, test, self.train_mask):
            lay.addWidget(b)
        lay.addStretch(1)
        return box

    def clear_views(self) -> None:
        self.curves.clear_curves()
        self.strip.clear_image()
        self.summary.setText("")
        self._phase = None
        self._steps = 0
        self._draw_busy = self._draw_dirty = False
        self._draw_step = -1

    def render(self, snap: dict) -> None:
        self._steps = int(snap.get("step", 0))
        self.curves.show_metrics(snap["metrics"])
        if "observed" not in snap:
            return
        phase = snap.get("phase")
        if self._model_mask is None or not np.array_equal(self._model_mask, snap["observed"]):
            self._model_mask = snap["observed"].copy()
            if self.canvas.image.shape != self._model_mask.shape:  # another dataset: blank
                self.canvas.set_content(image=np.zeros(self._model_mask.shape, np.float32),
                                        mask=self._model_mask)
            else:
                self.canvas.set_content(mask=self._model_mask)
            self._update_mask_button()
        self.strip.show_strip(snap)
        self.summary.setText(self._summary(snap))
        if phase == "done" and self._phase != "done":
            self._cache_finished_run()
        self._phase = phase
        if not self._draw_busy and self._steps != self._draw_step and \
                time.monotonic() - self._draw_time > REFRESH_S:
            self.request_completions()

    def _summary(self, snap: dict) -> str:
        text = f"<b>{PHASES.get(snap.get('phase'), '')}</b><br>step {snap.get('step', 0):,}"
        text += f" · epochs {snap.get('epoch_baseline', 0):.1f} + {snap.get('epoch_cvae', 0):.1f}"
        rate = snap.get("samples_per_s", math.nan)
        if rate == rate and rate > 0:
            text += f" · {rate:,.0f} images/s"
        return text

    def _on_ready(self, device: str) -> None:
        self.start_drawing_from_test(self._test_index)
        if self.samples.value() != 4:
            self.run.call(partial(_set_samples, self.samples.value()))

    def _on_state(self, state: str) -> None:
        if state != RUNNING and self.runner is not None:
            self.runner.request_frame()  # the strip shows the final model

    def _samples_changed(self, n: int) -> None:
        self.run.call(partial(_set_samples, n),
                      on_done=lambda _: self.runner is not None and self.runner.request_frame())

    # -- the drawing ----------------------------------------------------------------------------
    def start_drawing_from_test(self, index: int = 0) -> None:
        """Put test image ``index`` on the canvas (with the model's mask)."""
        if self.runner is None:
            return
        self._test_index = int(index)

        def done(result):
            if result is None:
                return
            image, observed = result
            self._model_mask = observed.copy()
            self.canvas.set_content(image=image, mask=observed)
            self._update_mask_button()
            self.request_completions()

        self.run.call(partial(_test_image, self._test_index), on_done=done,
                      on_error=lambda msg: self.show_message(msg))

    def drawing_ready(self) -> bool:
        return self.completions_version > 0

    def _on_canvas_edited(self, kind: str) -> None:
        if kind == "mask":
            self._update_mask_button()
        self.request_completions()

    def _update_mask_button(self) -> None:
        drawn = self.canvas.mask
        differs = self._model_mask is None or not np.array_equal(drawn, self._model_mask)
        self.train_mask.setEnabled(differs)
        self.draw_note.setText(
            "The mask drawn differs from the model's: its completions still use the model's "
            "mask. Press 'Train on this mask' to train for yours." if differs else
            "Draw in the given (blue) part: the baseline's and the CVAE's completions follow.")

    def request_completions(self) -> None:
        """Ask the model (in its process) to complete the canvas; one request at a time,
        the newest drawing wins."""
        if self.runner is None:
            return
        if self._draw_busy:
            self._draw_dirty = True
            return
        if self._model_mask is not None and self.canvas.image.shape != self._model_mask.shape:
            return  # the canvas still shows another dataset's image: wait for this one's
        self._draw_busy, self._draw_dirty = True, False
        self._draw_time = time.monotonic()
        image = self.canvas.image.copy()
        self.run.call(partial(_complete, image, N_DRAW), on_done=self._on_completions,
                      on_error=self._on_completion_error)

    def _on_completions(self, result) -> None:
        self._draw_busy = False
        if result is not None:
            steps, out, observed = result
            self._draw_step = steps
            self.completions.show_completions(out["baseline"], out["samples"], observed)
            self.completions_version += 1
        if self._draw_dirty:
            self.request_completions()

    def _on_completion_error(self, message: str) -> None:
        self._draw_busy = False
        if self._draw_dirty:  # a newer drawing is waiting: it may well work
            self.request_completions()
        else:
            self.show_message(f"Could not complete the drawing: {message}")

    def train_on_drawn_mask(self) -> None:
        """Train both networks for the mask drawn on the canvas (task 'custom')."""
        self._custom_mask = self.canvas.mask.copy()
        self.params.set_values({"task": "custom"})  # no reset per field: one, here
        self.reset(play=True)

    # -- the model cache: a mask chosen again is reopened, not retrained --------------------------
    def _cache_finished_run(self) -> None:
        key = self._run_key
        if self.runner is None or key is None or key in self._cached:
            return
        path = os.path.join(self._cache, f"{key}.pt")

        def done(result):
            if result is not None:
                self._cached[key] = path
                if self._shot:  # the screenshot shows the table too
                    self._shot = False
                    self.evaluate()

        self.run.call(partial(_save, path), on_done=done)

    def cached_path(self, task: str) -> str | None:
        try:
            key = self._key(self.config(task))
        except ValueError:
            return None
        path = self._cached.get(key)
        return path if path and os.path.exists(path) else None

    # -- the NCLL table ----------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Fill the table in a second child process (training pauses meanwhile)."""
        from engine.cvae import NCLLTable

        if self._eval_runner is not None:
            return
        try:
            config = self.config("q1")
        except ValueError as exc:
            self.show_message(str(exc))
            return
        checkpoints = {t: p for t in ("q1", "q2", "q3") if (p := self.cached_path(t))}
        if self.runner is not None and self.runner.state == RUNNING:
            self.pause()
        runner = ProcessRunner(partial(NCLLTable, config, self.param("seed"), None, checkpoints),
                               max_fps=4.0, view_budget=0.05, parent=self)
        runner.snapshot_ready.connect(self._on_eval_snapshot)
        runner.state_changed.connect(self._on_eval_state)
        runner.failed.connect(lambda msg: self.show_message(f"Evaluation failed: {msg}"))
        self._eval_runner = runner
        self.table.clear_rows()
        self.eval_progress.setValue(0)
        self.eval_stage.setText("starting…")
        self.evaluate_button.setEnabled(False)
        self.cancel_eval.setEnabled(True)
        runner.play()

    def _on_eval_snapshot(self, snap: dict) -> None:
        self.eval_progress.setValue(int(1000 * snap.get("progress", 0.0)))
        self.eval_stage.setText(snap.get("stage", ""))
        self.table.show_rows(snap.get("rows", {}))
        name = self.param("dataset")
        self.table.note.setText(f"{dataset_title(name)} test set, nats per image; "
                                "the best of each row in bold.")

    def _on_eval_state(self, state: str) -> None:
        if state in (FINISHED, FAILED):
            self._close_eval()
            if state == FINISHED:
                self.eval_progress.setValue(1000)
                self.eval_stage.setText("done")

    def cancel_evaluation(self) -> None:
        if self._eval_runner is not None:
            self._close_eval()
            self.eval_stage.setText("cancelled")

    def _close_eval(self) -> None:
        runner, self._eval_runner = self._eval_runner, None
        if runner is not None:
            for signal in (runner.snapshot_ready, runner.state_changed, runner.failed):
                signal.disconnect()
            runner.close()
            runner.deleteLater()
        self.evaluate_button.setEnabled(True)
        self.cancel_eval.setEnabled(False)

    @property
    def evaluating(self) -> bool:
        return self._eval_runner is not None

    # -- save / open ---------------------------------------------------------------------------------
    def save_model(self, path: str) -> None:
        """Both networks, the task (mask), settings and history to ``path``."""
        if self.runner is None:
            self.show_message("There is no model to save: press Reset to build one.")
            return
        path = str(path)

        def done(result):
            if result is None:
                self.show_message("The model is still being built; save again in a moment.")
            else:
                self.show_message(f"Saved both networks at step {result[0]:,} to {path}",
                                  error=False)

        self.run.call(partial(_save, path), on_done=done,
                      on_error=lambda msg: self.show_message(f"Could not save to {path}:\n{msg}"))

    def open_model(self, path: str) -> None:
        """Reopen a saved model. The file's config is read first (a cheap peek: no model,
        no dataset); only if it is a CVAE checkpoint does a run that loads it where it
        trains replace the current one."""
        from engine.cvae import CVAEExperiment

        path = str(path)
        try:
            config, info = CVAEExperiment.peek(path, device=self.param("device"))
        except Exception as exc:  # CheckpointError, OSError, ...: say so, keep this run
            self.show_message(f"Could not open {path}:\n{exc}\nThe current model is unchanged.")
            return
        if config.task == "custom":
            from engine.cvae.tasks import mask_from_string
            self._custom_mask = mask_from_string(config.mask, tuple(info.extra["shape"]))
        shown = {name: value for name, value in config.to_dict().items()
                 if name in self.params.fields and name != "device"}
        seed = info.extra.get("seed")
        if isinstance(seed, int) and 0 <= seed <= SEED.hi:
            shown["seed"] = seed
        self.params.restore(shown, emit=False)  # the file's settings, no reset per field
        self._pending_open = path
        self.reset(play=False)
        phase = PHASES.get(info.extra.get("phase"), "")
        self.show_message(f"Opened {path}: {TASK_LABELS[config.task]}, {config.dataset}, step "
                          f"{info.step:,} ({phase}).", error=False)

    # -- lifecycle ------------------------------------------------------------------------------------
    def close_page(self) -> None:
        self._close_eval()
        self.datasets.close_jobs()
        super().close_page()
        shutil.rmtree(self._cache, ignore_errors=True)

    def prepare_screenshot(self) -> None:
        self.params.restore(SCREENSHOT, emit=False)
        self.samples.setValue(6)
        self._shot = True
        self.reset(play=True)

    def screenshot_ready(self) -> bool:
        runner = self.runner
        if runner is None or runner.state == FAILED:
            return True
        return (self._phase == "done" and not self._shot and not self.evaluating
                and self.completions_version > 0)
