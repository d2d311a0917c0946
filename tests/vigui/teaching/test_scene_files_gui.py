"""Scene files a teacher opens from the menu or the command line: hostile nesting and
numbers give one message and change nothing; a scene's own CSV travels with it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from engine.cavi.model import sample_mixture
from vigui.window import MainWindow

pytestmark = pytest.mark.gui

DEEP = '{"vigui_scene": 2, "page": "cavi", "params": {"k": ' + "[" * 100_000 + "]" * 100_000 + "}}"
HUGE = '{"vigui_scene": 2, "page": "cavi", "params": {"n": ' + "9" * 100_000 + "}}"


@pytest.fixture
def window(qtbot):
    win = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    for page in win.pages.values():
        page.close_page()
    win.close()


def open_from_menu(win, monkeypatch, path):
    """File > Open scene…, the dialog answering ``path``."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&File")
    next(a for a in file_menu.actions() if a.text() == "&Open scene…").trigger()


@pytest.mark.parametrize("text, words", [(DEEP, "more than 32 deep"),
                                         (HUGE, "a number with 100,000 digits")])
def test_menu_refuses_deep_and_huge_scenes_with_one_message(window, monkeypatch, tmp_path,
                                                            text, words):
    window.open_page("cavi")
    before, state = window.current_page(), window.current_page().settings_state()
    (tmp_path / "deep.json").write_text(text)
    open_from_menu(window, monkeypatch, tmp_path / "deep.json")
    assert words in window.scene_error
    assert words in window.statusBar().currentMessage()
    assert window.current_page() is before and before.settings_state() == state


@pytest.mark.parametrize("text, words", [(DEEP, "more than 32 deep"),
                                         (HUGE, "a number with 100,000 digits")])
def test_command_line_says_why_and_opens_a_page(tmp_path, text, words):
    (tmp_path / "deep.json").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "vigui", str(tmp_path / "deep.json"),
                           "--quit-after", "4"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                               "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert proc.returncode == 0, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_a_scene_mailed_with_its_csv_opens_from_any_directory(window, monkeypatch, tmp_path):
    course = tmp_path / "mail"
    course.mkdir()
    x, _, _ = sample_mixture(450, 2, 30.0, dim=1, seed=4)
    np.savetxt(course / "heights.csv", x, header="h", comments="")
    (course / "lesson.json").write_text(json.dumps(
        {"vigui_scene": 2, "page": "cavi", "params": {"k": 2, "data_file": "heights.csv"},
         "run": None}))
    monkeypatch.chdir(tmp_path)  # not the scene's folder
    open_from_menu(window, monkeypatch, course / "lesson.json")
    assert window.scene_error == ""
    page = window.current_page()
    assert page.page_id == "cavi"
    assert page.param("data_file") == str((course / "heights.csv").resolve())
    assert "450 points" in page.params.widget("data_file").label.text()
    assert page.params.widget("n").value() == 450  # the greyed N says what the file holds
