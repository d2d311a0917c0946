"""Views of the conditional VAE page: the Figure 14 strip, the completions of the drawing,
the loss curves and the NCLL table.

Colours, as in the lecture's Figure 14: the given (observed) pixels are blue ink, what a
model produced is black ink, and in the input column the hidden pixels are amber.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vigui.widgets import styles
from vigui.widgets.curves import Curve, LossCurves, series
from vigui.widgets.numbers import fmt_se
from vigui.widgets.plots import fitted_axes, style_plot

__all__ = ["colour_images", "spread_images", "rgb_mosaic", "StripView", "CompletionRow",
           "CurvesView", "loss_range", "KLView", "NCLLTableView", "GIVEN_INK", "HIDDEN_FILL", "LEGEND_HTML"]

GIVEN_INK = np.array([31, 78, 170], np.float32)  # observed pixels: blue ink
MODEL_INK = np.array([0, 0, 0], np.float32)  # pixels a model produced: black ink
HIDDEN_FILL = np.array([246, 196, 110], np.float32)  # hidden pixels of an input: amber
PAPER = np.array([255, 255, 255], np.float32)
SPREAD_INK = np.array([200, 30, 30], np.float32)  # per-pixel spread of the samples: red
SPREAD_FULL = 0.25  # a spread (std of a grey level in [0, 1]) this large is full red
PAD = np.array([200, 200, 200], np.uint8)
# One entry a line: beside the summary a one-line key took so much of a zoomed row that
# the summary wrapped into a tall column and squeezed the strip below it.
LEGEND_HTML = ("<span style='color:#1f4eaa'>■ given</span><br>"
               "<span style='color:#000'>■ model's output</span><br>"
               "<span style='color:#d08a10'>■ hidden</span>")
PYRO_MNIST = {"q1": (100.4, 71.8), "q2": (61.9, 51.0), "q3": (25.4, 24.2)}


def colour_images(images: np.ndarray, observed: np.ndarray, hide: bool = False) -> np.ndarray:
    """(n, H, W) levels in [0, 1] -> (n, H, W, 3) uint8: observed pixels in blue ink,
    the others in black ink, or, with ``hide``, filled amber (an input's hidden part)."""
    v = np.clip(np.asarray(images, np.float32), 0.0, 1.0)[..., None]
    obs = np.asarray(observed, bool)[None, :, :, None]
    given = PAPER * (1 - v) + GIVEN_INK * v
    other = np.broadcast_to(HIDDEN_FILL, v.shape[:-1] + (3,)) if hide else \
        PAPER * (1 - v) + MODEL_INK * v
    return np.where(obs, given, other).round().astype(np.uint8)


def spread_images(spread: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n, H, W) per-pixel standard deviations across CVAE samples -> (n, H, W, 3) uint8:
    white where all samples agree, red where they differ (full red at SPREAD_FULL);
    observed pixels, which never vary, in light grey."""
    v = np.clip(np.asarray(spread, np.float32) / SPREAD_FULL, 0.0, 1.0)[..., None]
    obs = np.asarray(observed, bool)[None, :, :, None]
    heat = PAPER * (1 - v) + SPREAD_INK * v
    return np.where(obs, np.float32(225), heat).round().astype(np.uint8)


def rgb_mosaic(tiles: np.ndarray, pad: int = 1) -> np.ndarray:
    """(rows, cols, H, W, 3) uint8 tiles -> one (rows*(H+pad)-pad, cols*(W+pad)-pad, 3)
    image with grey lines between tiles."""
    rows, cols, h, w, _ = tiles.shape
    out = np.empty((rows * (h + pad) - pad, cols * (w + pad) - pad, 3), np.uint8)
    out[:] = PAD
    for r in range(rows):
        for c in range(cols):
            out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[r, c]
    return out


class _RGBView(pg.GraphicsLayoutWidget):
    """An aspect-locked RGB image with column captions above it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = self.addViewBox(row=0, col=0)
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMouseEnabled(False, False)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.view.addItem(self.image)
        self._captions: list[pg.TextItem] = []
        self._layout_key = None
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.setMinimumSize(100, 80)
        self.view.sigResized.connect(lambda _vb: self._fit_captions())

    def set_rgb(self, rgb: np.ndarray, captions: list[tuple[float, str]], tile_h: int) -> None:
        self.image.setImage(rgb, levels=(0, 255), autoLevels=False)
        key = (rgb.shape, tuple(captions))
        if key != self._layout_key:  # only when the layout changes: captions, range
            self._layout_key = key
            for item in self._captions:
                self.view.removeItem(item)
            self._captions = []
            for x, text in captions:
                item = pg.TextItem(text, color=(60, 60, 60), anchor=(0.5, 1.0))
                item.setPos(x, 0)
                self.view.addItem(item)
                self._captions.append(item)
            self._fit_captions()

    def _fit_captions(self) -> None:
        """Room above the image for its captions, in pixels (the text does not scale with
        the image, and grows with the zoom): as few lines as keep neighbours apart; the
        image shrinks to leave that room."""
        if self._layout_key is None or not self._captions:
            return
        shape = self._layout_key[0]
        width, height = shape[1], shape[0]
        box = self.view.boundingRect()
        if box.width() <= 0 or box.height() <= 0:
            return
        line = max(item.textItem.boundingRect().height() for item in self._captions) + 2
        gap = 2.0

        def scale_for(lines: int) -> float:  # pixels per image pixel, that band above it
            return max(1e-3, min(box.width() / width, (box.height() - lines * line - gap) / height))

        lines = 1
        while True:  # captions on the fewest lines where no two on a line touch
            s = scale_for(lines)
            rows = pack_lines([(item.pos().x() * s, item.textItem.boundingRect().width())
                               for item in self._captions])
            if max(rows) + 1 <= lines or lines >= len(self._captions):
                break
            lines = max(rows) + 1
        for item, row in zip(self._captions, rows, strict=True):
            item.setPos(item.pos().x(), -(gap + row * line) / s)
        top = (lines * line + gap) / s
        self.view.setRange(xRange=(0, width), yRange=(-top, height), padding=0)

    def clear_image(self) -> None:
        self.image.clear()
        for item in self._captions:
            self.view.removeItem(item)
        self._captions = []
        self._layout_key = None


def pack_lines(spans: list[tuple[float, float]], margin: float = 6.0) -> list[int]:
    """For captions centred at x with width w (pixels, in order): each one's line, the
    lowest where it keeps ``margin`` from the captions already there."""
    ends: list[float] = []  # each line's right end so far
    rows = []
    for x, w in spans:
        row = next((i for i, end in enumerate(ends) if x - w / 2 >= end + margin), len(ends))
        if row == len(ends):
            ends.append(-math.inf)
        ends[row] = x + w / 2
        rows.append(row)
    return rows


class StripView(_RGBView):
    """The lecture's Figure 14 for a strip of test images: one row per image; columns
    input (hidden part amber), baseline, N CVAE samples, ground truth and, when the
    snapshot has it, the samples' per-pixel spread (red where samples differ)."""

    def show_strip(self, snap: dict) -> None:
        obs = snap["observed"]
        inputs = colour_images(snap["inputs"], obs, hide=True)
        base = colour_images(snap["baseline"], obs)
        truth = colour_images(snap["truth"], obs)
        samples = snap["samples"]
        n, k = samples.shape[:2]
        sam = colour_images(samples.reshape(n * k, *samples.shape[2:]), obs).reshape(
            n, k, *samples.shape[2:], 3)
        cols = [inputs[:, None], base[:, None], sam, truth[:, None]]
        h, w = obs.shape
        step = w + 1
        caps = [(0.5 * w, "input"), (step + 0.5 * w, "baseline"),
                (2 * step + 0.5 * (k * step - 1), f"{k} CVAE samples"),
                ((2 + k) * step + 0.5 * w, "truth")]
        if snap.get("spread") is not None:
            cols.append(spread_images(snap["spread"], obs)[:, None])
            caps.append(((3 + k) * step + 0.5 * w, "spread"))
        tiles = np.concatenate(cols, axis=1)
        self.set_rgb(rgb_mosaic(tiles), caps, h)


class CompletionRow(_RGBView):
    """The completions of the drawing: the baseline's, then N CVAE samples in rows of
    ``cols`` (the baseline's column stays empty below it)."""

    cols = 4

    def show_completions(self, baseline: np.ndarray, samples: np.ndarray,
                         observed: np.ndarray) -> None:
        h, w = observed.shape
        k = len(samples)
        rows = max(1, -(-k // self.cols))
        tiles = np.full((rows, 1 + self.cols, h, w, 3), 235, np.uint8)
        tiles[0, 0] = colour_images(baseline[None], observed)[0]
        coloured = colour_images(samples, observed)
        for j in range(k):
            tiles[j // self.cols, 1 + j % self.cols] = coloured[j]
        step = w + 1
        caps = [(0.5 * w, "baseline"),
                (step + 0.5 * (self.cols * step - 1), f"{k} CVAE samples")]
        self.set_rgb(rgb_mosaic(tiles), caps, h)


#: train losses thin, validation bold with markers
CURVES = (
    Curve("baseline_loss", "baseline, train", 0, alpha=110),
    Curve("baseline_val", "baseline, val.", 0, test=True),
    Curve("cvae_neg_elbo", "CVAE −ELBO, train", 1, alpha=110),
    Curve("cvae_val", "CVAE loss, val.", 1, test=True),
)


def loss_range(metrics) -> tuple[float | None, float | None]:
    """The loss plot's y-range: every point of every curve drawn, except the baseline's
    train loss before its first validation (it starts near 0.69 nats per hidden pixel,
    far above the rest). The CVAE's validation loss counts its free-bits floor and lies
    above its train −ELBO: it is in the range, not cut off at the top."""
    ys = [series(metrics, name)[1] for name in ("baseline_val", "cvae_val", "cvae_neg_elbo")]
    steps, train = series(metrics, "baseline_loss")
    first_val = series(metrics, "baseline_val")[0]
    ys.append(train[steps >= first_val[0]] if len(first_val) else train[-1:])
    ys = [y for y in ys if len(y)]
    if not ys:
        return None, None
    values = np.concatenate(ys)
    return float(values.min()), float(values.max())


class CurvesView(pg.PlotWidget):
    """Train and validation losses of both networks, nats per image."""

    def __init__(self, parent=None):
        super().__init__(parent, axisItems=fitted_axes())
        plot = style_plot(self.getPlotItem(), "Loss (nats per image)", "step", "nats / image",
                          long_series=True)
        # An opaque legend: readable over the noisy train curve.
        self.losses = LossCurves(plot, CURVES, legend_offset=(-5, 5), label_size="7pt",
                                 legend_alpha=210, symbol_size=5)
        self.curves = self.losses.items
        # three views side by side must fit a 1280 screen zoomed; tall enough for the
        # legend (the column scrolls when the window is shorter)
        self.setMinimumSize(140, 170)

    def show_metrics(self, metrics) -> None:
        """``metrics``: a MetricStore (``get(name) -> (steps, values)``) or a dict of
        aligned column arrays with a ``step`` column."""
        self.losses.show(metrics)
        lo, hi = loss_range(metrics)
        if lo is not None:
            self.getPlotItem().setYRange(lo - 0.05 * (hi - lo + 1), hi + 0.05 * (hi - lo + 1),
                                         padding=0)

    def clear_curves(self) -> None:
        self.losses.clear()


class KLView(pg.PlotWidget):
    """KL(q(z|x,y) || p(z|x)) per image while the CVAE trains: how much the
    completions use z (near 0: every sample is the same completion). Train per step,
    validation at epoch ends."""

    def __init__(self, parent=None):
        super().__init__(parent, axisItems=fitted_axes())
        plot = style_plot(self.getPlotItem(), "KL(q‖p) per image", "step",
                          "nats / image", long_series=True)
        self.losses = LossCurves(plot, (Curve("cvae_kl", None, 2, alpha=140),
                                        Curve("cvae_val_kl", None, 2, test=True)),
                                 legend=False, symbol_size=5)
        self.train, self.val = self.losses.items["cvae_kl"], self.losses.items["cvae_val_kl"]
        self.setMinimumSize(110, 170)

    def show_metrics(self, metrics) -> None:
        self.losses.show(metrics)

    def points(self) -> int:
        """How many points the curves hold (train + validation)."""
        return sum(len(c.getData()[0] if c.getData()[0] is not None else ())
                   for c in (self.train, self.val))

    def clear_curves(self) -> None:
        self.losses.clear()


TABLE_FONT = 8 / 9  # the table's font relative to the window's (8pt at the usual 9pt)
TABLE_TASKS = (("q1", "1 quad."), ("q2", "2 quad."), ("q3", "3 quad."))
TABLE_COLUMNS = ("base\nNCLL", "CVAE\n−ELBO₁₀", "CVAE\nIS₁₀₀", "KL", "epochs")
CELL_NAMES = ("baseline_ncll", "cvae_neg_elbo", "cvae_ncll_is")  # the first three columns


def _cell_tip(row: dict, name: str) -> str:
    """A table entry ± its standard error over the test images ("± ?" for a row saved
    before the errors were measured)."""
    n = row.get("n")
    over = f" over {int(n):,} test images" if isinstance(n, (int, float)) else ""
    return (f"{fmt_se(row[name], row.get(f'{name}_se', math.nan))} nats per image "
            f"(± standard error{over})")


class NCLLTableView(QWidget):
    """Test-set nats per image for 1, 2, 3 observed quadrants, filled by Evaluate;
    the best of each row in bold. Pyro's MNIST numbers are in the tooltip."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.table = QTableWidget(len(TABLE_TASKS), len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.setVerticalHeaderLabels([t[1] for t in TABLE_TASKS])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        # Every column as wide as its widest text (never elided), the spare width shared
        # out (_fit_columns); the table's minimum is what its numbers need.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Fixed)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.table.installEventFilter(self)
        self._fit_font()
        self.table.setToolTip(
            "Rows: 1, 2, 3 observed quadrants. Negative conditional log-likelihood −log p(y|x) "
            "of the hidden pixels, nats per test image (lower is better): the baseline's; the "
            "CVAE's 10-particle −ELBO (an upper bound, as in Pyro's table) and its importance-"
            "sampled estimate with S = 100 draws from q(z|x,y). KL: KL(q‖p) nats per image, "
            "how much the CVAE uses z (near 0: its samples are all alike). Epochs: baseline "
            "+ CVAE. Each cell's tooltip gives its value ± its standard error over the test "
            "images (the images' scatter, their draws of z included; \"± ?\": a table "
            "saved before the errors were measured) and, on IS, the gain over the baseline "
            "± its paired standard error: a gain within about 2 SE of 0 is noise."
            "\nPyro's tutorial on MNIST (10-particle −ELBO): baseline 100.4 / 61.9 / 25.4, "
            "CVAE 71.8 / 51.0 / 24.2.")
        self.note = QLabel("Press Evaluate to fill the table (models not trained yet are "
                           "trained first).")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(styles.NOTE)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self.rows: dict[str, dict] = {}

    def _fit_font(self) -> None:
        """Cells and both headers a little smaller than the text around them, following
        the application's font (the presentation zoom): a fixed 8pt kept the headers
        small when zoomed."""
        font = QFont(self.font())
        font.setPointSizeF(self.font().pointSizeF() * TABLE_FONT)
        for widget in (self.table, self.table.horizontalHeader(), self.table.verticalHeader()):
            widget.setFont(font)
        self._fit_columns()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            self._fit_font()

    def column_needs(self) -> list[int]:
        """Each column's width that shows its header and every cell whole."""
        table, header = self.table, self.table.horizontalHeader()
        return [max(header.sectionSizeHint(c), table.sizeHintForColumn(c)) + 4
                for c in range(table.columnCount())]

    def _fit_columns(self) -> None:
        table = self.table
        needs = self.column_needs()
        frame = 2 * table.frameWidth()
        vheader = table.verticalHeader().sizeHint().width()
        table.setMinimumWidth(vheader + sum(needs) + frame)
        rows = table.rowCount() * (table.fontMetrics().height() + 10)
        table.setMinimumHeight(table.horizontalHeader().sizeHint().height() + rows + frame)
        spare = max(0, table.viewport().width() - sum(needs))
        for c, need in enumerate(needs):
            table.setColumnWidth(c, need + spare // len(needs))

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table and event.type() in (QEvent.Resize, QEvent.FontChange):
            self._fit_columns()
        return super().eventFilter(watched, event)

    def show_rows(self, rows: dict[str, dict]) -> None:
        self.rows = {k: dict(v) for k, v in rows.items()}
        for r, (task, _) in enumerate(TABLE_TASKS):
            row = rows.get(task)
            values = [None] * 3 if row is None else [row[name] for name in CELL_NAMES]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            best = min(finite) if finite else None
            for c, v in enumerate(values):
                text = "" if v is None else (f"{v:.1f}" if abs(v) >= 100 else f"{v:.2f}")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignCenter)
                if row is not None:
                    tip = _cell_tip(row, CELL_NAMES[c])
                    if c == 2 and "gain_se" in row:
                        tip += (f"\nbaseline − IS = {fmt_se(row['baseline_ncll'] - v, row['gain_se'])}"
                                " nats (paired standard error)")
                    item.setToolTip(tip)
                if v is not None and v == best:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(r, c, item)
            kl = "" if row is None or "kl" not in row else f"{row['kl']:.2f}"
            epochs = "" if row is None else f"{row['baseline_epochs']}+{row['cvae_epochs']}"
            for c, text in ((3, kl), (4, epochs)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignCenter)
                if c == 3 and kl:
                    item.setToolTip(_cell_tip(row, "kl"))
                self.table.setItem(r, c, item)
        self._fit_columns()

    def clear_rows(self) -> None:
        self.show_rows({})
