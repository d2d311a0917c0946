"""The chapter registry: adding a chapter is one page module plus one entry here.

Pages are imported only when first opened, so a chapter that needs torch does not
slow the window's start.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    page_id: str
    title: str
    module: str   # "vigui.pages.<name>"
    cls: str      # the Page subclass in that module

    @property
    def chapter(self) -> int:
        """The chapter number, from the lecture's order."""
        return REGISTRY.index(self) + 1

    def exists(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


# In the lecture's order.
REGISTRY = [
    PageSpec("info", "Information theory", "vigui.pages.info", "InfoPage"),
    PageSpec("vi", "Variational inference", "vigui.pages.vi", "VIPage"),
    PageSpec("cavi", "Mean-field CAVI", "vigui.pages.cavi", "CaviPage"),
    PageSpec("vae", "Variational autoencoder", "vigui.pages.vae", "VAEPage"),
    PageSpec("musicvae", "Music VAE", "vigui.pages.musicvae", "MusicVAEPage"),
    PageSpec("cvae", "Conditional VAE", "vigui.pages.cvae", "CVAEPage"),
    PageSpec("bbb", "Bayes by Backprop", "vigui.pages.bbb", "BBBPage"),
]


def available() -> list[PageSpec]:
    """The chapters whose page module exists, in lecture order."""
    return [spec for spec in REGISTRY if spec.exists()]
