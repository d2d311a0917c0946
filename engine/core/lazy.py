"""Package names imported on first use (PEP 562), so that importing a chapter package is cheap.

A torch chapter's package re-exports its model and trainer, but importing the package
must not import torch: ``vigui-train vae --bogus`` imports ``engine.vae`` to register and
parse, and should answer in a blink, not after torch has loaded (seconds). The package
imports its torch-free parts (config, CLI registration) as usual and names the rest here::

    __getattr__ = lazy_exports(__name__, {"model": ("VAE", "VAEExperiment")})

``engine.vae.VAE`` (and ``from engine.vae import VAE``) then imports ``engine.vae.model``
the first time it is asked for and keeps the name in the package from then on.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name in ``modules[sub]`` is read from
    ``package.sub``, imported when the name is first asked for. Another name raises
    AttributeError, as a module without the hook does."""
    where = {name: sub for sub, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        sub = where.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sub}"), name)
        setattr(sys.modules[package], name, value)  # asked once: a plain attribute after
        return value

    return __getattr__
