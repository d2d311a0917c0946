"""Runs any engine Experiment off the GUI thread.

One :class:`ExperimentRunner` owns one experiment and one Python thread. The thread
builds the experiment (building can be slow: datasets, torch), then loops:

* runs steps while playing (or exactly one for Step), at an optional target rate;
* delivers a snapshot at most ``max_fps`` times a second and only once the GUI has
  drawn the previous one (back-pressure: a slow view never queues up stale frames);
* spaces frames and the experiment's expensive views (``heavy_snapshot``) by their
  measured cost (building the snapshot, and drawing it on the GUI thread), so views
  take at most about ``view_budget`` of the time, half for each kind;
* runs small requests from the GUI (``call``) between steps: the only way a page
  touches the model, and always on the thread that owns it;
* turns an exception, or a NaN/inf loss, into ``failed(message)`` and pauses, leaving
  the experiment at its last good state.

The worker thread never touches Qt: it puts events on a queue that a GUI-thread timer
drains into ordinary signals. Emitting Qt signals from a Python thread crashes
PySide6 6.8+ now and then ("deallocating None", PYSIDE-3124); a queue cannot.

Why not superqt's GeneratorWorker: it has pause/resume but no step-once, no frame
back-pressure and no cost-adaptive view cadence, and its pool threads outlive the
worker; the loop below is short and owns those policies in one place.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from engine.runtime import Experiment, NonFiniteError

IDLE, RUNNING, PAUSED, FINISHED, FAILED = "idle", "running", "paused", "finished", "failed"


class ExperimentRunner(QObject):
    #: dict: the experiment's snapshot, merged with its latest heavy snapshot.
    snapshot_ready = Signal(object)
    #: (steps, steps per second over the last second or so)
    progress = Signal(int, float)
    #: one of IDLE, RUNNING, PAUSED, FINISHED, FAILED
    state_changed = Signal(str)
    #: a message for the user; the run is paused and its last good state kept
    failed = Signal(str)
    #: the experiment has been built (device string)
    ready = Signal(str)


    def __init__(self, factory: Callable[[], Experiment], *, max_fps: float = 30.0,
                 view_budget: float = 0.15, heavy_min_interval: float = 0.5, parent=None):
        super().__init__(parent)
        self._factory = factory
        self.experiment: Experiment | None = None
        self.max_fps = max_fps
        self.view_budget = view_budget
        self.heavy_min_interval = heavy_min_interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._frame_pending = False
        self._playing = False
        self._step_requests = 0
        self._closing = False
        self._target_rate: float | None = None
        self._requests: deque = deque()
        self._finished = False
        self.state = IDLE
        self._posted_state = IDLE
        self.view_seconds = 0.0  # time spent building snapshots (measured, for benches)
        self._render_cost = 0.0  # smoothed seconds the GUI takes to draw one frame
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._pump = QTimer(self)
        self._pump.setInterval(10)
        self._pump.timeout.connect(self._drain)
        self._pump.start()
        self._thread = threading.Thread(target=self._loop, name="vigui-experiment", daemon=False)
        self._thread.start()

    # -- commands from the GUI thread -------------------------------------------------
    def play(self) -> None:
        with self._lock:
            if not self._finished:
                self._playing = True
        self._wake.set()

    def pause(self) -> None:
        with self._lock:
            self._playing = False
        self._wake.set()

    def step_once(self) -> None:
        with self._lock:
            if not self._finished:
                self._playing = False
                self._step_requests += 1
        self._wake.set()

    def stop(self) -> None:
        """End the run; the experiment stays for inspection (requests still served)."""
        with self._lock:
            self._playing = False
            self._step_requests = 0
            self._finished = True
        self._post("state", FINISHED)
        self._wake.set()

    def set_rate(self, steps_per_s: float | None) -> None:
        """Limit the step rate (None: as fast as possible)."""
        self._target_rate = steps_per_s if steps_per_s and steps_per_s > 0 else None
        self._wake.set()

    def call(self, fn: Callable[[Experiment], Any], on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[str], None] | None = None) -> None:
        """Run ``fn(experiment)`` on the worker thread between steps; ``on_done(result)``
        is then called on the GUI thread (``on_error(message)`` if it raised)."""
        self._requests.append((fn, on_done, on_error))
        self._wake.set()

    def request_frame(self) -> None:
        """Ask for a fresh snapshot now (e.g. after a view setting changed)."""
        self.call(lambda exp: None, lambda _: None)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the thread and wait for it. Returns False if it did not end in time."""
        self._closing = True
        self._pump.stop()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- GUI-thread side ---------------------------------------------------------------
    def _post(self, kind: str, *args) -> None:
        if kind == "state":  # only changes travel
            if args[0] == self._posted_state:
                return
            self._posted_state = args[0]
        self._events.put((kind, args))

    def _drain(self) -> None:
        """Turn the worker's events into signals, on the GUI thread."""
        while not self._closing:
            try:
                kind, args = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "frame":
                t0 = time.perf_counter()
                try:
                    self.snapshot_ready.emit(args[0])
                finally:
                    # Drawing shares the CPU with the steps: its cost spaces the frames too.
                    self._render_cost = 0.8 * self._render_cost + 0.2 * (time.perf_counter() - t0)
                    self._frame_pending = False
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
                callback, value = args
                if callback is not None:
                    callback(value)

    def process_events(self) -> None:
        """Deliver pending events now (tests and benchmarks; normally a timer does it)."""
        self._drain()

    # -- the worker thread ----------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self.experiment = self._factory()
        except Exception as exc:  # a bad config or dataset: tell the page, keep the app up
            self._fail(exc)
            self._serve_until_closed()
            return
        self._post("ready", getattr(self.experiment, "device", "cpu"))
        self._emit_frame(force=True)
        self._run()
        self._serve_until_closed()

    def _serve_until_closed(self) -> None:
        while not self._closing:
            self._serve_requests()
            self._wake.wait(0.5)
            self._wake.clear()
        self._requests.clear()

    def _run(self) -> None:
        exp = self.experiment
        self._next_frame = 0.0
        self._next_heavy = 0.0
        self._heavy: dict = {}
        rate_window: deque = deque(maxlen=256)
        last_progress = 0.0
        while not self._closing:
            self._serve_requests()
            with self._lock:
                want_step = self._playing or self._step_requests > 0
                single = not self._playing and self._step_requests > 0
                if single:
                    self._step_requests -= 1
                finished = self._finished
            if finished:
                return
            if not want_step:
                self._post("progress", exp.steps, 0.0)  # the status bar shows the final count
                self._post("state", PAUSED if exp.steps else IDLE)
                self._wake.wait()
                self._wake.clear()
                continue
            self._post("state", RUNNING)
            t0 = time.perf_counter()
            try:
                exp.step()
            except Exception as exc:
                self._fail(exc)
                self._emit_frame(force=True)
                return
            now = time.perf_counter()
            rate_window.append(now)
            if now - last_progress > 0.25 or single:
                last_progress = now
                span = rate_window[-1] - rate_window[0] if len(rate_window) > 1 else 0.0
                self._post("progress", exp.steps, (len(rate_window) - 1) / span if span > 0 else 0.0)
            if exp.done:
                with self._lock:
                    self._playing = False
                    self._finished = True
                self._emit_frame(force=True)
                self._post("progress", exp.steps, 0.0)
                self._post("state", FINISHED)
                return
            self._emit_frame(force=single)
            if single:
                self._post("state", PAUSED)
            elif self._target_rate:
                self._sleep_until(t0 + 1.0 / self._target_rate)

    def _sleep_until(self, deadline: float) -> None:
        """Wait for the next step of a rate-limited run; commands cut the wait short."""
        while not self._closing and self._playing and not self._requests:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wake.wait(remaining)
            self._wake.clear()

    def _serve_requests(self) -> None:
        while self._requests:
            fn, on_done, on_error = self._requests.popleft()
            try:
                value = fn(self.experiment) if self.experiment is not None else None
            except Exception as exc:
                if on_error is not None:
                    self._post("result", on_error, _describe(exc))
                continue
            if on_done is not None:
                self._post("result", on_done, value)
            self._emit_frame(force=True)

    def _emit_frame(self, force: bool = False) -> None:
        """Deliver a snapshot if one is due and the GUI has drawn the last one."""
        exp = self.experiment
        if exp is None or self._closing:
            return
        now = time.perf_counter()
        if self._frame_pending and not force:
            return
        if not force and now < self._next_frame:
            return
        t0 = time.perf_counter()
        snap = exp.snapshot()
        cheap = time.perf_counter() - t0
        heavy_cost = 0.0
        if force or now >= self._next_heavy:
            t1 = time.perf_counter()
            self._heavy = exp.heavy_snapshot() or {}
            heavy_cost = time.perf_counter() - t1
            # Expensive views get half the view budget, frames (snapshot + drawing) the other.
            share = self.view_budget / 2
            spacing = heavy_cost * (1.0 - share) / share
            self._next_heavy = now + max(self.heavy_min_interval, spacing)
        if self._heavy:
            snap = {**self._heavy, **snap}
        snap["steps_done"] = exp.steps
        self.view_seconds += cheap + heavy_cost
        frame_cost = cheap + self._render_cost
        share = self.view_budget / 2
        self._next_frame = now + max(1.0 / self.max_fps, frame_cost * (1.0 - share) / share)
        self._frame_pending = True
        self._post("frame", snap)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._playing = False
            self._step_requests = 0
            self._finished = True  # Reset starts again; the last good state stays viewable
        self._post("state", FAILED)
        self._post("failed", _describe(exc))


def _describe(exc: BaseException) -> str:
    """A one-paragraph message for the user (the traceback goes to stderr)."""
    if isinstance(exc, (NonFiniteError, ValueError, FileNotFoundError)):
        return str(exc)
    traceback.print_exception(exc)
    return f"{type(exc).__name__}: {exc}"


class BackgroundJob(QObject):
    """A one-off function on a worker thread (a download, a long evaluation).

    ``fn(report, cancelled)`` receives ``report(*args)`` to send progress to the GUI
    (delivered as ``progress(args)``) and ``cancelled()`` to poll. The result arrives as
    ``done(result)``, an exception as ``failed(message)``. Like the runner, the thread
    never touches Qt: events travel through a queue that a GUI timer drains.
    """

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)

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
        except Exception as exc:
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
