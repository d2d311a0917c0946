"""Runnable: one unit that runs an experiment, a page (ExperimentPage) or a tab (a Section).

The one place where a unit's run, parameters and views meet: ``run`` (a RunControl made by
:meth:`make_run`), ``params`` (a ParamForm, or None), ``last_snapshot`` (the frame drawn
last), and the hooks ``make_factory()``, ``render(snap)``, ``clear_views()``. ``state()`` /
``restore()`` are the parameters' values. Whatever builds on runs (pinned runs, the
teacher's keys) reads these names and nothing else.
"""
from __future__ import annotations

from collections.abc import Callable

from vigui.run.control import RunControl
from vigui.run.worker import ExperimentRunner

__all__ = ["Runnable"]


class Runnable:
    """A mixin: the unit calls :meth:`make_run` once, after ``init_state`` and before its
    views are drawn; ``params`` stays None if it has no form."""

    #: the RunControl's settings (see vigui/run/control.py)
    runner_class = ExperimentRunner
    max_fps = 30.0
    view_budget = 0.15

    params = None
    last_snapshot: dict | None = None

    def make_run(self, report: Callable[[str], None], *, parent, rate: float | None = None,
                 reset_plays: bool = False) -> RunControl:
        """``self.run``, drawing into :meth:`render` and emptied by :meth:`clear_views`;
        a refusal or a failure goes to ``report``."""
        self.run = RunControl(self.make_factory, runner_class=self.runner_class,
                              max_fps=self.max_fps, view_budget=self.view_budget, rate=rate,
                              reset_plays=reset_plays, parent=parent)
        self.run.frame.connect(self._run_frame)
        self.run.resetting.connect(self._run_resetting)
        self.run.rejected.connect(report)
        self.run.failed.connect(self.report_failure)
        self._report = report
        return self.run

    # -- hooks ----------------------------------------------------------------------------
    def make_factory(self) -> Callable:
        """A picklable-if-needed callable that builds the engine Experiment."""
        raise NotImplementedError

    def render(self, snap: dict) -> None:
        raise NotImplementedError

    def clear_views(self) -> None:
        """Empty the views before a new run starts."""

    def report_failure(self, message: str) -> None:
        self._report(message)

    # -- shared ---------------------------------------------------------------------------
    def run_control(self) -> RunControl:
        return self.run

    def state(self) -> dict:
        return self.params.state() if self.params is not None else {}

    def restore(self, state: dict) -> None:
        """Saved values; a malformed or out-of-range one falls back to its default."""
        if self.params is not None:
            self.params.restore(state)

    def _run_frame(self, snap: dict) -> None:
        self.last_snapshot = snap
        self.render(snap)

    def _run_resetting(self) -> None:
        self.last_snapshot = None
        self.clear_views()
