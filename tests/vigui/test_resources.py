"""The app's data files: found through importlib.resources, and all shipped in the wheel."""
import fnmatch
import sys

import pytest

from tests.paths import ROOT
from vigui import resources_dir
from vigui.pages import REGISTRY, available


def test_every_page_finds_its_theory_resource():
    assert available(), "no chapter found"
    for spec in available():
        name = spec.load().theory or spec.page_id
        resource = resources_dir() / "theory" / f"{name}.html"
        assert resource.is_file(), f"{spec.page_id}: no theory/{name}.html"
        assert len(resource.read_text(encoding="utf-8")) > 200


def test_registered_but_unwritten_pages_have_no_orphan_theory():
    names = {spec.page_id for spec in REGISTRY}
    for resource in (resources_dir() / "theory").iterdir():
        if resource.name.endswith(".html"):
            assert resource.name[:-5] in names, f"theory/{resource.name} belongs to no page"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_package_data_covers_every_resource_file():
    """A file under resources/ that no package-data glob names would be left out of the wheel."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["vigui.resources"] == "resources"
    globs = config["package-data"]
    missing = []
    for path in (ROOT / "resources").rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        folder = path.parent.relative_to(ROOT / "resources")
        package = ".".join(("vigui", "resources") + folder.parts)
        if not any(fnmatch.fnmatch(path.name, g) for g in globs.get(package, [])):
            missing.append(f"{path.relative_to(ROOT)} (package {package})")
    assert not missing, "not in [tool.setuptools.package-data]: " + ", ".join(missing)
