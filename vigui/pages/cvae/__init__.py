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
from functools import partial

import numpy as np
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
    QVBoxLayout,
    QWidget,
)

from engine.cvae.tasks import TASK_LABELS, mask_to_string
from vigui.pages.cvae.canvas import DrawingCanvas
from vigui.pages.cvae.views import (
    LEGEND_HTML,
    CompletionRow,
    CurvesView,
    KLView,
    NCLLTableView,
    StripView,
)
from vigui.pages.trainer import TrainerPage
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED, RUNNING
from vigui.widgets import styles
from vigui.widgets.datasets import dataset_title
from vigui.widgets.layout import Block, WrapRow, laid_out
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import SEED, ParamForm

__all__ = ["CVAEPage"]

FIELDS = ["dataset", "task", "hidden", "latent", "lr", "patience", "kl_warmup", "free_bits",
          "free_bits_scaling", "residual", "device", "seed"]
SCREENSHOT = {"dataset": "digits", "task": "q1", "hidden": [500, 500], "latent": 16,
              "lr": 1e-3, "patience": 3, "kl_warmup": 0, "free_bits": 3.0,
              "free_bits_scaling": "hidden2", "residual": True,
              "device": "cpu", "seed": 0}  # the page's defaults
N_DRAW = 8  # completions of the drawing
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


class CVAEPage(TrainerPage):
    max_fps = 10.0
    model_what, model_file, load_weights_button = "CVAE model", "cvae.pt", False
    screenshot_params = SCREENSHOT

    def init_state(self) -> None:
        super().init_state()
        self._custom_mask: np.ndarray | None = None
        self._cache = tempfile.mkdtemp(prefix="vigui-cvae-")
        self._cached: dict[str, str] = {}  # config key -> checkpoint of a finished run
        self._eval_runner: ProcessRunner | None = None
        self._run_key = None
        self._run_config = None
        self._model_mask: np.ndarray | None = None
        self._phase = None
        self._steps = 0
        self.completions_version = 0
        self._test_index = 0

    # -- parameters ----------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        from engine.cvae import CVAEConfig  # torch: only once the page is opened

        form = ParamForm(CVAEConfig, FIELDS, extra=[SEED], overrides={
            "residual": {"label": "+ baseline logits"}, "kl_warmup": {"label": "KL warm-up"}})
        for name in ("dataset", "task"):  # long item texts must not widen the column
            combo = form.widget(name)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.samples = QSpinBox()
        self.samples.setRange(1, 12)
        self.samples.setValue(4)
        self.samples.setToolTip("CVAE samples per input in the Figure 14 strip")
        self.samples.valueChanged.connect(self._samples_changed)
        row, lay = laid_out(QHBoxLayout)
        lay.addWidget(QLabel("Samples shown"))
        lay.addWidget(self.samples)
        form.add_row(row)
        files = self.trainer.file_buttons()
        files.save.setToolTip("Both networks, the observed part (mask), settings and history")
        form.add_row(files)
        form.add_row(self._build_evaluate_box())
        self.run.ready.connect(self._on_ready)
        self.run.state_changed.connect(self._on_state)
        return form

    def _build_evaluate_box(self) -> QWidget:
        box, lay = laid_out(QGridLayout, margins=(0, 6, 0, 0))
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
        self.eval_stage = styles.label(styles.NOTE, wrap=False)
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
        return self.params.config(task=task, mask=mask, threads=self.train_threads())

    def _key(self, config) -> str:
        plain = {k: v for k, v in config.to_dict().items() if k not in ("device", "threads")}
        plain["seed"] = self.param("seed")
        return hashlib.sha1(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]

    def make_factory(self):
        from engine.cvae import CVAEExperiment

        opened = self.trainer.take_opened()
        if opened is not None:
            self._run_key = None  # an opened file is not this page's to cache
            return opened
        self.trainer.require()
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
    compare_columns = ("baseline_val", "cvae_val")

    def compare_plots(self) -> dict:
        plot = self.curves.getPlotItem()
        return {"baseline_val": plot, "cvae_val": plot}

    def build_views(self) -> QWidget:
        # A column (not a splitter): its wrapped texts ask for their height, so a zoomed
        # page on a short screen scrolls instead of squeezing the strip and the table.
        root, column = laid_out(spacing=4)
        self.curves = CurvesView()
        self.kl_view = KLView()
        self.table = NCLLTableView()
        # The table's five columns of numbers need the most room: it gets most of any width
        # the row gains; a row too narrow for all three (zoomed) puts it under the plots.
        top = WrapRow([self.curves, self.kl_view, self.table], [2, 1, 3])
        self.top_row = top

        middle = Block()
        mlay = QVBoxLayout(middle)
        mlay.setContentsMargins(0, 0, 0, 0)
        mlay.setSpacing(1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(styles.SUMMARY)
        self.summary.setToolTip(
            "Samples' spread: each hidden pixel's standard deviation across the completions "
            "of one input, averaged over its hidden pixels and the strip's images, ± its "
            "standard error over those images (\"± ?\": a frame saved before it was measured)")
        self.summary.setMinimumWidth(50)
        legend = QLabel(LEGEND_HTML)
        legend.setStyleSheet(styles.SMALL)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(legend, 0)
        mlay.addLayout(head)
        self.strip = StripView()
        # readable tiles even zoomed on a short screen (the views scroll instead)
        self.strip.setMinimumHeight(190)
        mlay.addWidget(self.strip, 1)

        bottom = Block()
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
        self.draw_note.setStyleSheet(styles.NOTE)
        self.completions = CompletionRow()
        right.addWidget(self.draw_note)
        right.addWidget(self.completions, 1)
        blay.addLayout(right, 5)

        for part, stretch in ((top, 23), (middle, 30), (bottom, 22)):
            column.addWidget(part, stretch)
        return root

    def _build_tools(self) -> QWidget:
        box, lay = laid_out(spacing=2)
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
        self.kl_view.clear_curves()
        self.strip.clear_image()
        self.summary.setText("")
        self._phase = None
        self._steps = 0
        self.live.invalidate()  # an answer for the old run is dropped
        opened, self._frame_to_draw = getattr(self, "_frame_to_draw", None), None
        if opened is not None:  # the run of a file just opened is being built
            self._draw_saved_frame(*opened)

    def _draw_saved_frame(self, path: str, info) -> None:
        """The views saved beside the file (:mod:`vigui.pages.frames`: the strip, test
        image 0 and its completions), drawn at once while the child process loads the
        model; once loaded it draws the same again. A frame of another step is not drawn."""
        from engine.core.runtime import MetricStore
        from vigui.pages.frames import frame_path, load_frame

        frame = load_frame(frame_path(path))
        if frame is None or frame.get("step") != info.step:
            return
        try:
            frame["metrics"] = MetricStore.from_state(info.metrics)
            # as if this step's run had been drawn: no cache copy, no completions asked for
            self._phase, self.live.step = frame.get("phase"), int(frame["step"])
            self.render(frame)
            self._model_mask = frame["observed"].copy()
            self.canvas.set_content(image=frame["canvas_image"], mask=self._model_mask)
            self._update_mask_button()
            self.completions.show_completions(frame["draw_baseline"], frame["draw_samples"],
                                              self._model_mask)
        except (KeyError, TypeError, ValueError):
            return
        self.completions_version += 1

    def render(self, snap: dict) -> None:
        self._steps = int(snap.get("step", 0))
        self.curves.show_metrics(snap["metrics"])
        self.kl_view.show_metrics(snap["metrics"])
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
        if self.live.due(self._steps):
            self.request_completions()

    def _summary(self, snap: dict) -> str:
        text = f"<b>{PHASES.get(snap.get('phase'), '')}</b><br>step {snap.get('step', 0):,}"
        text += f" · epochs {snap.get('epoch_baseline', 0):.1f} + {snap.get('epoch_cvae', 0):.1f}"
        rate = snap.get("samples_per_s", math.nan)
        if rate == rate and rate > 0:
            text += f" · {rate:,.0f} images/s"
        spread = snap.get("spread_mean")
        if spread is not None:  # ± over the strip's images; "± ?" in a frame saved before
            text += (f"<br>samples' spread {fmt_se(spread, snap.get('spread_mean_se', math.nan))}"
                     f" per hidden pixel (std over {snap.get('spread_samples', 16)} draws "
                     "of z)")
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
        if self._model_mask is not None and self.canvas.image.shape != self._model_mask.shape:
            return  # the canvas still shows another dataset's image: wait for this one's
        self.live.ask_latest(self.run, partial(_complete, self.canvas.image.copy(), N_DRAW),
                             on_done=self._on_completions, on_error=self._on_completion_error)

    def _on_completions(self, result) -> None:
        if result is not None:
            steps, out, observed = result
            self.live.step = steps
            self.completions.show_completions(out["baseline"], out["samples"], observed)
            self.completions_version += 1

    def _on_completion_error(self, message: str) -> None:
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
            runner.release()  # the child ends on its own: no join on the GUI thread
            runner.deleteLater()
        self.evaluate_button.setEnabled(True)
        self.cancel_eval.setEnabled(False)

    @property
    def evaluating(self) -> bool:
        return self._eval_runner is not None

    # -- model files (TrainerPage) ----------------------------------------------------------------
    def peek_model(self, path: str, device: str | None):
        from engine.cvae import CVAEExperiment

        return CVAEExperiment.peek(path, device=device)  # a worker thread: no model, no Qt

    def load_factory(self, path: str):
        from engine.cvae import CVAEExperiment

        return partial(CVAEExperiment.load, path, device=self.param("device"),
                       threads=self.train_threads())

    def opened(self, path: str, config, info) -> str:
        if config.task == "custom":
            from engine.cvae.tasks import mask_from_string
            self._custom_mask = mask_from_string(config.mask, tuple(info.extra["shape"]))
        phase = PHASES.get(info.extra.get("phase"), "")
        self._frame_to_draw = (path, info)  # drawn as the file's run is reset (clear_views)
        return (f"Opened {path}: {TASK_LABELS[config.task]}, {config.dataset}, step "
                f"{info.step:,} ({phase}).")

    def saved_text(self, path: str, steps: int) -> str:
        return f"Saved both networks at step {steps:,} to {path}"

    # -- lifecycle ------------------------------------------------------------------------------------
    def close_page(self) -> None:
        self._close_eval()
        super().close_page()
        shutil.rmtree(self._cache, ignore_errors=True)

    def prepare_screenshot(self) -> None:
        self.samples.setValue(6)
        super().prepare_screenshot()

    def screenshot_ready(self) -> bool:
        if super().screenshot_ready():
            return True
        return (self._phase == "done" and not self._shot and not self.evaluating
                and self.completions_version > 0)
