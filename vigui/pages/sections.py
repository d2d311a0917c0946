"""Chapters made of sections: one tab per section, its controls in the parameter column.

A :class:`Section` builds its ``controls`` (parameter column) and ``view`` (a tab) in
``build`` and redraws in ``refresh``; a :class:`SectionedPage` lists its sections in
``SECTIONS`` as ``(key, module, class name, tab title)``, builds each the first time it
is shown (so a torch section loads torch only when opened; ``eager = True`` builds all
at once), keeps their saved state, routes messages and Space/S/R to the shown section,
and pauses a running section when another tab is shown. Settings and scenes name the
tab by its key (an index, as older settings files kept it, still opens). Used by the
information (chapter 1), variational-inference (chapter 2) and Bayes by Backprop
(chapter 6) pages.
"""
from __future__ import annotations

import importlib

import pyqtgraph as pg
from PySide6.QtCore import QObject
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vigui.pages.base import Page
from vigui.widgets import styles
from vigui.widgets.compare import RunComparison
from vigui.widgets.plots import style_plot

SUMMARY_STYLE = styles.SECTION_SUMMARY


def small_font(size: int = 8, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSize(size)
    font.setBold(bold)
    return font


def summary_label() -> QLabel:
    """An instant section's summary: rich text, numbers the reader can copy."""
    return styles.label(SUMMARY_STYLE, rich=True, selectable=True)


def group(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    lay = QVBoxLayout(box)
    lay.setContentsMargins(6, 6, 6, 6)
    for w in widgets:
        lay.addWidget(w)
    return box


def static_plot(widget: pg.PlotWidget, title: str = "", x: str = "", y: str = "") -> pg.PlotItem:
    """A PlotWidget's item set up for pictures that are not for panning: no mouse, no
    menu, no grid (sections add one where it helps)."""
    return style_plot(widget.getPlotItem(), title, x, y, grid=False, interactive=False)


class Section(QObject):
    """One tab of the chapter: ``controls`` go in the parameter column, ``view`` in the
    centre. Subclasses build both in ``build`` and redraw everything in ``refresh``."""

    title = ""
    anchor = ""  # the theory panel's anchor for this section

    def __init__(self, page):
        super().__init__(page)
        self.page = page
        self.init_state()
        self.controls = QWidget()
        self.controls_layout = QVBoxLayout(self.controls)
        self.controls_layout.setContentsMargins(0, 0, 0, 0)
        self.view = QWidget()
        self.build()
        self.controls_layout.addStretch(1)
        self.update()

    # -- hooks ------------------------------------------------------------------------
    def init_state(self) -> None:
        """The section's own attributes, created before ``build`` (which only builds)."""

    def build(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        """Apply a saved state; anything missing or malformed keeps the current value."""

    def screenshot(self) -> None:
        """Fixed, representative values."""

    def shown(self) -> None:
        """The section's tab became current."""

    def close(self) -> None:
        """Stop any work (threads, timers)."""

    def run_control(self):
        """The section's RunControl if it runs an experiment (Space / S / R drive it)."""
        return None

    def comparison(self):
        """The section's pinned runs (a RunComparison) if it runs an experiment."""
        return getattr(self, "compare", None)

    def add_comparison(self, plots: dict | None = None, columns=(), place_button=None) -> RunComparison:
        """Keep this run for a section with ``self.run``, ``self.params`` and
        ``self.buttons``: the button under the run buttons (or where ``place_button(button)``
        puts it), the pinned runs' table under the view, faded curves on ``plots`` (metric
        name -> PlotItem)."""
        self.compare = RunComparison(self.run, self.params, plots, columns)
        if place_button is not None:
            place_button(self.compare.button)
        else:
            index = self.controls_layout.indexOf(self.buttons)
            self.controls_layout.insertWidget(index + 1, self.compare.button)
        lay = self.view.layout()
        if isinstance(lay, QGridLayout):
            lay.addWidget(self.compare.view, lay.rowCount(), 0, 1, max(1, lay.columnCount()))
        else:
            lay.addWidget(self.compare.view)
        return self.compare

    def screenshot_ready(self) -> bool:
        """``vigui --screenshot`` may take the picture (a run has reached its state)."""
        return True

    # -- helpers ------------------------------------------------------------------------
    def update(self, *_args) -> None:
        """Redraw; an engine ValueError becomes a message, never an exception."""
        try:
            self.refresh()
        except ValueError as exc:
            self.report(str(exc))
        else:
            self.page.clear_section_message(self)

    def report(self, text: str) -> None:
        self.page.show_section_message(self, f"{self.title}: {text}")



class SectionedPage(Page):
    """A page whose sections are tabs (see the module docstring)."""

    #: (key, module, Section subclass name, tab title), in tab order
    SECTIONS: list[tuple[str, str, str, str]] = []
    #: build every section at once (instant chapters) instead of on first show
    eager = False
    #: pause a running section when another tab is shown
    pause_hidden_runs = True

    def __init__(self, parent=None):
        self._message_owner: Section | None = None
        super().__init__(parent)
        self.section_title = QLabel()
        self.section_title.setStyleSheet(styles.HEADER)
        self.side_layout.addWidget(self.section_title)
        self.control_stack = QStackedWidget()
        self.side_layout.addWidget(self.control_stack)
        self.side_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.center_layout.addWidget(self.tabs, 1)
        self.keys = [key for key, *_ in self.SECTIONS]
        self.sections: dict[str, Section] = {}
        self._pending: dict[str, dict] = {}  # saved state of sections not built yet
        for _key, _module, _cls, title in self.SECTIONS:
            self.tabs.addTab(QWidget(), title)
            self.control_stack.addWidget(QWidget())
        if self.eager:
            for key in self.keys:
                self.section(key)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(0)

    # -- sections ------------------------------------------------------------------------
    def section(self, key: str | None = None) -> Section:
        """The section ``key`` (default: the shown one), built on first use."""
        key = key or self.keys[self.tabs.currentIndex()]
        if key not in self.sections:
            index = self.keys.index(key)
            _, module, cls, title = self.SECTIONS[index]
            section = getattr(importlib.import_module(module), cls)(self)
            self.sections[key] = section
            current = self.tabs.currentIndex()
            self.tabs.blockSignals(True)
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, section.view, title)
            self.tabs.setCurrentIndex(current)
            self.tabs.blockSignals(False)
            old = self.control_stack.widget(index)
            self.control_stack.insertWidget(index, section.controls)
            self.control_stack.removeWidget(old)
            old.deleteLater()
            for box in section.controls.findChildren(QComboBox):  # long items must not
                box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)  # widen
                box.setMinimumContentsLength(8)  # the parameter column
            saved = self._pending.pop(key, None)
            if saved:
                try:
                    section.restore(saved)
                except (TypeError, ValueError, OverflowError):
                    pass
        return self.sections[key]

    def show_section(self, key: str) -> Section:
        section = self.section(key)
        index = self.keys.index(key)
        if self.tabs.currentIndex() == index:
            section.shown()  # already current: no tab change, but it is shown (again)
        else:
            self.tabs.setCurrentIndex(index)
        return section

    def _tab_changed(self, index: int) -> None:
        if index < 0:
            return
        section = self.section(self.keys[index])
        self.control_stack.setCurrentIndex(index)
        for i in range(self.control_stack.count()):
            policy = QSizePolicy.Preferred if i == index else QSizePolicy.Ignored
            self.control_stack.widget(i).setSizePolicy(policy, policy)
        self.control_stack.adjustSize()
        self.section_title.setText(section.title)
        if index == 0:
            self.theory_view.verticalScrollBar().setValue(0)
        else:
            self.theory_view.scrollToAnchor(section.anchor)
        if self._message_owner is not None and self._message_owner is not section:
            self.clear_message()
            self._message_owner = None
        for other in self.sections.values():  # only the shown section runs
            if self.pause_hidden_runs and other is not section:
                control = other.run_control()
                if control is not None and control.playing:
                    control.pause()
        section.shown()

    def run_control(self):
        section = self.sections.get(self.keys[self.tabs.currentIndex()])
        return section.run_control() if section is not None else None

    def comparison(self):
        section = self.sections.get(self.keys[self.tabs.currentIndex()])
        return section.comparison() if section is not None else None

    # -- messages ------------------------------------------------------------------------
    def show_section_message(self, section: Section, text: str, error: bool = True) -> None:
        self._message_owner = section
        self.show_message(text, error=error)

    def clear_section_message(self, section: Section) -> None:
        if self._message_owner is section:
            self._message_owner = None
            self.clear_message()

    # -- settings --------------------------------------------------------------------------
    def settings_state(self) -> dict:
        state = dict(self._pending)
        state.update({key: section.state() for key, section in self.sections.items()})
        state["tab"] = self.keys[self.tabs.currentIndex()]
        return state

    def restore_settings(self, state: dict) -> None:
        if not isinstance(state, dict):
            return
        for key in self.keys:
            saved = state.get(key)
            if not isinstance(saved, dict):
                continue
            if key in self.sections:
                try:
                    self.sections[key].restore(saved)
                except (TypeError, ValueError, OverflowError):
                    pass
            else:
                self._pending[key] = saved
        tab = state.get("tab")
        if isinstance(tab, int) and not isinstance(tab, bool) and 0 <= tab < len(self.keys):
            tab = self.keys[tab]  # settings of older versions kept the tab's index
        if isinstance(tab, str) and tab in self.keys:
            self.show_section(tab)

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        self.section().shown()

    def close_page(self) -> None:
        for section in self.sections.values():
            section.close()

    def screenshot_ready(self) -> bool:
        return all(s.screenshot_ready() for s in self.sections.values())

