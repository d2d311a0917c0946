"""Layouts with no margins of their own: rows and columns inside a panel that has them.

The pages built each settings row and view as ``w = QWidget(); lay = QVBoxLayout(w);
lay.setContentsMargins(0, 0, 0, 0); lay.setSpacing(n)``; :func:`tight` and :func:`laid_out`
say that once."""
from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget

__all__ = ["laid_out", "tight"]

L = TypeVar("L", bound=QLayout)


def tight(layout: L, spacing: int | None = None, margins: tuple[int, int, int, int] = (0, 0, 0, 0)) -> L:
    """``layout`` with ``margins`` (none by default) and, when given, ``spacing``."""
    layout.setContentsMargins(*margins)
    if spacing is not None:
        layout.setSpacing(spacing)
    return layout


def laid_out(kind: type[QLayout] = QVBoxLayout, spacing: int | None = None,
        margins: tuple[int, int, int, int] = (0, 0, 0, 0)):
    """A new plain widget and its ``kind`` layout, :func:`tight`: ``(widget, layout)``."""
    widget = QWidget()
    return widget, tight(kind(widget), spacing, margins)
