"""Entropy of a distribution over 2..12 outcomes, edited by sliders or by dragging bars."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QPushButton, QVBoxLayout, QWidget

from engine.info.measures import GAME1, GAME2, GAME_COLOURS, binary_entropy, entropy
from vigui.pages.info.common import (
    Section,
    bar_colours,
    fmt,
    group,
    outcomes_row,
    small_font,
    static_plot,
    summary_label,
)
from vigui.widgets.distribution_editor import DistributionEditor, DraggableBars, as_distribution
from vigui.widgets.plots import colour, fitted_axes, pen

MIN_N, MAX_N = 2, 12


def numbers(n: int) -> list[str]:
    return [str(k + 1) for k in range(n)]


#: name -> (probabilities or a function of the current n, labels or None for 1..n)
PRESETS = {
    "Fair die": ([1 / 6] * 6, numbers(6)),
    "Loaded die": ([0.1, 0.1, 0.1, 0.1, 0.1, 0.5], numbers(6)),
    "Certain outcome": (lambda n: [1.0] + [0.0] * (n - 1), None),
    "Uniform": (lambda n: [1.0 / n] * n, None),
    "Fair coin": ([0.5, 0.5], ["heads", "tails"]),
    "90% coin": ([0.9, 0.1], ["heads", "tails"]),
    "Game 1 coins": (list(GAME1), list(GAME_COLOURS)),
    "Game 2 coins": (list(GAME2), list(GAME_COLOURS)),
}


class EntropySection(Section):
    title = "Entropy"
    anchor = "entropy"

    def build(self) -> None:
        # -- controls -----------------------------------------------------------------
        n_row, self.n_box = outcomes_row(MIN_N, MAX_N, 6, "Number of outcomes (2 to 12)")
        self.controls_layout.addWidget(n_row)

        presets = QWidget()
        grid = QGridLayout(presets)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(3)
        self.preset_buttons: dict[str, QPushButton] = {}
        for i, name in enumerate(PRESETS):
            button = QPushButton(name)
            button.clicked.connect(lambda _=False, name=name: self.apply_preset(name))
            grid.addWidget(button, i // 2, i % 2)
            self.preset_buttons[name] = button
        self.controls_layout.addWidget(group("Presets", presets))

        self.editor = DistributionEditor(6)
        self.controls_layout.addWidget(group("p (drag a slider; the others rescale)", self.editor))

        self.n_box.valueChanged.connect(self._n_changed)
        self.editor.changed.connect(self.update)

        # -- views ----------------------------------------------------------------------
        lay = QVBoxLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        lay.addWidget(self.summary)
        self.bars = DraggableBars("p(x): drag a bar up or down", "probability")
        self.bars.dragged.connect(self.editor.set_prob)
        lay.addWidget(self.bars, 3)

        self.curve_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.curve_plot = static_plot(self.curve_widget, "", "p = P(first outcome)", "H (bits)")
        self.curve_plot.showGrid(x=True, y=True, alpha=0.15)
        grid_p = np.linspace(0.0, 1.0, 401)
        self.curve = self.curve_plot.plot(grid_p, binary_entropy(grid_p), pen=pen(0, 2))
        self.point = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k"), brush=colour(5))
        self.curve_plot.addItem(self.point)
        self.point_label = pg.TextItem(anchor=(0.5, 1.1), color=(20, 20, 20))
        self.point_label.setFont(small_font(9, bold=True))
        self.curve_plot.addItem(self.point_label)
        self.note = pg.TextItem(anchor=(0.5, 0.5), color=(60, 60, 60),
                                fill=pg.mkBrush(255, 255, 255, 220), border=pg.mkPen((150, 150, 150)))
        self.note.setFont(small_font(9))
        self.note.setPos(0.5, 0.45)
        self.curve_plot.addItem(self.note)
        self.curve_plot.getViewBox().setRange(xRange=(0, 1), yRange=(0, 1.15), padding=0.02)
        lay.addWidget(self.curve_widget, 2)

    # -- editing --------------------------------------------------------------------------
    def _n_changed(self, n: int) -> None:
        self.editor.set_n(n)

    def set_distribution(self, p, labels=None) -> bool:
        p = as_distribution(p)
        if p is None or not MIN_N <= p.size <= MAX_N:
            return False
        self.n_box.blockSignals(True)
        self.n_box.setValue(p.size)
        self.n_box.blockSignals(False)
        return self.editor.set_probs(p, labels or numbers(p.size))

    def apply_preset(self, name: str) -> None:
        probs, labels = PRESETS[name]
        if callable(probs):
            probs = probs(self.editor.n)
            labels = self.editor.labels()
        self.set_distribution(probs, labels)

    # -- drawing --------------------------------------------------------------------------
    def refresh(self) -> None:
        p = self.editor.probs()
        labels = self.editor.labels()
        n = p.size
        h_bits = entropy(p)
        h_nats = entropy(p, base=math.e)
        h_max = math.log2(n)
        self.values = {"p": p, "entropy_bits": h_bits, "entropy_nats": h_nats, "max_bits": h_max}
        self.bars.set_values(p, labels, bar_colours(labels))
        share = h_bits / h_max if h_max > 0 else 0.0
        self.summary.setText(
            f"H(p) = −Σ p log₂ p = <b>{fmt(h_bits)} bits</b> = {fmt(h_nats)} nats. "
            f"Maximum for n = {n}: log₂ {n} = <b>{fmt(h_max)} bits</b> (all outcomes equally likely); "
            f"this p reaches {100 * share:.1f}% of it. H = 0 only when one outcome is certain.")
        if n == 2:
            self.curve.setPen(pen(0, 2))
            self.point.setData([p[0]], [h_bits])
            self.point_label.setText(f"p = {p[0]:.3f}, H = {fmt(h_bits)} bits")
            self.point_label.setAnchor((1.05, 1.1) if p[0] > 0.5 else (-0.05, 1.1))
            self.point_label.setPos(p[0], h_bits)
            self.point_label.setVisible(True)
            self.note.setVisible(False)
            self.curve_plot.setTitle("Binary entropy h(p) = −p log₂ p − (1 − p) log₂(1 − p)", size="9pt")
        else:
            self.curve.setPen(pg.mkPen((200, 200, 200), width=2))
            self.point.setData([], [])
            self.point_label.setVisible(False)
            self.note.setText(f"The binary entropy curve is for n = 2 (a coin).\n"
                              f"Set n = 2 to place p on it (now n = {n}).")
            self.note.setVisible(True)
            self.curve_plot.setTitle("Binary entropy h(p) (greyed: n > 2)", size="9pt")

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"p": [float(v) for v in self.editor.probs()], "labels": self.editor.labels()}

    def restore(self, state: dict) -> None:
        labels = state.get("labels")
        p = as_distribution(state.get("p"))
        if p is None:
            return
        if not (isinstance(labels, list) and len(labels) == p.size
                and all(isinstance(s, str) and len(s) <= 20 for s in labels)):
            labels = None
        self.set_distribution(p, labels)

    def screenshot(self) -> None:
        self.apply_preset("Loaded die")
