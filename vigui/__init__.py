"""vigui's Qt application: draws what ``engine`` computes, never computes itself."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

__version__ = "0.1.0"


def resources_dir() -> importlib.resources.abc.Traversable:
    """The app's data folder (theory panels), to be read with importlib.resources.

    Installed, it is the package ``vigui.resources`` (the wheel ships the top-level
    resources/ folder there, see pyproject.toml). Run from a source checkout, it is that
    checkout's resources/ folder itself, so edits show without reinstalling and a
    checkout never reads another tree's installed copy.
    """
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "resources" / "__init__.py").is_file():
        return checkout / "resources"
    return importlib.resources.files("vigui.resources")
