"""The keys overlay (F1, Help > Keys): every shortcut the window's menus hold, over the page.

The list is read from the menus when the overlay opens, so it cannot drift from what the
keys do. Any key or click closes it (F1 again, Escape, ...).
"""
from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QPainter
from PySide6.QtWidgets import QLabel, QMenu, QMenuBar, QVBoxLayout, QWidget

__all__ = ["KeysOverlay", "menu_shortcuts", "TOUR_HINT"]

TOUR_HINT = "Page Down starts the lecture tour (Page Up goes back) · F1 lists every key"


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, command, keys) for each menu command that has a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, title: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), title)
            elif not action.isSeparator() and not action.shortcut().isEmpty():
                keys = action.shortcut().toString(QKeySequence.NativeText)
                rows.append((title, action.text().replace("&", "").rstrip("…"), keys))

    for action in bar.actions():
        if action.menu() is not None:
            walk(action.menu(), action.text().replace("&", ""))
    return rows


class KeysOverlay(QWidget):
    """A dimmed layer over the window with a panel of the keys; closes on any key or click."""

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self.setFocusPolicy(Qt.StrongFocus)
        self.panel = QLabel()
        self.panel.setTextFormat(Qt.RichText)
        self.panel.setStyleSheet("QLabel { background: white; border: 1px solid #888; "
                                 "border-radius: 6px; padding: 14px; }")
        lay = QVBoxLayout(self)
        lay.addWidget(self.panel, 0, Qt.AlignCenter)
        self.hide()

    def open(self) -> None:
        rows = menu_shortcuts(self._window.menuBar())
        body = "".join(
            f"<tr><td style='padding-right:18px'><b>{escape(keys)}</b></td>"
            f"<td style='padding-right:12px'>{escape(command)}</td>"
            f"<td style='color:#666'>{escape(menu)}</td></tr>"
            for menu, command, keys in rows)
        self.panel.setText(
            "<h3 style='margin:0'>Keys</h3>"
            f"<p style='margin:4px 0 8px 0'><b>{escape(TOUR_HINT)}</b></p>"
            f"<table cellspacing='0' cellpadding='2'>{body}</table>"
            "<p style='color:#666; margin-top:8px'>Any key or click closes this.</p>")
        self.setGeometry(self._window.rect())
        self.show()
        self.raise_()
        self.setFocus()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 110))

    def keyPressEvent(self, event) -> None:
        self.hide()
        event.accept()

    def mousePressEvent(self, event) -> None:
        self.hide()
        event.accept()
