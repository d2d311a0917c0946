"""The chapter registry: each chapter's id, title and page class, in one place.

Adding a chapter is a package ``vigui/pages/<id>/`` (its page class in
``__init__.py``, views in sibling modules) plus one :class:`PageSpec` line here; the
page class takes its ``page_id`` and ``title`` from this entry (see
``vigui.pages.base.Page``). Pages are imported only when first opened, so a chapter
that needs torch does not slow the window's start.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    page_id: str
    title: str
    module: str   # "vigui.pages.<id>": the chapter's package
    cls: str      # the Page subclass in that module
    extends: str = ""  # a page that adds to another chapter (numbered 4b after 4)

    @property
    def chapter(self) -> str:
        """The chapter's number in the lecture's order ("4"), or "4b" for a page that
        extends chapter 4."""
        number, letter = 0, 0
        for spec in REGISTRY:
            if spec.extends:
                letter += 1
            else:
                number, letter = number + 1, 0
            if spec is self:
                return f"{number}{'abcdefgh'[letter] if letter else ''}"
        raise LookupError(self.page_id)

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
    PageSpec("musicvae", "Music VAE", "vigui.pages.musicvae", "MusicVAEPage", extends="vae"),
    PageSpec("cvae", "Conditional VAE", "vigui.pages.cvae", "CVAEPage"),
    PageSpec("bbb", "Bayes by Backprop", "vigui.pages.bbb", "BBBPage"),
]


def spec_of(module: str) -> PageSpec | None:
    """The entry of the chapter whose package holds ``module`` (None if none does)."""
    for spec in REGISTRY:
        if module == spec.module or module.startswith(spec.module + "."):
            return spec
    return None


def available() -> list[PageSpec]:
    """The chapters whose page module exists, in lecture order."""
    return [spec for spec in REGISTRY if spec.exists()]
