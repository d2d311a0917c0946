"""The window the GUI benches walk, as the app opens it: offscreen, 1280x800, fresh
settings, no page open, the training children's fork server started."""
from __future__ import annotations


def open_window():
    """(app, window, wait): the QApplication, a shown MainWindow, and vigui's event-pumping
    ``wait(ms)``."""
    from PySide6.QtWidgets import QApplication

    from vigui.run import process
    from vigui.run.events import wait
    from vigui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    win = MainWindow(fresh=True, open_initial=False)
    win.resize(1280, 800)
    win.show()
    win.activateWindow()
    process.warm_up()  # as vigui.app does once its window shows
    return app, win, wait
