"""Scenes and the lecture tour in a real (offscreen) window: every shipped stop shows
its figure with the same numbers each time, save -> open restores a page, broken and
hostile scenes change nothing, presentation mode."""
import json
import shutil

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from vigui.pages.vae import VAEPage
from vigui.run.worker import ExperimentRunner
from vigui.teaching.scenes import lecture_tour, read_scene, tours_dir
from vigui.window import MainWindow

pytestmark = pytest.mark.gui
TOUR = lecture_tour()


@pytest.fixture(scope="module")
def shared_window(qapp):
    """One window for the module (building one costs a second); each test empties it."""
    with pytest.MonkeyPatch.context() as mp:
        # The VAE trains in a child process in the app; a thread starts faster in tests.
        mp.setattr(VAEPage, "runner_class", ExperimentRunner)
        win = MainWindow(fresh=True, open_initial=False)
        win.resize(1280, 800)
        win.show()
        yield win
        win.close()


@pytest.fixture
def window(shared_window):
    yield shared_window
    shared_window.leave_tour()
    for page in list(shared_window.pages.values()):  # no run outlives its test
        page.close_page()
        shared_window.stack.removeWidget(page)
        page.deleteLater()
    shared_window.pages.clear()


def ready(win, qtbot, timeout=20_000):
    page = win.current_page()
    qtbot.waitUntil(page.screenshot_ready, timeout=timeout)
    qtbot.wait(50)
    return page


def numbers(page) -> list[str]:
    """What the page says in words and numbers (its visible labels), rates and the run
    buttons' state line left out (a stop's figure may be drawn while its run still loads)."""
    from vigui.run.control import RunButtons

    state_lines = {id(b.state_label) for b in page.findChildren(RunButtons)}
    return [label.text() for label in page.findChildren(QLabel)
            if label.isVisibleTo(page) and label.text() and "/s" not in label.text()
            and id(label) not in state_lines]


def drawn(page) -> int:
    """Plot items under the page that hold data."""
    import pyqtgraph as pg

    count = 0
    for view in page.findChildren(pg.GraphicsView):
        if not view.isVisibleTo(page):
            continue
        for item in view.scene().items():
            if isinstance(item, (pg.PlotDataItem, pg.ScatterPlotItem, pg.BarGraphItem)):
                data = getattr(item, "getData", lambda: (None, None))()
                if isinstance(item, pg.BarGraphItem) or (data[0] is not None and len(data[0])):
                    count += 1
            elif isinstance(item, pg.ImageItem) and item.image is not None:
                count += 1
    return count


@pytest.mark.parametrize("index", range(len(TOUR.stops)),
                         ids=[f"{i + 1}-{s.page}" for i, s in enumerate(TOUR.stops)])
def test_every_tour_stop_shows_its_figure_with_the_same_numbers(window, qtbot, index):
    window.tour = TOUR
    stop = TOUR.stops[index]
    assert window.show_stop(index), window.scene_error
    page = ready(window, qtbot)
    assert page.page_id == stop.page and window.banner.isVisible()
    assert window.banner.title.text() == stop.title
    if stop.section:
        assert window.current_scene().section == stop.section
    assert drawn(page) >= 2
    first = numbers(page)
    if stop.checkpoint:  # the shipped model, as the script trained it
        from engine.core import checkpoint

        step = checkpoint.peek(tours_dir() / stop.checkpoint).step
        assert any(f"step {step:,}" in text for text in first), first
    if stop.run and "steps" in stop.run:
        assert page.run_control().steps == stop.run["steps"]
    assert window.show_stop(index)  # again, on a fresh page
    page = ready(window, qtbot)
    assert numbers(page) == first


def test_tour_keys_walk_the_stops(window, qtbot):
    assert window.next_stop()  # Page Down with no tour starts the lecture
    assert window.tour_index == 0 and window.banner.counter.text() == f"1 / {len(TOUR.stops)}"
    assert window.next_stop() and window.tour_index == 1
    assert window.previous_stop() and window.tour_index == 0
    assert not window.previous_stop() and window.tour_index == 0
    window.leave_tour()
    assert not window.banner.isVisible()


def test_save_then_open_restores_the_page_exactly(window, qtbot, tmp_path):
    scene = {"vigui_scene": 2, "page": "cavi", "title": "T", "caption": "one\ntwo",
             "params": {"k": 4, "true_k": 3, "n": 300, "sigma2": 12.5, "dim": 2, "data_seed": 7,
                        "init_seed": 2, "mode": "gradient", "alpha": 0.0005},
             "run": {"steps": 40}}
    (tmp_path / "a.json").write_text(json.dumps(scene))
    assert window.open_scene_file(tmp_path / "a.json"), window.scene_error
    page = ready(window, qtbot)
    state, said = page.settings_state(), numbers(page)
    window.save_scene(tmp_path / "b.json")
    saved = read_scene(tmp_path / "b.json")
    assert saved.params == state and saved.run == {"steps": 40}
    assert (saved.title, saved.caption) == ("T", "one\ntwo")
    other = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(other)
    other.resize(1280, 800)
    other.show()
    try:
        assert other.open_scene_file(tmp_path / "b.json"), other.scene_error
        again = ready(other, qtbot)
        assert again.settings_state() == state
        assert numbers(again) == said
    finally:
        other.close()


def test_copy_and_paste_a_scene_of_sections(window, qtbot):
    window.open_page("info")
    page = window.current_page()
    page.restore_settings({"surprise": {"p_heads": 0.3, "forks": 4, "destination": 11},
                           "tab": "entropy"})
    text = window.copy_scene()
    assert json.loads(text)["section"] == "entropy"
    page.restore_settings({"surprise": {"p_heads": 0.5}, "tab": "kl"})
    assert window.paste_scene(), window.scene_error
    shown = window.current_page().settings_state()
    assert shown["tab"] == "entropy"
    assert shown["surprise"] == {"p_heads": 0.3, "forks": 4, "destination": 11}


def test_vae_scene_saves_its_model_beside_it(window, qtbot, tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(tours_dir() / "vae-kl.pt", folder / "start.pt")
    (folder / "s.json").write_text(json.dumps({"vigui_scene": 2, "page": "vae", "params": {},
                                               "checkpoint": "start.pt"}))
    assert window.open_scene_file(folder / "s.json"), window.scene_error
    page = ready(window, qtbot)
    page.run.steps = 3000  # as reported by the run
    window.save_scene(tmp_path / "mine.json")
    qtbot.waitUntil(lambda: (tmp_path / "mine.pt").is_file(), timeout=10_000)
    saved = read_scene(tmp_path / "mine.json")
    assert saved.checkpoint == "mine.pt" and saved.run is None
    assert saved.params["loss_mode"] == "kl" and "device" not in saved.params


HOSTILE = [
    ('{"vigui_scene": 2, "page": "cavi"', "not valid JSON"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {}, "sound": 1}', "unknown key 'sound'"),
    ('{"vigui_scene": 9, "page": "cavi"}', "newer vigui"),
    ('{"vigui_scene": 2, "page": "nope"}', "unknown page"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"k": 99}}', "parameter k"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"k": "three"}}', "parameter k"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"mode": "magic"}}', "parameter mode"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"kk": 3}}', "unknown parameter kk"),
    ('{"vigui_scene": 2, "page": "cavi", "section": "x"}', "has no sections"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {}, "checkpoint": "here.pt"}',
     "cannot open checkpoints"),
    ('{"vigui_scene": 2, "page": "vae", "params": {}, "checkpoint": "junk.pt"}',
     "cannot be opened"),
    ('{"vigui_scene": 2, "page": "vae", "params": {}, "checkpoint": "../outside.pt"}',
     "outside the scene's folder"),
    ('{"vigui_scene": 2, "page": "vae", "params": {}, "checkpoint": "gone.pt"}', "is missing"),
    ('{"vigui_scene": 2, "page": "vae", "params": {"latent": 1}}', "parameter latent"),
    ('{"vigui_scene": 2, "page": "info", "section": "nope"}', "no section 'nope'"),
    ('{"vigui_scene": 2, "page": "info", "params": {"surprise": {"p_heads": 1.5}}}',
     "surprise.p_heads: 1.5 is out of range"),
    ('{"vigui_scene": 2, "page": "info", "params": {"surprise": {"volume": 1}}}',
     "has no parameter volume"),
    ('{"vigui_scene": 2, "page": "info", "params": {"gauss": {"sigma_p": -1}}}', "gauss.sigma_p"),
    ('{"vigui_scene": 2, "page": "info", "params": {"entropy": {"p": [0.2, 0.2]}}}',
     "entropy.p"),
    ('{"vigui_scene": 2, "page": "info", "params": {"tab": "kl"}}', "\"section\""),
    ('{"vigui_scene": 2, "page": "info", "run": {"steps": 5}}', "runs nothing here"),
]


@pytest.mark.parametrize("text, words", HOSTILE, ids=[w for _, w in HOSTILE])
def test_broken_and_hostile_scenes_change_nothing(window, qtbot, tmp_path, text, words):
    folder = tmp_path / "course"
    folder.mkdir()
    (tmp_path / "outside.pt").write_bytes((tours_dir() / "vae-kl.pt").read_bytes())
    (folder / "junk.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    (folder / "here.pt").write_bytes((tours_dir() / "vae-kl.pt").read_bytes())
    window.open_page("cavi")
    before = window.current_page()
    state = before.settings_state()
    pages = dict(window.pages)
    (folder / "scene.json").write_text(text)
    assert not window.open_scene_file(folder / "scene.json")
    assert words in window.scene_error
    assert "\n" not in window.scene_error
    assert window.current_page() is before and before.settings_state() == state
    assert window.pages == pages


def test_presentation_mode(qtbot, monkeypatch):
    monkeypatch.setattr(VAEPage, "runner_class", ExperimentRunner)
    app = QApplication.instance()
    base = app.font().pointSizeF()
    win = MainWindow(fresh=False, open_initial=False)  # settings: the test's own folder
    qtbot.addWidget(win)
    win.show()
    try:
        win.open_page("cavi")
        page = win.current_page()
        win.step_zoom(+1)
        win.step_zoom(+1)
        assert win.zoom == 1.25 and app.font().pointSizeF() == pytest.approx(base * 1.25)
        assert "font-size" in page.controls.styleSheet()  # large run buttons
        axis = page.elbo_plot.getAxis("left")
        assert axis.style["tickFont"].pointSizeF() == pytest.approx(8 * 1.25)
        win.set_params_hidden(True)
        assert not page.splitter.widget(0).isVisible()
        win.set_params_hidden(False)
        assert page.splitter.widget(0).isVisible()
        win.toggle_full_screen()
        assert win.isFullScreen() and win.fullscreen_action.isChecked()
        win.toggle_full_screen()
        assert not win.isFullScreen()
        win.close()
        again = MainWindow(fresh=False, open_initial=False)  # the zoom is remembered
        qtbot.addWidget(again)
        assert again.zoom == 1.25
        again.set_zoom(1.0)
        again.close()
    finally:
        app.setFont(win._base_font)
