"""MainWindow: the chapter navigator, the pages, menus, shortcuts, status bar, settings."""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vigui import __version__
from vigui.pages import PageSpec, available
from vigui.pages.base import ExperimentPage, Page
from vigui.record.menu import add_record_menu
from vigui.run.events import wait
from vigui.teaching.compare import add_compare_menus
from vigui.teaching.menus import TeachingMixin, scale_label_styles
from vigui.widgets.keys_overlay import TOUR_HINT, KeysOverlay


class MainWindow(TeachingMixin, QMainWindow):
    def __init__(self, fresh: bool = False, open_initial: bool = True):
        super().__init__()
        self.setWindowTitle("vigui — a tour of variational inference")
        self.fresh = fresh  # True: ignore and do not write settings (screenshots, tests)
        self.settings = QSettings()
        self.specs: list[PageSpec] = available()
        self.pages: dict[str, Page] = {}

        self.nav = QListWidget()
        for spec in self.specs:
            item = QListWidgetItem(f"{spec.chapter}. {spec.title}")
            item.setData(Qt.UserRole, spec.page_id)
            self.nav.addItem(item)
        self.stack = QStackedWidget()
        # Said where the window opens, not only in the README: the tour and the keys list.
        self.tour_hint = QLabel(TOUR_HINT.replace(" · ", "<br>"))
        self.tour_hint.setWordWrap(True)
        self.tour_hint.setStyleSheet("QLabel { color: #444; font-size: 8pt; padding: 4px; }")
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.addWidget(self.nav, 1)
        side_lay.addWidget(self.tour_hint)
        self._side = side
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([190, 1090])
        self._splitter = splitter
        self.nav.setMinimumWidth(185)
        self._fit_nav()
        self.setCentralWidget(splitter)

        self._device = QLabel("device: –")
        self._steps = QLabel("step 0")
        self._rate = QLabel("– steps/s")
        for label in (self._device, self._steps, self._rate):
            self.statusBar().addPermanentWidget(label)
        self._build_menus()
        self.nav.currentRowChanged.connect(self._show_row)
        self._build_teaching()  # scenes, the lecture tour, presentation mode (teaching.py)

        self.resize(1280, 800)
        if not fresh:
            geometry = self.settings.value("window/geometry")
            if isinstance(geometry, QByteArray):
                self.restoreGeometry(geometry)
        last = None if fresh else self.settings.value("window/page")
        self.initial_page = (last if last in {s.page_id for s in self.specs} else
                             (self.specs[0].page_id if self.specs else None))
        if open_initial:
            self.open_page(self.initial_page)

    # -- menus and shortcuts -------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = QAction("Export page as &PNG…", self, shortcut=QKeySequence("Ctrl+E"))
        export.triggered.connect(self.export_png)
        file_menu.addAction(export)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        run_menu = self.menuBar().addMenu("&Run")
        for text, key, method in (("Play / Pause", "Space", "toggle_play"), ("Step", "S", "step_once"),
                                  ("Reset", "R", "restart"), ("Stop", "Ctrl+.", "stop")):
            action = QAction(text, self, shortcut=QKeySequence(key))
            action.setShortcutContext(Qt.WindowShortcut)
            action.triggered.connect(lambda _=False, m=method: self._run_command(m))
            run_menu.addAction(action)
            self.addAction(action)

        add_record_menu(self)  # Record: GIF/MP4 recordings, SVG/PDF export (vigui/recorder.py)
        add_compare_menus(self)  # Keep this run (K), Export as notebook, metrics as CSV

        help_menu = self.menuBar().addMenu("&Help")
        self.keys_overlay = KeysOverlay(self)
        keys = QAction("&Keys and the lecture tour", self, shortcut=QKeySequence("F1"))
        keys.setShortcutContext(Qt.WindowShortcut)
        keys.triggered.connect(self.toggle_keys)
        help_menu.addAction(keys)
        self.addAction(keys)
        about = QAction("&About vigui", self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, "About vigui",
            f"<b>vigui {__version__}</b><br>A desktop explorer for variational inference, "
            "following the lecture “A Tour of Variational Inference” (CS109B, 2019)."))
        help_menu.addAction(about)

    def _fit_nav(self) -> None:
        """As wide as the longest chapter name in the current font, where the window has
        the room: zoomed ×1.4 for a projector, the fixed 230 px cut "4. Variational
        autoencoder" to "…autoencod". Only the maximum grows, so a zoomed window never
        gets wider than a 1280 px screen for the navigator's sake (names are cut there)."""
        text = self.nav.sizeHintForColumn(0) + 2 * self.nav.frameWidth()
        scroll = self.nav.verticalScrollBar().sizeHint().width()
        width = max(185, min(420, text + scroll + 8))
        self.nav.setMaximumWidth(max(230, width))
        self._side.setMaximumWidth(self.nav.maximumWidth())
        sizes = self._splitter.sizes()
        if sum(sizes) > 0 and sizes[0] < width:
            self._splitter.setSizes([width, sum(sizes) - width])  # the page's minimum wins
        elif sum(sizes) > 0 and sizes[0] > self._side.maximumWidth():
            # zoomed back: the page gets the room the navigator's larger names took
            self._splitter.setSizes([self._side.maximumWidth(), sum(sizes) - self._side.maximumWidth()])

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.FontChange and hasattr(self, "_side"):
            # the zoom keys change the application's font; the hint's 8pt grows with it
            scale_label_styles(self.tour_hint, getattr(self, "zoom", 1.0))
            self._fit_nav()

    def toggle_keys(self) -> None:
        """F1 / Help > Keys: show the keys overlay, or close it if it is open."""
        if self.keys_overlay.isVisible():
            self.keys_overlay.hide()
        else:
            self.keys_overlay.open()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.keys_overlay.isVisible():
            self.keys_overlay.setGeometry(self.rect())

    def run_current(self) -> None:
        """Start (or resume) the current page's experiment."""
        self._run_command("play")

    def _run_command(self, method: str) -> None:
        """A Run menu command (or its shortcut) for the run the current page shows."""
        page = self.current_page()
        control = page.run_control() if page is not None else None
        if control is not None:
            getattr(control, method)()

    # -- pages ------------------------------------------------------------------------
    def current_page(self) -> Page | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, Page) else None

    def page(self, page_id: str) -> Page:
        """The page with this id, built on first use."""
        if page_id not in self.pages:
            spec = next(s for s in self.specs if s.page_id == page_id)
            try:
                page = spec.load()()
            except Exception as exc:  # a broken chapter must not take the app down
                traceback.print_exc()
                page = BrokenPage(spec, exc)
            if not self.fresh:
                saved = self.settings.value(f"pages/{page_id}")
                if isinstance(saved, str):
                    try:
                        page.restore_settings(json.loads(saved))
                    except (ValueError, TypeError):
                        pass  # corrupt settings: defaults
            page.status.connect(self._on_status)
            self.pages[page_id] = page
            self.stack.addWidget(page)
        return self.pages[page_id]

    def open_page(self, page_id: str | None) -> None:
        if page_id is None:
            return
        ids = [s.page_id for s in self.specs]
        if page_id not in ids:
            raise ValueError(f"unknown page {page_id!r}; available: {', '.join(ids)}")
        self.nav.setCurrentRow(ids.index(page_id))
        self._show_row(ids.index(page_id))

    def _show_row(self, row: int) -> None:
        if row < 0:
            return
        page = self.page(self.specs[row].page_id)
        if self.stack.currentWidget() is not page:
            previous = self.current_page()
            control = previous.run_control() if previous is not None else None
            if control is not None:
                control.hold()  # one chapter computes at a time
            self.stack.setCurrentWidget(page)
        running = isinstance(page, ExperimentPage)  # instant pages have no steps to count
        for label in (self._device, self._steps, self._rate):
            label.setVisible(running)
        # The page's own count: _on_status would drop this call, its sender being the navigator.
        control = page.run_control()
        self._show_status(getattr(page, "device", "–"),
                          int(control.steps) if control is not None else 0, 0.0)
        page.activate()

    def _on_status(self, device: str, steps: int, rate: float) -> None:
        """A page's status signal; pages not on screen are ignored."""
        if self.sender() not in (None, self.current_page()):
            return
        self._show_status(device, steps, rate)

    def _show_status(self, device: str, steps: int, rate: float) -> None:
        self._device.setText(f"device: {device}")
        self._steps.setText(f"step {steps:,}")
        self._rate.setText(f"{rate:,.1f} steps/s" if rate else "– steps/s")

    # -- export and screenshots ------------------------------------------------------------
    def export_png(self, path: str | None = None) -> Path | None:
        page = self.current_page()
        if page is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export page as PNG",
                                                  f"vigui-{page.page_id}.png", "PNG images (*.png)")
            if not path:
                return None
        if not page.grab().save(str(path), "PNG"):
            QMessageBox.warning(self, "Export failed", f"Could not write {path}.")
            return None
        return Path(path)

    def save_screenshots(self, folder: Path, ids: list[str] | None = None, timeout: float = 30.0) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        self.show()
        for spec in self.specs:
            if ids and spec.page_id not in ids:
                continue
            self.open_page(spec.page_id)
            page = self.pages[spec.page_id]
            page.prepare_screenshot()
            deadline = time.monotonic() + timeout
            wait(300)
            while not page.screenshot_ready() and time.monotonic() < deadline:
                wait(100)
            wait(300)  # let the last frame paint
            out = folder / f"{spec.page_id}.png"
            self.grab().save(str(out), "PNG")
            print(out)
        self.close()
        return 0

    # -- closing ---------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if not self.fresh:
            self.settings.setValue("window/geometry", self.saveGeometry())
            page = self.current_page()
            if page is not None:
                self.settings.setValue("window/page", page.page_id)
        for page_id, page in self.pages.items():
            state = self.state_to_remember(page_id, page)  # never a tour stop's values
            if not self.fresh and state is not None:
                self.settings.setValue(f"pages/{page_id}", json.dumps(state))
            page.close_page()
        if not self.fresh:
            self.settings.sync()
        super().closeEvent(event)


class BrokenPage(Page):
    """Stands in for a chapter whose page failed to load, saying why."""

    def __init__(self, spec: PageSpec, exc: Exception):
        self.page_id, self.title = spec.page_id, spec.title
        super().__init__()
        self.show_message(f"The chapter “{spec.title}” could not be opened:\n"
                          f"{type(exc).__name__}: {exc}")
        self.center_layout.addStretch(1)


__all__ = ["MainWindow"]
