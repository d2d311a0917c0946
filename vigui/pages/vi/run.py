"""The run control of the chapter's iterating sections.

Uses :mod:`vigui.run_control` (``RunControl``, ``RunButtons``) when the GUI foundation
provides it; until then a minimal stand-in with the same interface (the subset these
sections use) drives an :class:`~vigui.worker.ExperimentRunner` directly.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QWidget

from engine.runtime import MetricStore

from ...worker import FAILED, FINISHED, IDLE, PAUSED, RUNNING, ExperimentRunner

try:  # the GUI foundation's run control
    from ...run_control import RunButtons, RunControl  # noqa: F401
except ImportError:
    STATE_TEXT = {IDLE: "ready", RUNNING: "running", PAUSED: "paused", FINISHED: "finished",
                  FAILED: "stopped: error"}
    SPEEDS = [("Max", None), ("100/s", 100.0), ("30/s", 30.0), ("10/s", 10.0), ("3/s", 3.0)]

    class RunControl(QObject):  # type: ignore[no-redef]
        """The current run of one experiment: reset / play / pause / step / stop."""

        frame = Signal(object)
        state_changed = Signal(str)
        failed = Signal(str)
        resetting = Signal()
        rejected = Signal(str)

        def __init__(self, make_factory, *, rate=None, reset_plays=False, max_fps=30.0,
                     view_budget=0.15, parent=None):
            super().__init__(parent)
            self.make_factory, self.rate, self.reset_plays = make_factory, rate, reset_plays
            self.max_fps, self.view_budget = max_fps, view_budget
            self.runner = None
            self.state = IDLE
            self.started = False
            self.paused_by_user = False

        @property
        def playing(self) -> bool:
            return self.runner is not None and self.state == RUNNING

        @property
        def ended(self) -> bool:
            return self.runner is None or self.state in (FINISHED, FAILED)

        def reset(self, play: bool = False) -> bool:
            self.started = True
            self._drop()
            self.resetting.emit()
            try:
                factory = self.make_factory()
            except ValueError as exc:
                self._set_state(IDLE)
                self.rejected.emit(str(exc))
                return False
            runner = ExperimentRunner(factory, max_fps=self.max_fps,
                                      view_budget=self.view_budget, parent=self)
            runner.snapshot_ready.connect(self.frame)
            runner.failed.connect(self.failed)
            runner.state_changed.connect(self._set_state)
            self.runner = runner
            runner.set_rate(self.rate)
            self._set_state(IDLE)
            if play:
                runner.play()
                self._set_state(RUNNING)
            return True

        def restart(self) -> None:
            self.reset(play=self.reset_plays)

        def play(self) -> None:
            self.paused_by_user = False
            if self.ended:
                self.reset(play=True)
            else:
                self.runner.play()
                self._set_state(RUNNING)

        def pause(self) -> None:
            self.paused_by_user = True
            if self.runner is not None:
                self.runner.pause()
                if self.state == RUNNING:
                    self._set_state(PAUSED)

        def toggle_play(self) -> None:
            if self.playing:
                self.pause()
            else:
                self.play()

        def step_once(self) -> None:
            if self.ended and not self.reset():
                return
            self.runner.step_once()

        def stop(self) -> None:
            if self.runner is not None:
                self.runner.stop()
                self._set_state(FINISHED)

        def set_rate(self, rate) -> None:
            self.rate = rate
            if self.runner is not None:
                self.runner.set_rate(rate)

        def call(self, fn, on_done=None, on_error=None) -> bool:
            if self.runner is None:
                return False
            self.runner.call(fn, on_done)
            return True

        def close(self) -> None:
            self._drop()
            self.started = False
            self._set_state(IDLE)

        def _drop(self) -> None:
            if self.runner is not None:
                runner, self.runner = self.runner, None
                for signal in (runner.snapshot_ready, runner.failed, runner.state_changed):
                    signal.disconnect()
                runner.close()
                runner.deleteLater()

        def _set_state(self, state: str) -> None:
            if state != self.state:
                self.state = state
                self.state_changed.emit(state)

    class RunButtons(QWidget):  # type: ignore[no-redef]
        """Play/Pause, Step, Reset, Stop, speed and a state line for one RunControl."""

        def __init__(self, control, *, step=True, stop=True, speed=True, state_text=None,
                     parent=None):
            super().__init__(parent)
            self.control = control
            self.texts = {**STATE_TEXT, **(state_text or {})}
            grid = QGridLayout(self)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setSpacing(4)
            self.play = QPushButton("▶ Play")
            self.play.clicked.connect(control.toggle_play)
            self.step = QPushButton("Step")
            self.step.clicked.connect(control.step_once)
            self.reset = QPushButton("Reset")
            self.reset.clicked.connect(control.restart)
            self.stop = QPushButton("■ Stop")
            self.stop.clicked.connect(control.stop)
            self.speed = QComboBox()
            for text, rate in SPEEDS:
                self.speed.addItem(text, rate)
            self.speed.setCurrentIndex(max(0, self.speed.findData(control.rate)))
            self.speed.currentIndexChanged.connect(lambda _: control.set_rate(self.speed.currentData()))
            self.state_label = QLabel()
            self.state_label.setStyleSheet("color: #555;")
            grid.addWidget(self.play, 0, 0)
            grid.addWidget(self.step, 0, 1)
            grid.addWidget(self.reset, 0, 2)
            grid.addWidget(self.stop, 1, 0)
            grid.addWidget(QLabel("Speed"), 1, 1, Qt.AlignRight)
            grid.addWidget(self.speed, 1, 2)
            grid.addWidget(self.state_label, 2, 0, 1, 3)
            self.step.setVisible(step)
            self.stop.setVisible(stop)
            self.speed.setVisible(speed)
            control.state_changed.connect(self.show_state)
            self.show_state(control.state)

        def show_state(self, state: str) -> None:
            self.play.setText("❚❚ Pause" if state == RUNNING else "▶ Play")
            self.state_label.setText(self.texts.get(state, state))


class MetricsView:
    """The run's metric history for drawing: ``snap["metrics"]`` where the runner ships
    it (a MetricStore), else a store filled here from each frame's ``snap["last"]``."""

    def __init__(self):
        self.local = MetricStore()

    def clear(self) -> None:
        self.local = MetricStore()

    def of(self, snap: dict) -> MetricStore:
        store = snap.get("metrics")
        if isinstance(store, MetricStore):
            return store
        last = snap.get("last")
        if last and (self.local.last() or {}).get("step") != last.get("step"):
            row = dict(last)
            self.local.append(int(row.pop("step")), **row)
        return self.local
