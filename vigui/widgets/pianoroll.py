"""Piano rolls of token melodies (engine.musicvae.data): a view, a strip of views, an editor.

A roll draws time left to right (16th-note grid, bar lines dashed, beats dotted) and
pitch upwards; each note is a rounded bar. A faint *reference* melody can be drawn
behind (e.g. the original under its reconstruction), and note bars that differ from it
are outlined in red. Painted with QPainter: a strip of a dozen rolls redraws in well
under a millisecond each, with no plot machinery.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from engine.musicvae import data as music

__all__ = ["PianoRoll", "PianoRollStrip", "PianoRollEditor", "INK", "RECON", "SAMPLE", "PATH"]

INK = QColor(30, 30, 30)
RECON = QColor(0, 114, 178)
SAMPLE = QColor(0, 158, 115)
PATH = QColor(213, 94, 0)
GHOST = QColor(150, 150, 150, 110)
WRONG = QColor(200, 30, 30)
SELECTED = QColor(230, 159, 0)
NOTE_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")


class PianoRoll(QWidget):
    """One melody (or nothing) as a piano roll. ``clicked`` fires on a left click."""

    clicked = Signal()

    def __init__(self, title: str = "", colour: QColor = INK, parent=None):
        super().__init__(parent)
        self.title = title
        self.colour = QColor(colour)
        self.tokens: np.ndarray | None = None
        self.reference: np.ndarray | None = None
        self.pitch_range = (60, 79)
        self.selected = False
        self.show_keys = False
        self.setMinimumSize(32, 40)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(140, 90)

    # -- data -----------------------------------------------------------------------
    def set_tokens(self, tokens, reference=None, title: str | None = None,
                   pitch_range: tuple[int, int] | None = None) -> None:
        self.tokens = None if tokens is None else np.asarray(tokens, dtype=np.int64).ravel()
        self.reference = None if reference is None else np.asarray(reference, np.int64).ravel()
        if title is not None:
            self.title = title
        self.pitch_range = pitch_range or fit_range([self.tokens, self.reference])
        self.update()

    def set_title(self, title: str) -> None:
        self.title = title
        self.update()

    def set_selected(self, on: bool) -> None:
        self.selected = bool(on)
        self.update()

    def clear(self) -> None:
        self.set_tokens(None)

    # -- geometry -------------------------------------------------------------------
    def _area(self) -> QRectF:
        top = 14 if self.title else 3
        left = 22 if self.show_keys else 3
        return QRectF(left, top, max(1, self.width() - left - 3), max(1, self.height() - top - 3))

    def _steps(self) -> int:
        for t in (self.tokens, self.reference):
            if t is not None:
                return len(t)
        return music.STEPS

    def _cell(self, step: float, pitch: float) -> QPointF:
        area, (lo, hi) = self._area(), self.pitch_range
        x = area.left() + area.width() * step / self._steps()
        y = area.bottom() - area.height() * (pitch - lo + 1) / (hi - lo + 1)
        return QPointF(x, y)

    def position_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(step, pitch) under a point, or None outside the grid."""
        area, (lo, hi) = self._area(), self.pitch_range
        if not area.contains(QPointF(x, y)):
            return None
        step = int((x - area.left()) / area.width() * self._steps())
        pitch = lo + int((area.bottom() - y) / area.height() * (hi - lo + 1))
        return min(step, self._steps() - 1), min(max(pitch, lo), hi)

    # -- painting -------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), QColor(255, 255, 255))
        area = self._area()
        lo, hi = self.pitch_range
        row_h = area.height() / (hi - lo + 1)
        for pitch in range(lo, hi + 1):  # black keys shaded, like a piano roll
            if pitch % 12 in (1, 3, 6, 8, 10):
                y = self._cell(0, pitch).y()
                p.fillRect(QRectF(area.left(), y, area.width(), row_h), QColor(244, 244, 246))
        steps = self._steps()
        for s in range(0, steps + 1, music.STEPS_PER_QUARTER):
            x = area.left() + area.width() * s / steps
            bar = s % (4 * music.STEPS_PER_QUARTER) == 0
            p.setPen(QPen(QColor(120, 120, 120) if bar else QColor(215, 215, 215), 1,
                          Qt.DashLine if bar and 0 < s < steps else Qt.SolidLine))
            p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        if self.show_keys:
            font = QFont()
            font.setPointSizeF(6.5)
            p.setFont(font)
            p.setPen(QColor(90, 90, 90))
            for pitch in range(lo, hi + 1):
                if pitch % 12 == 0:
                    y = self._cell(0, pitch).y()
                    p.drawText(QRectF(0, y - 2, area.left() - 2, row_h + 4),
                               Qt.AlignRight | Qt.AlignVCenter, f"C{pitch // 12 - 1}")
        ref_notes = set(music.tokens_to_notes(self.reference)) if self.reference is not None else None
        if self.reference is not None:
            self._draw_notes(p, self.reference, GHOST, None, row_h, grow=1.5)
        if self.tokens is not None:
            self._draw_notes(p, self.tokens, self.colour, ref_notes, row_h)
        if self.title:
            font = QFont()
            font.setPointSizeF(7.5)
            p.setFont(font)
            p.setPen(QColor(40, 40, 40))
            p.drawText(QRectF(3, 0, self.width() - 6, 14), Qt.AlignLeft | Qt.AlignVCenter,
                       self.title)
        p.setPen(QPen(SELECTED, 3) if self.selected else QPen(QColor(190, 190, 190), 1))
        p.setBrush(Qt.NoBrush)
        p.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))
        p.end()

    def _draw_notes(self, p: QPainter, tokens, fill: QColor, ref_notes, row_h: float,
                    grow: float = 0.0) -> None:
        lo, hi = self.pitch_range
        p.setPen(Qt.NoPen)
        for pitch, start, length in music.tokens_to_notes(tokens):
            pitch_c = min(max(pitch, lo), hi)  # outside the shown range: drawn at its edge
            a, b = self._cell(start, pitch_c), self._cell(start + length, pitch_c)
            rect = QRectF(a.x() + 0.5, a.y() - grow / 2, max(1.0, b.x() - a.x() - 1.0),
                          max(2.0, row_h + grow))
            p.setBrush(fill)
            p.drawRoundedRect(rect, 1.5, 1.5)
            if ref_notes is not None and (pitch, start, length) not in ref_notes:
                p.setPen(QPen(WRONG, 1.2))
                p.setBrush(Qt.NoBrush)
                p.drawRoundedRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5), 1.5, 1.5)
                p.setPen(Qt.NoPen)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


def fit_range(token_sets, minimum: int = 12) -> tuple[int, int]:
    """A pitch range (lo, hi) covering every note of the given token arrays, at least
    ``minimum`` semitones tall, padded by one semitone."""
    pitches = []
    for t in token_sets:
        if t is not None:
            t = np.asarray(t).ravel()
            pitches.extend((t[t >= 2] - 2 + music.LOW).tolist())
    if not pitches:
        return 60, 60 + minimum
    lo, hi = min(pitches) - 1, max(pitches) + 1
    if hi - lo < minimum:
        mid = (lo + hi) // 2
        lo, hi = mid - minimum // 2, mid + minimum - minimum // 2
    return max(music.LOW, lo), min(music.HIGH, hi)


class PianoRollStrip(QWidget):
    """A row of ``n`` rolls sharing one pitch range. ``clicked(i)`` when roll i is clicked."""

    clicked = Signal(int)

    def __init__(self, n: int, colour: QColor = INK, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        self.rolls = []
        for i in range(n):
            roll = PianoRoll(colour=colour)
            roll.clicked.connect(lambda i=i: self.clicked.emit(i))
            lay.addWidget(roll)
            self.rolls.append(roll)

    def set_rolls(self, tokens, references=None, titles=None) -> None:
        """Rows of tokens (up to n; the rest are emptied); optional references and titles."""
        tokens = [] if tokens is None else list(tokens)
        refs = list(references) if references is not None else [None] * len(tokens)
        shared = fit_range(tokens + [r for r in refs if r is not None])
        for i, roll in enumerate(self.rolls):
            if i < len(tokens):
                title = titles[i] if titles is not None else ""
                roll.set_tokens(tokens[i], refs[i], title, shared)
            else:
                roll.set_tokens(None, None, "")

    def select(self, index: int | None) -> None:
        for i, roll in enumerate(self.rolls):
            roll.set_selected(i == index)

    def clear(self) -> None:
        self.set_rolls([])


class PianoRollEditor(PianoRoll):
    """Draw a melody: left click on an empty cell places a quarter note (shortened to
    fit before the next note), dragging right or left sets its length, a left click on a
    note or a right click removes it. ``changed`` fires with the new tokens."""

    changed = Signal(object)

    def __init__(self, title: str = "", parent=None):
        super().__init__(title, colour=PATH, parent=parent)
        self.show_keys = True
        self.pitch_range = (57, 81)
        self.tokens = np.full(music.STEPS, music.REST, dtype=np.int64)
        self._drag: tuple[int, int] | None = None  # (pitch, start) of the note being drawn
        self.setMinimumSize(200, 150)
        self.setMouseTracking(False)

    def sizeHint(self) -> QSize:
        return QSize(420, 200)

    def set_tokens(self, tokens, reference=None, title=None, pitch_range=None) -> None:
        tokens = np.full(music.STEPS, music.REST) if tokens is None else tokens
        super().set_tokens(tokens, reference, title, pitch_range or self.pitch_range)

    def notes(self) -> list[tuple[int, int, int]]:
        return music.tokens_to_notes(self.tokens)

    def _set_notes(self, notes) -> None:
        self.tokens = music.notes_to_tokens(notes)
        self.update()
        self.changed.emit(self.tokens.copy())

    def mousePressEvent(self, event) -> None:
        pos = self.position_at(event.position().x(), event.position().y())
        if pos is None:
            return
        step, pitch = pos
        notes = self.notes()
        hit = [n for n in notes if n[1] <= step < n[1] + n[2]]
        if event.button() == Qt.RightButton or (event.button() == Qt.LeftButton and hit
                                                and hit[0][0] == pitch):
            if hit:
                notes.remove(hit[0])
                self._set_notes(notes)
            return
        if event.button() != Qt.LeftButton:
            return
        if hit:  # another pitch over a sounding note: the old note ends here
            p, s, n = hit[0]
            notes.remove(hit[0])
            if step > s:
                notes.append((p, s, step - s))
        start = step
        limit = min([n[1] for n in notes if n[1] > start] + [music.STEPS])
        notes.append((pitch, start, max(1, min(music.STEPS_PER_QUARTER, limit - start))))
        self._drag = (pitch, start)
        self._set_notes(notes)

    def mouseMoveEvent(self, event) -> None:
        if self._drag is None:
            return
        pos = self.position_at(event.position().x(), min(max(event.position().y(), 15),
                                                         self.height() - 4))
        if pos is None:
            return
        pitch, start = self._drag
        notes = [n for n in self.notes() if not (n[0] == pitch and n[1] == start)]
        limit = min([n[1] for n in notes if n[1] > start] + [music.STEPS])
        length = max(1, min(pos[0] + 1, limit) - start)
        self._set_notes(notes + [(pitch, start, length)])

    def mouseReleaseEvent(self, event) -> None:
        self._drag = None
