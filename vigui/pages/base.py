"""Base classes of the chapter pages.

:class:`Page` is any chapter: a parameter column, a central area, a theory panel.
:class:`ExperimentPage` adds run controls (Play/Pause, Step, Reset, Stop, speed) and one
:class:`~vigui.worker.ExperimentRunner`. A subclass supplies:

* ``build_params(form)``: add parameter widgets (validated ranges) to a QFormLayout;
* ``make_factory()``: a zero-argument callable building the engine Experiment from the
  current parameters (called on the worker thread);
* ``build_views()``: a widget with the plots; ``render(snapshot)``: update them with
  ``setData`` (never recreate items per frame); ``clear_views()`` on reset.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton,
    QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget,
    QAbstractButton,
)

from ..widgets.theory import TheoryView
from ..worker import FAILED, FINISHED, IDLE, PAUSED, RUNNING, ExperimentRunner

#: Speed choices: label -> target steps per second (None = as fast as possible).
SPEEDS = [("Max", None), ("100/s", 100.0), ("30/s", 30.0), ("10/s", 10.0), ("3/s", 3.0), ("1/s", 1.0)]


class Page(QWidget):
    """A chapter: parameters on the left, views in the middle, theory on the right."""

    #: registry id and title; set by subclasses
    page_id = "page"
    title = "Page"
    theory = ""  # resources/theory/<theory>.html, default page_id (see vigui/widgets/theory.py)
    #: (device, steps, steps per second) for the status bar
    status = Signal(str, int, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._param_widgets: dict[str, QWidget] = {}
        outer = QHBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self.splitter = QSplitter(Qt.Horizontal)
        outer.addWidget(self.splitter)

        self.side = QWidget()
        self.side_layout = QVBoxLayout(self.side)
        self.side_layout.setContentsMargins(2, 2, 2, 2)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.side_layout.addLayout(self.form)
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
        self.splitter.addWidget(center)

        self.theory_view = TheoryView(self.theory or self.page_id)
        self.splitter.addWidget(self.theory_view)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([290, 800, 230])

    # -- messages ------------------------------------------------------------------
    def show_message(self, text: str, error: bool = True) -> None:
        colour = "#8b0000" if error else "#1f4e79"
        background = "#fde8e8" if error else "#e8f0fd"
        self.message.setStyleSheet(
            f"QLabel {{ color: {colour}; background: {background}; border: 1px solid {colour};"
            " border-radius: 4px; padding: 6px; }")
        self.message.setText(text)
        self.message.setVisible(True)

    def clear_message(self) -> None:
        self.message.setVisible(False)

    # -- parameters ----------------------------------------------------------------------
    def add_param(self, name: str, label: str, widget: QWidget, tip: str = "") -> QWidget:
        """Register a parameter widget: shown in the form, saved in QSettings by name."""
        if tip:
            widget.setToolTip(tip)
        self._param_widgets[name] = widget
        self.form.addRow(label, widget)
        return widget

    def int_param(self, name, label, lo, hi, value, step=1, tip="") -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setValue(value)
        box.setGroupSeparatorShown(True)
        box.setKeyboardTracking(False)
        return self.add_param(name, label, box, tip)

    def float_param(self, name, label, lo, hi, value, decimals=3, step=0.1, tip="") -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setDecimals(decimals)
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setValue(value)
        box.setKeyboardTracking(False)
        return self.add_param(name, label, box, tip)

    def choice_param(self, name, label, items: list[tuple[str, Any]], value=None, tip="") -> QComboBox:
        box = QComboBox()
        for text, data in items:
            box.addItem(text, data)
        if value is not None:
            box.setCurrentIndex(max(0, box.findData(value)))
        return self.add_param(name, label, box, tip)

    def param(self, name: str):
        w = self._param_widgets[name]
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QAbstractButton):
            return w.isChecked()
        return w.value()

    def settings_state(self) -> dict:
        return {name: self.param(name) for name in self._param_widgets}

    def restore_settings(self, state: dict) -> None:
        """Apply saved parameters; values outside a widget's range are clamped by it."""
        for name, value in state.items():
            w = self._param_widgets.get(name)
            if w is None:
                continue
            try:
                if isinstance(w, QComboBox):
                    index = w.findData(value)
                    if index >= 0:
                        w.setCurrentIndex(index)
                elif isinstance(w, QAbstractButton):
                    w.setChecked(bool(value))
                elif isinstance(w, QSpinBox):
                    w.setValue(int(value))
                else:
                    w.setValue(float(value))
            except (TypeError, ValueError):
                continue  # a foreign or corrupt settings value: keep the default

    # -- lifecycle hooks -----------------------------------------------------------------
    def activate(self) -> None:
        """The page became visible."""

    def close_page(self) -> None:
        """Stop all work; called before the window closes."""

    def prepare_screenshot(self) -> None:
        """Put the page in a representative state with fixed seeds (``vigui --screenshot``)."""

    def screenshot_ready(self) -> bool:
        return True


class RunControls(QWidget):
    """Play/Pause, Step, Reset, Stop and a speed choice, in two compact rows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.play = QPushButton("▶ Play")
        self.play.setToolTip("Play / pause (Space)")
        self.step = QPushButton("Step")
        self.step.setToolTip("One step (S)")
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Rebuild with the current parameters (R)")
        self.stop = QPushButton("■ Stop")
        self.stop.setToolTip("End the run; the result stays on screen")
        self.speed = QComboBox()
        for text, rate in SPEEDS:
            self.speed.addItem(text, rate)
        self.speed.setToolTip("Target steps per second")
        grid.addWidget(self.play, 0, 0)
        grid.addWidget(self.step, 0, 1)
        grid.addWidget(self.reset, 0, 2)
        grid.addWidget(self.stop, 1, 0)
        grid.addWidget(QLabel("Speed"), 1, 1, Qt.AlignRight)
        grid.addWidget(self.speed, 1, 2)


class ExperimentPage(Page):
    """A page that runs one engine Experiment at a time in an ExperimentRunner."""

    #: reset automatically when one of these parameters changes (e.g. K, N)
    reset_on_change = True
    #: frame cap and the share of time views may take (see vigui/worker.py); heavy
    #: training pages lower both so the steps keep the CPU
    max_fps = 30.0
    view_budget = 0.15
    #: ExperimentRunner (a thread here) or ProcessRunner (a child process; the factory
    #: and ``runner.call`` functions must then pickle, see vigui/process_runner.py)
    runner_class = ExperimentRunner

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runner: ExperimentRunner | None = None
        self.device = "cpu"
        self.controls = RunControls()
        self.side_layout.insertWidget(0, self.controls)
        self.state_label = QLabel("idle")
        self.state_label.setStyleSheet("color: #555;")
        self.side_layout.insertWidget(1, self.state_label)
        self.build_params(self.form)
        self.side_layout.addStretch(1)
        self.center_layout.addWidget(self.build_views(), 1)
        self.controls.play.clicked.connect(self.toggle_play)
        self.controls.step.clicked.connect(self.step_once)
        self.controls.reset.clicked.connect(self.reset)
        self.controls.stop.clicked.connect(self.stop)
        self.controls.speed.currentIndexChanged.connect(self._apply_speed)
        if self.reset_on_change:
            for widget in self._param_widgets.values():
                _on_change(widget, self._param_changed)
        self._started = False

    # -- subclass hooks --------------------------------------------------------------
    def build_params(self, form: QFormLayout) -> None:
        raise NotImplementedError

    def build_views(self) -> QWidget:
        raise NotImplementedError

    def make_factory(self) -> Callable:
        raise NotImplementedError

    def render(self, snap: dict) -> None:
        raise NotImplementedError

    def clear_views(self) -> None:
        """Empty the views before a new run starts."""

    # -- run control ----------------------------------------------------------------------
    def activate(self) -> None:
        if not self._started:
            self.reset()

    def reset(self, play: bool = False) -> None:
        """Discard the current run and build a new experiment from the parameters."""
        self._started = True
        self._close_runner()
        self.clear_message()
        self.clear_views()
        try:
            factory = self.make_factory()
        except ValueError as exc:
            self.show_message(str(exc))
            return
        runner = self.runner_class(factory, max_fps=self.max_fps, view_budget=self.view_budget,
                                  parent=self)
        runner.snapshot_ready.connect(self._on_snapshot)
        runner.failed.connect(self._on_failed)
        runner.state_changed.connect(self._on_state)
        runner.progress.connect(self._on_progress)
        runner.ready.connect(self._on_ready)
        self.runner = runner
        self._apply_speed()
        if play:
            runner.play()

    def toggle_play(self) -> None:
        if self.runner is None or self.runner.state in (FINISHED, FAILED):
            self.reset(play=True)
        elif self.runner.state == RUNNING:
            self.runner.pause()
        else:
            self.runner.play()

    def play(self) -> None:
        if self.runner is None or self.runner.state in (FINISHED, FAILED):
            self.reset(play=True)
        else:
            self.runner.play()

    def pause(self) -> None:
        if self.runner is not None:
            self.runner.pause()

    def step_once(self) -> None:
        if self.runner is None or self.runner.state in (FINISHED, FAILED):
            self.reset()
        if self.runner is not None:  # None: reset refused the parameters (message shown)
            self.runner.step_once()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def _apply_speed(self) -> None:
        if self.runner is not None:
            self.runner.set_rate(self.controls.speed.currentData())

    def _param_changed(self, *_) -> None:
        if self._started:
            was_running = self.runner is not None and self.runner.state == RUNNING
            self.reset(play=was_running)

    def _close_runner(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            for signal in (runner.snapshot_ready, runner.failed, runner.state_changed,
                           runner.progress, runner.ready):
                signal.disconnect()
            runner.close()
            runner.deleteLater()

    def close_page(self) -> None:
        self._close_runner()

    # -- runner signals -------------------------------------------------------------------
    def _on_snapshot(self, snap: dict) -> None:
        self.render(snap)

    def _on_failed(self, message: str) -> None:
        self.show_message(f"{message}\n\nThe last good state is shown. Press Reset to start again.")

    def _on_state(self, state: str) -> None:
        self.controls.play.setText("❚❚ Pause" if state == RUNNING else "▶ Play")
        labels = {IDLE: "ready", RUNNING: "running", PAUSED: "paused",
                  FINISHED: "finished", FAILED: "stopped: error"}
        self.state_label.setText(labels.get(state, state))

    def _on_progress(self, steps: int, rate: float) -> None:
        self.status.emit(self.device, steps, rate)

    def _on_ready(self, device: str) -> None:
        self.device = device
        self.status.emit(device, 0, 0.0)

    def screenshot_ready(self) -> bool:
        return self.runner is not None and self.runner.state in (FINISHED, FAILED, PAUSED)


def _on_change(widget: QWidget, slot) -> None:
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        widget.valueChanged.connect(slot)
    elif isinstance(widget, QComboBox):
        widget.currentIndexChanged.connect(slot)
    elif isinstance(widget, QAbstractButton):
        widget.toggled.connect(slot)
    elif hasattr(widget, "valueChanged"):
        widget.valueChanged.connect(slot)
