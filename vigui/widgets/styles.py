"""The app's label styles, in one place: a page names the role, not the CSS.

Before this module the same "note" was spelt three ways across the pages; a role here
keeps one look per kind of text (and one place to change it for a projector);
:func:`label` makes a label of a role, so a page names it once, not in four calls."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

__all__ = ["NOTE", "SMALL", "SUMMARY", "CAPTION", "HEADER", "SECTION_SUMMARY", "WARNING",
           "label", "message_style"]

#: small grey text under a control or a view: explanations, progress stages, legends' notes
NOTE = "QLabel { color: #555; font-size: 8pt; }"
#: a small legend or caption in the plot's own colours
SMALL = "QLabel { font-size: 8pt; }"
#: a view's one-paragraph summary (step, epoch, the last test numbers)
SUMMARY = "QLabel { font-size: 9pt; }"
#: a title above a strip of images or a path
CAPTION = "QLabel { font-size: 8.5pt; }"
#: the shown section's title above its controls
HEADER = "QLabel { font-weight: bold; font-size: 10pt; }"
#: the instant sections' rich-text summaries
SECTION_SUMMARY = "QLabel { font-size: 10pt; padding: 2px; }"
#: something to act on that is not an error (a dataset not on this machine)
WARNING = "QLabel { color: #8b4500; }"

_ERROR = ("#8b0000", "#fde8e8")
_INFO = ("#1f4e79", "#e8f0fd")


def label(style: str, text: str = "", *, wrap: bool = True, rich: bool = False,
          selectable: bool = False) -> QLabel:
    """A label in ``style`` (one of the roles above): wrapped unless ``wrap`` is False;
    ``rich`` always reads its text as HTML (not only when Qt guesses so); ``selectable``
    lets the reader copy the numbers."""
    widget = QLabel(text)
    widget.setStyleSheet(style)
    widget.setWordWrap(wrap)
    if rich:
        widget.setTextFormat(Qt.RichText)
    if selectable:
        widget.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return widget


def message_style(error: bool = True) -> str:
    """The page's message line: red for an error, blue for information."""
    colour, background = _ERROR if error else _INFO
    return (f"QLabel {{ color: {colour}; background: {background}; border: 1px solid {colour};"
            " border-radius: 4px; padding: 6px; }")
