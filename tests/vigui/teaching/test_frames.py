"""Frame files: a tour stop's trained views drawn the moment it opens, the same views its
model then draws once loaded where it trains."""
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.core import checkpoint
from vigui.pages.frames import frame_metrics, frame_path, load_frame, save_frame, scene_frame_path
from vigui.teaching.scenes import lecture_tour, tours_dir
from vigui.window import MainWindow

TOUR = lecture_tour()
# one stop per shipped model
VAE_STOPS = list({s.checkpoint: i for i, s in enumerate(TOUR.stops) if s.page == "vae"}.values())


def test_a_frame_reads_back_as_written(tmp_path):
    rng = np.random.default_rng(0)
    snap = {"step": 12, "classes": ("a", "b"), "latent": rng.normal(size=(30, 2)).astype(np.float32),
            "manifold": rng.random((16, 16)).astype(np.float32), "projection": "identity",
            "labels": np.arange(30), "unsaved": object(),
            "cov": np.array([[0.6317381, 0.0411393], [0.0411393, 0.9445072]]),
            "hist": {"edges": np.linspace(0, 1, 5), "counts": np.arange(4.0)}}
    path = save_frame(frame_path(tmp_path / "m.pt"), snap)
    assert path.name == "m.frame.npz"
    back = load_frame(path)
    assert back["step"] == 12 and back["classes"] == ("a", "b") and "unsaved" not in back
    np.testing.assert_array_equal(back["latent"], snap["latent"])  # not an image: exact
    np.testing.assert_allclose(back["manifold"], snap["manifold"], atol=5e-4)  # float16
    np.testing.assert_array_equal(back["labels"], snap["labels"])
    np.testing.assert_array_equal(back["cov"], snap["cov"])  # small: not an image, exact
    assert set(back["hist"]) == {"edges", "counts"}
    np.testing.assert_array_equal(back["hist"]["counts"], snap["hist"]["counts"])
    path.write_bytes(b"not a zip")
    assert load_frame(path) is None


def test_nested_views_read_back_exactly(tmp_path):
    """The estimators' views: a histogram per component (int keys), a dict per estimator,
    arrays beside plain numbers; every float exact (the stop shows the run's numbers)."""
    rng = np.random.default_rng(1)
    snap = {"histograms": {j: {"edges": rng.normal(size=61), "score": rng.random(60)} for j in (0, 1)},
            "variance_curve": {"sizes": np.arange(1.0, 11.0), "score": rng.random((10,)) * 1e3,
                               "baseline": -25.044539312280263},
            "diverged": {"score": False, "reparam": True}, "paths": {"score": rng.normal(size=(31, 2))},
            "grid": {"image": rng.random((9, 9))}, "skipped": {"what": object()}}
    back = load_frame(save_frame(tmp_path / "n.frame.npz", snap))
    assert set(back["histograms"]) == {0, 1} and "skipped" not in back
    for j in (0, 1):
        for name, array in snap["histograms"][j].items():
            np.testing.assert_array_equal(back["histograms"][j][name], array)
    for name in ("sizes", "score"):
        np.testing.assert_array_equal(back["variance_curve"][name], snap["variance_curve"][name])
    assert back["variance_curve"]["baseline"] == snap["variance_curve"]["baseline"]
    assert back["diverged"] == snap["diverged"]
    np.testing.assert_array_equal(back["paths"]["score"], snap["paths"]["score"])
    np.testing.assert_array_equal(back["grid"]["image"], snap["grid"]["image"])  # in [0, 1]: still exact
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


BBB_STOP = next(i for i, s in enumerate(TOUR.stops) if s.page == "bbb")


def band(view) -> np.ndarray:
    return np.array([c.getData()[1] for c in view._band_curves])


@pytest.mark.gui
def test_the_bbb_stop_is_drawn_before_its_model_is_loaded(window, qtbot):
    stop = TOUR.stops[BBB_STOP]
    assert stop.checkpoint == "bbb-regression.pt" and stop.run is None  # nothing trains live
    assert window.start_tour(TOUR, BBB_STOP), window.scene_error
    page = window.current_page()
    section = page.regression
    qtbot.waitUntil(page.screenshot_ready, timeout=5_000)  # the file's peek (a thread)
    assert section.run.runner.stats.frames == 0  # the model is still loading in its process
    step = checkpoint.peek(tours_dir() / stop.checkpoint).step
    view = section.view
    assert f"step {step:,}" in view.summary.text()
    early = band(view)
    assert early.shape[1] > 100 and np.all(early[1] >= early[0])  # 95 % above 5 %
    x, _ = view.kl_curve.getData()
    assert len(x) > 0 and x[-1] <= step
    assert len(view.bbb.points.getData()[0]) == 200  # the file's points
    assert len(view.weights.sigma_hist.getData()[0]) > 10  # the weights panel too
    # The model, once loaded, draws the same fit (the frame is of this very file).
    qtbot.waitUntil(lambda: section.run.runner.stats.frames > 0, timeout=60_000)
    qtbot.wait(100)
    np.testing.assert_allclose(band(view), early, atol=1e-5)


BBVI_STOPS = [i for i, s in enumerate(TOUR.stops) if s.page == "vi" and s.section == "bbvi"]


def test_a_fixed_length_stop_ships_its_frame_and_an_edited_copy_finds_none():
    import dataclasses

    assert len(BBVI_STOPS) == 2
    for i in BBVI_STOPS:
        stop = TOUR.stops[i]
        path = scene_frame_path(stop)
        frame = load_frame(path)
        assert frame is not None and frame["step"] == stop.run["steps"]
        assert frame["divergence"] == stop.params["bbvi"]["divergence"]
        assert frame_metrics(frame).get("elbo")[0][-1] == stop.run["steps"]  # x: steps done
        params = {"bbvi": {**stop.params["bbvi"], "seed": 1}}
        for other in (dataclasses.replace(stop, params=params),
                      dataclasses.replace(stop, run={"steps": 251}),
                      dataclasses.replace(stop, section="estimators")):
            assert not scene_frame_path(other).is_file()
        assert scene_frame_path(dataclasses.replace(stop, run=None)) is None


@pytest.mark.gui
@pytest.mark.parametrize("index", BBVI_STOPS)
def test_a_bbvi_stop_is_drawn_at_once_and_its_run_ends_on_the_same_state(window, qtbot, index):
    stop = TOUR.stops[index]
    assert window.start_tour(TOUR, index), window.scene_error
    QApplication.processEvents()
    section = window.current_page().section()
    assert window.current_page().screenshot_ready() and not section.run.ended
    steps = stop.run["steps"]
    assert f"step {steps:,}" in section.summary.text()
    x, _ = section.elbo_raw.getData()
    assert len(x) > 100 and x[-1] == steps
    shown = section.last_snapshot
    ellipse = section.ellipses[0].getData()[1].copy()
    # The live run, seeded as the stop, gets to the same q behind the shown frame.
    qtbot.waitUntil(lambda: section.run.ended, timeout=60_000)
    qtbot.wait(100)
    live = section.last_snapshot
    assert live is not shown and live["step"] == steps
    np.testing.assert_allclose(live["mean"], shown["mean"], atol=1e-4)
    np.testing.assert_allclose(live["cov"], shown["cov"], atol=1e-4)
    np.testing.assert_allclose(section.ellipses[0].getData()[1], ellipse, atol=1e-3)


CVAE_STOP = next(i for i, s in enumerate(TOUR.stops) if s.page == "cvae")


@pytest.mark.gui
def test_the_cvae_stop_is_drawn_before_its_model_is_loaded(window, qtbot):
    stop = TOUR.stops[CVAE_STOP]
    assert stop.checkpoint == "cvae-column.pt" and stop.run is None
    assert window.start_tour(TOUR, CVAE_STOP), window.scene_error
    page = window.current_page()
    qtbot.waitUntil(page.screenshot_ready, timeout=5_000)  # the file's peek (a thread)
    assert page.runner.stats.frames == 0  # the model is still loading in its process
    step = checkpoint.peek(tours_dir() / stop.checkpoint).step
    assert f"step {step:,}" in page.summary.text()
    strip = page.strip.image.image.copy()
    drawn = page.completions.image.image.copy()
    assert strip.size > 0 and drawn.size > 0 and page.canvas.image.max() > 0.5
    # The model, once loaded, draws the same strip and completes the same test image.
    qtbot.waitUntil(lambda: page.runner.stats.frames > 0 and page.completions_version > 1,
                    timeout=90_000)
    qtbot.wait(100)
    np.testing.assert_allclose(page.strip.image.image.astype(float), strip.astype(float), atol=2)
    np.testing.assert_allclose(page.completions.image.image.astype(float), drawn.astype(float),
                               atol=2)


ESTIMATOR_STOPS = [i for i, s in enumerate(TOUR.stops) if s.page == "vi" and s.section == "estimators"]


def estimator_screen(section) -> dict:
    """What the estimator tab shows: the summary's numbers, every histogram, variance
    curve, SGD path and the ELBO map."""
    from engine.vi.estimators import ESTIMATORS

    shown = {"summary": section.summary.text(), "map": section.map_img.image.copy()}
    for k in ESTIMATORS:
        for j in range(2):
            shown[f"hist{j}-{k}"] = section.hist_curves[j][k].getData()
        shown[f"var-{k}"] = section.var_curves[k].getData()
        shown[f"path-{k}"] = section.paths[k].getData()
    return shown


@pytest.mark.gui
def test_the_estimator_stops_are_drawn_at_once_with_the_numbers_their_runs_end_on(
        window, qtbot, monkeypatch):
    import vigui.pages.vi.estimators as page_module

    first, second = ESTIMATOR_STOPS
    assert second == first + 1 and [TOUR.stops[i].run for i in ESTIMATOR_STOPS] == [{"steps": 30}] * 2
    built, surfaces = [], []
    real_experiment, real_surface = page_module.EstimatorExperiment, page_module.elbo_surface
    monkeypatch.setattr(page_module, "EstimatorExperiment",
                        lambda config: built.append(config) or real_experiment(config))
    monkeypatch.setattr(page_module, "elbo_surface",
                        lambda model, *a: surfaces.append(type(model).__name__) or real_surface(model, *a))
    page_module.elbo_map.cache_clear()
    real_map = page_module.elbo_map.__wrapped__  # computed afresh, as without the frame
    assert window.start_tour(TOUR, first - 1), window.scene_error
    for index in ESTIMATOR_STOPS:
        stop = TOUR.stops[index]
        qtbot.keyClick(window, Qt.Key_PageDown)
        QApplication.processEvents()
        assert window.tour_index == index
        section = window.current_page().section()
        assert section.params.value("samples") == stop.params["estimators"]["samples"]
        # The figure is whole at once, while the stop's own run plays on behind it.
        assert window.current_page().screenshot_ready() and not section.run.ended
        assert f"1,500 estimates of S = {stop.params['estimators']['samples']}" in section.summary.text()
        early = estimator_screen(section)
        assert len(early["var-score"][0]) == 10 and len(early["path-reparam"][0]) == 31
        assert early["hist0-score"][1].sum() > 0.95 * 1500
        # The stop's run is the section's only one (the page's own never started) and it
        # ends on exactly the numbers the stop showed from the start.
        qtbot.waitUntil(lambda s=section: s.run.ended, timeout=30_000)
        qtbot.wait(50)
        assert section.last_snapshot["steps_done"] == 30 and "metrics_state" not in section.last_snapshot
        live = estimator_screen(section)
        assert live["summary"] == early["summary"]
        for key, value in early.items():
            for got, want in zip(live[key], value, strict=True) if isinstance(value, tuple) else ():
                np.testing.assert_array_equal(got, want, err_msg=key)  # a curve's x, then y
        np.testing.assert_array_equal(live["map"], early["map"])
        assert surfaces == []  # the map came with the frame, and it is the model's own:
        gap, bm, bl = real_map(*page_module.map_key(section.config()))
        np.testing.assert_array_equal(live["map"], gap.astype(np.float32))
        np.testing.assert_array_equal(section.best_mark.getData()[0], [bm])
        np.testing.assert_array_equal(section.best_mark.getData()[1], [bl])
        surfaces.clear()
    assert len(built) == 2 and [c.samples for c in built] == [10, 100]


@pytest.mark.gui
def test_the_elbo_map_follows_the_data_it_depends_on(window, qtbot):
    window.open_page("vi")
    section = window.current_page().show_section("estimators")
    model = section.params.widget("model")
    model.setCurrentIndex(model.findData("logistic"))
    seed = section.params.widget("data_seed")
    seed.setValue(0)
    from vigui.pages.vi.estimators import map_key

    qtbot.waitUntil(lambda: section._map_for == map_key(section.config()), timeout=10_000)
    before = section.map_img.image.copy()
    section.params.set_values({"sigma_x": 3.0}, emit=True)  # the logistic model has no σx
    QApplication.processEvents()
    np.testing.assert_array_equal(section.map_img.image, before)
    seed.setValue(1)
    qtbot.waitUntil(lambda: not np.array_equal(section.map_img.image, before), timeout=5_000)
    seed.setValue(0)
    qtbot.waitUntil(lambda: np.array_equal(section.map_img.image, before), timeout=5_000)
