"""Colours and plot helpers shared by the chapter-2 sections."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer
from PySide6.QtWidgets import QFormLayout, QWidget

from vigui.pages.runnable import Runnable
from vigui.pages.sections import Section, group, small_font, static_plot, summary_label  # noqa: F401
from vigui.run.control import RunButtons
from vigui.widgets.layout import laid_out
from vigui.widgets.numbers import fmt  # noqa: F401  (the chapter's sections import it from here)
from vigui.widgets.param_form import ParamForm
from vigui.widgets.plots import PALETTE, colour, pen  # noqa: F401

# Okabe–Ito colours, one per estimator and per family (colour-blind safe).
ESTIMATOR_COLOUR = {"reparam": 0, "score": 5, "score_cv": 2}        # blue, vermillion, green
FAMILY_COLOUR = {"meanfield": 1, "fullcov": 0, "flow": 3}            # orange, blue, purple
PRIOR, POSTERIOR, Q = 9, 7, 0                                        # grey, black, blue

#: white to slate: heat maps stay light so coloured lines on them stay readable
LIGHT_MAP = pg.ColorMap([0.0, 0.5, 1.0], [(255, 255, 255), (178, 199, 222), (62, 92, 140)])


def heat_image(levels=(0.0, 1.0)) -> pg.ImageItem:
    img = pg.ImageItem()
    img.setLookupTable(LIGHT_MAP.getLookupTable(nPts=256))
    img.setLevels(levels)
    img.setZValue(-10)
    return img


def place_image(img: pg.ImageItem, data: np.ndarray, extent, levels=None) -> None:
    """Show data[y, x] over extent (x0, x1, y0, y1), rows increasing upwards."""
    x0, x1, y0, y1 = extent
    img.setImage(np.asarray(data, dtype=np.float32), autoLevels=levels is None)
    if levels is not None:
        img.setLevels(levels)
    img.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))


def form(*rows) -> QWidget:
    """A compact QFormLayout in a widget: rows of (label, widget)."""
    box, lay = laid_out(QFormLayout)
    lay.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    for label, widget in rows:
        lay.addRow(label, widget)
    return box


def ellipse(mean, cov, k: float = 1.0, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The k-sd ellipse of N(mean, cov) as a closed curve."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])
    pts = (vecs * (k * np.sqrt(np.maximum(vals, 0)))) @ circle
    return pts[0] + mean[0], pts[1] + mean[1]


class ParamRunSection(Runnable, Section):
    """A section whose experiment is built from a ParamForm (``self.params``) and run by a
    RunControl (``self.run``) with its buttons, restarted a moment after a parameter
    changes: the lifecycle the estimator and black-box VI sections share. ``build`` calls
    :meth:`build_run` first, which creates every attribute this class relies on."""

    rate: float | None = None  # steps per second (None: as fast as frames allow)
    restart_delay_ms = 200     # a slider's drag restarts once, when it rests
    frame_step: int | None = None  # a shipped frame is shown until the run gets there
    _frame_shown: dict | None = None

    def build_params(self) -> ParamForm:
        raise NotImplementedError

    def build_run(self) -> None:
        """``params``, ``run``, ``buttons`` (in the controls) and the restart timer."""
        self.params = self.build_params()
        self.make_run(self.report, parent=self, rate=self.rate, reset_plays=True)
        self.buttons = RunButtons(self.run)
        self.controls_layout.addWidget(self.buttons)
        self.controls_layout.addWidget(self.params)
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.setInterval(self.restart_delay_ms)
        self._restart_timer.timeout.connect(self._restart)
        # The first run starts once the event loop turns, so whoever shows the section
        # and starts its own run at once (a tour stop) replaces nothing half-built.
        self._first_run_timer = QTimer(self)
        self._first_run_timer.setSingleShot(True)
        self._first_run_timer.setInterval(0)
        self._first_run_timer.timeout.connect(self._first_run)
        self.params.changed.connect(self._params_changed)

    def params_changed(self) -> None:
        """A parameter changed (before the run restarts): redraw what depends on it."""
        self.update()

    def _params_changed(self, *_args) -> None:
        self.params_changed()
        if self.run.started:
            self._restart_timer.start()

    def _restart(self) -> None:
        self.run.reset(play=not self.run.paused_by_user)

    def shown(self) -> None:
        if not self.run.started:
            self._first_run_timer.start()

    def _first_run(self) -> None:
        if not self.run.started and self.page.section() is self:
            self.run.reset(play=False)

    def close(self) -> None:
        self._restart_timer.stop()
        self._first_run_timer.stop()
        self.run.close()

    # -- a tour stop's shipped frame ---------------------------------------------------------
    def show_frame(self, frame: dict) -> None:
        """A tour stop's shipped frame (:func:`vigui.pages.frames.scene_frame_path`): the
        state its fixed-seed run ends on, drawn now; the run's own frames are drawn again
        once it gets there (a moment behind, on the thread runner)."""
        from vigui.pages.frames import frame_metrics

        try:
            frame["metrics"] = frame_metrics(frame)
            self._frame_shown = frame
            self.render(frame)
        except (ValueError, KeyError, TypeError, IndexError):
            return
        self.frame_step = int(frame["step"])

    def holds_frame(self, snap: dict) -> bool:
        """``render`` asks first: True while the shipped frame stays on screen because
        ``snap`` (the run's own) is of an earlier step than it."""
        if self.frame_step is not None and snap["step"] < self.frame_step and "metrics_state" not in snap:
            self.last_snapshot = self._frame_shown  # (Runnable set the run's own first)
            return True
        return False

    def _run_resetting(self) -> None:
        self.frame_step = None
        super()._run_resetting()

    def screenshot_ready(self) -> bool:
        return self.frame_step is not None or (self.run.ended and self.last_snapshot is not None)
