"""Chapter 1: information theory — surprise, entropy, joint/mutual information,
cross-entropy and KL (with the lecture's coin games), and KL between Gaussians.

Each section is a :class:`~vigui.pages.sections.Section` with its controls in the
parameter column and its views in a tab; everything but the Gaussian Monte Carlo
estimate is instant and redraws as the sliders move.
"""
from __future__ import annotations

from vigui.pages.sections import SectionedPage


class InfoPage(SectionedPage):
    eager = True  # instant sections: all built at once, drawn as the sliders move
    pause_hidden_runs = False  # the Monte Carlo estimate runs to its end while the user reads on
    SECTIONS = [
        ("surprise", "vigui.pages.info.surprise", "SurpriseSection", "Surprise"),
        ("entropy", "vigui.pages.info.entropy", "EntropySection", "Entropy"),
        ("joint", "vigui.pages.info.joint", "JointSection", "Joint && MI"),
        ("kl", "vigui.pages.info.divergence", "DivergenceSection", "Cross-entropy && KL"),
        ("gauss", "vigui.pages.info.gaussian", "GaussianSection", "Gaussians"),
    ]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.surprise = self.sections["surprise"]
        self.entropy = self.sections["entropy"]
        self.joint = self.sections["joint"]
        self.kl = self.sections["kl"]
        self.gauss = self.sections["gauss"]

    def prepare_screenshot(self) -> None:
        for section in self.sections.values():
            section.screenshot()
        self.show_section("kl")
