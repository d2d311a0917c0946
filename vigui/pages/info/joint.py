"""Joint and conditional entropy, mutual information and PMI of an editable table."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from engine.info.measures import (
    conditional_entropy,
    entropy,
    joint_entropy,
    marginals,
    mutual_information,
    pmi,
)
from vigui.pages.info.common import Section, fmt, group, small_font, static_plot, summary_label
from vigui.widgets import styles
from vigui.widgets.layout import laid_out
from vigui.widgets.plots import PALETTE, colour, fitted_axes

MAX_SIDE = 6
MAX_WEIGHT = 1_000_000.0
DEFAULT_WEIGHTS = [[4, 1, 0], [1, 3, 1], [0, 1, 4]]

#: Diverging map centred at 0: Okabe-Ito blue (negative PMI), white, vermillion (positive).
PMI_MAP = pg.ColorMap([0.0, 0.5, 1.0], [PALETTE[0], (255, 255, 255), PALETTE[5]])
NEVER_RGB = (70, 70, 70)        # p(x, y) = 0 with both marginals positive: PMI = −∞
UNDEFINED_RGB = (215, 215, 215)  # a zero marginal: PMI undefined


def _parse_weight(text: str) -> float:
    """A cell's text as a weight in [0, MAX_WEIGHT]; ValueError naming the problem."""
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"“{str(text)[:30]}” is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    if value < 0:
        raise ValueError(f"weights cannot be negative (got {value:g})")
    if value > MAX_WEIGHT:
        raise ValueError(f"weights are at most {MAX_WEIGHT:,.0f} (got {value:g})")
    return value


class WeightDelegate(QStyledItemDelegate):
    """Cells are edited with a range-limited spin box: only valid weights can be typed."""

    def createEditor(self, parent, option, index):
        box = QDoubleSpinBox(parent)
        box.setRange(0.0, MAX_WEIGHT)
        box.setDecimals(4)
        box.setSingleStep(0.1)
        box.setButtonSymbols(QDoubleSpinBox.NoButtons)
        box.setFrame(False)
        return box

    def setEditorData(self, editor, index):
        try:
            editor.setValue(_parse_weight(index.data()))
        except ValueError:
            editor.setValue(0.0)

    def setModelData(self, editor, model, index):
        editor.interpretText()
        model.setData(index, f"{editor.value():g}")


def _table(rows: int, cols: int) -> QTableWidget:
    table = QTableWidget(rows, cols)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    table.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
    table.horizontalHeader().setMinimumSectionSize(30)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
    table.setMinimumHeight(150)
    font = table.font()
    font.setPointSize(9)
    table.setFont(font)
    table.setTextElideMode(Qt.ElideNone)
    table.setWordWrap(False)
    return table


class JointSection(Section):
    title = "Joint and mutual information"
    anchor = "joint"

    def build(self) -> None:
        self.weights = np.zeros((MAX_SIDE, MAX_SIDE))
        self.weights[:3, :3] = DEFAULT_WEIGHTS
        self._filling = False

        # -- controls -----------------------------------------------------------------
        self.rows_box = QSpinBox()
        self.rows_box.setRange(1, MAX_SIDE)
        self.rows_box.setValue(3)
        self.cols_box = QSpinBox()
        self.cols_box.setRange(1, MAX_SIDE)
        self.cols_box.setValue(3)
        for box, what in ((self.rows_box, "x (rows)"), (self.cols_box, "y (columns)")):
            box.setKeyboardTracking(False)
            box.setToolTip(f"Number of values of {what}, 1 to {MAX_SIDE}")
        size, form = laid_out(QFormLayout)
        form.addRow("Values of X (rows)", self.rows_box)
        form.addRow("Values of Y (columns)", self.cols_box)
        self.controls_layout.addWidget(group("Table size", size))

        self.independent = QPushButton("Independent (keep marginals)")
        self.independent.setToolTip("p(x, y) = p(x) p(y) with the current marginals: I(X;Y) = 0")
        self.copy = QPushButton("Identical copy (Y = X)")
        self.copy.setToolTip("Y is an exact copy of X: I(X;Y) = H(X) = H(Y)")
        self.channel = QPushButton("Noisy channel")
        self.channel.setToolTip("X uniform; Y = X with probability 1 − ε, otherwise uniformly random")
        self.noise = QLabeledDoubleSlider(Qt.Horizontal)
        self.noise.setRange(0.0, 1.0)
        self.noise.setDecimals(2)
        self.noise.setSingleStep(0.01)
        self.noise.setValue(0.2)
        self.noise.setToolTip("Channel noise ε: moving it applies the noisy-channel preset")
        self.clear = QPushButton("Uniform")
        self.clear.setToolTip("All cells equal: X and Y independent and uniform")
        self.controls_layout.addWidget(group(
            "Presets", self.independent, self.copy, self.channel, QLabel("Channel noise ε"),
            self.noise, self.clear))
        hint = QLabel("Type weights into the table (double-click a cell). Any nonnegative "
                      "numbers: they are divided by their total.")
        hint.setWordWrap(True)
        hint.setStyleSheet(styles.NOTE)
        self.controls_layout.addWidget(hint)

        self.rows_box.valueChanged.connect(self._resize)
        self.cols_box.valueChanged.connect(self._resize)
        self.independent.clicked.connect(self.make_independent)
        self.copy.clicked.connect(self.make_copy)
        self.channel.clicked.connect(self.make_channel)
        self.noise.valueChanged.connect(lambda _v: self.make_channel())
        self.clear.clicked.connect(self.make_uniform)

        # -- views ----------------------------------------------------------------------
        lay = QGridLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        self.input = _table(3, 3)
        self.input.setItemDelegate(WeightDelegate(self.input))
        self.input.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed
                                   | QAbstractItemView.AnyKeyPressed)
        self.input.itemChanged.connect(self._cell_edited)
        self.input.setToolTip("Weights: double-click a cell (or start typing) to edit")
        self.input_title = QLabel("<b>Weights you type</b> (rows x, columns y)")
        self.output = _table(4, 4)
        self.output.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.output.setToolTip("p(x, y): the weights divided by their total, with the marginals")
        self.output_title = QLabel()
        for w in (self.input_title, self.output_title):
            w.setStyleSheet(styles.SUMMARY)
            w.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(self.input_title)
        left.addWidget(self.input, 1)
        right = QVBoxLayout()
        right.addWidget(self.output_title)
        right.addWidget(self.output, 1)
        lay.addLayout(left, 0, 0)
        lay.addLayout(right, 0, 1)

        diagram = QWidget()
        dlay = QVBoxLayout(diagram)
        dlay.setContentsMargins(0, 0, 0, 0)
        self.diagram_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.diagram = static_plot(self.diagram_widget, "Information diagram (bits)", "bits")
        self.diagram.showGrid(x=True, alpha=0.15)
        self.diagram.getAxis("left").setTicks([[(2, "H(X,Y)"), (1, "H(X)"), (0, "H(Y)")]])
        self.segments = pg.BarGraphItem(x0=[], y=[], width=[], height=0.62, brushes=[],
                                        pen=pg.mkPen((60, 60, 60)))
        self.diagram.addItem(self.segments)
        self.segment_texts = []
        for _ in range(7):
            text = pg.TextItem(anchor=(0.5, 0.5), color=(20, 20, 20))
            text.setFont(small_font(8))
            self.diagram.addItem(text)
            self.segment_texts.append(text)
        dlay.addWidget(self.diagram_widget, 1)
        self.summary = summary_label()
        dlay.addWidget(self.summary)
        lay.addWidget(diagram, 1, 0)

        self.pmi_widget = pg.GraphicsLayoutWidget()
        self.pmi_plot = self.pmi_widget.addPlot(row=0, col=0)
        self.pmi_plot.setTitle("PMI(x, y) in bits", size="9pt")
        self.pmi_plot.hideButtons()
        self.pmi_plot.setMenuEnabled(False)
        self.pmi_plot.getViewBox().setMouseEnabled(False, False)
        self.pmi_plot.getViewBox().invertY(True)
        self.pmi_plot.getViewBox().setAspectLocked(False)
        self.pmi_plot.setLabel("left", "x")
        self.pmi_plot.setLabel("bottom", "y")
        for side in ("left", "bottom"):
            self.pmi_plot.getAxis(side).setTickFont(small_font(8))
        self.pmi_image = pg.ImageItem()
        self.pmi_plot.addItem(self.pmi_image)
        self.pmi_texts = []
        for _ in range(MAX_SIDE * MAX_SIDE):
            text = pg.TextItem(anchor=(0.5, 0.5), color=(20, 20, 20))
            text.setFont(small_font(8))
            self.pmi_plot.addItem(text)
            self.pmi_texts.append(text)
        self.colour_bar = pg.ColorBarItem(values=(-1, 1), colorMap=PMI_MAP, interactive=False,
                                          width=14, colorMapMenu=False)
        self.pmi_widget.addItem(self.colour_bar, row=0, col=1)
        self.colour_bar.getAxis("right").setTickFont(small_font(8))
        self.pmi_note = QLabel()
        self.pmi_note.setWordWrap(True)
        self.pmi_note.setStyleSheet(styles.NOTE)
        pmi_box = QWidget()
        play = QVBoxLayout(pmi_box)
        play.setContentsMargins(0, 0, 0, 0)
        play.addWidget(self.pmi_widget, 1)
        play.addWidget(self.pmi_note)
        lay.addWidget(pmi_box, 1, 1)
        lay.setRowStretch(0, 2)
        lay.setRowStretch(1, 3)
        lay.setColumnStretch(0, 1)
        lay.setColumnStretch(1, 1)
        self._fill_input()

    # -- the table ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rows_box.value()), int(self.cols_box.value())

    def table(self) -> np.ndarray:
        """The weights shown (rows x columns), not normalised."""
        r, c = self.shape
        return self.weights[:r, :c].copy()

    def _fill_input(self) -> None:
        r, c = self.shape
        self._filling = True
        try:
            self.input.setRowCount(r)
            self.input.setColumnCount(c)
            self.input.setHorizontalHeaderLabels([f"y{j + 1}" for j in range(c)])
            self.input.setVerticalHeaderLabels([f"x{i + 1}" for i in range(r)])
            for i in range(r):
                for j in range(c):
                    item = self.input.item(i, j)
                    if item is None:
                        item = QTableWidgetItem()
                        item.setTextAlignment(Qt.AlignCenter)
                        self.input.setItem(i, j, item)
                    item.setText(f"{self.weights[i, j]:.4g}")
        finally:
            self._filling = False

    def set_cell(self, i: int, j: int, text) -> None:
        """Type ``text`` into cell (i, j) as a user would (validated like an edit)."""
        item = self.input.item(i, j)
        if item is not None:
            item.setText(str(text))

    def _cell_edited(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        i, j = item.row(), item.column()
        try:
            value = _parse_weight(item.text())
        except ValueError as exc:
            self.report(f"cell (x{i + 1}, y{j + 1}): {exc}; kept {self.weights[i, j]:g}")
            self._filling = True
            item.setText(f"{self.weights[i, j]:.4g}")
            self._filling = False
            return
        self.weights[i, j] = value
        self.update()

    def _resize(self) -> None:
        r, c = self.shape
        if not self.weights[:r, :c].any():
            self.weights[:r, :c] = 1.0  # new empty area: start uniform rather than all zeros
        self._fill_input()
        self.update()

    def set_table(self, weights) -> bool:
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if (w.ndim != 2 or not 1 <= w.shape[0] <= MAX_SIDE or not 1 <= w.shape[1] <= MAX_SIDE
                or not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > MAX_WEIGHT)):
            return False
        self.weights[:] = 0.0
        self.weights[:w.shape[0], :w.shape[1]] = w
        for box, value in ((self.rows_box, w.shape[0]), (self.cols_box, w.shape[1])):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._fill_input()
        self.update()
        return True

    def _current_marginals(self):
        w = self.table()
        total = w.sum()
        if total <= 0:
            r, c = w.shape
            return np.full(r, 1.0 / r), np.full(c, 1.0 / c)
        return w.sum(axis=1) / total, w.sum(axis=0) / total

    # -- presets -------------------------------------------------------------------------
    def make_independent(self) -> None:
        px, py = self._current_marginals()
        self.set_table(np.round(np.outer(px, py), 6))

    def make_copy(self) -> None:
        px, _ = self._current_marginals()
        if px.size == 1:
            px = np.full(3, 1 / 3)
        self.set_table(np.round(np.diag(px), 6))

    def make_channel(self) -> None:
        k = max(2, self.shape[0])
        eps = float(self.noise.value())
        table = ((1 - eps) * np.eye(k) + eps / k) / k  # X uniform, Y = X w.p. 1 - eps else uniform
        self.set_table(np.round(table, 6))

    def make_uniform(self) -> None:
        self.set_table(np.ones(self.shape))

    # -- drawing --------------------------------------------------------------------------
    def refresh(self) -> None:
        w = self.table()
        px, py = marginals(w, normalize=True)  # ValueError for an all-zero table
        pxy = w / w.sum()
        h_x = entropy(px)
        h_y = entropy(py)
        h_xy = joint_entropy(pxy)
        h_x_given_y = conditional_entropy(pxy)
        h_y_given_x = conditional_entropy(pxy.T)
        mi = mutual_information(pxy)
        pm = pmi(pxy)
        self.values = {"pxy": pxy, "H(X)": h_x, "H(Y)": h_y, "H(X,Y)": h_xy,
                       "H(X|Y)": h_x_given_y, "H(Y|X)": h_y_given_x, "I": mi, "pmi": pm}
        self._show_output(pxy, px, py, w.sum())
        self._draw_diagram(h_x_given_y, mi, h_y_given_x)
        self.summary.setText(
            f"H(X) = <b>{fmt(h_x)}</b>, H(Y) = <b>{fmt(h_y)}</b>, H(X,Y) = <b>{fmt(h_xy)}</b><br>"
            f"H(X|Y) = <b>{fmt(h_x_given_y)}</b>, H(Y|X) = <b>{fmt(h_y_given_x)}</b>, "
            f"<span style='color:#00795a'>I(X;Y) = <b>{fmt(mi)}</b></span> bits<br>"
            f"<span style='color:#555'>H(X,Y) = H(X|Y) + I + H(Y|X) = H(X) + H(Y) − I</span>")
        self._draw_pmi(pm, pxy)

    def _show_output(self, pxy, px, py, total) -> None:
        r, c = pxy.shape
        out = self.output
        out.setRowCount(r + 1)
        out.setColumnCount(c + 1)
        out.setHorizontalHeaderLabels([f"y{j + 1}" for j in range(c)] + ["p(x)"])
        out.setVerticalHeaderLabels([f"x{i + 1}" for i in range(r)] + ["p(y)"])
        margin = QBrush(QColor(235, 240, 248))
        narrow = c + 1 > 5  # ".267" rather than "0.267" so seven columns fit
        font = out.font()
        font.setPointSize(8 if narrow else 9)
        out.setFont(font)
        for i in range(r + 1):
            for j in range(c + 1):
                if i < r and j < c:
                    value, bg = pxy[i, j], None
                elif i < r:
                    value, bg = px[i], margin
                elif j < c:
                    value, bg = py[j], margin
                else:
                    value, bg = 1.0, margin
                item = out.item(i, j)
                if item is None:
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignCenter)
                    item.setFlags(Qt.ItemIsEnabled)
                    out.setItem(i, j, item)
                text = f"{value:.3f}"
                item.setText(text[1:] if narrow and text.startswith("0.") else text)
                item.setBackground(bg if bg is not None else QBrush())
        self.output_title.setText(
            f"<b>p(x, y) normalised</b>: weights ÷ {total:.4g} (so they sum to 1), with marginals")

    def _draw_diagram(self, a: float, mi: float, b: float) -> None:
        # Rows: H(X,Y) = a + I + b at y=2; H(X) = a + I at y=1; H(Y) = I + b at y=0.
        x0 = [0, a, a + mi, 0, a, a, a + mi]
        widths = [a, mi, b, a, mi, mi, b]
        ys = [2, 2, 2, 1, 1, 0, 0]
        kinds = [0, 1, 2, 0, 1, 1, 2]
        brushes = [colour(0, 170), colour(2, 200), colour(1, 170)]
        names = ["H(X|Y)", "I(X;Y)", "H(Y|X)"]
        self.segments.setOpts(x0=x0, y=ys, width=widths, height=0.62,
                              brushes=[brushes[k] for k in kinds])
        total = max(a + mi + b, 1e-9)
        for text, x, wd, y, k in zip(self.segment_texts, x0, widths, ys, kinds, strict=False):
            if wd > 0.14 * total:
                text.setText(f"{names[k]}\n{fmt(wd)}")
            elif wd > 0.07 * total:
                text.setText(fmt(wd, 2))
            else:
                text.setText("")
            text.setPos(x + wd / 2, y)
        self.diagram.getViewBox().setRange(xRange=(0, max(total, 0.5)), yRange=(-0.5, 2.5),
                                           padding=0.02)

    def _draw_pmi(self, pm: np.ndarray, pxy: np.ndarray) -> None:
        r, c = pm.shape
        finite = pm[np.isfinite(pm)]
        limit = float(np.max(np.abs(finite))) if finite.size else 0.0
        limit = max(limit, 0.1)
        rgba = np.zeros((r, c, 4), dtype=np.uint8)
        norm = np.clip((np.nan_to_num(pm, nan=0.0, neginf=-limit, posinf=limit) + limit)
                       / (2 * limit), 0.0, 1.0)
        rgba[...] = PMI_MAP.map(norm.ravel(), mode="byte").reshape(r, c, 4)
        never = np.isneginf(pm)
        undefined = np.isnan(pm)
        rgba[never] = (*NEVER_RGB, 255)
        rgba[undefined] = (*UNDEFINED_RGB, 255)
        self.pmi_image.setImage(rgba, autoLevels=False)
        self.pmi_image.setRect(-0.5, -0.5, c, r)
        cell_px = self.pmi_plot.getViewBox().width() / c if self.pmi_plot.getViewBox().width() > 0 else 60
        digits = 2 if cell_px >= 40 else 1
        font = small_font(8 if cell_px >= 34 else 7)
        for k, text in enumerate(self.pmi_texts):
            i, j = divmod(k, MAX_SIDE)
            text.setFont(font)
            if i >= r or j >= c:
                text.setVisible(False)
                continue
            value = pm[i, j]
            if never[i, j]:
                text.setText("−∞")
                text.setColor((255, 255, 255))
            elif undefined[i, j]:
                text.setText("n/a")
                text.setColor((90, 90, 90))
            else:
                text.setText(fmt(value, digits) if cell_px >= 24 else "")
                text.setColor((255, 255, 255) if abs(value) > 0.6 * limit else (20, 20, 20))
            text.setPos(j, i)
            text.setVisible(True)
        self.pmi_plot.getAxis("bottom").setTicks([[(j, f"y{j + 1}") for j in range(c)]])
        self.pmi_plot.getAxis("left").setTicks([[(i, f"x{i + 1}") for i in range(r)]])
        self.pmi_plot.getViewBox().setRange(xRange=(-0.5, c - 0.5), yRange=(-0.5, r - 0.5), padding=0)
        self.colour_bar.setLevels((-limit, limit))
        notes = ["colour scale symmetric about 0: orange = together more often than "
                 "if independent, blue = less often"]
        if never.any():
            notes.append("dark grey −∞: p(x, y) = 0 although p(x), p(y) > 0 (the pair never happens)")
        if undefined.any():
            notes.append("light grey n/a: p(x) or p(y) is 0, so PMI is undefined")
        self.pmi_note.setText("; ".join(notes) + ".")

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"weights": self.table().tolist(), "noise": float(self.noise.value())}

    def restore(self, state: dict) -> None:
        noise = state.get("noise")
        if isinstance(noise, (int, float)) and not isinstance(noise, bool) and math.isfinite(noise):
            self.noise.blockSignals(True)
            self.noise.setValue(min(1.0, max(0.0, float(noise))))
            self.noise.blockSignals(False)
        if "weights" in state:
            self.set_table(state["weights"])

    def screenshot(self) -> None:
        self.restore({"weights": DEFAULT_WEIGHTS, "noise": 0.2})
