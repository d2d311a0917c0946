"""What the window tells a newcomer: the keys (F1, Help > Keys), the lecture tour named
where the window opens, and a status bar that speaks for the page on screen."""
import pytest
from PySide6.QtCore import Qt

from vigui.pages.vae import VAEPage
from vigui.run.worker import ExperimentRunner
from vigui.window import MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow(fresh=True)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.leave_tour()
    for page in win.pages.values():
        page.close_page()
    win.close()


def test_f1_shows_every_menu_key_and_the_tour(window, qtbot):
    assert not window.keys_overlay.isVisible()
    qtbot.keyClick(window, Qt.Key_F1)
    overlay = window.keys_overlay
    assert overlay.isVisible() and overlay.geometry() == window.rect()
    text = overlay.panel.text()
    assert "Page Down starts the lecture tour" in text
    for keys, command in (("Ctrl+Shift+R", "Record page or plot"), ("F11", "Full screen"),
                          ("Space", "Play / Pause"), ("Ctrl+O", "Open scene"),
                          ("PgDown", "Next stop"), ("F1", "Keys and the lecture tour")):
        assert f"<b>{keys}</b>" in text and command in text, (keys, command)
    qtbot.keyClick(overlay, Qt.Key_Escape)
    assert not overlay.isVisible()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    keys = next(a for a in help_menu.actions() if "Keys" in a.text())
    keys.trigger()
    assert overlay.isVisible()
    qtbot.mouseClick(overlay, Qt.LeftButton)
    assert not overlay.isVisible()


def test_the_window_names_the_tour_and_page_down_starts_it(window, qtbot):
    assert window.tour_hint.isVisible()
    assert "Page Down starts the lecture tour" in window.tour_hint.text()
    qtbot.keyClick(window, Qt.Key_PageDown)
    assert window.tour_index == 0 and window.banner.isVisible()


def test_status_bar_shows_the_steps_of_the_page_on_screen(window, qtbot, monkeypatch):
    monkeypatch.setattr(VAEPage, "runner_class", ExperimentRunner)
    window.open_page("cavi")
    cavi = window.current_page()
    qtbot.waitUntil(lambda: cavi.runner is not None, timeout=5000)
    for _ in range(7):
        qtbot.keyClick(window, Qt.Key_S)  # one step each
    qtbot.waitUntil(lambda: cavi.run.steps == 7 and window._steps.text() == "step 7",
                    timeout=10_000)
    ids = [s.page_id for s in window.specs]
    item = window.nav.item(ids.index("vae"))
    rect = window.nav.visualItemRect(item)
    qtbot.mouseClick(window.nav.viewport(), Qt.LeftButton, pos=rect.center())
    assert window.current_page().page_id == "vae"
    assert window._steps.text() == "step 0"  # not the CAVI run's 7
    item = window.nav.item(ids.index("cavi"))
    qtbot.mouseClick(window.nav.viewport(), Qt.LeftButton,
                     pos=window.nav.visualItemRect(item).center())
    assert window._steps.text() == "step 7"
