"""Chapter 6: Bayes by Backprop — uncertainty bands that widen where there is no data.

Two tasks, each a tab with its own run, parameters and views:

* **Regression** (the lecture's Figure 15): BBB and a plain network of the same shape
  fit the same 1-D points; click the fit to add a point, click a point to remove it;
  a slider prunes the lowest-SNR weights from the drawn fit.
* **Classification**: a BBB MLP and a plain MLP on digits or the MNIST family: test
  errors, the pruning curve, predictive entropies on test and off-data images.

Both train in a child process (:class:`~vigui.run.process.ProcessRunner`, as the VAE
page): the page's drawing and the training then do not take turns on one interpreter
lock. Even the tiny regression gains: bench/bbb.py --gui measured 0.79x its headless
steps/s with the child process and 0.56x with the thread runner, the page drawing live
(2 cores). The models live there; the page reaches them through ``run.call``.
"""
from __future__ import annotations

import os
from functools import partial

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from engine.bbb import ClassificationExperiment, ClassifyConfig, RegressionConfig, RegressionExperiment
from engine.bbb.regression import GRID, PLOT_RANGE, TRAIN_RANGE, make_curve, true_curve
from engine.core import checkpoint
from engine.core.params import Param
from vigui.pages.base import Page
from vigui.pages.bbb.views import ClassifyView, RegressionView
from vigui.run.control import RunButtons, RunControl
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED
from vigui.widgets.model_files import ModelFileButtons
from vigui.widgets.param_form import ParamForm

__all__ = ["BBBPage", "make_regression"]

SEED = Param(name="seed", kind="int", default=0, lo=0, hi=10**6, label="Seed",
             help="seeds the weights, the batches and the noise: same seed, same run")
#: parameters that define the regression's points: changing one draws new points
DATA_FIELDS = ("function", "n_points", "noise_std", "data_file")
SCREENSHOT_EPOCHS = {"bbb-regression": 500, "bbb-classify": 30}  # fixed-length screenshot runs


def make_regression(config: RegressionConfig, seed: int, points=None, prune: float = 0.0):
    """The regression experiment as the page runs it (built in the child process)."""
    exp = RegressionExperiment(config, seed=seed, points=points)
    exp.set_prune(prune)
    return exp


def _train_threads() -> int:
    """Torch threads in the child: leave a core to the GUI (2 cores: one thread)."""
    n = os.cpu_count() or 1
    return max(1, min(n - 1, 8))


class TaskSection(QObject):
    """One task's run (:class:`RunControl`), buttons, parameter form and view."""

    title = ""
    kind = ""  # the checkpoint kind this task opens
    max_fps = 15.0
    view_budget = 0.10
    shot_epochs: int | None = None  # screenshots: a run of fixed length

    def __init__(self, page: BBBPage):
        super().__init__(page)
        self.page = page
        self._opened: str | None = None  # a checkpoint to resume at the next reset
        self.run = RunControl(self.make_factory, runner_class=ProcessRunner, max_fps=self.max_fps,
                              view_budget=self.view_budget, parent=self)
        self.controls = QWidget()
        lay = QVBoxLayout(self.controls)
        lay.setContentsMargins(0, 0, 0, 0)
        self.buttons = RunButtons(self.run)
        lay.addWidget(self.buttons)
        self.params = self.build_params()
        lay.addWidget(self.params)
        self.files = ModelFileButtons(f"{self.title} model", default_name=f"bbb-{self.kind[4:]}.pt",
                                      weights=False)
        self.files.save_requested.connect(self.save_model)
        self.files.open_requested.connect(self.open_model)
        lay.addWidget(self.files)
        lay.addStretch(1)
        self.view = self.build_view()
        self._show_prior_fields()
        self.params.changed.connect(self._param_changed)
        self.run.frame.connect(self.view.render)
        self.run.resetting.connect(self._resetting)
        self.run.rejected.connect(page.show_message)
        self.run.failed.connect(lambda m: page.show_message(
            f"{m}\n\nThe last good state is shown. Press Reset to start again."))
        self.run.progress.connect(lambda steps, rate: page.status.emit(self.run.device, steps, rate))
        self.run.ready.connect(lambda device: page.status.emit(device, 0, 0.0))

    # -- hooks ------------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        raise NotImplementedError

    def build_view(self) -> QWidget:
        raise NotImplementedError

    def make_factory(self):
        raise NotImplementedError

    def loader(self, path: str):
        raise NotImplementedError

    def _show_prior_fields(self) -> None:
        """Only the chosen prior's parameters are shown."""
        gaussian = self.params.value("prior") == "gaussian"
        for name, visible in (("prior_sigma", gaussian), ("mixture_pi", not gaussian),
                              ("log_sigma1", not gaussian), ("log_sigma2", not gaussian)):
            widget = self.params.widget(name)
            layout = widget.parentWidget().layout()
            label = layout.labelForField(widget) if hasattr(layout, "labelForField") else None
            for w in (widget, label):
                if w is not None:
                    w.setVisible(visible)

    # -- run -----------------------------------------------------------------------------
    def _param_changed(self, name: str) -> None:
        if name in ("prior", ""):
            self._show_prior_fields()
        self._opened = None
        if self.run.started:
            self.run.reset(play=self.run.playing)

    def _resetting(self) -> None:
        self.page.clear_message()
        self.view.clear()

    def save_model(self, path: str) -> None:
        if not self.run.call(lambda exp: exp.save(path),
                             on_done=lambda _: self.buttons.set_state_text(f"saved {os.path.basename(path)}"),
                             on_error=lambda m: self.page.show_message(f"Could not save to {path}:\n{m}")):
            self.page.show_message("There is no model to save: press Play or Step first.")

    def open_model(self, path: str) -> None:
        """Resume a saved run: its settings go into the form, the run restarts from it."""
        try:
            ckpt = checkpoint.load(path, kind=self.kind)
            config = type(self.params.config()).from_dict(ckpt["config"])
            self.params.set_values({k: v for k, v in config.to_dict().items() if k in self.params.fields})
            self.params.set_values({"seed": int((ckpt.get("extra") or {}).get("seed", 0))})
        except (ValueError, TypeError) as exc:
            self.page.show_message(f"Could not open {path}:\n{exc}\nThe current run is unchanged.")
            return
        self._show_prior_fields()
        self._opened = path
        self.run.reset()


class RegressionSection(TaskSection):
    title = "Regression (Figure 15)"
    kind = "bbb-regression"
    max_fps = 20.0
    view_budget = 0.15

    def build_params(self) -> ParamForm:
        self._points = None  # the points the user edited (kept across resets)
        form = ParamForm(RegressionConfig, [
            ("Data", ["function", "n_points", "noise_std", "data_file"]),
            ("Networks", ["hidden", "prior", "prior_sigma", "mixture_pi", "log_sigma1", "log_sigma2",
                          "noise_sigma", "learn_noise"]),
            ("Training", ["kl_method", "weighting", "local_reparam", "train_samples", "rho_init",
                          "lr", "batch_size", "pred_samples", "seed"])], extra=[SEED])
        note = QLabel("The paper's ε ~ N(0, 0.02) does not say whether 0.02 is the variance or "
                      "the standard deviation: here it is the std (the variance reading is 0.141). "
                      "Click the fit to add a point, click a point to remove it.")
        note.setWordWrap(True)
        note.setStyleSheet("QLabel { color: #555; font-size: 8pt; }")
        form.add_row(note, after="noise_std")
        files = form.widget("data_file")  # the user's own x,y pairs
        files.message.connect(self.page.show_message)
        files.valueChanged.connect(lambda path: self._own_data_shown(form, path))
        self._own_data_shown(form, files.value())
        return form

    @staticmethod
    def _own_data_shown(form: ParamForm, path) -> None:
        """With the user's file, the function's data settings do not apply."""
        for name in ("function", "n_points", "noise_std"):
            form.widget(name).setEnabled(path is None)

    def build_view(self) -> QWidget:
        view = RegressionView()
        for fit in (view.bbb, view.plain):
            fit.add_requested.connect(self.add_point)
            fit.remove_requested.connect(self.remove_point)
        view.weights.prune_changed.connect(self.set_prune)
        self.run.frame.connect(self._remember_points)
        return view

    def make_factory(self):
        # a 1-64-64-1 net: one thread is fastest
        config = self.params.config(threads=1, epochs=self.shot_epochs)
        if self._opened:
            return partial(RegressionExperiment.load, self._opened)
        return partial(make_regression, config, self.params.value("seed"), self._points,
                       self.view.weights.fraction)

    def _param_changed(self, name: str) -> None:
        if name in DATA_FIELDS or name == "":
            self._points = None  # new data: the user's edits go
        super()._param_changed(name)

    def _resetting(self) -> None:
        super()._resetting()
        # The function's points are drawn at once (numpy, the run's seed): the networks
        # are built in a child process, seconds away on a busy machine.
        c = self.params.config()
        if self._opened is None and self._points is None and c.data_file is None:
            x, y = make_curve(c.function, c.n_points, c.noise_std, *TRAIN_RANGE,
                              seed=int(self.params.value("seed")))
            grid = np.linspace(*PLOT_RANGE, GRID)
            self.view.show_data(x, y, grid, true_curve(c.function, grid), c.function)

    def _remember_points(self, snap: dict) -> None:
        if self._edited and "x" in snap:
            self._points = (snap["x"], snap["y"])

    _edited = False

    def add_point(self, x: float, y: float) -> None:
        self._edited = True
        self.run.call(lambda exp: exp.add_point(x, y))

    def remove_point(self, x: float, y: float) -> None:
        self._edited = True
        self.run.call(lambda exp: exp.remove_nearest(x, y, radius=1e-9))

    def set_prune(self, fraction: float) -> None:
        self.run.call(lambda exp: exp.set_prune(fraction))


class ClassifySection(TaskSection):
    title = "Classification"
    kind = "bbb-classify"
    # Training is the point: few frames, little time for views (bench/bbb.py --gui).
    max_fps = 6.0
    view_budget = 0.06

    def build_params(self) -> ParamForm:
        return ParamForm(ClassifyConfig, [
            "dataset", "hidden",
            ("Prior and posterior", ["prior", "prior_sigma", "mixture_pi", "log_sigma1", "log_sigma2",
                                     "rho_init"]),
            ("Training", ["kl_method", "weighting", "local_reparam", "train_samples", "lr", "batch_size",
                          "pred_samples", "ood", "device", "seed"])],
            extra=[SEED], overrides={"hidden": {"default": (200, 200)}})

    def build_view(self) -> QWidget:
        return ClassifyView()

    def make_factory(self):
        config = self.params.config(threads=_train_threads(), eval_size=1000, epochs=self.shot_epochs)
        if self._opened:
            return partial(ClassificationExperiment.load, self._opened, device=config.device,
                           threads=config.threads)
        return partial(ClassificationExperiment, config, seed=self.params.value("seed"))


class BBBPage(Page):
    theory = "bbb"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.section_title = QLabel()
        self.section_title.setStyleSheet("QLabel { font-weight: bold; font-size: 10pt; }")
        self.side_layout.addWidget(self.section_title)
        self.control_stack = QStackedWidget()
        self.side_layout.addWidget(self.control_stack)
        self.side_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.center_layout.addWidget(self.tabs, 1)
        self.regression = RegressionSection(self)
        self.classify = ClassifySection(self)
        self.sections = {"regression": self.regression, "classify": self.classify}
        for section in self.sections.values():
            self.tabs.addTab(section.view, section.title)
            self.control_stack.addWidget(section.controls)
        self._active = False  # runs start when the page is first shown
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(0)
        self.splitter.setSizes([300, 600, 230])  # the forms' labels need a wider column

    @property
    def section(self) -> TaskSection:
        return list(self.sections.values())[self.tabs.currentIndex()]

    def show_section(self, key: str) -> TaskSection:
        self.tabs.setCurrentIndex(list(self.sections).index(key))
        return self.sections[key]

    def _tab_changed(self, index: int) -> None:
        if index < 0:
            return
        self.control_stack.setCurrentIndex(index)
        for i in range(self.control_stack.count()):  # only the shown controls take room
            policy = QSizePolicy.Preferred if i == index else QSizePolicy.Ignored
            self.control_stack.widget(i).setSizePolicy(policy, policy)
        self.control_stack.adjustSize()
        self.clear_message()
        section = self.section
        self.section_title.setText(section.title)
        for other in self.sections.values():  # one training at a time: the CPU is shared
            if other is not section:
                other.run.hold()
        if self._active and not section.run.started:
            section.run.reset()

    # -- page hooks ---------------------------------------------------------------------------
    def run_control(self) -> RunControl:
        return self.section.run

    def activate(self) -> None:
        self._active = True
        if not self.section.run.started:
            self.section.run.reset()

    def close_page(self) -> None:
        for section in self.sections.values():
            section.run.close()

    def settings_state(self) -> dict:
        return {"tab": self.tabs.currentIndex(),
                **{key: s.params.state() for key, s in self.sections.items()}}

    def restore_settings(self, state: dict) -> None:
        for key, section in self.sections.items():
            if isinstance(state.get(key), dict):
                section.params.restore(state[key], emit=False)
        tab = state.get("tab")
        if isinstance(tab, int) and 0 <= tab < self.tabs.count():
            self.tabs.setCurrentIndex(tab)

    def prepare_screenshot(self) -> None:
        """The shown tab after a fixed-seed run of a fixed length (seed 0)."""
        section = self.section
        section.params.set_values({"seed": 0})
        section.shot_epochs = SCREENSHOT_EPOCHS[section.kind]
        section.run.reset(play=True)

    def screenshot_ready(self) -> bool:
        return self.section.run.state in (FINISHED, FAILED)
