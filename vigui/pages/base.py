"""Base classes of the chapter pages: how a page is built.

:class:`Page` is any chapter: a parameter column on the left (``side_layout``), views
in the middle (``center_layout``, under a message line), the theory panel on the
right. Its id and title come from the registry (``vigui/pages/__init__.py``), found
by the page's module. Instant pages (everything redraws as a slider moves) subclass
:class:`Page` directly and put their widgets in those two layouts.

:class:`ExperimentPage` runs one engine Experiment at a time through a
:class:`~vigui.run.control.RunControl` (``self.run``: play/pause/step/reset/stop, the
runner and its signals, the Space/S/R shortcuts via :meth:`Page.run_control`) with
its buttons (``self.controls``). A subclass supplies:

* ``init_state()``: the page's own attributes, set before anything is built;
* ``build_params()``: a :class:`~vigui.widgets.param_form.ParamForm` built from the
  config's declarations (or None); a change in it starts a new run (``reset_on_change``);
* ``make_factory()``: validate the parameters (``self.params.config()``; a ValueError
  becomes a message) and return a zero-argument callable that builds the Experiment
  where it runs (a worker thread, or a child process: then it must pickle, e.g.
  ``functools.partial(MyExperiment, config, seed=seed)``);
* ``build_views()``: a widget with the plots, items created once;
* ``render(snap)``: update them with ``setData`` from the snapshot; ``snap["metrics"]``
  is the run's :class:`~engine.core.runtime.MetricStore` (``.get(name)`` -> steps, values;
  bounded however long the run);
* ``clear_views()``: empty them before a new run.

A minimal page (``vigui/pages/<id>/__init__.py``, plus one registry line)::

    class DemoPage(ExperimentPage):
        def build_params(self):
            return ParamForm(DemoConfig, ["n", "lr"])

        def make_factory(self):
            return partial(DemoExperiment, self.params.config(), seed=0)

        def build_views(self):
            self.plot = make_plot("Loss", "step", "nats", long_series=True)
            self.curve = self.plot.plot(pen=pen(0))
            return self.plot.getViewWidget()

        def render(self, snap):
            self.curve.setData(*snap["metrics"].get("loss"))

        def clear_views(self):
            self.curve.setData([], [])
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vigui.pages import spec_of
from vigui.pages.runnable import Runnable
from vigui.run.control import RunButtons, RunControl
from vigui.run.worker import FAILED, FINISHED, PAUSED
from vigui.theory.view import TheoryView
from vigui.widgets import styles
from vigui.widgets.compare import RunComparison
from vigui.widgets.layout import VerticalScroll


class Page(QWidget):
    """A chapter: parameters on the left, views in the middle, theory on the right."""

    #: registry id and title: set from the registry entry whose module holds the class
    page_id = "page"
    title = "Page"
    theory = ""  # resources/theory/<theory>.html; empty: the page_id (every chapter so far)
    #: (device, steps, steps per second) for the status bar
    status = Signal(str, int, float)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        spec = spec_of(cls.__module__)
        if spec is not None:
            cls.page_id, cls.title = spec.page_id, spec.title

    def __init__(self, parent=None):
        super().__init__(parent)
        self.init_state()
        outer = QHBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self.splitter = QSplitter(Qt.Horizontal)
        outer.addWidget(self.splitter)

        self.side = QWidget()
        self.side_layout = QVBoxLayout(self.side)
        self.side_layout.setContentsMargins(2, 2, 2, 2)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self.side)
        scroll.setMinimumWidth(285)
        scroll.setMaximumWidth(380)
        self.splitter.addWidget(scroll)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)

        center = QWidget()
        self.center_layout = QVBoxLayout(center)
        self.center_layout.setContentsMargins(0, 0, 0, 0)
        self.center_layout.addWidget(self.message)
        # Zoomed on a small screen the views may need more height than the window has:
        # they scroll instead of overlapping.
        self.views_scroll = VerticalScroll(center)
        self.splitter.addWidget(self.views_scroll)

        self.theory_view = TheoryView(self.theory or self.page_id)
        self.splitter.addWidget(self.theory_view)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([290, 800, 230])

    # -- messages ------------------------------------------------------------------
    def show_message(self, text: str, error: bool = True) -> None:
        self.message.setStyleSheet(styles.message_style(error))
        self.message.setText(text)
        self.message.setVisible(True)

    def clear_message(self) -> None:
        self.message.setVisible(False)

    # -- hooks ------------------------------------------------------------------------------
    def init_state(self) -> None:
        """Create the page's state (plain attributes, helpers such as a Trainer) before any
        widget or build hook exists; build hooks then only build. Call super()."""

    def run_control(self) -> RunControl | None:
        """The run the Run menu and Space / S / R drive now (None: nothing runs here)."""
        return None

    def comparison(self) -> RunComparison | None:
        """The pinned runs of the run shown now (Run > Keep this run, K; None: nothing
        runs here)."""
        return None

    def settings_state(self) -> dict:
        """What to remember between sessions (JSON-able)."""
        return {}

    def restore_settings(self, state: dict) -> None:
        """Apply :meth:`settings_state` output; bad values fall back to defaults."""

    def activate(self) -> None:
        """The page became visible."""

    def close_page(self) -> None:
        """Stop all work; called before the window closes. Must not wait for a child
        process to exit (the window goes at once)."""

    def prepare_screenshot(self) -> None:
        """Put the page in a representative state with fixed seeds (``vigui --screenshot``)."""

    def screenshot_ready(self) -> bool:
        return True


class ExperimentPage(Runnable, Page):
    """A page that runs one engine Experiment at a time (see the module docstring); its
    run, parameters and hooks are a :class:`~vigui.pages.runnable.Runnable`'s."""

    #: a parameter change starts a new run (playing if the old one played)
    reset_on_change = True
    #: the final metrics the pinned runs' table shows (default: the first few names)
    compare_columns: tuple[str, ...] = ()

    def __init__(self, parent=None):
        super().__init__(parent)
        # Frame cap and view share (vigui/run/loop.py): heavy training pages lower both so
        # the steps keep the CPU; a ProcessRunner's factory and calls must pickle.
        self.make_run(self.show_message, parent=self)
        self.run.resetting.connect(self.clear_message)
        self.controls = RunButtons(self.run)
        self.side_layout.addWidget(self.controls)
        self.params = self.build_params()
        if self.params is not None:
            self.side_layout.addWidget(self.params)
            if self.reset_on_change:
                self.params.changed.connect(self._param_changed)
        self.side_layout.addStretch(1)
        self.center_layout.addWidget(self.build_views(), 1)
        # Keep this run: pinned runs drawn faded on the page's curves, a table below
        self.compare = RunComparison(self.run, self.params, self.compare_plots(), self.compare_columns)
        self.side_layout.insertWidget(self.side_layout.indexOf(self.controls) + 1, self.compare.button)
        self.center_layout.addWidget(self.compare.view)
        self.run.progress.connect(lambda steps, rate: self.status.emit(self.device, steps, rate))
        self.run.ready.connect(lambda device: self.status.emit(device, 0, 0.0))
        # Reset shows step 0 at once, not when the new run is built (seconds for a child)
        self.run.resetting.connect(lambda: self.status.emit(self.device, 0, 0.0))

    # -- subclass hooks --------------------------------------------------------------
    def build_params(self):
        """The parameter form (a ParamForm), or None."""
        return None

    def build_views(self) -> QWidget:
        raise NotImplementedError

    def compare_plots(self) -> dict:
        """Where pinned runs are drawn: metric name -> the PlotItem its live curve is on."""
        return {}

    # -- the run ------------------------------------------------------------------------------
    @property
    def runner(self):
        """The current run's runner (None before the first run or after a refusal)."""
        return self.run.runner

    @property
    def device(self) -> str:
        return self.run.device

    def comparison(self) -> RunComparison:
        return self.compare

    def param(self, name: str):
        return self.params.value(name)

    def activate(self) -> None:
        if not self.run.started:
            self.reset()

    def reset(self, play: bool = False) -> None:
        """Discard the current run and build a new one from the parameters."""
        self.run.reset(play=play)

    def toggle_play(self) -> None:
        self.run.toggle_play()

    def play(self) -> None:
        self.run.play()

    def pause(self) -> None:
        self.run.pause()

    def step_once(self) -> None:
        self.run.step_once()

    def stop(self) -> None:
        self.run.stop()

    def _param_changed(self, *_) -> None:
        if self.run.started:
            self.run.reset(play=self.run.playing)

    def report_failure(self, message: str) -> None:
        self.show_message(f"{message}\n\nThe last good state is shown. Press Reset to start again.")

    def close_page(self) -> None:
        self.run.close()

    # -- settings ---------------------------------------------------------------------------
    def settings_state(self) -> dict:
        return self.state()

    def restore_settings(self, state: dict) -> None:
        self.restore(state)

    def screenshot_ready(self) -> bool:
        return self.runner is not None and self.runner.state in (FINISHED, FAILED, PAUSED)
