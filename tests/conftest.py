"""Shared fixtures. GUI tests run offscreen; no test may leave a thread running."""
import gc
import importlib
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail any test that leaves a Python or Qt worker thread running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
              and not t.daemon]
    for t in leaked:
        t.join(timeout=5)
    leaked = [t.name for t in leaked if t.is_alive()]
    assert not leaked, f"test left threads running: {leaked}"


#: modules every test session ends up importing; imported once up front so that they can be
#: frozen out of the garbage collector's sight (below). The Qt ones only where pytest-qt runs.
LONG_LIVED = ["numpy", "scipy.stats", "sklearn.datasets", "torch", "torch._dynamo", "hypothesis",
              "engine.core.trainer"]
LONG_LIVED_QT = ["PySide6.QtWidgets", "pyqtgraph", "vigui.app"]


@pytest.fixture(scope="session", autouse=True)
def gc_only_on_the_test_thread(request):
    """Python's cyclic garbage collector never runs by itself during the tests: a collection
    that a worker thread triggers can free a Qt object there while the GUI thread frees
    another, a deadlock on Qt's and Python's locks (seen: a chorale parse in a BackgroundJob
    against pytest-qt's wait loop). :func:`collect_after_each_test` collects on the test's
    own (GUI) thread instead; the app does the same with a timer (vigui/app.py).

    The modules' own objects (torch alone has ~300,000) live for the whole session: they are
    imported first and frozen (``gc.freeze``), so that each test's collection looks only at
    what tests made: 0.17 s a test becomes a few ms, about 3 minutes off the suite."""
    with_qt = request.config.pluginmanager.hasplugin("pytestqt")
    for name in LONG_LIVED + (LONG_LIVED_QT if with_qt else []):
        try:
            importlib.import_module(name)
        except ImportError:  # an engine-only environment
            pass
    if with_qt:
        from vigui.pages import available

        for spec in available():
            spec.load()
    gc.collect()
    gc.freeze()
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def collect_after_each_test():
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings written by a test go to a temporary folder, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    try:
        from PySide6.QtCore import QSettings
    except ImportError:  # engine-only environments
        yield
        return
    for fmt in (QSettings.NativeFormat, QSettings.IniFormat):
        QSettings.setPath(fmt, QSettings.UserScope, str(tmp_path / "config"))
    yield


@pytest.fixture(autouse=True)
def zoom_left_as_found():
    """A test that zooms (Ctrl+plus) and ends without zooming back leaves the application
    font and the plots' zoom behind for every later test on its worker: both are put back."""
    import sys

    if "PySide6.QtWidgets" not in sys.modules:  # engine tests
        yield
        return
    from PySide6.QtWidgets import QApplication

    from vigui.widgets import plots

    app = QApplication.instance()
    font = QApplication.font() if app is not None else None
    zoom = plots.plot_zoom()  # a module's zoomed window (a fixture) keeps its zoom
    yield
    if font is not None and QApplication.font() != font:
        QApplication.setFont(font)
    if plots.plot_zoom() != zoom:
        plots.set_plot_zoom(zoom)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Small models run fastest on one thread; a second one only waits on a busy core."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits():
    from engine.data import datasets as data

    return data.load("digits")
