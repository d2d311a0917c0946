"""Pieces shared by the information-theory sections: coin colours, the outcomes row and
the question-tree view (the Section base and number formats live in vigui.pages.sections)."""
from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFormLayout, QSpinBox, QWidget

from engine.info.measures import GAME_COLOURS, QuestionNode
from vigui.pages.sections import Section, group, small_font, static_plot, summary_label  # noqa: F401
from vigui.widgets.layout import laid_out
from vigui.widgets.numbers import fmt  # noqa: F401  (the chapter's sections import it from here)
from vigui.widgets.plots import PALETTE, colour, style_plot  # noqa: F401

#: The lecture's coins, drawn in colour-blind-safe shades of their names.
COIN_RGB = {"blue": PALETTE[0], "red": PALETTE[5], "green": PALETTE[2], "yellow": PALETTE[6]}


def coin_colour(label: str, alpha: int = 255) -> QColor | None:
    rgb = COIN_RGB.get(str(label))
    return None if rgb is None else QColor(*rgb, alpha)


def bar_colours(labels: Sequence[str], default: int = 0, alpha: int = 210) -> list[QColor]:
    """Coin colours for coin labels, one palette colour otherwise."""
    out = []
    for label in labels:
        c = coin_colour(label, alpha)
        out.append(c if c is not None else colour(default, alpha))
    return out


def outcomes_row(lo: int, hi: int, value: int, tip: str) -> tuple[QWidget, QSpinBox]:
    """An "Outcomes n" row: a range-limited spin box in a one-line form."""
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setKeyboardTracking(False)
    box.setToolTip(tip)
    row, form = laid_out(QFormLayout)
    form.addRow("Outcomes n", box)
    return row, box


class QuestionTreeView(pg.PlotWidget):
    """A yes/no question tree: questions as text boxes, leaves in their coin colours."""

    MAX_NODES = 2 * 12 - 1

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        self.item = static_plot(self, title)
        self.item.hideAxis("bottom")
        self.item.setLabel("left", "questions asked")
        self.item.getViewBox().invertY(True)
        self.setMinimumHeight(150)
        self.edges = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((90, 90, 90), width=1.2))
        self.item.addItem(self.edges)
        self.nodes: list[pg.TextItem] = []
        for _ in range(self.MAX_NODES):
            text = pg.TextItem(anchor=(0.5, 0.5), color=(20, 20, 20),
                               border=pg.mkPen((90, 90, 90)), fill=pg.mkBrush(255, 255, 255))
            text.setFont(small_font(8))
            text.setZValue(10)
            self.item.addItem(text)
            self.nodes.append(text)
        self.edge_labels: list[pg.TextItem] = []
        for _ in range(self.MAX_NODES - 1):
            text = pg.TextItem(anchor=(0.5, 0.5), color=(70, 70, 70),
                               fill=pg.mkBrush(255, 255, 255, 230))
            text.setFont(small_font(7))
            text.setZValue(5)
            self.item.addItem(text)
            self.edge_labels.append(text)
        self.questions: list[str] = []  # the texts shown, root first (for tests)

    @staticmethod
    def question(node: QuestionNode, labels: Sequence[str], compact: bool) -> str:
        names = [str(labels[leaf.index]) for leaf in node.yes.leaves()]
        if compact:
            return "{" + ",".join(names) + "}?" if len(names) > 1 else names[0] + "?"
        if len(names) == 1:
            return f"Is it {names[0]}?"
        if len(names) <= 3:
            return "Is it " + ", ".join(names[:-1]) + f" or {names[-1]}?"
        return "Is it in {" + ", ".join(names) + "}?"

    def set_tree(self, tree: QuestionNode, labels: Sequence[str]) -> None:
        leaves = tree.leaves()
        n_leaves = len(leaves)
        x_of = {id(leaf): float(i) for i, leaf in enumerate(leaves)}
        placed: list[tuple[QuestionNode, float, int]] = []
        edges: list[tuple[float, float, float, float, str]] = []

        def place(node: QuestionNode, depth: int) -> float:  # trees here have <= 12 leaves
            if node.is_leaf:
                x = x_of[id(node)]
            else:
                xa = place(node.yes, depth + 1)
                xb = place(node.no, depth + 1)
                x = (xa + xb) / 2
                edges.append((x, depth, xa, depth + 1, "yes"))
                edges.append((x, depth, xb, depth + 1, "no"))
            placed.append((node, x, depth))
            return x

        place(tree, 0)
        placed.sort(key=lambda t: (t[2], t[1]))
        depth = max(d for _, _, d in placed)
        compact = n_leaves > 6
        font = small_font(8 if n_leaves <= 8 else 7)
        self.questions = []
        for i, text in enumerate(self.nodes):
            if i >= len(placed):
                text.setVisible(False)
                continue
            node, x, d = placed[i]
            text.setFont(font)
            if node.is_leaf:
                label = str(labels[node.index])
                fill = coin_colour(label, 255) or colour(9, 60)
                dark = label in ("blue", "red", "green")
                text.fill = pg.mkBrush(fill)
                text.setColor((255, 255, 255) if dark else (20, 20, 20))
                text.setText(label)
            else:
                words = self.question(node, labels, compact)
                self.questions.append(words)
                text.fill = pg.mkBrush(255, 255, 255)
                text.setColor((20, 20, 20))
                text.setText(words)
            text.setPos(x, d)
            text.setVisible(True)
            text.update()
        xs, ys = [], []
        for (x0, y0, x1, y1, _) in edges:
            xs += [x0, x1]
            ys += [y0, y1]
        self.edges.setData(xs, ys)
        show_words = n_leaves <= 6
        for i, text in enumerate(self.edge_labels):
            if i < len(edges) and show_words:
                x0, y0, x1, y1, word = edges[i]
                text.setText(word)
                text.setPos(x0 + 0.45 * (x1 - x0), y0 + 0.45 * (y1 - y0))
                text.setVisible(True)
            else:
                text.setVisible(False)
        axis = self.item.getAxis("left")
        axis.setTicks([[(d, str(d)) for d in range(depth + 1)]])
        vb = self.item.getViewBox()
        vb.setXRange(-0.7, n_leaves - 0.3, padding=0)
        vb.setYRange(-0.45, depth + 0.45, padding=0)


__all__ = ["COIN_RGB", "GAME_COLOURS", "QuestionTreeView", "Section", "bar_colours",
           "coin_colour", "fmt", "group", "small_font", "static_plot", "summary_label"]
