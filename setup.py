"""The package list, which pyproject.toml cannot express: every package of engine/ and
vigui/ found on disk, plus ``vigui.resources`` and its folders: the top-level resources/
folder, which pyproject.toml's ``package-dir`` maps into the app (setuptools' automatic
discovery only looks inside vigui/). Everything else is in pyproject.toml."""
from setuptools import find_namespace_packages, find_packages, setup

code = find_packages(include=["engine", "engine.*", "vigui", "vigui.*"])
data = ["vigui.resources"] + [f"vigui.resources.{name}" for name in
                              find_namespace_packages(where="resources", exclude=["*__pycache__*"])]
setup(packages=code + data)
