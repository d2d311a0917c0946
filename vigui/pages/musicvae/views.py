"""The Music VAE page's views: curves, latent scatter, piano-roll strips, the
interpolation strip with its sound buttons, and the melody editor.

Everything here draws arrays handed over by the page; nothing computes on a model.
Plot items are built once and updated with ``setData``.
"""
from __future__ import annotations

import colorsys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vigui.widgets import styles
from vigui.widgets.curves import Curve, LossCurves, series
from vigui.widgets.layout import Block, FlowRow, laid_out, tight
from vigui.widgets.pianoroll import PATH, RECON, SAMPLE, PianoRollEditor, PianoRollStrip
from vigui.widgets.plots import colour, fitted_axes, pen, style_plot

__all__ = ["MusicVAEViews", "key_colour", "N_STRIP", "MAX_PATH"]

N_STRIP = 6     # test phrases with reconstructions, and prior samples
MAX_PATH = 11   # rolls on the interpolation path at most
# Loss curves: the test -ELBO and its parts (legend, markers), the parts' train lines.
LOSS_CURVES = (Curve("test_neg_elbo", "−ELBO", 0, test=True),
               Curve("recon", None, 5, alpha=120), Curve("test_recon", "recon", 5, test=True),
               Curve("kl", None, 2, alpha=120), Curve("test_kl", "KL", 2, test=True))
FIFTHS = [(7 * i) % 12 for i in range(12)]  # C G D A E B F# ... : neighbours sound close


def key_colour(key: int, alpha: int = 210) -> QColor:
    """A key's colour: its tonic's place on the circle of fifths as the hue (related
    keys get similar colours), darker for minor; grey when unknown."""
    if key < 0:
        return QColor(128, 128, 128, alpha)
    tonic, minor = key % 12, key >= 12
    h = FIFTHS.index(tonic) / 12.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.62 if minor else 0.92)
    return QColor(int(255 * r), int(255 * g), int(255 * b), alpha)


def _plot(title: str, x: str = "", y: str = "") -> tuple[pg.PlotWidget, pg.PlotItem]:
    widget = pg.PlotWidget(axisItems=fitted_axes())
    plot = widget.getPlotItem()
    style_plot(plot, title, x, y, long_series=True)
    plot.getViewBox().setMenuEnabled(False)
    return widget, plot


class MusicVAEViews(QWidget):
    """The page's plots and strips (see the module docstring)."""

    #: a test phrase was clicked in the latent scatter (its index)
    point_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = tight(QVBoxLayout(self), spacing=3)
        self.summary = styles.label(styles.SUMMARY, rich=True)
        self.summary.setToolTip(
            "Test figures: the mean over the first eval_size test phrases (one fixed draw "
            "of z each; accuracy per step of the greedy reconstruction) ± its standard "
            "error with the piece as the unit: phrases are 2-bar windows starting at every "
            "bar, so a piece's phrases overlap and move together. \"± ?\": not measurable "
            "(a single test piece) or a model saved before the errors were measured")
        outer.addWidget(self.summary)

        top = tight(QHBoxLayout(), spacing=3)
        # Loss curves on top, test accuracy under them on the same step axis.
        self.loss_widget = pg.GraphicsLayoutWidget()
        self.loss_plot = self.loss_widget.addPlot(row=0, col=0, axisItems=fitted_axes())
        style_plot(self.loss_plot, "Loss per phrase (nats); ● test", "", long_series=True)
        self.acc_plot = self.loss_widget.addPlot(row=1, col=0, axisItems=fitted_axes())
        style_plot(self.acc_plot, "", "step", "acc.", long_series=True)
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 1, padding=0.05)
        # A short strip: three fixed ticks, not five that overlap once zoomed
        self.acc_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, ".5"), (1.0, "1")], []])
        self.acc_plot.getAxis("left").setWidth(self.loss_plot.getAxis("left").width())
        self.loss_widget.ci.layout.setRowStretchFactor(0, 3)
        self.loss_widget.ci.layout.setRowStretchFactor(1, 1)
        for p in (self.loss_plot, self.acc_plot):
            p.getViewBox().setMenuEnabled(False)
        self.losses = LossCurves(self.loss_plot, LOSS_CURVES, legend_offset=(-4, 4))
        self.test_elbo = self.losses.items["test_neg_elbo"]
        self.train_curves = self.losses.subset(test=False)
        self.test_curves = {k: v for k, v in self.losses.subset(test=True).items()
                            if k != "test_neg_elbo"}
        self.acc_curve = self.acc_plot.plot(pen=pen(8, 2), symbol="o", symbolSize=4,
                                            symbolPen=None, symbolBrush=colour(8))
        self.latent_widget, self.latent_plot = _plot("Latent μ(x), test", "", "")
        self.scatter = pg.ScatterPlotItem(size=6, pen=None, hoverable=True)
        self.scatter.sigClicked.connect(self._on_points_clicked)
        self.latent_plot.addItem(self.scatter)
        self.markers = pg.ScatterPlotItem(size=13, pen=pg.mkPen("k", width=1.5),
                                          brush=pg.mkBrush(255, 255, 255, 0))
        self.markers.setZValue(20)
        self.latent_plot.addItem(self.markers)
        self.marker_labels = []
        for text in ("A", "B"):
            label = pg.TextItem(text, color=(0, 0, 0), anchor=(-0.3, 1.1))
            label.setZValue(21)
            self.latent_plot.addItem(label)
            label.setVisible(False)
            self.marker_labels.append(label)
        latent_box, lay = laid_out(spacing=0)
        lay.addWidget(self.latent_widget, 1)
        self.latent_legend = styles.label(styles.NOTE, "colour: key of the chorale (circle of "
                                          "fifths), ● major ▲ minor; click a point: A, then B")
        lay.addWidget(self.latent_legend)
        top.addWidget(self.loss_widget, 5)
        top.addWidget(latent_box, 4)
        top_box = Block()
        top_box.setLayout(top)
        top_box.setMinimumHeight(210)  # the loss curves readable zoomed (the column scrolls)
        top_box.setMaximumHeight(260)
        outer.addWidget(top_box, 4)

        self.recon_title = styles.label(styles.CAPTION, "Test phrases (grey) and their "
                                        "reconstructions (blue; notes that differ outlined in red)")
        self.samples_title = styles.label(styles.CAPTION, "Samples: z ~ N(0, I) decoded")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(1)
        self.temperature.setValue(1.0)
        self.temperature.setPrefix("temperature ")
        self.temperature.setSpecialValueText("greedy (argmax)")  # shown at 0
        self.temperature.setKeyboardTracking(False)
        self.temperature.setToolTip(
            "How the samples are decoded: each step draws from softmax(logits / T). "
            "1 plays what the model learned; lower is safer; 0 is greedy (argmax at every "
            "step: mostly held notes)")
        self.recon_strip = PianoRollStrip(N_STRIP, RECON)
        self.samples_strip = PianoRollStrip(N_STRIP, SAMPLE)
        outer.addWidget(self.recon_title)
        outer.addWidget(self.recon_strip, 3)
        samples_row = tight(QHBoxLayout())
        samples_row.addWidget(self.samples_title, 1)
        samples_row.addWidget(self.temperature)
        outer.addLayout(samples_row)
        outer.addWidget(self.samples_strip, 3)
        for strip in (self.recon_strip, self.samples_strip):
            strip.setMinimumHeight(62)
            strip.setMaximumHeight(96)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_path_tab(), "Interpolate and listen")
        self.tabs.addTab(self._build_draw_tab(), "Draw a melody")
        outer.addWidget(self.tabs, 5)

    # -- the interpolation tab ---------------------------------------------------------
    def _build_path_tab(self) -> QWidget:
        tab = Block()  # its minimum height, not a preferred one (VerticalScroll)
        lay = QVBoxLayout(tab)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        row = FlowRow()  # zoomed on a narrow window the controls wrap
        self.a_spin, self.b_spin = QSpinBox(), QSpinBox()
        for name, spin in (("A:", self.a_spin), ("B:", self.b_spin)):
            spin.setRange(0, 0)
            spin.setKeyboardTracking(False)
            spin.setToolTip("A phrase of the test set (tunes never trained on); or click a "
                            "point in the latent plot, or draw one")
            pair, pair_lay = laid_out(QHBoxLayout, spacing=2)
            pair_lay.addWidget(QLabel(name))
            pair_lay.addWidget(spin)
            row.addWidget(pair)
        self.random_pair = QPushButton("Random pair")
        self.random_pair.setToolTip("Two test phrases from two different chorales")
        row.addWidget(self.random_pair)
        self.path_steps = QSpinBox()
        self.path_steps.setSuffix(" steps")
        self.path_steps.setToolTip("Codes on the path A → B, both ends included")
        self.path_steps.setRange(3, MAX_PATH)
        self.path_steps.setValue(7)
        self.path_steps.setKeyboardTracking(False)
        row.addWidget(self.path_steps)
        self.path_kind = QComboBox()
        self.path_kind.addItem("slerp", "slerp")
        self.path_kind.addItem("line", "line")
        self.path_kind.setToolTip("slerp: along the great circle, as MusicVAE (codes keep "
                                  "a typical norm); line: the straight segment")
        row.addWidget(self.path_kind)
        lay.addLayout(row)
        self.path_title = styles.label(styles.CAPTION, "Path A → B")
        lay.addWidget(self.path_title)
        self.path_strip = PianoRollStrip(MAX_PATH, PATH)
        self.path_strip.setMinimumHeight(80)
        lay.addWidget(self.path_strip, 1)
        sound = FlowRow()
        self.play_button = QPushButton("▶ Play")
        self.play_path_button = QPushButton("▶ Path A → B")
        self.play_path_button.setToolTip("Play the whole path, phrase after phrase")
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop the sound")
        self.stop_button.setMaximumWidth(32)
        self.save_wav = QPushButton("WAV…")
        self.save_wav.setToolTip("Save what Play plays as a WAV file")
        self.save_midi = QPushButton("MIDI…")
        self.save_midi.setToolTip("Save what Play plays as a MIDI file")
        self.sound_label = styles.label(styles.NOTE)
        for b in (self.play_button, self.play_path_button, self.stop_button, self.save_wav,
                  self.save_midi):
            sound.addWidget(b)
        lay.addLayout(sound)
        lay.addWidget(self.sound_label)
        return tab

    def _build_draw_tab(self) -> QWidget:
        tab = Block()  # its minimum height, not a preferred one (VerticalScroll)
        lay = QHBoxLayout(tab)
        lay.setContentsMargins(4, 4, 4, 4)
        self.editor = PianoRollEditor("Your melody (2 bars): click to add a quarter note, "
                                      "drag for length, click it again to erase")
        lay.addWidget(self.editor, 1)
        buttons = QGridLayout()
        self.use_as_a = QPushButton("Use as A")
        self.use_as_b = QPushButton("Use as B")
        self.play_drawn = QPushButton("▶ Play it")
        self.copy_a = QPushButton("Copy A here")
        self.clear_drawn = QPushButton("Clear")
        self.drawn_recon = styles.label(styles.NOTE)
        buttons.addWidget(self.use_as_a, 0, 0)
        buttons.addWidget(self.use_as_b, 0, 1)
        buttons.addWidget(self.play_drawn, 1, 0)
        buttons.addWidget(self.copy_a, 1, 1)
        buttons.addWidget(self.clear_drawn, 2, 0)
        buttons.addWidget(self.drawn_recon, 3, 0, 1, 2)
        box = QWidget()
        box.setLayout(buttons)
        box.setMaximumWidth(220)
        lay.addWidget(box)
        return tab

    # -- drawing ------------------------------------------------------------------------
    def clear(self) -> None:
        self.losses.clear()
        self.acc_curve.setData([], [])
        self.scatter.setData([], [])
        self.set_markers(None, None)
        self.recon_strip.clear()
        self.samples_strip.clear()
        self.path_strip.clear()
        self.summary.setText("")

    def show_metrics(self, store) -> None:
        """Curves from the run's MetricStore (bounded however long it trains)."""
        self.losses.show(store)
        self.acc_curve.setData(*series(store, "test_acc"))

    def show_latent(self, latent: np.ndarray, keys: np.ndarray, explained=None) -> None:
        brushes = [pg.mkBrush(key_colour(int(k))) for k in keys]
        symbols = ["t" if k >= 12 else "o" for k in keys]
        self.scatter.setData(latent[:, 0], latent[:, 1], brush=brushes, symbol=symbols,
                             data=np.arange(len(latent)))
        title = "Latent μ(x), test"
        if explained is not None:
            title += f" (PCA {100 * float(np.sum(explained)):.0f}%)"
        self.latent_plot.setTitle(title, size="9pt")

    def set_markers(self, a, b) -> None:
        """Mark the points of A and B ((x, y) or None)."""
        pts = [p for p in (a, b) if p is not None]
        self.markers.setData([p[0] for p in pts], [p[1] for p in pts])
        for label, p in zip(self.marker_labels, (a, b), strict=False):
            label.setVisible(p is not None)
            if p is not None:
                label.setPos(float(p[0]), float(p[1]))

    def _on_points_clicked(self, item, points, ev=None) -> None:
        if len(points):
            self.point_clicked.emit(int(points[0].data()))

    def show_path(self, tokens: np.ndarray, t: np.ndarray, a_ref, b_ref, title: str) -> None:
        n = len(tokens)
        titles = [f"t = {v:.2f}" for v in t]
        titles[0], titles[-1] = "A (decoded)", "B (decoded)"
        refs = [None] * n
        refs[0], refs[-1] = a_ref, b_ref
        self.path_strip.set_rolls(tokens, refs, titles)
        for i, roll in enumerate(self.path_strip.rolls):
            roll.setVisible(i < n)
        self.path_title.setText(title)

    def set_test_count(self, n: int) -> None:
        for spin in (self.a_spin, self.b_spin):
            spin.blockSignals(True)
            spin.setRange(0, max(0, n - 1))
            spin.blockSignals(False)
