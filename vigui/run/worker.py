"""Runs any engine Experiment on a thread of the GUI process, and one-off background jobs.

:class:`ExperimentRunner` owns one experiment and one Python thread, which runs
:class:`vigui.run.loop.RunLoop` (steps, frames with back-pressure, cost-spaced views,
``call`` requests, NaN handling: see that module). :class:`BackgroundJob` runs one function
(a download, a parse, an evaluation) with progress and cancel.

The worker thread never touches Qt: it puts events on a queue that a GUI-thread timer
drains into ordinary signals. Emitting Qt signals from a Python thread crashes
PySide6 6.8+ now and then ("deallocating None", PYSIDE-3124); a queue cannot.

Why not superqt's GeneratorWorker: it has pause/resume but no step-once, no frame
back-pressure and no cost-adaptive view cadence, and its pool threads outlive the
worker; RunLoop is short and owns those policies in one place, for this thread runner
and for the process runner (:mod:`vigui.run.process`) alike.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal

from engine.core.runtime import Cancelled, Experiment, MetricStore
from vigui.run.loop import FAILED, FINISHED, IDLE, PAUSED, RUNNING, RunLoop, nothing
from vigui.run.loop import describe as _describe

__all__ = ["IDLE", "RUNNING", "PAUSED", "FINISHED", "FAILED", "RunnerBase", "ExperimentRunner",
           "BackgroundJob", "FrameStats", "DISPLAY_RECENT", "DISPLAY_BUCKETS"]

#: The GUI keeps what it draws: the last DISPLAY_RECENT to 2x that steps of each metric
#: at full resolution, older ones as at most DISPLAY_BUCKETS (min, max) pairs. So a
#: curve is at most ~4,000 points however long the run, and drawing it costs the same
#: in the first minute and the tenth hour (the experiment's own store, saved in
#: checkpoints, keeps more).
DISPLAY_RECENT = 1024
DISPLAY_BUCKETS = 1024


class FrameStats:
    """What the frames of one run cost the GUI (for benches and the soak test)."""

    def __init__(self):
        self.frames = 0  # frames drawn
        self.render_seconds = 0.0  # total time the pages took to draw them
        self.last_render_seconds = 0.0
        self.bytes = 0  # pickled bytes received (process runner only)
        self.last_bytes = 0


class RunnerBase(QObject):
    """Signals, call bookkeeping and event delivery shared by the thread runner (here)
    and the process runner (:mod:`vigui.run.process`). Subclasses implement
    ``_command(name, *args)``, ``_send_call(fn, token)``, ``_next_event()`` (None when
    there is none), ``close`` and ``is_alive``; ``release`` when closing may return
    before the experiment's thread or process has ended.

    The runner keeps the run's metric history: :attr:`metrics` (a bounded
    :class:`~engine.core.runtime.MetricStore`) grows by the rows each frame brings, and is
    every frame's ``snap["metrics"]`` (pages plot ``snap["metrics"].get(name)``).
    """

    #: dict: the experiment's snapshot, merged with its latest heavy snapshot, with
    #: ``"metrics"`` the run's MetricStore.
    snapshot_ready = Signal(object)
    #: (steps, steps per second over the last second or so)
    progress = Signal(int, float)
    #: one of IDLE, RUNNING, PAUSED, FINISHED, FAILED
    state_changed = Signal(str)
    #: a message for the user; the run is paused and its last good state kept
    failed = Signal(str)
    #: the experiment has been built (device string)
    ready = Signal(str)

    def __init__(self, *, max_fps: float = 30.0, view_budget: float = 0.15,
                 heavy_min_interval: float = 0.5, parent=None):
        super().__init__(parent)
        self.max_fps = max_fps
        self.view_budget = view_budget
        self.heavy_min_interval = heavy_min_interval
        self.state = IDLE
        self.view_seconds = 0.0  # time spent building snapshots (measured, for benches)
        self._heavy: dict = {}  # the latest heavy views, merged into every frame
        # the run's history as drawn, fed by the frames' deltas
        self.metrics = MetricStore(recent=DISPLAY_RECENT, max_buckets=DISPLAY_BUCKETS)
        self.stats = FrameStats()
        self._closing = False
        self._tokens = itertools.count()
        self._callbacks: dict[int, tuple] = {}
        self._pump = QTimer(self)
        self._pump.setInterval(10)
        self._pump.timeout.connect(self._drain)
        self._pump.start()

    def _loop_options(self) -> dict:
        return {"max_fps": self.max_fps, "view_budget": self.view_budget,
                "heavy_min_interval": self.heavy_min_interval}

    # -- commands from the GUI thread -------------------------------------------------
    def play(self) -> None:
        self._command("play")

    def pause(self) -> None:
        self._command("pause")

    def step_once(self) -> None:
        self._command("step_once")

    def stop(self) -> None:
        """End the run; the experiment stays for inspection (requests still served)."""
        self._command("stop")

    def set_rate(self, steps_per_s: float | None) -> None:
        """Limit the step rate (None: as fast as possible)."""
        self._command("set_rate", steps_per_s)

    def call(self, fn: Callable[[Experiment], Any], on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[str], None] | None = None) -> None:
        """Run ``fn(experiment)`` where the experiment lives, between steps; ``on_done(result)``
        is then called on the GUI thread (``on_error(message)`` if it raised)."""
        token = next(self._tokens)
        self._callbacks[token] = (on_done, on_error)
        self._send_call(fn, token)

    def request_frame(self) -> None:
        """Ask for a fresh snapshot now (e.g. after a view setting changed)."""
        self.call(nothing)

    def release(self) -> None:
        """Stop the run and let go of it. Here (a thread) the same as :meth:`close`:
        a step is short; the process runner returns at once instead."""
        self.close()

    def process_events(self) -> None:
        """Deliver pending events now (tests and benchmarks; normally a timer does it)."""
        self._drain()

    # -- GUI-thread side ---------------------------------------------------------------
    def _drain(self) -> None:
        """Turn the experiment's events into signals, on the GUI thread."""
        while not self._closing:
            event = self._next_event()
            if event is None:
                return
            self._dispatch(*event)

    def _frame_done(self, spent: float) -> None:
        """Tell the loop the frame is drawn, once Qt has painted it: an event posted
        below the priority of Qt's repaint requests arrives after them."""
        QCoreApplication.postEvent(self, _FrameDrawn(spent), Qt.LowEventPriority.value - 1)

    def event(self, event) -> bool:
        if event.type() == _FrameDrawn.TYPE:
            if not self._closing:
                self._command("frame_drawn", event.spent)
            return True
        return super().event(event)

    def _dispatch(self, kind: str, args: tuple) -> None:
        if kind == "frame":
            snap, fresh, delta, self.view_seconds = args
            if fresh is not None:  # new heavy views; otherwise the last ones (same objects,
                self._heavy = fresh  # so pages can skip redrawing them)
            if delta:
                self.metrics.apply(delta)
            if self._heavy:
                snap = {**self._heavy, **snap}
            snap["metrics"] = self.metrics
            t0 = time.perf_counter()
            try:
                self.snapshot_ready.emit(snap)
            finally:
                spent = time.perf_counter() - t0
                self.stats.frames += 1
                self.stats.render_seconds += spent
                self.stats.last_render_seconds = spent
                self._frame_done(spent)
        elif kind == "state":
            if args[0] != self.state:
                self.state = args[0]
                self.state_changed.emit(args[0])
        elif kind == "progress":
            self.progress.emit(*args)
        elif kind == "failed":
            self.failed.emit(args[0])
        elif kind == "ready":
            self.ready.emit(args[0])
        elif kind == "result":
            token, ok, value = args
            on_done, on_error = self._callbacks.pop(token, (None, None))
            callback = on_done if ok else on_error
            if callback is not None:
                callback(value)


class _FrameDrawn(QEvent):
    TYPE = QEvent.Type(QEvent.registerEventType())

    def __init__(self, spent: float):
        super().__init__(self.TYPE)
        self.spent = spent


class ExperimentRunner(RunnerBase):
    """Runs the experiment on a Python thread of this process (see :class:`RunLoop`)."""

    def __init__(self, factory: Callable[[], Experiment], *, max_fps: float = 30.0,
                 view_budget: float = 0.15, heavy_min_interval: float = 0.5, parent=None):
        super().__init__(max_fps=max_fps, view_budget=view_budget,
                         heavy_min_interval=heavy_min_interval, parent=parent)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        # The thread shares the GUI's interpreter lock: it pauses while a frame is drawn.
        self._loop = RunLoop(factory, self._put, yield_to_gui=True, **self._loop_options())
        self._thread = threading.Thread(target=self._loop.run, name="vigui-experiment", daemon=False)
        self._thread.start()

    @property
    def experiment(self) -> Experiment | None:
        return self._loop.experiment

    def _put(self, kind: str, *args) -> None:
        self._events.put((kind, args))

    def _command(self, name: str, *args) -> None:
        getattr(self._loop, name)(*args)

    def _send_call(self, fn, token) -> None:
        self._loop.call(fn, token)

    def _next_event(self):
        try:
            return self._events.get_nowait()
        except queue.Empty:
            return None

    def abandon(self) -> None:
        """Let go of a run being replaced by a new one: as :meth:`release`, but a thread
        still building its experiment (imports, data, a model: seconds on a busy
        machine) is not waited for; it ends by itself once built (``RunLoop.run`` sees
        ``closing``). A tour stop replacing a page's first run then shows at once."""
        if self._loop.experiment is None and self._thread.is_alive():
            self._closing = True
            self._pump.stop()
            self._loop.close()
            return
        self.close()

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop the thread and wait for it (it ends after the step in progress).
        Returns False if it did not end within ``timeout`` seconds."""
        self._closing = True
        self._pump.stop()
        self._loop.close()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()


class BackgroundJob(QObject):
    """A one-off function on a worker thread (a download, a long evaluation).

    ``fn(report, cancelled)`` receives ``report(*args)`` to send progress to the GUI
    (delivered as ``progress(args)``) and ``cancelled()`` to poll. The result arrives as
    ``done(result)``, an exception as ``failed(message)``. A job that stops because it was
    cancelled (it raised :class:`~engine.core.runtime.Cancelled`, or anything at all after
    :meth:`cancel`) ends with ``cancelled()``: a normal end, no message, no traceback. Like the
    runner, the thread never touches Qt: events travel through a queue that a GUI timer drains.
    """

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable, parent=None):
        super().__init__(parent)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._pump = QTimer(self)
        self._pump.setInterval(30)
        self._pump.timeout.connect(self._drain)
        self._pump.start()
        self._thread = threading.Thread(target=self._work, args=(fn,), name="vigui-job", daemon=False)
        self._thread.start()

    def _work(self, fn) -> None:
        try:
            result = fn(lambda *args: self._events.put(("progress", args)), self._cancel.is_set)
        except Cancelled:
            self._events.put(("cancelled", None))
        except Exception as exc:
            if self._cancel.is_set():  # stopped half-way on purpose: whatever broke, it was asked
                self._events.put(("cancelled", None))
            else:
                self._events.put(("failed", _describe(exc)))
        else:
            self._events.put(("done", result))

    def _drain(self) -> None:
        while True:
            try:
                kind, value = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "progress":
                self.progress.emit(value)
            else:
                self._pump.stop()
                if kind == "cancelled":
                    self.cancelled.emit()
                else:
                    (self.done if kind == "done" else self.failed).emit(value)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> bool:
        """Cancel, stop delivering, and wait for the thread."""
        self._cancel.set()
        self._pump.stop()
        self._thread.join(timeout)
        return not self._thread.is_alive()
