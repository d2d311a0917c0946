"""Runs an engine Experiment in a child process (multiprocessing: a fork server, else "spawn").

Same public interface and signals as :class:`vigui.run.worker.ExperimentRunner`, the same
loop (:class:`vigui.run.loop.RunLoop`), but the loop runs in the main thread of a child
process, so the GUI's Python (pyqtgraph drawing, holding the GIL) and the training's
Python (between torch ops) no longer take turns on one interpreter lock.

* The factory and the functions given to :meth:`call` travel pickled: with cloudpickle
  when it is importable (lambdas and closures then work), else plain pickle
  (module-level functions, ``functools.partial`` of a class and a config).
* Events (frames are dicts of numpy arrays) come back through a pipe that a GUI timer
  polls without blocking; commands go the other way through a second pipe, read in
  the child by a small listener thread.
* :attr:`experiment` is always None here: the model lives in the child; use ``call``.
* :meth:`release` (what pages use) returns at once: it asks the child to end, closes
  this side's pipe ends (a child blocked sending a frame then fails and ends too) and
  hands the process to a reaper thread, which joins it, or terminates and at last
  kills it if it is still busy after :data:`REAP_GRACE_S`: no zombie, nothing left
  running, and the window never waits for the child's interpreter to exit.
* :meth:`close` does the same but waits (tests and benches).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

from vigui.run.loop import FAILED, child_main
from vigui.run.worker import RunnerBase

#: seconds a released child may take to finish on its own (a step, a build, a save)
#: before the reaper terminates it
REAP_GRACE_S = 10.0

try:  # lambdas and closures (the pages' calls); optional
    import cloudpickle as _pickler
except ImportError:  # pragma: no cover - plain pickle: module-level functions only
    _pickler = pickle

#: what the fork server imports once, so that each child starts from a warm interpreter
#: instead of importing torch anew (seconds each; torch._dynamo is what its fused Adam
#: imports on first use, +1 s); a module that is missing is skipped. Only third-party
#: modules: the project's own are imported fresh by each child, so a child never runs code
#: older than the files on disk
PRELOAD = ["torch", "torch._dynamo"]


def _context():
    """A fork server where the platform has one, else "spawn". The server is a fresh
    single-threaded interpreter (started by :func:`warm_up` or on first use, not forked
    from the GUI, so Qt's threads never cross a fork) that imports :data:`PRELOAD` and
    forks each child from itself: a child is ready in a fraction of a second instead of seconds, and children
    share the server's memory pages for the imported code. Children get the GUI's
    current environment and folder (:func:`vigui.run.loop.child_main` applies them), as a
    spawned child would, not the server's."""
    if "forkserver" not in mp.get_all_start_methods():  # Windows
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


_CONTEXT = _context()


def warm_up() -> None:
    """Start the fork server now, so that it imports torch while the person looks at the
    first page: the first child a page starts then forks at once. (A child's start waits
    for the server's imports, and it is started on the GUI thread.) Returns at once."""
    if _CONTEXT.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def stop_server() -> None:
    """End the fork server now (the app is leaving, its children are gone): left to
    itself it would end only once it noticed, after importing torch if it was still at
    it, seconds after the window had closed, holding the app's stdout and stderr."""
    if _CONTEXT.get_start_method() != "forkserver":
        return
    import signal
    from multiprocessing import forkserver

    server = forkserver._forkserver  # the stdlib's one server; no public stop
    if server._forkserver_pid is None:
        return
    try:
        os.kill(server._forkserver_pid, signal.SIGTERM)
    except OSError:  # gone already
        pass
    try:
        server._stop()  # reaps it; the next child would start a new one
    except OSError:  # its socket's folder went with multiprocessing's atexit cleanup
        pass


def _dumps(obj) -> bytes:
    return _pickler.dumps(obj)


class ProcessRunner(RunnerBase):
    """Runs the experiment in a child process (see the module docstring)."""

    #: the model lives in the child: pages reach it through ``call`` only
    experiment = None

    def __init__(self, factory: Callable[[], Any], *, max_fps: float = 30.0,
                 view_budget: float = 0.15, heavy_min_interval: float = 0.5, parent=None):
        super().__init__(max_fps=max_fps, view_budget=view_budget,
                         heavy_min_interval=heavy_min_interval, parent=parent)
        self._pending_errors: list = []
        self._child_gone = False  # set before the start: a failed start leaves a whole object
        payload = _dumps(factory)  # unpicklable factory: raises here, in the caller
        cmd_read, self._cmd = _CONTEXT.Pipe(duplex=False)
        self._evt, evt_write = _CONTEXT.Pipe(duplex=False)
        self._process = _CONTEXT.Process(
            target=child_main,
            args=(payload, cmd_read, evt_write, self._loop_options(), dict(os.environ), os.getcwd()),
            name="vigui-experiment", daemon=True)
        self._process.start()
        cmd_read.close()  # the child's ends: closing ours lets each side see the other end
        evt_write.close()

    # -- commands -----------------------------------------------------------------------
    def _command(self, name: str, *args) -> None:
        self._send((name, *args))

    def _send(self, message) -> None:
        if self._closing or self._child_gone:
            return
        try:
            self._cmd.send(message)
        except (BrokenPipeError, OSError):
            self._child_gone = True

    def _send_call(self, fn, token) -> None:
        try:
            blob = _dumps(fn)
        except Exception as exc:  # e.g. a closure over a Qt object
            self._pending_errors.append(("result", (token, False, f"cannot send to the "
                                                    f"experiment process: {exc}")))
            return
        self._send(("call", token, blob))

    # -- events -----------------------------------------------------------------------------
    def _next_event(self):
        if self._pending_errors:
            return self._pending_errors.pop(0)
        if self._child_gone:
            return None
        try:
            if not self._evt.poll():
                return None
            buf = self._evt.recv_bytes()
        except (EOFError, OSError):
            self._child_gone = True
            if self.state != FAILED:
                return ("failed", ("The experiment process ended unexpectedly.",))
            return None
        kind, args = pickle.loads(buf)
        if kind == "frame":
            self.stats.last_bytes = len(buf)
            self.stats.bytes += len(buf)
        return kind, args

    def _drain(self) -> None:
        super()._drain()
        if self._child_gone and self.state != FAILED and not self._closing:
            self.state = FAILED
            self.state_changed.emit(FAILED)

    # -- lifecycle --------------------------------------------------------------------------
    def _let_go(self) -> bool:
        """Ask the child to end and stop listening; False if that was done already."""
        if self._closing:
            return False
        self._send(("close",))
        self._closing = True
        self._pump.stop()
        return True

    def release(self) -> None:
        """End the run without waiting: the child ends on its own (after its current
        step or build) and a reaper thread joins it, or terminates it after
        :data:`REAP_GRACE_S`. Closing our pipe ends wakes a child blocked on them."""
        if not self._let_go():
            return
        for conn in (self._cmd, self._evt):
            conn.close()
        threading.Thread(target=_reap, args=(self._process, REAP_GRACE_S),
                         name="vigui-reaper", daemon=True).start()

    def close(self, timeout: float = 10.0) -> bool:
        """End the child (asked, then terminated, then killed) and wait for it."""
        if not self._let_go():  # closed or released already
            self._process.join(timeout)
            return not self._process.is_alive()
        deadline = time.monotonic() + timeout
        while self._process.is_alive() and time.monotonic() < deadline:
            try:  # keep the pipe flowing: a child blocked sending a frame cannot exit
                while self._evt.poll(0.02):
                    self._evt.recv_bytes()
            except (EOFError, OSError):
                self._process.join(min(0.1, max(0.0, deadline - time.monotonic())))
        _reap(self._process, 0.0)
        for conn in (self._cmd, self._evt):
            conn.close()
        return not self._process.is_alive()

    @property
    def is_alive(self) -> bool:
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid


def _reap(process, grace: float) -> None:
    """Join ``process``; after ``grace`` seconds terminate it, then kill it."""
    process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(2.0)
    if process.is_alive():
        process.kill()
    process.join()
