"""Pinned runs on screen: faded curves on the page's plots, a legend table to hide or
drop each, and their final metrics side by side with the live run's.

The page owns a :class:`~vigui.run.pinned.PinnedRuns` list and gives this widget its
plots by metric name::

    self.compare = PinnedRunsView(runs, {"loss": loss_plot, "test_loss": loss_plot,
                                         "kl": parts_plot}, columns=["loss", "kl"])
    self.compare.set_live(params, live_metrics)   # relabel; the live row of the table

Each pinned run draws its curves in its own palette colour, faded (alpha), thinner
than the live ones and behind them; a second metric on the same plot is dashed. The
table has one row per run: a check box (shown or hidden), the label (what differs from
the live parameters, in the run's colour), its final metrics, and a ✕ that drops it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.core.runtime import MetricStore
from vigui.run.pinned import PinnedRun, PinnedRuns
from vigui.widgets.numbers import fmt_se
from vigui.widgets.plots import colour

__all__ = ["PinnedRunsView", "FADED_ALPHA"]

FADED_ALPHA = 130  # of 255: behind the live curves, still readable on a projector
ROW_PX = 20  # table rows
MAX_TABLE_PX = 130  # about five rows show; more scroll
LIVE = "live run"
SE = "_se"  # a metric's standard error is the metric named <name>_se


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}".replace("-", "−")


def _cell(final: dict, column: str) -> str:
    """A run's final ``column``, with its standard error where the run measured one
    (a metric ``<column>_se``)."""
    value, se = final.get(column, math.nan), final.get(column + SE)
    if se is None or value is None or not math.isfinite(value):
        return _fmt(value)
    return fmt_se(value, se)


class PinnedRunsView(QWidget):
    """Overlay and table of a page's pinned runs (see the module docstring)."""

    changed = Signal()  # a run was hidden, shown or dropped

    def __init__(self, runs: PinnedRuns, plots: dict[str, pg.PlotItem] | None = None,
                 columns: Sequence[str] = (), parent=None):
        super().__init__(parent)
        self.runs = runs
        self.plots: dict[str, pg.PlotItem] = dict(plots or {})
        self.columns = list(columns)
        self._items: dict[int, list[tuple[pg.PlotItem, pg.PlotDataItem]]] = {}
        self._live_params: dict = {}
        self._live_final: dict[str, float] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.title = QLabel()
        self.title.setStyleSheet("QLabel { font-size: 8pt; color: #444; }")
        lay.addWidget(self.title)
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.setStyleSheet("QTableWidget { font-size: 8pt; }")
        self.table.verticalHeader().setDefaultSectionSize(ROW_PX)  # compact: the views keep the room
        self.table.verticalHeader().setMinimumSectionSize(ROW_PX)
        lay.addWidget(self.table)
        self.refresh()

    # -- what the page tells it -----------------------------------------------------------------
    def set_plots(self, plots: dict[str, pg.PlotItem]) -> None:
        self._remove_all()
        self.plots = dict(plots)
        self.refresh()

    def set_columns(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.refresh()

    def set_live(self, params: dict, metrics: MetricStore | None = None) -> None:
        """The live run's parameters (labels say what differs from them) and metrics
        (the table's first row; None: no run yet)."""
        self._live_params = dict(params)
        self._live_final = ({name: metrics.latest(name) for name in metrics.names}
                            if metrics is not None else {})
        self.refresh()

    def labels(self) -> list[str]:
        return self.runs.labels(self._live_params)

    # -- drawing -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Curves for new runs, none for dropped ones, visibility, the table."""
        alive = {id(r) for r in self.runs}
        for key in [k for k in self._items if k not in alive]:
            for plot, item in self._items.pop(key):
                plot.removeItem(item)
        labels = self.labels()
        for run, label in zip(self.runs, labels, strict=True):
            items = self._items.get(id(run))
            if items is None:
                items = self._items[id(run)] = self._draw(run)
            for _, item in items:
                item.setVisible(run.visible)
                item.opts["name"] = label
        self._fill_table(labels)
        self.setVisible(len(self.runs) > 0)

    def _draw(self, run: PinnedRun) -> list[tuple[pg.PlotItem, pg.PlotDataItem]]:
        out = []
        on_plot: dict[int, int] = {}
        for name, plot in self.plots.items():
            x, y = run.metrics.get(name)
            if not len(x):
                continue
            nth = on_plot.get(id(plot), 0)
            on_plot[id(plot)] = nth + 1
            p = pg.mkPen(colour(run.colour, FADED_ALPHA), width=1.5,
                         style=Qt.DashLine if nth else Qt.SolidLine)
            item = pg.PlotDataItem(x, y, pen=p, connect="finite")
            item.setZValue(-10)  # behind the live curves
            item.vigui_metric = name
            plot.addItem(item)
            out.append((plot, item))
        return out

    def _remove_all(self) -> None:
        for items in self._items.values():
            for plot, item in items:
                plot.removeItem(item)
        self._items = {}

    def curves(self, run: PinnedRun) -> dict[str, pg.PlotDataItem]:
        """The run's curve on each plot by metric name (tests, screenshots)."""
        return {item.vigui_metric: item for _, item in self._items.get(id(run), [])}

    # -- the table ----------------------------------------------------------------------------
    def _fill_table(self, labels: list[str]) -> None:
        columns = [c for c in self.columns] or sorted(
            n for n in {n for r in self.runs for n in r.final} | set(self._live_final)
            if not n.endswith(SE))[:6]
        t = self.table
        t.clear()
        t.setColumnCount(3 + len(columns))
        t.setHorizontalHeaderLabels(["", "run", *columns, ""])
        rows = [(None, LIVE)] + list(zip(self.runs, labels, strict=True))
        t.setRowCount(len(rows))
        for row, (run, label) in enumerate(rows):
            final = self._live_final if run is None else run.final
            if run is not None:
                t.setCellWidget(row, 0, self._check(run))
                drop = QToolButton()
                drop.setText("✕")
                drop.setToolTip(f"Drop the pinned run {label!r}")
                drop.setAutoRaise(True)
                drop.clicked.connect(lambda _=False, r=run: self.drop(r))
                t.setCellWidget(row, 2 + len(columns), drop)
            name = QTableWidgetItem(label)
            if run is not None:
                name.setForeground(QBrush(colour(run.colour)))
                name.setToolTip(f"{run.steps:,} steps")
            else:
                font = name.font()
                font.setBold(True)
                name.setFont(font)
            t.setItem(row, 1, name)
            for j, column in enumerate(columns):
                item = QTableWidgetItem(_cell(final, column))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                t.setItem(row, 2 + j, item)
        header = t.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        height = header.height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 4
        t.setFixedHeight(min(height, MAX_TABLE_PX))
        self.title.setText(f"Pinned runs ({len(self.runs)}): faded curves; the live run is in bold")

    def _check(self, run: PinnedRun) -> QWidget:
        box = QCheckBox()
        box.setChecked(run.visible)
        box.setToolTip("Show or hide this run's curves")
        box.toggled.connect(lambda on, r=run: self.set_visible(r, on))
        holder = QWidget()
        lay = QHBoxLayout(holder)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.addWidget(box)
        holder.check = box
        return holder

    # -- actions ----------------------------------------------------------------------------------
    def set_visible(self, run: PinnedRun, on: bool) -> None:
        run.visible = bool(on)
        for _, item in self._items.get(id(run), []):
            item.setVisible(run.visible)
        self.changed.emit()

    def drop(self, run: PinnedRun) -> None:
        self.runs.drop(run)
        self.refresh()
        self.changed.emit()

    def checkbox(self, row: int) -> QCheckBox:
        """The show/hide box of pinned run ``row`` (0 = the first pinned run)."""
        return self.table.cellWidget(row + 1, 0).check

    def drop_button(self, row: int) -> QToolButton:
        return self.table.cellWidget(row + 1, self.table.columnCount() - 1)
