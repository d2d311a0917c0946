"""Surprise: a biased coin's outcomes in bits, and the N-forks road."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)
from superqt import QLabeledDoubleSlider

from engine.info.measures import entropy, surprise
from vigui.pages.info.common import Section, fmt, group, small_font, static_plot, summary_label
from vigui.widgets.layout import laid_out
from vigui.widgets.plots import colour, fitted_axes, pen

MAX_FORKS = 20
DRAWN_LEVELS = 6   # deeper roads are drawn to this depth
LEAF_LABELS = 4    # destinations are numbered on the drawing up to this depth
CURVE_TOP = 10.0   # bits shown on the surprise curve (p = 2^-10)


class SurpriseSection(Section):
    title = "Surprise"
    anchor = "surprise"

    def build(self) -> None:
        # -- controls -----------------------------------------------------------------
        self.p_heads = QLabeledDoubleSlider(Qt.Horizontal)
        self.p_heads.setRange(0.0, 1.0)
        self.p_heads.setDecimals(3)
        self.p_heads.setSingleStep(0.001)
        self.p_heads.setPageStep(0.05)
        self.p_heads.setValue(0.9)
        self.p_heads.setToolTip("Probability that the coin lands heads")
        self.coin90 = QPushButton("90% coin")
        self.coin90.setToolTip("The lecture's coin: heads 90% of the time")
        self.coin50 = QPushButton("Fair coin")
        buttons = QHBoxLayout()
        buttons.addWidget(self.coin90)
        buttons.addWidget(self.coin50)
        coin_box = group("A coin", QLabel("P(heads)"), self.p_heads)
        coin_box.layout().addLayout(buttons)
        self.controls_layout.addWidget(coin_box)

        self.forks = QSpinBox()
        self.forks.setRange(1, MAX_FORKS)
        self.forks.setValue(3)
        self.forks.setKeyboardTracking(False)
        self.forks.setToolTip("Left/right forks on the road (1 to 20)")
        self.destination = QSpinBox()
        self.destination.setRange(1, 2 ** 3)
        self.destination.setValue(6)
        self.destination.setKeyboardTracking(False)
        self.destination.setGroupSeparatorShown(True)
        self.destination.setToolTip("Which destination the oracle leads you to")
        form_widget, form = laid_out(QFormLayout)
        form.addRow("Forks N", self.forks)
        form.addRow("Destination", self.destination)
        self.controls_layout.addWidget(group("The N-forks road", form_widget))

        self.p_heads.valueChanged.connect(self.update)
        self.coin90.clicked.connect(lambda: self.p_heads.setValue(0.9))
        self.coin50.clicked.connect(lambda: self.p_heads.setValue(0.5))
        self.forks.valueChanged.connect(self._forks_changed)
        self.destination.valueChanged.connect(self.update)

        # -- views ----------------------------------------------------------------------
        lay = QVBoxLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        self.coin_summary = summary_label()
        lay.addWidget(self.coin_summary)
        row = QHBoxLayout()
        self.curve_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.curve_plot = static_plot(self.curve_widget, "Surprise −log₂ p (bits)",
                                      "p", "bits")
        self.curve_plot.showGrid(x=True, y=True, alpha=0.15)
        p = np.linspace(2.0 ** -CURVE_TOP, 1.0, 500)
        self.curve_plot.plot(p, -np.log2(p), pen=pen(7, 1.5))
        self.curve_plot.getViewBox().setRange(xRange=(0, 1), yRange=(0, CURVE_TOP * 0.8), padding=0.02)
        self.curve_points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k"))
        self.curve_plot.addItem(self.curve_points)
        self.curve_labels = [pg.TextItem(anchor=(-0.15, 0.5), color=(20, 20, 20)) for _ in range(2)]
        for text in self.curve_labels:
            text.setFont(small_font(9))
            self.curve_plot.addItem(text)
        row.addWidget(self.curve_widget, 3)

        self.bar_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.bar_plot = static_plot(self.bar_widget, "Surprise of each outcome", "", "bits")
        self.bar_plot.showGrid(y=True, alpha=0.15)
        self.bars = pg.BarGraphItem(x=[0, 1], height=[0, 0], width=0.6,
                                    brushes=[colour(0, 210), colour(1, 210)], pen=pg.mkPen((60, 60, 60)))
        self.bar_plot.addItem(self.bars)
        self.bar_plot.getAxis("bottom").setTicks([[(0, "heads"), (1, "tails")]])
        self.bar_texts = [pg.TextItem(anchor=(0.5, 1.0), color=(20, 20, 20)) for _ in range(2)]
        for text in self.bar_texts:
            text.setFont(small_font(9, bold=True))
            self.bar_plot.addItem(text)
        row.addWidget(self.bar_widget, 2)
        lay.addLayout(row, 5)

        self.fork_summary = summary_label()
        lay.addWidget(self.fork_summary)
        self.tree_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.tree_plot = static_plot(self.tree_widget, "")
        self.tree_plot.hideAxis("bottom")
        self.tree_plot.setLabel("left", "forks passed")
        self.tree_plot.getViewBox().invertY(True)
        self.tree_edges = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((150, 150, 150), width=1))
        self.tree_path = pg.PlotDataItem(pen=pen(5, 3))
        self.tree_nodes = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(110, 110, 110))
        self.tree_goal = pg.ScatterPlotItem(size=14, symbol="star", pen=pg.mkPen("k"), brush=colour(5))
        for item in (self.tree_edges, self.tree_path, self.tree_nodes, self.tree_goal):
            self.tree_plot.addItem(item)
        self.step_labels = [pg.TextItem(anchor=(0.5, 0.5), color=colour(5)) for _ in range(DRAWN_LEVELS)]
        for text in self.step_labels:
            text.setFont(small_font(9, bold=True))
            self.tree_plot.addItem(text)
        self.leaf_labels = [pg.TextItem(anchor=(0.5, 0.0), color=(40, 40, 40))
                            for _ in range(2 ** LEAF_LABELS)]
        for text in self.leaf_labels:
            text.setFont(small_font(8))
            self.tree_plot.addItem(text)
        self.more = pg.TextItem(anchor=(0.5, 0.0), color=(90, 90, 90))
        self.more.setFont(small_font(8))
        self.tree_plot.addItem(self.more)
        lay.addWidget(self.tree_widget, 4)

    # -- drawing ------------------------------------------------------------------------
    def _forks_changed(self, n: int) -> None:
        self.destination.setMaximum(2 ** n)
        self.update()

    def refresh(self) -> None:
        ph = float(self.p_heads.value())
        probs = np.array([ph, 1.0 - ph])
        bits = surprise(probs)
        h = entropy(probs)
        self.values = {"p_heads": ph, "heads": float(bits[0]), "tails": float(bits[1]), "entropy": h}
        top = max(4.0, 1.15 * max((b for b in bits if math.isfinite(b)), default=0.0))
        heights = np.where(np.isfinite(bits), bits, top)  # an infinite bar fills the axis
        self.bars.setOpts(height=heights)
        for i, text in enumerate(self.bar_texts):
            text.setText(fmt(bits[i]) + " bits")
            text.setPos(i, heights[i] + 0.02 * top)
        self.bar_plot.getViewBox().setRange(xRange=(-0.6, 1.6), yRange=(0, top * 1.2), padding=0)

        shown = np.isfinite(bits) & (bits <= CURVE_TOP)
        self.curve_points.setData(probs[shown], bits[shown],
                                  brush=[colour(i, 230) for i in range(2) if shown[i]])
        for i, text in enumerate(self.curve_labels):
            text.setVisible(bool(shown[i]))
            if shown[i]:
                text.setText(("heads" if i == 0 else "tails") + f" {fmt(bits[i])}")
                text.setAnchor((1.15, 0.5) if probs[i] > 0.6 else (-0.15, 0.5))
                text.setPos(probs[i], bits[i])
        never = [name for name, b in zip(("heads", "tails"), bits, strict=False) if math.isinf(b)]
        note = (f" {' and '.join(never).capitalize()} never happens: seeing it would be "
                "infinitely surprising." if never else "")
        self.coin_summary.setText(
            f"P(heads) = {ph:.3f}: surprise of <b>heads</b> −log₂ {ph:.3f} = <b>{fmt(bits[0])} bits</b>, "
            f"of <b>tails</b> −log₂ {1 - ph:.3f} = <b>{fmt(bits[1])} bits</b>. "
            f"The rarer the outcome, the bigger the surprise; the coin's average surprise "
            f"(its entropy) is {fmt(h)} bits.{note}")
        self._draw_forks()

    def _draw_forks(self) -> None:
        n = int(self.forks.value())
        dest = int(self.destination.value()) - 1  # 0-based; its bits are the path
        destinations = 2 ** n
        path_bits = [(dest >> (n - 1 - d)) & 1 for d in range(n)]
        turns = " ".join("R" if b else "L" for b in path_bits)
        p_dest = 1.0 / destinations
        bits = float(surprise(np.array([p_dest, 1.0 - p_dest]))[0]) if n < 60 else float(n)
        self.values.update({"forks": n, "destinations": destinations, "fork_bits": bits})
        self.fork_summary.setText(
            f"<b>N = {n}</b> forks lead to 2<sup>{n}</sup> = <b>{destinations:,}</b> destinations. "
            f"Each is one of {destinations:,} equally likely ends, surprise −log₂(1/{destinations:,}) = "
            f"<b>{fmt(bits)} bits</b>: the oracle needs <b>{n}</b> left/right prompts. "
            f"Destination {dest + 1:,} = <b>{turns}</b> (L = 0, R = 1: its number − 1 in binary).")

        depth = min(n, DRAWN_LEVELS)
        width = 2 ** depth
        xs, ys, nx, ny = [], [], [], []
        for d in range(depth + 1):
            count = 2 ** d
            span = width / count
            for k in range(count):
                x = (k + 0.5) * span - 0.5
                nx.append(x)
                ny.append(d)
                if d < depth:
                    for child in (2 * k, 2 * k + 1):
                        xs += [x, (child + 0.5) * span / 2 - 0.5]
                        ys += [d, d + 1]
        self.tree_edges.setData(xs, ys)
        self.tree_nodes.setData(nx, ny, size=6 if depth <= 5 else 4)
        px, py = [], []
        for d in range(depth + 1):
            k = dest >> (n - d)
            span = width / 2 ** d
            px.append((k + 0.5) * span - 0.5)
            py.append(d)
        self.tree_path.setData(px, py)
        if depth == n:
            self.tree_goal.setData([px[-1]], [py[-1]])
        else:
            self.tree_goal.setData([], [])
        for d, text in enumerate(self.step_labels):
            if d < depth:
                text.setText("R" if path_bits[d] else "L")
                offset = 0.18 if path_bits[d] else -0.18
                text.setPos((px[d] + px[d + 1]) / 2 + offset * width / 8, d + 0.5)
                text.setVisible(True)
            else:
                text.setVisible(False)
        for k, text in enumerate(self.leaf_labels):
            if depth == n and n <= LEAF_LABELS and k < width:
                text.setText(str(k + 1))
                text.setPos(k, depth + 0.12)
                text.setVisible(True)
            else:
                text.setVisible(False)
        if depth < n:
            self.more.setText(f"… {n - depth} more levels below: {destinations:,} destinations in all")
            self.more.setPos((width - 1) / 2, depth + 0.1)
            self.more.setVisible(True)
        else:
            self.more.setVisible(False)
        self.tree_plot.setTitle(
            f"The road: {n} fork{'s' if n > 1 else ''}, the oracle's path to destination {dest + 1:,}"
            + ("" if depth == n else f" (first {depth} forks drawn)"), size="9pt")
        self.tree_plot.getAxis("left").setTicks([[(d, str(d)) for d in range(depth + 1)]])
        self.tree_plot.getViewBox().setRange(xRange=(-0.8, width - 0.2),
                                             yRange=(-0.3, depth + 0.55), padding=0)

    # -- state --------------------------------------------------------------------------
    def state(self) -> dict:
        return {"p_heads": float(self.p_heads.value()), "forks": int(self.forks.value()),
                "destination": int(self.destination.value())}

    def restore(self, state: dict) -> None:
        if _number(state.get("p_heads")):
            self.p_heads.setValue(min(1.0, max(0.0, float(state["p_heads"]))))
        if _number(state.get("forks")):
            self.forks.setValue(int(min(MAX_FORKS, max(1, state["forks"]))))
        if _number(state.get("destination")):
            self.destination.setValue(int(min(self.destination.maximum(), max(1, state["destination"]))))

    def screenshot(self) -> None:
        self.restore({"p_heads": 0.9, "forks": 3, "destination": 6})


def _number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
