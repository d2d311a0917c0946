"""The window's Record menu: Record page or plot… (Ctrl+Shift+R, :mod:`vigui.record.recorder`)
and Export plot as SVG / PDF… (Ctrl+Shift+E, :mod:`vigui.record.vector`)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from vigui.record.recorder import RecordDialog, ShutdownOnClose
from vigui.record.vector import export_dialog


def add_record_menu(window) -> None:
    """The window's Record menu: Record… (Ctrl+Shift+R) and Export plot as SVG / PDF…."""
    menu = window.menuBar().addMenu("Re&cord")
    record = QAction("&Record page or plot…", window, shortcut=QKeySequence("Ctrl+Shift+R"))
    menu.addAction(record)
    vector = QAction("Export plot as &SVG / PDF…", window, shortcut=QKeySequence("Ctrl+Shift+E"))
    menu.addAction(vector)

    def open_recorder():
        dialog = getattr(window, "record_dialog", None)
        if dialog is None:
            dialog = window.record_dialog = RecordDialog(window.current_page, parent=window)
            window.installEventFilter(ShutdownOnClose(dialog))
        if dialog.recorder is not None and dialog.recorder.recording:
            dialog.toggle()  # the same keys stop it: the dialog is out of sight meanwhile
            return
        dialog.refresh()
        dialog.show()
        dialog.raise_()

    def export_vector():
        page = window.current_page()
        if page is not None:
            export_dialog(page, parent=window)

    record.triggered.connect(open_recorder)
    vector.triggered.connect(export_vector)
    for action in (record, vector):  # the keys work wherever the window has focus
        action.setShortcutContext(Qt.WindowShortcut)
        window.addAction(action)
