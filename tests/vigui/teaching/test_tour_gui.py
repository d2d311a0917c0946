"""The lecture tour driven as a teacher drives it: Page Down / Page Up, the banner's
buttons; what it leaves behind when it ends, and where the theory panel stands."""
import pytest
from PySide6.QtCore import Qt

from vigui.pages.vae import VAEPage
from vigui.run.worker import ExperimentRunner
from vigui.teaching.scenes import lecture_tour
from vigui.window import MainWindow

pytestmark = pytest.mark.gui
TOUR = lecture_tour()


def stop_index(page: str, section=None, title_start: str = "") -> int:
    return next(i for i, s in enumerate(TOUR.stops)
                if s.page == page and s.section == section and s.title.startswith(title_start))


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(VAEPage, "runner_class", ExperimentRunner)  # a thread starts faster
    win = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    win.activateWindow()
    qtbot.waitExposed(win)
    yield win
    win.leave_tour()
    win.close()


def page_down(win, qtbot) -> None:
    qtbot.keyClick(win, Qt.Key_PageDown)


def test_leaving_the_tour_gives_back_the_pages_as_they_were(window, qtbot):
    window.open_page("vae")
    vae_before = window.current_page().settings_state()
    window.open_page("cavi")
    cavi_before = window.current_page().settings_state()
    gradient = stop_index("cavi", title_start="Coordinate ascent")
    assert window.start_tour(TOUR, gradient - 1)
    page_down(window, qtbot)
    assert window.tour_index == gradient
    cavi = window.current_page()
    assert cavi.settings_state()["mode"] == "gradient" != cavi_before["mode"]
    recon = stop_index("vae", title_start="Figure 10: reconstruction")
    assert window.start_tour(TOUR, recon)
    vae = window.current_page()
    qtbot.waitUntil(lambda: vae.settings_state()["loss_mode"] == "recon", timeout=10_000)

    qtbot.mouseClick(window.banner.close_button, Qt.LeftButton)
    assert not window.banner.isVisible() and window.tour is None
    page = window.current_page()
    assert page.page_id == "vae" and page is not vae
    assert page.settings_state() == vae_before
    scene = window.current_scene()  # saved now, it carries no stop's words
    assert (scene.title, scene.caption) == (page.title, "")
    assert window.pages["cavi"].settings_state() == cavi_before


def test_a_page_first_built_by_the_tour_is_not_remembered_with_its_values(window, qtbot):
    window.open_page("info")
    cavi = stop_index("cavi", title_start="Coordinate ascent")
    assert window.start_tour(TOUR, cavi)
    assert window.state_to_remember("cavi", window.current_page()) is None
    window.leave_tour()
    assert window.current_page().page_id == "cavi"
    assert window.current_page().settings_state()["mode"] != "gradient"


def test_a_tour_stop_scrolls_the_theory_panel_to_its_section(window, qtbot):
    gap = stop_index("vi", "gap")
    assert window.start_tour(TOUR, gap - 1)
    page_down(window, qtbot)
    assert window.tour_index == gap
    page = window.current_page()
    view = page.theory_view
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=10_000)
    qtbot.wait(200)  # any relayout after the first paint
    shown = view.verticalScrollBar().value()
    view.scrollToAnchor(page.sections["gap"].anchor)  # what clicking the tab by hand does
    assert shown > 0 and shown == view.verticalScrollBar().value()


def test_zoom_keys_grow_headers_and_keep_the_parameter_column_whole(window, qtbot):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    try:
        window.open_page("cavi")
        cavi = window.current_page()
        assert window.start_tour(TOUR, stop_index("vi", "gap"))
        vi = window.current_page()
        header = vi.section_title.font().pointSizeF()
        banner = window.banner.title.font().pointSizeF()
        for _ in range(3):
            qtbot.keyClick(window, Qt.Key_Plus, Qt.ControlModifier)
        assert window.zoom == 1.4
        qtbot.wait(100)
        assert vi.section_title.font().pointSizeF() == pytest.approx(header * 1.4, abs=0.1)
        assert window.banner.title.font().pointSizeF() == pytest.approx(banner * 1.4, abs=0.1)
        window.leave_tour()
        window.open_page("cavi")
        qtbot.wait(100)
        column = cavi.splitter.widget(0).viewport()
        for button in (cavi.controls.reset, cavi.controls.play):
            right = button.mapTo(column, button.rect().topRight()).x()
            assert 0 < right < column.width(), (button.text(), right, column.width())
        for _ in range(3):
            qtbot.keyClick(window, Qt.Key_Minus, Qt.ControlModifier)
        assert window.zoom == 1.0
        assert window.banner.title.font().pointSizeF() == pytest.approx(banner, abs=0.1)
    finally:
        app.setFont(window._base_font)
