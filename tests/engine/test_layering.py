"""engine/ is computation only: importing it never loads Qt or the app, and the
numpy-only chapters never pay for torch."""
import json
import os
import pkgutil
import subprocess
import sys

import engine

ENGINE_MODULES = sorted(m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")
                        if not m.name.endswith("__main__"))
NUMPY_ONLY = ["engine", "engine.core.params", "engine.core.runtime", "engine.info.measures",
              "engine.cavi.model", "engine.core.checkpoint", "engine.cli", "engine.core.config",
              # the torch chapters' packages: their torch parts load on first use
              "engine.vi", "engine.vae", "engine.musicvae", "engine.cvae", "engine.bbb"]
GUI = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "vigui")


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_module_list_is_complete():
    assert {"engine.vae.model", "engine.core.trainer", "engine.cavi.model",
            "engine.info.measures"} <= set(ENGINE_MODULES)


def test_no_engine_module_loads_qt_or_the_app():
    loaded = loaded_after("\n".join(f"import {m}" for m in ["engine", *ENGINE_MODULES]))
    assert not loaded & set(GUI), loaded & set(GUI)


def test_the_cli_parser_loads_no_qt():
    loaded = loaded_after("from engine import cli\ncli.build_parser()")
    assert not loaded & set(GUI)


def test_numpy_only_modules_do_not_import_torch():
    loaded = loaded_after("\n".join(f"import {m}" for m in NUMPY_ONLY))
    assert "torch" not in loaded and not loaded & set(GUI)
