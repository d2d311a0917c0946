"""Choosing the user's own data file: a CSV of points (CAVI) or of x,y pairs (regression).

:class:`DataFileChooser` follows the parameter-widget protocol of
:class:`~vigui.widgets.param_form.ParamForm` (``value()`` -> path or None,
``setValue(path)``, ``valueChanged``), so a config field declared with
``param(None, optional=True, widget="points_file")`` (or ``"xy_file"``) gets it, saved and
restored with the page's other parameters. A chosen file is read at once with its
engine reader: a bad file is refused with the reader's message (file and line) sent as
``message(text, True)`` and the previous choice stays. ``setValue`` of an unreadable file
raises ValueError (a restored setting falls back to the model's data); ``check(path)``
reads a file without using it (a scene is checked before anything changes).
:func:`show_file_rows` makes a greyed count field (CAVI's N) show the file's count.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

__all__ = ["DataFileChooser", "points_file_widget", "xy_file_widget", "show_file_rows"]


def _points_summary(path: str) -> tuple[str, int]:
    from engine.data.points import read_points

    x = read_points(path)
    return f"{len(x):,} points, {x.shape[1]}-D", len(x)


def _xy_summary(path: str) -> tuple[str, int]:
    from engine.data.points import read_xy

    x, _ = read_xy(path)
    return f"{len(x):,} x,y pairs", len(x)


class DataFileChooser(QWidget):
    """A file name with Open… and ✕ (back to no file), checked by ``summarise``."""

    valueChanged = Signal(object)
    message = Signal(str, bool)  # (text, is_error)

    def __init__(self, summarise: Callable[[str], tuple[str, int]], none_text: str = "none",
                 caption: str = "Open a CSV file", parent=None):
        super().__init__(parent)
        self._summarise, self._none_text, self._caption = summarise, none_text, caption
        self._path: str | None = None
        self.rows: int | None = None  # rows in the chosen file (None: no file)
        self._summary = ""
        # Lines that never wrap: [Open…][✕], the file's name (the column's width, elided),
        # what is used. (One word-wrapped label beside the buttons got one line's height in
        # the parameter column and showed "450" of "450 points, 2-D"; "the built-in data"
        # took 4 lines; beside the buttons a name had about 55 px.)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        row = QHBoxLayout()
        self.open_button = CompactButton("Open…")
        # clicked(bool) would hand its `checked` flag to choose() as the path
        self.open_button.clicked.connect(lambda _checked=False: self.choose())
        self.clear_button = QPushButton("✕")
        self.clear_button.setToolTip("Forget the file")
        self.clear_button.setFixedWidth(28)
        self.clear_button.clicked.connect(lambda: self.setValue(None))
        row.addWidget(self.open_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.name = ElidedLabel()
        lay.addWidget(self.name)
        self.label = QLabel()  # what is used: "450 points, 2-D", or the none text
        grey = self.label.palette()  # a palette, not a style sheet: those keep the font unzoomed
        grey.setColor(QPalette.WindowText, QColor("#555"))
        self.label.setPalette(grey)
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # never widens the column
        lay.addWidget(self.label)
        self._show(None, "")

    def value(self) -> str | None:
        return self._path

    def setValue(self, path: str | None) -> None:
        """Use ``path`` (None: no file); ValueError naming the file and line if unreadable."""
        summary, rows = "", None
        if path is not None:
            summary, rows = self._summarise(str(path))  # DatasetError is a ValueError
            path = str(Path(path).expanduser().resolve())
        changed = path != self._path
        self._path, self.rows, self._summary = path, rows, summary
        self._show(path, summary)
        if changed:
            self.valueChanged.emit(path)

    def check(self, path: str | None) -> None:
        """ValueError (file and line) if ``path`` could not be used; nothing changes."""
        if path is not None:
            self._summarise(str(path))

    def choose(self, path: str | None = None) -> bool:
        """Ask for a file (or use ``path``); a bad one is refused with a message."""
        if path is None:
            start = str(Path(self._path).parent) if self._path else ""
            path, _ = QFileDialog.getOpenFileName(self, self._caption, start,
                                                  "CSV files (*.csv *.txt *.tsv);;All files (*)")
            if not path:
                return False
        try:
            self.setValue(path)
        except (ValueError, OSError) as exc:
            self.message.emit(f"Could not use this file; nothing was changed.\n{exc}", True)
            return False
        # says what is used now, replacing an earlier refusal on the page's message line
        self.message.emit(f"Using {self._path}: {self._summary}.", False)
        return True

    def _show(self, path: str | None, summary: str) -> None:
        self.name.set_full_text("" if path is None else Path(path).name)
        self.name.setVisible(path is not None)
        self.label.setText(self._none_text if path is None else summary)
        for label in (self.name, self.label):
            label.setToolTip(path or "")
        self.clear_button.setEnabled(path is not None)


class CompactButton(QPushButton):
    """A push button as wide as its text at the current font (zoom included), not the
    style's 80 px minimum, which left a chosen file's name about 50 px."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 2 * self.fontMetrics().height(),
                     hint.height())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class ElidedLabel(QLabel):
    """One line that ends in "…" when it does not fit (its full text in the tooltip),
    instead of wrapping or widening the column."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.ElideMiddle, max(0, self.width())))


def points_file_widget(p=None) -> DataFileChooser:
    """The chooser for ``widget="points_file"``: a CSV of 1-D or 2-D points."""
    return DataFileChooser(_points_summary, none_text="drawn from the model",
                           caption="Open a CSV of 1-D or 2-D points")


def xy_file_widget(p=None) -> DataFileChooser:
    """The chooser for ``widget="xy_file"``: a CSV of x,y pairs."""
    return DataFileChooser(_xy_summary, none_text="the built-in data",
                           caption="Open a CSV of x,y pairs")


def show_file_rows(form, name: str, chooser: DataFileChooser) -> None:
    """While ``chooser`` holds a file, the greyed count field ``name`` of ``form`` shows
    the file's row count (not a number the run ignores); the user's own value returns
    when the file is forgotten. Quiet: the form sends no ``changed`` for this."""
    remembered: dict[str, object] = {}

    def follow(path) -> None:
        with form.quiet():
            if path is not None and chooser.rows is not None:
                remembered.setdefault("value", form.value(name))
                p = form.param(name)
                lo = p.lo if p.lo is not None else chooser.rows
                hi = p.hi if p.hi is not None else chooser.rows
                form.set_value(name, int(min(max(chooser.rows, lo), hi)))
            elif path is None and "value" in remembered:
                form.set_value(name, remembered.pop("value"))

    chooser.valueChanged.connect(follow)
    follow(chooser.value())
