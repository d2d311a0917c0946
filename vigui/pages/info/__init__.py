"""Chapter 1: information theory — surprise, entropy, joint/mutual information,
cross-entropy and KL (with the lecture's coin games), and KL between Gaussians.

Each section is a :class:`~vigui.pages.info.common.Section` with its controls in the
parameter column and its views in a tab; everything but the Gaussian Monte Carlo
estimate is instant and redraws as the sliders move.
"""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QTabWidget

from ..base import Page
from .common import Section
from .divergence import DivergenceSection
from .entropy import EntropySection
from .gaussian import GaussianSection
from .joint import JointSection
from .surprise import SurpriseSection

SECTION_TYPES = [
    ("surprise", SurpriseSection),
    ("entropy", EntropySection),
    ("joint", JointSection),
    ("kl", DivergenceSection),
    ("gauss", GaussianSection),
]
TAB_TITLES = {"surprise": "Surprise", "entropy": "Entropy", "joint": "Joint && MI",
              "kl": "Cross-entropy && KL", "gauss": "Gaussians"}


class InfoPage(Page):
    theory = "info"

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

        self.sections: dict[str, Section] = {}
        for key, cls in SECTION_TYPES:
            section = cls(self)
            self.sections[key] = section
            self.tabs.addTab(section.view, TAB_TITLES[key])
            self.control_stack.addWidget(section.controls)
        self.surprise: SurpriseSection = self.sections["surprise"]
        self.entropy: EntropySection = self.sections["entropy"]
        self.joint: JointSection = self.sections["joint"]
        self.kl: DivergenceSection = self.sections["kl"]
        self.gauss: GaussianSection = self.sections["gauss"]
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(0)

    # -- sections ------------------------------------------------------------------------
    def section(self) -> Section:
        return list(self.sections.values())[self.tabs.currentIndex()]

    def show_section(self, key: str) -> Section:
        self.tabs.setCurrentIndex(list(self.sections).index(key))
        return self.sections[key]

    def _tab_changed(self, index: int) -> None:
        if index < 0:
            return
        self.control_stack.setCurrentIndex(index)
        # Only the shown controls take room, so the column scrolls just as far as needed.
        for i in range(self.control_stack.count()):
            policy = QSizePolicy.Preferred if i == index else QSizePolicy.Ignored
            self.control_stack.widget(i).setSizePolicy(policy, policy)
        self.control_stack.adjustSize()
        section = self.section()
        self.section_title.setText(section.title)
        if index == 0:  # the chapter's introduction stays in view for the first section
            self.theory_view.verticalScrollBar().setValue(0)
        else:
            self.theory_view.scrollToAnchor(section.anchor)
        if self._message_owner is not None and self._message_owner is not section:
            self.clear_message()
            self._message_owner = None
        section.shown()

    def run_control(self):
        """The shown section's run (the Gaussian Monte Carlo estimate), if it has one."""
        return self.section().run_control()

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
        state = {key: section.state() for key, section in self.sections.items()}
        state["tab"] = list(self.sections)[self.tabs.currentIndex()]
        return state

    def restore_settings(self, state: dict) -> None:
        """Apply saved sections; anything malformed is ignored (the defaults stay)."""
        if not isinstance(state, dict):
            return
        for key, section in self.sections.items():
            saved = state.get(key)
            if isinstance(saved, dict):
                try:
                    section.restore(saved)
                except (TypeError, ValueError, OverflowError):
                    pass  # a foreign or corrupt value: keep what is shown
        tab = state.get("tab")
        if isinstance(tab, str) and tab in self.sections:
            self.show_section(tab)

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        self.section().shown()

    def close_page(self) -> None:
        for section in self.sections.values():
            section.close()

    def prepare_screenshot(self) -> None:
        for section in self.sections.values():
            section.screenshot()
        self.show_section("kl")

    def screenshot_ready(self) -> bool:
        return True


__all__ = ["InfoPage"]
