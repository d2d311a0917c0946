"""Frame files: a tour stop's trained views drawn the moment it opens, the same views its
model then draws once loaded where it trains."""
import shutil

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from engine.core import checkpoint
from vigui.pages.frames import frame_path, load_frame, save_frame
from vigui.teaching.scenes import lecture_tour, tours_dir
from vigui.window import MainWindow

TOUR = lecture_tour()
# one stop per shipped model
VAE_STOPS = list({s.checkpoint: i for i, s in enumerate(TOUR.stops) if s.page == "vae"}.values())


def test_a_frame_reads_back_as_written(tmp_path):
    rng = np.random.default_rng(0)
    snap = {"step": 12, "classes": ("a", "b"), "latent": rng.normal(size=(30, 2)).astype(np.float32),
            "manifold": rng.random((16, 16)).astype(np.float32), "projection": "identity",
            "labels": np.arange(30), "unsaved": object()}
    path = save_frame(frame_path(tmp_path / "m.pt"), snap)
    assert path.name == "m.frame.npz"
    back = load_frame(path)
    assert back["step"] == 12 and back["classes"] == ("a", "b") and "unsaved" not in back
    np.testing.assert_array_equal(back["latent"], snap["latent"])  # not an image: exact
    np.testing.assert_allclose(back["manifold"], snap["manifold"], atol=5e-4)  # float16
    np.testing.assert_array_equal(back["labels"], snap["labels"])
    path.write_bytes(b"not a zip")
    assert load_frame(path) is None
    assert load_frame(tmp_path / "missing.frame.npz") is None


@pytest.fixture
def window(qtbot):
    win = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.close()


def latent_points(page) -> np.ndarray:
    pts = [np.column_stack(item.getData()) for item in page.views.class_scatter
           if item.getData()[0] is not None and len(item.getData()[0])]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


@pytest.mark.gui
@pytest.mark.parametrize("index", VAE_STOPS)
def test_a_vae_stop_is_drawn_before_its_model_is_loaded(window, qtbot, index):
    stop = TOUR.stops[index]
    assert window.start_tour(TOUR, index), window.scene_error
    QApplication.processEvents()
    page = window.current_page()
    assert page.runner.stats.frames == 0  # the model is still loading in its process
    assert page.screenshot_ready()
    step = checkpoint.peek(tours_dir() / stop.checkpoint).step
    assert f"step {step:,}" in page.views.summary.text()
    early = latent_points(page)
    manifold = page.views.manifold_image.image.copy()
    assert len(early) > 300 and manifold.size > 0
    assert page.interpolation_shown
    x, _ = page.views.train_curves["loss"].getData()
    assert len(x) > 0 and x[-1] <= step
    # The model, once loaded, draws the same views (the frame is of this very file).
    from_file = page._latent_shown
    qtbot.waitUntil(lambda: page._latent_shown is not from_file, timeout=60_000)
    qtbot.wait(100)
    np.testing.assert_allclose(np.sort(latent_points(page), 0), np.sort(early, 0), atol=1e-4)
    np.testing.assert_allclose(page.views.manifold_image.image, manifold, atol=2e-3)


@pytest.mark.gui
def test_a_frame_of_another_step_is_not_drawn(window, qtbot, tmp_path):
    stop = TOUR.stops[VAE_STOPS[0]]
    shutil.copy(tours_dir() / stop.checkpoint, tmp_path / "m.pt")
    frame = load_frame(frame_path(tours_dir() / stop.checkpoint))
    frame["step"] += 1
    save_frame(frame_path(tmp_path / "m.pt"), frame)
    window.open_page("vae")
    page = window.current_page()
    page.open_model(str(tmp_path / "m.pt"))
    QApplication.processEvents()
    assert len(latent_points(page)) == 0 and not page.screenshot_ready()
