"""LiveQuery: ask the model again while it trains (a decoded path, completions of a drawing).

A view that shows the model's answer to the user's question (decode the path A -> B,
complete this drawing) must follow the model as it trains, without flooding the run:
one request in flight at a time, asked again at most every ``interval`` seconds and only
when the model has taken steps since the last answer, and an answer to a question the
user has since changed (or to a run since reset) is dropped. The page keeps the question;
this keeps the bookkeeping (token, busy, last step, last time)::

    self.path = LiveQuery(interval=1.0)
    ...
    self.path.ask(self.run, fn, on_done=self._show, on_error=self._say)  # a new question
    ...
    if self.path.due(steps):        # in render(): the model moved, time to ask again
        self.path.ask(self.run, fn, on_done=self._show, on_error=self._say)
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["LiveQuery"]


class LiveQuery:
    """One question asked again of a training model (module docstring)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic):
        self.interval = float(interval)
        self.clock = clock
        self.token = 0      # the current question; answers carry the token they were asked with
        self.busy = False   # a request is in flight
        self.step = -1      # the model's step of the last answer shown
        self.asked_at = -math.inf
        self._pending: tuple | None = None  # ask_latest's question waiting for the answer

    def invalidate(self) -> None:
        """The question changed or the run was replaced: answers on their way are dropped."""
        self.token += 1
        self.busy = False
        self._pending = None
        self.stale()

    def stale(self) -> None:
        """The model changed under the answer (weights loaded): ask again at the next frame."""
        self.step = -1
        self.asked_at = -math.inf

    def due(self, step: int) -> bool:
        """Time to ask again: nothing in flight, the model moved, the interval passed."""
        return (not self.busy and step != self.step
                and self.clock() - self.asked_at >= self.interval)

    def ask_latest(self, run, fn: Callable, on_done: Callable,
                   on_error: Callable | None = None) -> bool:
        """Like :meth:`ask`, but one request at a time and the newest question wins: while
        one is in flight, this question waits (replacing any waiting one) and is sent when
        the answer comes; that answer is still shown, an error of it is not (the newer
        question may well work)."""
        if self.busy:
            self._pending = (run, fn, on_done, on_error)
            return True
        return self.ask(run, fn, on_done, on_error)

    def _send_pending(self) -> bool:
        pending, self._pending = self._pending, None
        return pending is not None and self.ask(*pending)

    def ask(self, run, fn: Callable, on_done: Callable, on_error: Callable | None = None) -> bool:
        """Send ``fn(exp)`` to the run; ``on_done(result)`` / ``on_error(message)`` only if
        no newer question came meanwhile. False if there is no run to ask."""
        self.token += 1
        token = self.token
        self.busy = True
        asked_at, self.asked_at = self.asked_at, self.clock()

        def done(result):
            if self._current(token):
                on_done(result)
                self._send_pending()

        def error(message):
            if self._current(token) and not self._send_pending() and on_error is not None:
                on_error(message)

        sent = run.call(fn, on_done=done, on_error=error)
        if not sent:
            self.busy, self.asked_at = False, asked_at
        return bool(sent)

    def _current(self, token: int) -> bool:
        if token != self.token:
            return False  # a newer question (or a reset) came since
        self.busy = False
        return True
