"""The window's commands for comparing and taking work out: Run > Keep this run (K),
File > Export as notebook…, File > Export metrics as CSV….

A page offers its active run's :class:`~vigui.widgets.compare.RunComparison` through
``page.comparison()`` (None where nothing runs); the notebook comes from
:mod:`vigui.teaching.export`. A cancelled dialog does nothing; a file that cannot be
written gives one message and leaves nothing half-written.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from vigui.notebook import NotebookError
from vigui.teaching.export import page_notebook
from vigui.teaching.menus import window_action
from vigui.widgets.compare import KEEP_KEY

__all__ = ["add_compare_menus", "keep_run", "export_notebook", "export_metrics"]

NOTEBOOK_FILTER = "Jupyter notebooks (*.ipynb);;All files (*)"
CSV_FILTER = "CSV tables (*.csv);;All files (*)"


def add_compare_menus(window) -> None:
    """Add the commands to the window's File and Run menus."""
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions() if a.menu()}
    file_menu, run_menu = menus["File"], menus["Run"]
    quit_action = next((a for a in file_menu.actions() if a.shortcut() == QKeySequence.Quit), None)
    window.notebook_action = window_action(window, "Export as &notebook…", None,
                                     lambda: export_notebook(window))
    window.csv_action = window_action(window, "Export &metrics as CSV…", None, lambda: export_metrics(window))
    for action in (window.notebook_action, window.csv_action):
        file_menu.insertAction(quit_action, action)
    file_menu.insertSeparator(quit_action)
    run_menu.addSeparator()
    window.keep_action = window_action(window, "&Keep this run", KEEP_KEY, lambda: keep_run(window))
    run_menu.addAction(window.keep_action)
    run_menu.addAction(window_action(window, "Export metrics as CSV…", None, lambda: export_metrics(window)))




def _comparison(window):
    page = window.current_page()
    get = getattr(page, "comparison", None)
    return get() if callable(get) else None


def _say(window, text: str, ms: int = 5000) -> None:
    window.statusBar().showMessage(text, ms)


def keep_run(window):
    """Pin the current page's live run (K); None if this page runs nothing."""
    compare = _comparison(window)
    if compare is None:
        _say(window, "This page runs nothing to keep: Keep this run is for pages that train or iterate.")
        return None
    run = compare.keep()
    if run is None:
        _say(window, "Nothing to keep yet: run a few steps first.")
    else:
        _say(window, f"Kept the run ({run.steps:,} steps): its curves stay on the page, faded.")
    return run


def export_notebook(window, path: str | None = None) -> Path | None:
    """File > Export as notebook…: the current page (or tour stop) as a Jupyter notebook."""
    page = window.current_page()
    if page is None:
        return None
    if path is None:
        path, _ = QFileDialog.getSaveFileName(window, "Export as notebook", f"{page.page_id}.ipynb",
                                              NOTEBOOK_FILTER)
        if not path:
            return None
    try:
        written = page_notebook(page, path, checkpoint=getattr(page, "scene_checkpoint", None))
    except (NotebookError, OSError) as exc:
        _refuse(window, "Cannot export the notebook", str(exc))
        return None
    _say(window, f"Wrote the notebook {written}")
    return written


def export_metrics(window, path: str | None = None) -> Path | None:
    """The live run's metric history (and the pinned runs') as one CSV table."""
    compare = _comparison(window)
    if compare is None or compare.live_metrics() is None and not len(compare.runs):
        _say(window, "This page has no run whose metrics could be exported.")
        return None
    if path is None:
        page = window.current_page()
        path, _ = QFileDialog.getSaveFileName(window, "Export metrics as CSV",
                                              f"{page.page_id}-metrics.csv", CSV_FILTER)
        if not path:
            return None
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(compare.csv(), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _refuse(window, "Cannot export the metrics", f"cannot write {path}: {exc.strerror or exc}")
        return None
    _say(window, f"Wrote the metrics to {path}")
    return path


def _refuse(window, title: str, message: str) -> None:
    message = message[0].upper() + message[1:] if message else message
    window.export_error = message  # tests and scripts read it
    window.statusBar().showMessage(message, 10_000)
    if not window.fresh:  # a fresh window (tests, screenshots) never blocks on a dialog
        QMessageBox.warning(window, title, message)
