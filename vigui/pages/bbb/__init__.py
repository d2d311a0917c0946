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

from functools import partial

import numpy as np
from PySide6.QtWidgets import QLabel, QWidget

from engine.bbb import ClassificationExperiment, ClassifyConfig, RegressionConfig, RegressionExperiment
from engine.bbb.regression import GRID, PLOT_RANGE, TRAIN_RANGE, make_curve, true_curve
from engine.core import checkpoint
from vigui.pages.bbb.views import ClassifyView, RegressionView
from vigui.pages.frames import frame_path, load_frame
from vigui.pages.runnable import Runnable
from vigui.pages.sections import Section, SectionedPage
from vigui.pages.trainer import Trainer, TrainerUnit
from vigui.run.control import RunButtons
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED
from vigui.widgets import styles
from vigui.widgets.own_data import show_file_rows
from vigui.widgets.param_form import SEED, ParamForm

__all__ = ["BBBPage", "make_regression"]

#: parameters that define the regression's points: changing one draws new points
DATA_FIELDS = ("function", "n_points", "noise_std", "data_file")
SCREENSHOT_EPOCHS = {"bbb-regression": 500, "bbb-classify": 30}  # fixed-length screenshot runs


def make_regression(config: RegressionConfig, seed: int, points=None, prune: float = 0.0):
    """The regression experiment as the page runs it (built in the child process)."""
    exp = RegressionExperiment(config, seed=seed, points=points)
    exp.set_prune(prune)
    return exp


class TaskSection(TrainerUnit, Runnable, Section):
    """One task's run (a :class:`~vigui.pages.runnable.Runnable`), buttons, parameter
    form, model files (a :class:`~vigui.pages.trainer.Trainer`) and view: a tab."""

    kind = ""  # the checkpoint kind this task opens
    config_class: type = RegressionConfig
    runner_class = ProcessRunner
    max_fps = 15.0
    view_budget = 0.10

    def init_state(self) -> None:
        self.shot_epochs: int | None = None  # screenshots: a run of fixed length
        self.trainer = Trainer(self, what=f"{self.title} model",
                               default_name=f"bbb-{self.kind[4:]}.pt", weights=False)

    def build(self) -> None:
        page = self.page
        self.make_run(self.show_message, parent=self)
        self.buttons = RunButtons(self.run)
        self.controls_layout.addWidget(self.buttons)
        self.params = self.build_params()
        self.controls_layout.addWidget(self.params)
        self.trainer.attach(self.params)
        self.files = self.trainer.file_buttons()
        self.controls_layout.addWidget(self.files)
        self.view = self.build_view()
        self._show_prior_fields()
        self.params.changed.connect(self._param_changed)
        self.add_comparison(self.compare_plots(), self.compare_columns)
        self.run.progress.connect(lambda steps, rate: page.status.emit(self.run.device, steps, rate))
        self.run.ready.connect(lambda device: page.status.emit(device, 0, 0.0))
        self.run.resetting.connect(lambda: page.status.emit(self.run.device, 0, 0.0))

    # -- hooks ------------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        raise NotImplementedError

    def build_view(self) -> QWidget:
        raise NotImplementedError

    compare_columns: tuple[str, ...] = ()

    def compare_plots(self) -> dict:
        """Where pinned runs are drawn (metric name -> PlotItem)."""
        return {}

    # -- Section ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """The run draws its frames; nothing to redraw by hand."""

    def restore(self, state: dict) -> None:
        self.params.restore(state, emit=False)
        self._show_prior_fields()

    def shown(self) -> None:
        self.trainer.shown()
        if self.page.active and not self.run.started:
            self.run.reset()

    def close(self) -> None:
        self.trainer.close()
        self.run.close()

    def screenshot(self) -> None:
        """A fixed-seed run of a fixed length (seed 0)."""
        self.params.set_values({"seed": 0})
        self.shot_epochs = SCREENSHOT_EPOCHS[self.kind]
        self.run.reset(play=True)

    def screenshot_ready(self) -> bool:
        return self.run.state in (FINISHED, FAILED)

    def show_message(self, text: str, error: bool = True) -> None:
        self.page.show_section_message(self, text, error=error)

    # -- Trainer's hooks -----------------------------------------------------------------------
    def peek_model(self, path: str, device: str | None):
        """On a worker thread: the file's config, checked, without reading its tensors."""
        info = checkpoint.peek(path, kind=self.kind)
        try:
            config = self.config_class.from_dict(info.config)
        except (TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: {exc}") from exc
        return config, info

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
        self.trainer.forget_opened()
        if self.run.started:
            self.run.reset(play=self.run.playing)

    def render(self, snap: dict) -> None:
        self.view.render(snap)

    def clear_views(self) -> None:
        self.page.clear_section_message(self)
        self.view.clear()

    def report_failure(self, message: str) -> None:
        self.show_message(f"{message}\n\nThe last good state is shown. Press Reset to start again.")


class RegressionSection(TaskSection):
    title = "Regression (Figure 15)"
    kind = "bbb-regression"
    max_fps = 20.0
    view_budget = 0.15

    def init_state(self) -> None:
        super().init_state()
        self._points = None  # the points the user edited (kept across resets)
        self._edited = False
        self._frame_to_draw = None  # (path, info) of a file just opened: its saved frame
        self.from_file = False  # the view shows the opened file's saved frame

    def screenshot_ready(self) -> bool:
        return self.from_file or super().screenshot_ready()

    def opened(self, path: str, config, info) -> str:
        self._frame_to_draw = (path, info)  # drawn as the file's run is reset (clear_views)
        return super().opened(path, config, info)

    compare_columns = ("loss", "nll", "plain_mse")

    def compare_plots(self) -> dict:
        return {"kl_per_point": self.view.kl_plot, "nll": self.view.nll_plot}

    def build_params(self) -> ParamForm:
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
        note.setStyleSheet(styles.NOTE)
        form.add_row(note, after="noise_std")
        files = form.widget("data_file")  # the user's own x,y pairs
        files.message.connect(self.show_message)
        files.valueChanged.connect(lambda path: self._own_data_shown(form, path))
        self._own_data_shown(form, files.value())
        show_file_rows(form, "n_points", files)  # the greyed n_points says what the file holds
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
        opened = self.trainer.take_opened()
        if opened is not None:
            return opened
        return partial(make_regression, config, self.params.value("seed"), self._points,
                       self.view.weights.fraction)

    def load_factory(self, path: str):
        return partial(RegressionExperiment.load, path)

    def _param_changed(self, name: str) -> None:
        if name in DATA_FIELDS or name == "":
            self._points = None  # new data: the user's edits go
        super()._param_changed(name)

    def clear_views(self) -> None:
        super().clear_views()
        self.from_file = False
        opened, self._frame_to_draw = self._frame_to_draw, None
        if opened is not None and self._draw_saved_frame(*opened):
            return
        # The function's points are drawn at once (numpy, the run's seed): the networks
        # are built in a child process, seconds away on a busy machine.
        c = self.params.config()
        opened = getattr(self.trainer, "_opened", None)  # a file's run draws its own points
        if opened is None and self._points is None and c.data_file is None:
            x, y = make_curve(c.function, c.n_points, c.noise_std, *TRAIN_RANGE,
                              seed=int(self.params.value("seed")))
            grid = np.linspace(*PLOT_RANGE, GRID)
            self.view.show_data(x, y, grid, true_curve(c.function, grid), c.function)

    def _draw_saved_frame(self, path: str, info) -> bool:
        """The fit saved beside the file (:mod:`vigui.pages.frames`), drawn at once while
        the child process loads the model (seconds on a busy machine); its first frame
        then redraws the same step. A frame of another step than the file's is not drawn."""
        frame = load_frame(frame_path(path))
        if frame is None or frame.get("step") != info.step:
            return False
        from engine.core.runtime import MetricStore

        try:
            frame["metrics"] = MetricStore.from_state(info.metrics)
            self.view.render(frame)
        except (TypeError, ValueError, KeyError, IndexError):
            return False
        self.from_file = True
        return True

    def _remember_points(self, snap: dict) -> None:
        if self._edited and "x" in snap:
            self._points = (snap["x"], snap["y"])

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
    config_class = ClassifyConfig
    # Training is the point: few frames, little time for views (bench/bbb.py --gui).
    max_fps = 6.0
    view_budget = 0.06

    compare_columns = ("test_error", "plain_test_error", "nll")

    def compare_plots(self) -> dict:
        return {"test_error": self.view.err_plot, "plain_test_error": self.view.err_plot}

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
        opened = self.trainer.take_opened()
        if opened is not None:
            return opened
        self.trainer.require()  # a dataset not on this machine: a message, a Download button
        config = self.config()
        return partial(ClassificationExperiment, config, seed=self.params.value("seed"))

    def config(self) -> ClassifyConfig:
        return self.params.config(threads=self.trainer.threads(), eval_size=1000,
                                  epochs=self.shot_epochs)

    def load_factory(self, path: str):
        config = self.config()
        return partial(ClassificationExperiment.load, path, device=config.device,
                       threads=config.threads)


class BBBPage(SectionedPage):
    """The two tasks as tabs, each built when first needed; a task's run starts when its
    tab is first shown on a shown page."""
    SECTIONS = [("regression", __name__, "RegressionSection", RegressionSection.title),
                ("classify", __name__, "ClassifySection", ClassifySection.title)]
    # Each tab is built when first shown (or named by settings, a scene, ``page.classify``):
    # the classification tab's form and five plots took as long again as Figure 15's own
    # tab, on the tour's Page Down to the regression stop. A tab's run starts when shown.

    def init_state(self) -> None:
        super().init_state()
        self.active = False  # runs start when the page is first shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.splitter.setSizes([300, 600, 230])  # the forms' labels need a wider column

    @property
    def regression(self) -> RegressionSection:
        return self.section("regression")

    @property
    def classify(self) -> ClassifySection:
        return self.section("classify")

    def activate(self) -> None:
        self.active = True
        super().activate()

    def open_model(self, path: str) -> None:
        """A scene's checkpoint: the shown task opens it (its Open button's path)."""
        self.section().open_model(path)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Another page was shown (not a minimised window): let idle children go."""
        super().hideEvent(event)
        if not event.spontaneous():
            for section in self.sections.values():
                section.trainer.release_if_idle()

    def prepare_screenshot(self) -> None:
        self.section().screenshot()

    def screenshot_ready(self) -> bool:
        return self.section().screenshot_ready()
