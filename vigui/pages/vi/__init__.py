"""Chapter 2: variational inference itself — latent variables (Figure 5), the evidence
gap (eqs. 10–12), gradient estimators (Figure 2, eq. 13) and black-box VI on 2-D targets
(eq. 14, flows, reverse against forward KL).

Each section is a :class:`~vigui.pages.info.common.Section` with its controls in the
parameter column and its views in a tab, as in the information chapter. The latent and
gap sections are instant; the gap's "Optimise", the estimators and black-box VI run
engine Experiments on the thread runner. Sections are built when first shown, so torch
loads only when the black-box tab opens.
"""
from __future__ import annotations

import importlib

from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QStackedWidget, QTabWidget, QWidget

from ..base import Page
from .common import Section

SECTION_TYPES = [
    ("latent", "vigui.pages.vi.latent", "LatentSection", "Latent variables"),
    ("gap", "vigui.pages.vi.gap", "GapSection", "Evidence gap"),
    ("estimators", "vigui.pages.vi.estimators", "EstimatorSection", "Gradient estimators"),
    ("bbvi", "vigui.pages.vi.bbvi", "BBVISection", "Black-box VI"),
]


class VIPage(Page):
    page_id = "vi"
    title = "Variational inference"
    theory = "vi"

    def __init__(self, parent=None):
        self._message_owner: Section | None = None
        super().__init__(parent)
        self.section_title = QLabel()
        self.section_title.setStyleSheet("QLabel { font-weight: bold; font-size: 10pt; }")
        self.side_layout.addWidget(self.section_title)
        self.control_stack = QStackedWidget()
        self.side_layout.addWidget(self.control_stack)
        self.side_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.center_layout.addWidget(self.tabs, 1)
        self.keys = [key for key, *_ in SECTION_TYPES]
        self.sections: dict[str, Section] = {}
        self._pending: dict[str, dict] = {}  # saved state of sections not built yet
        for key, _module, _cls, title in SECTION_TYPES:
            self.tabs.addTab(QWidget(), title)
            self.control_stack.addWidget(QWidget())
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(0)

    # -- sections ------------------------------------------------------------------------
    def section(self, key: str | None = None) -> Section:
        """The section ``key`` (default: the shown one), built on first use."""
        key = key or self.keys[self.tabs.currentIndex()]
        if key not in self.sections:
            index = self.keys.index(key)
            _, module, cls, title = SECTION_TYPES[index]
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
        for key, other in self.sections.items():  # only the shown section runs
            if other is not section:
                control = other.run_control() if hasattr(other, "run_control") else None
                if control is not None and control.playing:
                    control.pause()
        section.shown()

    def run_control(self):
        section = self.sections.get(self.keys[self.tabs.currentIndex()])
        return section.run_control() if section is not None and hasattr(section, "run_control") else None

    # -- messages ------------------------------------------------------------------------
    def show_section_message(self, section: Section, text: str) -> None:
        self._message_owner = section
        self.show_message(text)

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
        if isinstance(tab, str) and tab in self.keys:
            self.show_section(tab)

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        self.section().shown()

    def close_page(self) -> None:
        for section in self.sections.values():
            section.close()

    def prepare_screenshot(self) -> None:
        self.show_section("gap").screenshot()

    def screenshot_ready(self) -> bool:
        return all(s.screenshot_ready() for s in self.sections.values()
                   if hasattr(s, "screenshot_ready"))


__all__ = ["VIPage"]
