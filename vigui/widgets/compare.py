"""Compare runs: "Keep this run" for anything with a run control and a parameter form.

:class:`RunComparison` ties one :class:`~vigui.run.control.RunControl` and its
:class:`~vigui.widgets.param_form.ParamForm` to a list of pinned runs and their view::

    self.compare = RunComparison(self.run, self.params, {"loss": loss_plot}, ["loss"])
    side_layout.addWidget(self.compare.button)   # "Keep this run" (the window adds K)
    center_layout.addWidget(self.compare.view)   # legend table: hide, drop, final metrics

``keep()`` copies the live run's bounded history and parameters (never its model);
labels follow the live parameters as they change; ``csv()`` is the live and pinned
histories as one table; ``state()`` / ``restore()`` are the scene's "pinned" data.
"""
from __future__ import annotations

from collections.abc import Sequence
from time import monotonic

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPushButton

from vigui.run.control import RunControl
from vigui.run.pinned import PinnedRun, PinnedRuns, metrics_csv
from vigui.widgets.param_form import ParamForm
from vigui.widgets.pinned import LIVE, PinnedRunsView

__all__ = ["RunComparison", "MACHINE", "KEEP_KEY"]

MACHINE = ("device", "threads")  # where it ran, not what: never part of a label
KEEP_KEY = "K"
TABLE_EVERY_S = 1.0  # the live row of the table follows the run this often


class RunComparison(QObject):
    """Pinned runs of one run control (see the module docstring)."""

    kept = Signal(str)     # the label of the run just kept
    message = Signal(str)  # nothing to keep yet

    def __init__(self, run: RunControl, params: ParamForm | None,
                 plots: dict[str, pg.PlotItem] | None = None, columns: Sequence[str] = (),
                 parent=None):
        super().__init__(parent or run)
        self.run, self.params = run, params
        declared = [params.param(n) for n in params.fields] if params is not None else []
        self.runs = PinnedRuns(declared)
        self.view = PinnedRunsView(self.runs, plots, columns)
        self.button = QPushButton("Keep this run")
        self.button.setToolTip("Pin this run's curves and final metrics on the page, to compare "
                               f"with the runs that follow ({KEEP_KEY})")
        self.button.clicked.connect(self.keep)
        self._table_at = 0.0
        run.frame.connect(self._on_frame)
        run.state_changed.connect(lambda _state: self.update_live())
        run.ready.connect(lambda _device: self.update_live())  # an opened model: its parameters
        run.resetting.connect(lambda: self.view.set_live(self.live_params(), None))
        if params is not None:
            params.changed.connect(lambda _name: self.update_live())

    def live_params(self) -> dict:
        values = self.params.values() if self.params is not None else {}
        return {k: v for k, v in values.items() if k not in MACHINE}

    def live_metrics(self):
        runner = self.run.runner
        return runner.metrics if runner is not None else None

    def keep(self) -> PinnedRun | None:
        """Pin the live run (its parameters and history); None when it has no steps yet."""
        store = self.live_metrics()
        if store is None or not store.names:  # (the GUI's copy counts no rows: it applies deltas)
            self.message.emit("Nothing to keep yet: run a few steps first.")
            return None
        run = self.runs.pin(PinnedRun.from_live(self.live_params(), store, steps=self.run.steps))
        self.update_live()
        label = self.view.labels()[self.runs.runs.index(run)]
        self.kept.emit(label)
        return run

    def update_live(self) -> None:
        self.view.set_live(self.live_params(), self.live_metrics())

    def _on_frame(self, _snap) -> None:
        now = monotonic()
        if self.runs.runs and now - self._table_at >= TABLE_EVERY_S:
            self._table_at = now
            self.update_live()

    def csv(self) -> str:
        """The live and pinned histories as one CSV table (see vigui.run.pinned)."""
        store = self.live_metrics()
        rows = [(LIVE, store)] if store is not None else []
        rows += [(label, run.metrics) for run, label in zip(self.runs, self.view.labels(), strict=True)]
        return metrics_csv(rows)

    # -- scenes ------------------------------------------------------------------------------------
    def state(self) -> list:
        return list(self.runs.runs)

    def restore(self, runs: Sequence[PinnedRun]) -> None:
        self.runs.clear()
        for run in runs:
            self.runs.pin(run)
        self.update_live()

