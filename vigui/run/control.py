"""Run control, once for every page and section that runs an experiment.

:class:`RunControl` owns the current run of one engine Experiment: it builds the
runner (:class:`~vigui.run.worker.ExperimentRunner` or
:class:`~vigui.run.process.ProcessRunner`) from a factory, wires its signals, and
offers play / pause / toggle / step / reset / stop and a target speed. It knows the
run's state without reading it back from a button, so the window's Run menu and its
Space / S / R shortcuts drive whatever control is active (``Page.run_control()``).
:class:`RunButtons` is the row of buttons that shows and drives one control.

A page or section uses it like this::

    self.run = RunControl(self.make_factory, parent=self)
    self.run.frame.connect(self.render)            # snap["metrics"]: the run's MetricStore
    self.run.resetting.connect(self.clear_views)   # a new run is about to start
    self.run.rejected.connect(self.show_message)   # make_factory raised ValueError
    self.run.failed.connect(...)                   # the run failed (NaN, exception)
    side_layout.addWidget(RunButtons(self.run))    # Play/Pause, Step, Reset, Stop, speed

``make_factory()`` is called on the GUI thread at each reset; it validates the
parameters (ValueError: ``rejected(message)``, no run) and returns a zero-argument
callable that builds the experiment where it runs (it must pickle for a ProcessRunner).
It raises :class:`NotReady` while the run's data is still being prepared (e.g. a corpus
parsed on a background thread): ``waiting(message)``, no run, no error, and a Play
pressed meanwhile is remembered (``play_pending``) for the page's next reset.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QWidget

from vigui.run.worker import FAILED, FINISHED, IDLE, PAUSED, RUNNING, ExperimentRunner, RunnerBase

__all__ = ["RunControl", "RunButtons", "NotReady", "SPEEDS", "STATE_TEXT"]

#: Speed choices: label -> target steps per second (None = as fast as possible).
SPEEDS = [("Max", None), ("100/s", 100.0), ("30/s", 30.0), ("10/s", 10.0), ("3/s", 3.0), ("1/s", 1.0)]

#: What the state line says for each runner state.
STATE_TEXT = {IDLE: "ready", RUNNING: "running", PAUSED: "paused", FINISHED: "finished",
              FAILED: "stopped: error"}


class NotReady(Exception):
    """Raised by ``make_factory`` while the data the run needs is being prepared."""


class RunControl(QObject):
    """The current run of one experiment (see the module docstring)."""

    #: a snapshot to draw: the experiment's views, ``"metrics"`` the run's MetricStore
    frame = Signal(object)
    #: one of IDLE, RUNNING, PAUSED, FINISHED, FAILED
    state_changed = Signal(str)
    #: the run failed (NaN/inf, an exception); its last good state stays viewable
    failed = Signal(str)
    #: (steps, steps per second)
    progress = Signal(int, float)
    #: the experiment was built, on this device
    ready = Signal(str)
    #: a new run is about to start: views should be emptied
    resetting = Signal()
    #: make_factory refused the parameters (ValueError); there is no run
    rejected = Signal(str)
    #: make_factory raised NotReady: no run yet, not an error (the message says why)
    waiting = Signal(str)

    def __init__(self, make_factory: Callable[[], Callable], *,
                 runner_class: type[RunnerBase] = ExperimentRunner, max_fps: float = 30.0,
                 view_budget: float = 0.15, rate: float | None = None,
                 reset_plays: bool = False, parent=None):
        super().__init__(parent)
        self.make_factory = make_factory
        self.runner_class = runner_class
        self.max_fps = max_fps
        self.view_budget = view_budget
        self.rate = rate  # target steps per second; None: as fast as possible
        self.reset_plays = reset_plays  # Reset (button, R) starts the new run playing
        self.runner: RunnerBase | None = None
        self.state = IDLE
        self.device = "cpu"
        self.started = False  # a run was built at least once (parameter edits then reset)
        self.paused_by_user = False  # the last play/pause command was a pause
        self._wants_play = False
        self.play_pending = False  # Play was pressed while make_factory said NotReady
        self.steps = 0  # steps the current run has taken, as last reported (scenes save it)
        self.progress.connect(self._count_steps)

    # -- state -----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """True while the run plays or has been asked to (the runner may not have said
        so yet); False once paused, stopped, finished or failed."""
        return self.runner is not None and self._wants_play

    @property
    def state_text(self) -> str:
        return STATE_TEXT.get(self.state, self.state)

    @property
    def ended(self) -> bool:
        """No run, or one that finished or failed: Play starts a new one."""
        return self.runner is None or self.state in (FINISHED, FAILED)

    # -- commands --------------------------------------------------------------------------
    def reset(self, play: bool = False) -> bool:
        """Discard the current run and build a new one from the parameters. False (and
        ``rejected(message)``) if make_factory refused them."""
        self.started = True
        self.steps = 0
        self._drop_runner(replaced=True)
        self.resetting.emit()
        try:
            factory = self.make_factory()
        except NotReady as exc:
            self.play_pending = self.play_pending or play
            self._set_state(IDLE)
            self.waiting.emit(str(exc))
            return False
        except ValueError as exc:
            self.play_pending = False
            self._set_state(IDLE)
            self.rejected.emit(str(exc))
            return False
        self.play_pending = False
        runner = self.runner_class(factory, max_fps=self.max_fps, view_budget=self.view_budget,
                                   parent=self)
        runner.snapshot_ready.connect(self.frame)
        runner.failed.connect(self._on_failed)
        runner.state_changed.connect(self._on_state)
        runner.progress.connect(self.progress)
        runner.ready.connect(self._on_ready)
        self.runner = runner
        runner.set_rate(self.rate)
        self._set_state(IDLE)
        if play:
            self._play()
        return True

    def restart(self) -> None:
        """What Reset (the button, R) does: a new run, playing if ``reset_plays``."""
        if self.reset_plays:
            self.paused_by_user = False
        self.reset(play=self.reset_plays)

    def play(self) -> None:
        """Play the run; a new one if there is none or it ended."""
        self.paused_by_user = False
        if self.ended:
            self.reset(play=True)
        else:
            self._play()

    def pause(self) -> None:
        """Pause (by hand: ``paused_by_user`` is set)."""
        self.paused_by_user = True
        self.hold()

    def hold(self) -> None:
        """Pause without it counting as the user's choice (e.g. another page opened)."""
        self._wants_play = False
        self.play_pending = False
        if self.runner is not None:
            self.runner.pause()
            if self.state == RUNNING:
                self._set_state(PAUSED)

    def toggle_play(self) -> None:
        if self.playing and not self.ended:
            self.pause()
        else:
            self.play()

    def step_once(self) -> None:
        """One step (a new run first if there is none or it ended)."""
        if self.ended:
            if not self.reset():
                return
        self._wants_play = False
        self.runner.step_once()

    def stop(self) -> None:
        """End the run; its result stays on screen (the model still answers calls)."""
        self._wants_play = False
        if self.runner is not None:
            self.runner.stop()
            self._set_state(FINISHED)

    def set_rate(self, steps_per_s: float | None) -> None:
        self.rate = steps_per_s
        if self.runner is not None:
            self.runner.set_rate(steps_per_s)

    def call(self, fn, on_done=None, on_error=None) -> bool:
        """``runner.call``: run ``fn(experiment)`` where it lives. False if no run."""
        if self.runner is None:
            return False
        self.runner.call(fn, on_done, on_error)
        return True

    def release_if_idle(self) -> bool:
        """The page was left: a run that has taken no step (nothing trained, nothing to
        lose) lets its runner go (a child process of a few hundred MB ends); the page's
        next :meth:`reset` builds it again from the same parameters and seed. A run that
        has trained is kept, paused. True if it was released."""
        if self.runner is None or self.steps > 0 or self.playing:
            return False
        self.close()
        return True

    def close(self) -> None:
        """End the run and let go of it (a child process finishes on its own). The next
        :meth:`reset` starts afresh (``started`` is False again)."""
        self._drop_runner()
        self.started = False
        self.play_pending = False
        self._set_state(IDLE)

    # -- internals ----------------------------------------------------------------------------
    def _play(self) -> None:
        self._wants_play = True
        self.runner.play()
        self._set_state(RUNNING)

    def _drop_runner(self, replaced: bool = False) -> None:
        """Let go of the run; one ``replaced`` by a new run is not waited for even while
        it is still being built (``abandon``, thread runners)."""
        self._wants_play = False
        if self.runner is not None:
            runner, self.runner = self.runner, None
            for signal in (runner.snapshot_ready, runner.failed, runner.state_changed,
                           runner.progress, runner.ready):
                signal.disconnect()
            abandon = getattr(runner, "abandon", None) if replaced else None
            (abandon or runner.release)()
            runner.deleteLater()

    def _count_steps(self, steps: int, _rate: float) -> None:
        self.steps = int(steps)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _on_state(self, state: str) -> None:
        if state in (FINISHED, FAILED):
            self._wants_play = False
        elif (state == RUNNING) != self._wants_play:
            return  # sent before the last play/pause reached the run; the next one agrees
        self._set_state(state)

    def _on_failed(self, message: str) -> None:
        self._wants_play = False
        self.failed.emit(message)

    def _on_ready(self, device: str) -> None:
        self.device = device
        self.ready.emit(device)


class RunButtons(QWidget):
    """Play/Pause, Step, Reset, Stop, a speed choice and a state line for one
    :class:`RunControl` (``step``, ``stop``, ``speed``: show those parts)."""

    def __init__(self, control: RunControl, *, step: bool = True, stop: bool = True,
                 speed: bool = True, state_text: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.control = control
        self.texts = {**STATE_TEXT, **(state_text or {})}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.play = QPushButton("▶ Play")
        self.play.setToolTip("Play / pause (Space)")
        self.play.clicked.connect(control.toggle_play)
        self.step = QPushButton("Step")
        self.step.setToolTip("One step (S)")
        self.step.clicked.connect(control.step_once)
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Start again with the current parameters (R)")
        self.reset.clicked.connect(control.restart)
        self.stop = QPushButton("■ Stop")
        self.stop.setToolTip("End the run; the result stays on screen")
        self.stop.clicked.connect(control.stop)
        self.speed = QComboBox()
        for text, rate in SPEEDS:
            self.speed.addItem(text, rate)
        self.speed.setToolTip("Target steps per second")
        index = self.speed.findData(control.rate)
        self.speed.setCurrentIndex(max(0, index))
        self.speed.currentIndexChanged.connect(lambda _: control.set_rate(self.speed.currentData()))
        self.state_label = QLabel()
        self.state_label.setStyleSheet("color: #555;")
        grid.addWidget(self.play, 0, 0)
        grid.addWidget(self.step, 0, 1)
        grid.addWidget(self.reset, 0, 2)
        grid.addWidget(self.stop, 1, 0)
        grid.addWidget(self.state_label, 2, 0, 1, 3)
        if speed:
            grid.addWidget(QLabel("Speed"), 1, 1, Qt.AlignRight)
            grid.addWidget(self.speed, 1, 2)
        self.step.setVisible(step)
        self.stop.setVisible(stop)
        self.speed.setVisible(speed)
        if not speed and not stop:  # one row: Play, Reset (and Step)
            grid.removeWidget(self.reset)
            grid.addWidget(self.reset, 0, 2 if step else 1)
        control.state_changed.connect(self.show_state)
        self.show_state(control.state)

    def show_state(self, state: str) -> None:
        self.play.setText("❚❚ Pause" if state == RUNNING else "▶ Play")
        self.state_label.setText(self.texts.get(state, state))

    def set_state_text(self, text: str) -> None:
        """Say something else for a moment (e.g. "opening model.pt…")."""
        self.state_label.setText(text)
