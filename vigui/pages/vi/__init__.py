"""Chapter 2: variational inference itself — latent variables (Figure 5), the evidence
gap (eqs. 10–12), gradient estimators (Figure 2, eq. 13) and black-box VI on 2-D targets
(eq. 14, flows, reverse against forward KL).

Each section is a :class:`~vigui.pages.sections.Section` with its controls in the
parameter column and its views in a tab, as in the information chapter. The latent and
gap sections are instant; the gap's "Optimise", the estimators and black-box VI run
engine Experiments on the thread runner. Sections are built when first shown, so torch
loads only when the black-box tab opens.
"""
from __future__ import annotations

from vigui.pages.sections import SectionedPage


class VIPage(SectionedPage):
    SECTIONS = [
        ("latent", "vigui.pages.vi.latent", "LatentSection", "Latent variables"),
        ("gap", "vigui.pages.vi.gap", "GapSection", "Evidence gap"),
        ("estimators", "vigui.pages.vi.estimators", "EstimatorSection", "Gradient estimators"),
        ("bbvi", "vigui.pages.vi.bbvi", "BBVISection", "Black-box VI"),
    ]

    def prepare_screenshot(self) -> None:
        self.show_section("gap").screenshot()


__all__ = ["VIPage"]
