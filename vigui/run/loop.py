"""The run loop shared by the thread and process runners (no Qt here).

:class:`RunLoop` owns one experiment. Its :meth:`run` builds it (building can be
slow: datasets, torch), then loops:

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

Frames stay the same size however long the run: a frame carries the cheap snapshot,
the heavy views only when they are new, and of the metric history only the points
appended since the last frame (``experiment.metrics.delta``); the GUI-side runner
keeps the whole (bounded) history in its own :class:`~engine.core.runtime.MetricStore`.

Everything it reports goes through ``post(kind, *args)``: a queue for the thread
runner (:mod:`vigui.run.worker`), a pipe for the process runner
(:mod:`vigui.run.process`). Events: ``ready(device)``, ``state(name)``,
``progress(steps, rate)``, ``failed(message)``,
``frame(snapshot, heavy or None, metrics delta, view_seconds)``,
``result(token, ok, value)``. The commands (play, pause, ...) may come from any thread.
"""
from __future__ import annotations

import os
import pickle
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.core.runtime import Cancelled, NonFiniteError

IDLE, RUNNING, PAUSED, FINISHED, FAILED = "idle", "running", "paused", "finished", "failed"


class RunLoop:
    """Drives one experiment (see the module docstring). ``clock`` and :meth:`_wait` are
    the loop's only contact with real time: tests replace them to check the pacing
    (rate limit, frame cap, view budget) as behaviour, without measuring wall time."""

    clock = staticmethod(time.perf_counter)

    def __init__(self, factory: Callable[[], Any], post: Callable[..., None], *,
                 max_fps: float = 30.0, view_budget: float = 0.15,
                 heavy_min_interval: float = 0.5, yield_to_gui: bool = False):
        self._factory = factory
        self._post_event = post
        self.experiment = None
        self.max_fps = max_fps
        self.view_budget = view_budget
        self.heavy_min_interval = heavy_min_interval
        # A thread sharing the GUI's interpreter lock steps only once the GUI has drawn
        # the last frame: drawing then has the lock to itself (the cost is bounded by
        # the view budget). A child process has its own lock and never waits.
        self.yield_to_gui = yield_to_gui
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._frame_pending = False
        self._frame_steps = -1  # the step count of the last frame sent
        self._playing = False
        self._step_requests = 0
        self.closing = False
        self._target_rate: float | None = None
        self._requests: deque = deque()
        self._finished = False
        self._posted_state = IDLE
        self.view_seconds = 0.0  # time spent building snapshots (measured, for benches)
        self._render_cost = 0.0  # smoothed seconds the GUI takes to draw one frame
        self._metrics_cursor = None  # how much of the metric history the GUI has

    # -- commands (any thread) ------------------------------------------------------------
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
        with self._lock:
            self._playing = False
            self._step_requests = 0
            self._finished = True
        self._post("state", FINISHED)
        self._wake.set()

    def set_rate(self, steps_per_s: float | None) -> None:
        self._target_rate = steps_per_s if steps_per_s and steps_per_s > 0 else None
        self._wake.set()

    def call(self, fn: Callable[[Any], Any], token: Any) -> None:
        """Run ``fn(experiment)`` between steps; ``result(token, ok, value)`` follows."""
        self._requests.append((fn, token))
        self._wake.set()

    def frame_drawn(self, render_seconds: float) -> None:
        """The GUI drew the last frame in ``render_seconds``: the next one may come."""
        # Drawing shares the CPU with the steps: its cost spaces the frames too.
        self._render_cost = 0.8 * self._render_cost + 0.2 * render_seconds
        self._frame_pending = False
        if self.yield_to_gui:
            self._wake.set()

    def close(self) -> None:
        self.closing = True
        self._wake.set()

    # -- the loop (the owning thread) ----------------------------------------------------------
    def _post(self, kind: str, *args) -> None:
        if kind == "state":  # only changes travel
            if args[0] == self._posted_state:
                return
            self._posted_state = args[0]
        self._post_event(kind, *args)

    def run(self) -> None:
        try:
            self.experiment = self._factory()
        except Exception as exc:  # a bad config or dataset: tell the page, keep the app up
            self._fail(exc)
            self._serve_until_closed()
            return
        if self.closing:  # closed while building: nobody is waiting for this run
            return
        self._post("ready", getattr(self.experiment, "device", "cpu"))
        self._emit_frame(force=True)
        self._run()
        self._serve_until_closed()

    def _serve_until_closed(self) -> None:
        while not self.closing:
            self._serve_requests()
            self._wait(0.5)
        self._requests.clear()

    def _wait(self, timeout: float | None) -> None:
        """Sleep until a command arrives or ``timeout`` seconds pass."""
        self._wake.wait(timeout)
        self._wake.clear()

    def _run(self) -> None:
        exp = self.experiment
        self._next_frame = 0.0
        self._next_heavy = 0.0
        self._frame_steps = exp.steps  # the step of the last frame sent
        rate_window: deque = deque(maxlen=256)
        last_progress = 0.0
        while not self.closing:
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
                if exp.steps != self._frame_steps:  # paused: show (and send the history of)
                    self._emit_frame(force=True)    # the step the run stopped at
                self._post("progress", exp.steps, 0.0)  # the status bar shows the final count
                self._post("state", PAUSED if exp.steps else IDLE)
                self._wait(None)
                continue
            if self.yield_to_gui and self._frame_pending and not single:
                self._await_drawing()
                continue  # commands may have come meanwhile
            self._post("state", RUNNING)
            t0 = self.clock()
            try:
                exp.step()
            except Exception as exc:
                self._fail(exc)
                self._emit_frame(force=True)
                return
            now = self.clock()
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

    def _await_drawing(self, limit: float = 1.0) -> None:
        """Wait until the GUI has drawn the last frame (at most ``limit`` seconds, so
        a GUI that stopped drawing cannot stop the run)."""
        deadline = self.clock() + limit
        while self._frame_pending and not self.closing and not self._requests:
            remaining = deadline - self.clock()
            if remaining <= 0:
                self._frame_pending = False  # give up on that frame; the next one is due
                return
            with self._lock:
                if not self._playing:
                    return
            self._wait(remaining)

    def _sleep_until(self, deadline: float) -> None:
        """Wait for the next step of a rate-limited run; commands cut the wait short."""
        while not self.closing and self._playing and not self._requests:
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            self._wait(remaining)

    def _serve_requests(self) -> None:
        while self._requests:
            fn, token = self._requests.popleft()
            try:
                value = fn(self.experiment) if self.experiment is not None else None
            except Exception as exc:
                self._post("result", token, False, describe(exc))
                continue
            self._post("result", token, True, value)
            self._emit_frame(force=True)

    def _emit_frame(self, force: bool = False) -> None:
        """Deliver a snapshot if one is due and the GUI has drawn the last one."""
        exp = self.experiment
        if exp is None or self.closing:
            return
        now = self.clock()
        if self._frame_pending and not force:
            return
        if not force and now < self._next_frame:
            return
        t0 = self.clock()
        snap = exp.snapshot()
        cheap = self.clock() - t0
        heavy_cost = 0.0
        fresh = None  # heavy views travel only when new; the runner keeps the last ones
        if force or now >= self._next_heavy:
            t1 = self.clock()
            fresh = exp.heavy_snapshot() or {}
            heavy_cost = self.clock() - t1
            # Expensive views get half the view budget, frames (snapshot + drawing) the
            # other: one every cost / share seconds takes exactly that share.
            share = self.view_budget / 2
            self._next_heavy = now + max(self.heavy_min_interval, heavy_cost / share)
        snap["steps_done"] = self._frame_steps = exp.steps
        # The history travels as what is new since the last frame, never whole.
        snap.pop("metrics", None)
        delta = None
        metrics = getattr(exp, "metrics", None)
        if metrics is not None:
            delta, self._metrics_cursor = metrics.delta(self._metrics_cursor)
        self.view_seconds += cheap + heavy_cost
        frame_cost = cheap + self._render_cost
        share = self.view_budget / 2
        self._next_frame = now + max(1.0 / self.max_fps, frame_cost / share)
        self._frame_pending = True
        self._post("frame", snap, fresh, delta, self.view_seconds)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._playing = False
            self._step_requests = 0
            self._finished = True  # Reset starts again; the last good state stays viewable
        self._post("state", FAILED)
        self._post("failed", describe(exc))


# -- the child process --------------------------------------------------------------------
def nothing(experiment) -> None:
    """A call that only asks for a fresh frame. It lives here, in a module without Qt,
    because a child process imports the module of every function it is sent."""
    return None


class _Pickled:
    """A call that travelled pickled, unpickled where it runs: on the loop's thread, so
    that every import it needs happens on the child's one main thread. (Unpickled on the
    listener thread, a call whose function lives in a Qt module imported PySide6 there
    while the main thread imported too, and shiboken's start-up aborted the child.)"""

    def __init__(self, blob: bytes):
        self.blob = blob

    def __call__(self, experiment):
        return pickle.loads(self.blob)(experiment)


def child_main(payload: bytes, commands, events, options: dict, environ: dict[str, str],
               cwd: str) -> None:
    """Entry point of the child: take the GUI's environment and folder (a child forked
    from a fork server starts with the server's), listen for commands at once, then
    unpickle the factory and run the loop. Building (importing torch, loading a dataset)
    happens inside the loop, so a close that comes meanwhile is seen as soon as the build
    returns; a GUI that went away (its pipe ends closed) closes the loop too."""
    os.environ.clear()
    os.environ.update(environ)
    try:
        os.chdir(cwd)
    except OSError:  # the folder is gone: paths the GUI sends are absolute anyway
        pass
    send_lock = threading.Lock()
    loop: RunLoop | None = None

    def post(kind: str, *args) -> None:
        with send_lock:
            try:
                events.send((kind, args))
            except (BrokenPipeError, EOFError, ConnectionError, OSError):
                if loop is not None:
                    loop.close()
            except Exception as exc:  # an unpicklable result: report it instead
                if kind != "result":
                    raise
                events.send(("result", (args[0], False, f"the result cannot be sent back: {exc}")))

    def build():
        try:
            factory = pickle.loads(payload)
        except Exception as exc:
            raise RuntimeError(f"could not start the experiment process: {describe(exc)}") from None
        return factory()

    loop = RunLoop(build, post, **options)

    def listen() -> None:
        while True:
            try:
                message = commands.recv()
            except (EOFError, OSError):  # the GUI went away
                message = ("close",)
            name, args = message[0], message[1:]
            if name == "close":
                loop.close()
                if loop.experiment is None:
                    # Still importing or building: nothing to finish or keep, and
                    # nobody waits for this run. Leave now rather than build it first.
                    os._exit(0)
                return
            if name == "call":
                token, blob = args
                loop.call(_Pickled(blob), token)
            elif name in ("play", "pause", "step_once", "stop", "set_rate", "frame_drawn"):
                getattr(loop, name)(*args)

    threading.Thread(target=listen, name="vigui-commands", daemon=True).start()
    try:
        loop.run()
    finally:
        try:
            events.close()
        except OSError:
            pass
        # Skip the interpreter's teardown (torch's takes about a second): nothing is
        # left to flush but the standard streams.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def describe(exc: BaseException) -> str:
    """A one-paragraph message for the user (the traceback goes to stderr)."""
    if isinstance(exc, (Cancelled, NonFiniteError, ValueError, FileNotFoundError)):
        return str(exc)
    traceback.print_exception(exc)
    return f"{type(exc).__name__}: {exc}"
