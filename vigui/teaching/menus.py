"""The window's teaching tools: scenes, the lecture tour, presentation mode.

:class:`TeachingMixin` is mixed into :class:`vigui.window.MainWindow` (which calls
:meth:`TeachingMixin._build_teaching` once its own menus exist):

* File > Open scene… / Save scene…, Edit > Copy scene / Paste scene: scenes
  (:mod:`vigui.teaching.scenes`); a scene is applied to a fresh page first, so a bad one changes
  nothing (:mod:`vigui.teaching.apply`);
* Lecture: the shipped tour (or one opened from a file), one stop a slide, Page Down /
  Page Up, a banner with the stop's title and two-line caption;
* View: F11 full screen, Ctrl + / Ctrl − / Ctrl 0 zoom (remembered), Ctrl+B hides the
  parameter column; zoomed or full screen, the run buttons grow.
"""
from __future__ import annotations

import importlib
import re
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vigui.teaching.apply import build_scene_page, capture_scene, start_scene
from vigui.teaching.scenes import (
    Scene,
    SceneError,
    Tour,
    lecture_tour,
    parse_scene,
    read_scene,
    read_tour,
    scene_text,
    write_scene,
)

ZOOMS = (0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0)
_FONT_SIZE = re.compile(r"font-size:\s*([0-9.]+)pt")
SCENE_FILTER = "vigui scenes (*.json);;All files (*)"


class TourBanner(QFrame):
    """The stop's title and caption above the pages, with previous/next buttons."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("tourBanner")
        self.setStyleSheet("#tourBanner { background: #f3f6fb; border-bottom: 1px solid #c5d2e6; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        self.prev = QPushButton("◀")
        self.prev.setToolTip("Previous stop (Page Up)")
        self.next = QPushButton("▶")
        self.next.setToolTip("Next stop (Page Down)")
        self.close_button = QPushButton("✕")
        self.close_button.setToolTip("Leave the tour")
        for b in (self.prev, self.next, self.close_button):
            b.setFixedWidth(34)
        text = QVBoxLayout()
        text.setSpacing(0)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 12pt;")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #333;")
        text.addWidget(self.title)
        text.addWidget(self.caption)
        self.counter = QLabel()
        self.counter.setStyleSheet("color: #555;")
        lay.addWidget(self.prev)
        lay.addLayout(text, 1)
        lay.addWidget(self.counter)
        lay.addWidget(self.next)
        lay.addWidget(self.close_button)
        self.setVisible(False)

    def show_stop(self, tour: Tour, index: int) -> None:
        stop = tour.stops[index]
        self.title.setText(stop.title or stop.page)
        self.caption.setText(stop.caption)
        self.counter.setText(f"{index + 1} / {len(tour.stops)}")
        self.prev.setEnabled(index > 0)
        self.next.setEnabled(index < len(tour.stops) - 1)
        self.setVisible(True)


def window_action(window, text: str, key: str | None, slot) -> QAction:
    """A window-wide action: its key works wherever the window has focus."""
    action = QAction(text, window)
    if key:
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.WindowShortcut)
    action.triggered.connect(lambda _=False: slot())
    window.addAction(action)
    return action


class TeachingMixin:
    """Scenes, the tour and presentation mode for MainWindow (see the module docstring)."""

    # -- building ------------------------------------------------------------------------
    def _build_teaching(self) -> None:
        self.tour: Tour | None = None
        self.tour_index = -1
        self.scene_error = ""      # the last refusal (tests and the command line read it)
        self.stop_times: list[float] = []
        # What each page the tour replaced held before it (None: not built then); leaving
        # the tour gives these back, so no stop's settings or words stay behind.
        self._before_tour: dict[str, dict | None] = {}
        self.zoom = 1.0
        self.params_hidden = False
        self._base_font = QApplication.font()
        self.banner = TourBanner()
        self.banner.prev.clicked.connect(self.previous_stop)
        self.banner.next.clicked.connect(self.next_stop)
        self.banner.close_button.clicked.connect(self.leave_tour)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.banner)
        lay.addWidget(self.takeCentralWidget(), 1)
        self.setCentralWidget(body)
        self._build_scene_menus()
        self._build_lecture_menu()
        self._build_view_menu()
        self.nav.currentRowChanged.connect(lambda _row: self._present(self.current_page()))
        if not self.fresh:
            try:
                zoom = float(self.settings.value("view/zoom", 1.0))
            except (TypeError, ValueError):
                zoom = 1.0
            self.set_zoom(zoom)

    def _menu(self, title: str):
        for action in self.menuBar().actions():
            if action.menu() is not None and action.text().replace("&", "") == title:
                return action.menu()
        return None

    def _action(self, text: str, key: str | None, slot) -> QAction:
        return window_action(self, text, key, slot)

    def _build_scene_menus(self) -> None:
        file_menu = self._menu("File")
        first = file_menu.actions()[0] if file_menu.actions() else None
        for action in (self._action("&Open scene…", "Ctrl+O", self.open_scene_dialog),
                       self._action("&Save scene…", "Ctrl+Shift+S", self.save_scene_dialog)):
            file_menu.insertAction(first, action)
        file_menu.insertSeparator(first)
        edit = QMenuBarHelper.insert_before(self, "Edit", self._menu("Run"))
        edit.addAction(self._action("&Copy scene", "Ctrl+Shift+C", self.copy_scene))
        edit.addAction(self._action("&Paste scene", "Ctrl+Shift+V", self.paste_scene))

    def _build_lecture_menu(self) -> None:
        menu = QMenuBarHelper.insert_before(self, "Lecture", self._menu("Help"))
        menu.addAction(self._action("&Start the lecture tour", None, self.start_lecture_tour))
        menu.addAction(self._action("&Next stop", "PgDown", self.next_stop))
        menu.addAction(self._action("&Previous stop", "PgUp", self.previous_stop))
        menu.addAction(self._action("Open a &tour…", None, self.open_tour_dialog))
        menu.addAction(self._action("&Leave the tour", None, self.leave_tour))
        menu.addSeparator()
        self.stops_menu = menu.addMenu("&Stops")
        self.stops_menu.aboutToShow.connect(self._fill_stops_menu)

    def _build_view_menu(self) -> None:
        menu = QMenuBarHelper.insert_before(self, "View", self._menu("Lecture"))
        self.fullscreen_action = self._action("&Full screen", "F11", self.toggle_full_screen)
        self.fullscreen_action.setCheckable(True)
        menu.addAction(self.fullscreen_action)
        menu.addAction(self._action("Zoom &in", "Ctrl++", lambda: self.step_zoom(+1)))
        self.addAction(self._action("Zoom in", "Ctrl+=", lambda: self.step_zoom(+1)))
        menu.addAction(self._action("Zoom &out", "Ctrl+-", lambda: self.step_zoom(-1)))
        menu.addAction(self._action("&Actual size", "Ctrl+0", lambda: self.set_zoom(1.0)))
        self.params_action = self._action("Hide the &parameter column", "Ctrl+B",
                                          lambda: self.set_params_hidden(not self.params_hidden))
        self.params_action.setCheckable(True)
        menu.addAction(self.params_action)

    # -- scenes ---------------------------------------------------------------------------
    def open_scene(self, scene: Scene) -> bool:
        """Show ``scene``: its page, rebuilt fresh with the scene's values, then started.
        Anything the page refuses leaves the window as it was (``scene_error`` says why)."""
        spec = next((s for s in self.specs if s.page_id == scene.page), None)
        if spec is None:
            return self._refuse(f"unknown page {scene.page!r}.")
        try:
            page = build_scene_page(spec, scene)
        except SceneError as exc:
            return self._refuse(str(exc))
        except Exception as exc:  # a chapter that fails to build: say so, change nothing
            return self._refuse(f"the page {scene.page!r} could not be built: "
                                f"{type(exc).__name__}: {exc}")
        page.scene_words = (scene.title, scene.caption)  # kept when the scene is saved again
        if self.tour is not None and scene.page not in self._before_tour:
            old = self.pages.get(scene.page)
            self._before_tour[scene.page] = old.settings_state() if old is not None else None
        self._replace_page(scene.page, page)
        start_scene(page, scene)
        self.scene_error = ""
        self.open_page(scene.page)
        return True

    def open_scene_file(self, path: str | Path) -> bool:
        try:
            scene = read_scene(path)
        except SceneError as exc:
            return self._refuse(str(exc))
        self.leave_tour()
        return self.open_scene(scene)

    def _refuse(self, message: str) -> bool:
        self.scene_error = message[0].upper() + message[1:] if message else message
        if not self.fresh:
            QMessageBox.warning(self, "Cannot open the scene", self.scene_error)
        self.statusBar().showMessage(self.scene_error, 10_000)
        return False

    def _replace_page(self, page_id: str, page) -> None:
        old = self.pages.pop(page_id, None)
        if old is not None:
            old.close_page()
            self.stack.removeWidget(old)
            old.deleteLater()
        page.status.connect(self._on_status)
        self.pages[page_id] = page
        self.stack.addWidget(page)
        self._present(page)

    def current_scene(self) -> Scene | None:
        page = self.current_page()
        if page is None:
            return None
        return capture_scene(page, *getattr(page, "scene_words", ("", "")))

    def open_scene_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scene", "", SCENE_FILTER)
        if path:
            self.open_scene_file(path)

    def save_scene_dialog(self) -> None:
        page = self.current_page()
        if page is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save scene", f"{page.page_id}-scene.json",
                                              SCENE_FILTER)
        if path:
            self.save_scene(path)

    def save_scene(self, path: str | Path) -> Path | None:
        """Write the current page's scene to ``path``. A page with a trained model
        (``save_model``) also writes it beside the file, and the scene opens that
        model instead of training again."""
        page = self.current_page()
        if page is None:
            return None
        scene = self.current_scene()
        path = Path(path)
        if callable(getattr(page, "save_model", None)) and scene.run is not None:
            model = path.with_suffix(".pt")
            page.save_model(str(model))
            scene.checkpoint, scene.run = model.name, None
        try:
            write_scene(scene, path)
        except OSError as exc:
            QMessageBox.warning(self, "Save failed", f"Could not write {path}: {exc.strerror or exc}")
            return None
        self.statusBar().showMessage(f"Saved the scene to {path}", 5000)
        return path

    def copy_scene(self) -> str:
        """Put the current scene on the clipboard as JSON text (no checkpoint: text only)."""
        scene = self.current_scene()
        if scene is None:
            return ""
        text = scene_text(scene)
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("Copied the scene to the clipboard", 4000)
        return text

    def paste_scene(self) -> bool:
        try:
            scene = parse_scene(QGuiApplication.clipboard().text(), where="the clipboard's scene")
        except SceneError as exc:
            return self._refuse(str(exc))
        return self.open_scene(scene)

    # -- the tour -------------------------------------------------------------------------
    def start_tour(self, tour: Tour, index: int = 0) -> bool:
        self.tour = tour
        return self.show_stop(index)

    def start_lecture_tour(self) -> bool:
        try:
            return self.start_tour(lecture_tour([s.page_id for s in self.specs]))
        except SceneError as exc:
            return self._refuse(str(exc))

    def open_tour_file(self, path: str | Path) -> bool:
        try:
            tour = read_tour(path, [s.page_id for s in self.specs])
        except SceneError as exc:
            return self._refuse(str(exc))
        return self.start_tour(tour)

    def open_tour_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open tour", "", SCENE_FILTER)
        if path:
            self.open_tour_file(path)

    def show_stop(self, index: int) -> bool:
        if self.tour is None or not 0 <= index < len(self.tour.stops):
            return False
        if not self.open_scene(self.tour.stops[index]):
            return False
        self.tour_index = index
        self.banner.show_stop(self.tour, index)
        self._scroll_theory_to(self.current_page(), self.tour.stops[index].section)
        self._prefetch(self.stop_modules(index + 1))
        return True

    def stop_modules(self, index: int) -> list[str]:
        """The modules stop ``index`` builds its page from (its chapter, its section's
        module); [] past the end."""
        if self.tour is None or not 0 <= index < len(self.tour.stops):
            return []
        stop = self.tour.stops[index]
        spec = next((s for s in self.specs if s.page_id == stop.page), None)
        if spec is None:
            return []
        names = [spec.module]
        cls = getattr(importlib.import_module(spec.module), spec.cls, None)
        names += [module for key, module, *_ in getattr(cls, "SECTIONS", ()) if key == stop.section]
        return names

    @staticmethod
    def _prefetch(modules: list[str]) -> None:
        """Import the next stop's modules on a background thread while this stop is shown:
        black-box VI's first ``import torch`` took 5-6 s of its Page Down on a busy machine.
        (Not torch._dynamo, which torch's first optimizer imports: off the main thread it
        failed once here, an operator not yet registered.)
        A module that fails here fails again, with its message, when the stop is built."""
        pending = [m for m in modules if m not in sys.modules]
        if not pending:
            return

        def load() -> None:
            for name in pending:
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 (reported when the stop itself is built)
                    return

        threading.Thread(target=load, name="tour-prefetch", daemon=True).start()

    @staticmethod
    def _scroll_theory_to(page, section: str | None) -> None:
        """The theory panel at the stop's section, as clicking its tab by hand does."""
        sections = getattr(page, "sections", None)
        if page is None or section is None or not isinstance(sections, dict):
            return
        anchor = getattr(sections.get(section), "anchor", None)
        if anchor and section != getattr(page, "keys", [None])[0]:
            page.theory_view.scrollToAnchor(anchor)

    def next_stop(self) -> bool:
        if self.tour is None:
            return self.start_lecture_tour()
        return self.show_stop(self.tour_index + 1)

    def previous_stop(self) -> bool:
        return self.show_stop(self.tour_index - 1) if self.tour is not None else False

    def leave_tour(self) -> None:
        """End the tour: every page a stop replaced is built again with the settings it
        had before the tour (or the remembered ones), so no stop's values, title or
        caption stay behind; the window stays on the same chapter."""
        self.tour, self.tour_index = None, -1
        self.banner.setVisible(False)
        before, self._before_tour = self._before_tour, {}
        if not before:
            return
        current = self.current_page()
        for page_id, state in before.items():
            old = self.pages.pop(page_id, None)
            if old is not None:
                old.close_page()
                self.stack.removeWidget(old)
                old.deleteLater()
            if state is not None:  # built before the tour: as it was then
                page = self.page(page_id)
                page.restore_settings(state)
                self._present(page)
        if current is not None:
            self.open_page(current.page_id)

    def state_to_remember(self, page_id: str, page) -> dict | None:
        """The settings to keep for ``page_id`` when the window closes: during a tour the
        page's own from before the tour, never a stop's (None: keep what is stored)."""
        if page_id in self._before_tour:
            return self._before_tour[page_id]
        return page.settings_state()

    def _fill_stops_menu(self) -> None:
        self.stops_menu.clear()
        tour = self.tour
        if tour is None:
            try:
                tour = lecture_tour([s.page_id for s in self.specs])
            except SceneError:
                return
        for i, stop in enumerate(tour.stops):
            action = self.stops_menu.addAction(f"{i + 1}. {stop.title or stop.page}")
            action.triggered.connect(lambda _=False, t=tour, i=i: self.start_tour(t, i))

    def save_tour_screenshots(self, folder: Path, tour: Tour, timeout: float = 60.0) -> int:
        """One PNG per stop (``vigui --screenshot DIR --tour``); prints each file and how
        long its stop took to show its figure."""
        from vigui.run.events import wait

        folder.mkdir(parents=True, exist_ok=True)
        self.show()
        self.tour = tour
        code = 0
        for i, stop in enumerate(tour.stops):
            t0 = time.monotonic()
            if not self.show_stop(i):
                print(f"stop {i + 1}: {self.scene_error}")
                code = 1
                continue
            page = self.current_page()
            deadline = t0 + timeout
            wait(100)
            while not page.screenshot_ready() and time.monotonic() < deadline:
                wait(50)
            elapsed = time.monotonic() - t0
            self.stop_times.append(elapsed)
            wait(250)  # let the last frame paint
            out = folder / f"{i + 1:02d}-{stop.page}.png"
            self.grab().save(str(out), "PNG")
            print(f"{out}  {elapsed:.1f} s  {stop.title}")
        self.close()
        return code

    # -- presentation ------------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())
        self._present_all()

    def step_zoom(self, direction: int) -> None:
        i = min(range(len(ZOOMS)), key=lambda k: abs(ZOOMS[k] - self.zoom))
        self.set_zoom(ZOOMS[max(0, min(len(ZOOMS) - 1, i + direction))])

    def set_zoom(self, zoom: float) -> None:
        """Scale fonts (widgets and plots) for a projector; remembered between sessions."""
        self.zoom = max(ZOOMS[0], min(ZOOMS[-1], float(zoom)))
        font = self._base_font
        scaled = type(font)(font)
        if font.pointSizeF() > 0:
            scaled.setPointSizeF(font.pointSizeF() * self.zoom)
        QApplication.setFont(scaled)
        from vigui.widgets.plots import set_plot_zoom

        set_plot_zoom(self.zoom)  # plots built or titled from now on, on any page
        if not self.fresh:
            self.settings.setValue("view/zoom", self.zoom)
        self._present_all()
        # Once the pages' zoomed minimums are undone (their layouts are asked to update
        # now), the navigator can give back the room its zoomed names took.
        if hasattr(self, "_fit_nav"):
            QCoreApplication.sendPostedEvents(None, QEvent.LayoutRequest)
            self._fit_nav()
        self.statusBar().showMessage(f"zoom {self.zoom:.0%}", 2000)

    def set_params_hidden(self, hidden: bool) -> None:
        self.params_hidden = bool(hidden)
        self.params_action.setChecked(self.params_hidden)
        self._present_all()

    def _present_all(self) -> None:
        scale_label_styles(self.banner, self.zoom)
        for page in self.pages.values():
            self._present(page)

    def _present(self, page) -> None:
        """Apply zoom, the parameter column and large run buttons to one page."""
        if page is None:
            return
        from vigui.run.control import RunButtons
        from vigui.widgets.plots import scale_plots

        column = page.splitter.widget(0) if hasattr(page, "splitter") else None
        if column is not None:
            column.setVisible(not self.params_hidden)
            # The column's widths were chosen for the normal font: they grow with it, so
            # zoomed labels, fields and the run buttons are not cut off at the right.
            for name, get, set_ in (("min", column.minimumWidth, column.setMinimumWidth),
                                    ("max", column.maximumWidth, column.setMaximumWidth)):
                base = column.property(f"vigui_base_{name}") or get()
                column.setProperty(f"vigui_base_{name}", base)
                set_(round(base * max(1.0, self.zoom)))
        scale_plots(page, self.zoom)
        scale_label_styles(page, self.zoom)
        large = self.zoom > 1.0 or self.isFullScreen()
        size = round(11 * max(self.zoom, 1.2)) if large else 0
        style = (f"QPushButton {{ font-size: {size}pt; min-height: {round(size * 2.6)}px; }}"
                 if large else "")
        for buttons in page.findChildren(RunButtons):
            buttons.setStyleSheet(style)


def scale_label_styles(root, zoom: float) -> None:
    """Labels whose style sheet fixes a size in points (headers, summaries, legends)
    scaled by ``zoom`` from their original sizes, as the application font is."""
    for label in [root, *root.findChildren(QLabel)]:
        if not isinstance(label, QLabel):
            continue
        base = label.property("vigui_base_style")
        if base is None:
            base = label.styleSheet()
            if not _FONT_SIZE.search(base):
                continue
            label.setProperty("vigui_base_style", base)
        label.setStyleSheet(_FONT_SIZE.sub(lambda m: f"font-size: {float(m.group(1)) * zoom:.1f}pt", base))


class QMenuBarHelper:
    @staticmethod
    def insert_before(window, title: str, before_menu):
        """A new top-level menu ``title`` placed before ``before_menu`` (at the end if None)."""
        from PySide6.QtWidgets import QMenu

        menu = QMenu(f"&{title}", window)
        bar = window.menuBar()
        if before_menu is not None:
            bar.insertMenu(before_menu.menuAction(), menu)
        else:
            bar.addMenu(menu)
        return menu


__all__ = ["TeachingMixin", "TourBanner"]
