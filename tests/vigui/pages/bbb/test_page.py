"""The Bayes by Backprop page in an offscreen window: clicking adds and removes points
and the fit follows, the pruning slider changes the plot, the classification tab trains,
closing mid-training exits cleanly."""
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.data import datasets as data
from vigui.pages.bbb import BBBPage
from vigui.run.worker import PAUSED

FAST_REGRESSION = {"hidden": [32, 32], "n_points": 60, "batch_size": 30, "pred_samples": 60}
FAST_CLASSIFY = {"dataset": "digits", "hidden": [32], "device": "cpu", "batch_size": 128}


@pytest.fixture
def page(qtbot):
    page = BBBPage()
    qtbot.addWidget(page)
    page.regression.params.set_values(FAST_REGRESSION)
    page.classify.params.set_values(FAST_CLASSIFY)
    page.resize(1280, 800)
    page.show()
    page.activate()
    yield page
    page.close_page()


def call(section, qtbot, fn):
    """fn(experiment) where the experiment lives (the child process); its result."""
    box = []
    assert section.run.call(fn, on_done=box.append, on_error=lambda m: box.append(RuntimeError(m)))
    qtbot.waitUntil(lambda: bool(box), timeout=20_000)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


def frames(section):
    """The snapshots the view drew, newest last."""
    seen = []
    section.run.frame.connect(lambda snap: seen.append(snap))
    return seen


def train(section, qtbot, steps):
    """Play until the experiment has done ``steps`` steps, pause, wait for a fresh frame."""
    section.run.play()
    qtbot.waitUntil(lambda: call(section, qtbot, lambda e: e.steps) >= steps, timeout=120_000)
    section.run.pause()
    qtbot.waitUntil(lambda: section.run.runner.state == PAUSED, timeout=10_000)


def median_at(snap, x):
    return float(snap["quantiles"][2][np.argmin(np.abs(snap["grid"] - x))])


def test_clicking_adds_a_point_and_the_fit_follows(page, qtbot):
    reg = page.regression
    seen = frames(reg)
    train(reg, qtbot, 300)
    n0 = call(reg, qtbot, lambda e: e.x.size)
    before = call(reg, qtbot, lambda e: e.snapshot())
    target = 1.6
    for _ in range(10):  # ten clicks at (1.0, 1.6), far above the curve's continuation
        reg.view.bbb.click_at(1.0, target)
    qtbot.waitUntil(lambda: call(reg, qtbot, lambda e: e.x.size) == n0 + 10, timeout=20_000)
    qtbot.waitUntil(lambda: bool(seen) and len(seen[-1]["x"]) == n0 + 10, timeout=20_000)
    assert np.sum(np.isclose(seen[-1]["x"], 1.0)) == 10  # the view shows them
    train(reg, qtbot, 700)
    after = call(reg, qtbot, lambda e: e.snapshot())
    assert abs(median_at(after, 1.0) - target) < 0.5 * abs(median_at(before, 1.0) - target)
    # clicking on a point removes it
    x, y = float(after["x"][0]), float(after["y"][0])
    reg.view.bbb.click_at(x, y)
    qtbot.waitUntil(lambda: call(reg, qtbot, lambda e: e.x.size) == n0 + 9, timeout=20_000)


def test_pruning_slider_changes_the_plot(page, qtbot):
    reg = page.regression
    seen = frames(reg)
    train(reg, qtbot, 200)
    reg.run.runner.request_frame()
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    before = seen[-1]["quantiles"][2].copy()
    drawn_before = reg.view.median.getData()[1].copy()
    reg.view.weights.slider.setValue(90)
    qtbot.waitUntil(lambda: seen[-1].get("prune_fraction") == 0.9, timeout=20_000)
    after = seen[-1]["quantiles"][2]
    assert not np.allclose(before, after)
    assert not np.allclose(reg.view.median.getData()[1], drawn_before)
    assert reg.view.weights.threshold.isVisible()
    assert "90 % of weights pruned" in reg.view.summary.text() or "90%" in reg.view.summary.text()
    # the band figures on screen carry their Monte Carlo error (S draws, bootstrap SE)
    from vigui.widgets.numbers import fmt_se as _pm

    snap = seen[-1]
    assert _pm(snap["band_inside"], snap["band_inside_se"]) in reg.view.summary.text()
    assert reg.view.summary.text().count("±") == 2 and 0 < snap["band_inside_se"] < snap["band_inside"]


def test_classification_tab_trains_both_nets(page, qtbot):
    page.show_section("classify")
    cls = page.classify
    seen = frames(cls)
    qtbot.waitUntil(lambda: cls.run.runner is not None, timeout=10_000)
    train(cls, qtbot, 60)
    cls.run.runner.request_frame()
    qtbot.waitUntil(lambda: bool(seen) and "prune_error" in seen[-1], timeout=60_000)
    snap = seen[-1]
    assert snap["prune_error"].shape == snap["prune_fractions"].shape
    assert len(cls.view.err_bbb.getData()[0]) > 0 and len(cls.view.err_plain.getData()[0]) > 0
    assert "test error" in cls.view.summary.text()
    # every Monte Carlo / test-set figure shows its standard error: 2 errors, 95 % pruned,
    # 4 mean entropies
    from vigui.widgets.numbers import fmt_se as _pm
    text, store = cls.view.summary.text(), snap["metrics"]
    assert text.count("±") == 7 and "± ?" not in text
    assert f"BBB {_pm(store.latest('test_error'), store.latest('test_error_se'))} %" in text
    value, draws, images = snap["entropy_mean"]["bbb_ood"]
    assert draws > 0 and images > 0 and _pm(value, np.hypot(draws, images)) in text
    assert "weight draws" in cls.view.summary.toolTip()
    # each point of both error curves and of the pruning curve sits in its ± 1 SE band
    for name, curve in (("test_error", cls.view.err_bbb), ("plain_test_error", cls.view.err_plain)):
        steps, values = curve.getData()
        (x_low, low), (x_high, high) = (edge.getData() for edge in cls.view.err_bands[name].edges)
        se = store.get(f"{name}_se")[1]
        assert len(x_low) == len(steps) > 0 and np.array_equal(x_high, steps)
        np.testing.assert_allclose(high - values, se)
        np.testing.assert_allclose(values - low, se)
        assert np.all(se > 0), name
        assert cls.view.err_bands[name].fill.path().boundingRect().height() > 0  # drawn
    _, low = cls.view.prune_band.edges[0].getData()
    np.testing.assert_allclose(snap["prune_error"] - low, snap["prune_error_se"])
    # the regression run was paused when its tab was left
    assert not page.regression.run.playing


def test_only_the_chosen_priors_parameters_show(page):
    form = page.regression.params
    assert form.widget("mixture_pi").isVisible() and not form.widget("prior_sigma").isVisible()
    form.set_value("prior", "gaussian")
    assert not form.widget("mixture_pi").isVisible() and form.widget("prior_sigma").isVisible()


def test_bad_parameters_show_a_message_not_a_crash(page, qtbot):
    page.show_section("classify")
    page.classify.params.set_values({"prior": "mixture"})
    page.classify.params.set_value("kl_method", "closed")
    qtbot.waitUntil(lambda: page.message.isVisible(), timeout=10_000)
    assert "closed" in page.message.text()


def test_save_and_open_a_regression_model(page, qtbot, tmp_path):
    reg = page.regression
    train(reg, qtbot, 50)
    steps = call(reg, qtbot, lambda e: e.steps)
    path = tmp_path / "r.pt"
    reg.save_model(str(path))
    qtbot.waitUntil(path.exists, timeout=20_000)
    reg.open_model(str(path))  # peeked on a worker thread, then the run loads it
    qtbot.waitUntil(lambda: "Opened" in page.message.text(), timeout=10_000)
    qtbot.waitUntil(lambda: reg.run.runner is not None, timeout=10_000)
    assert call(reg, qtbot, lambda e: e.steps) == steps
    reg.open_model(str(tmp_path / "missing.pt"))
    qtbot.waitUntil(lambda: "Could not open" in page.message.text(), timeout=10_000)
    assert page.message.isVisible() and "missing.pt" in page.message.text()
    assert call(reg, qtbot, lambda e: e.steps) == steps  # the run is unchanged


def test_closing_the_window_mid_training_exits_0(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "vigui", "--page", "bbb", "--run", "--quit-after", "4"],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr


def test_old_settings_with_a_tab_index_still_open(page):
    """Settings name the tab by key now; a file of the older version kept its index."""
    assert page.settings_state()["tab"] == "regression"
    page.restore_settings({"tab": 1, "classify": {"lr": 0.002}})
    assert page.tabs.currentIndex() == 1 and page.settings_state()["tab"] == "classify"
    assert page.classify.params.value("lr") == 0.002
    page.restore_settings({"tab": "regression"})
    assert page.tabs.currentIndex() == 0
    page.restore_settings({"tab": 7})  # out of range: the tab stays
    assert page.settings_state()["tab"] == "regression"


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """MNIST absent whatever this machine holds; downloads go to a temporary cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VIGUI_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    assert data.available()["mnist"] is None


def test_classify_dataset_chooser_says_why_and_close_cancels_its_download(page, qtbot, no_mnist,
                                                                         monkeypatch):
    """The dataset chooser's whole lifecycle on the classification tab: its message shows,
    the run waits for the data, and closing the page cancels and waits for a download."""
    fetching = []

    def slow_fetch(name, *, progress=None, cancel=None, **kwargs):
        while not cancel():
            fetching.append(1)
            progress(1000, 10_000_000, "train-images-idx3-ubyte.gz")
            import time
            time.sleep(0.002)
        raise data.DownloadCancelled("cancelled")

    monkeypatch.setattr(data, "fetch", slow_fetch)
    page.show_section("classify")
    cls = page.classify
    box = cls.trainer.datasets
    box.refresh()
    box.setCurrentIndex(box.findData("mnist"))
    qtbot.waitUntil(lambda: "not on this computer" in page.message.text(), timeout=10_000)
    assert page.message.isVisible() and cls.run.runner is None
    box.start_download()
    qtbot.waitUntil(lambda: bool(fetching), timeout=5000)
    assert box.downloading
    page.close_page()  # must cancel the download and wait for its thread
    assert not box.downloading
    n = len(fetching)
    qtbot.wait(50)
    assert len(fetching) == n  # the download stopped


def test_regression_data_shows_before_the_networks_are_built(page, qtbot):
    """The points and the true curve are on both plots at once; the run, once built in
    its child process, trains on exactly these points."""
    view = page.regression.view
    assert page.regression.run.runner.stats.frames == 0  # the child is still starting
    x, y = view.bbb.points.getData()
    assert len(x) == FAST_REGRESSION["n_points"]
    np.testing.assert_array_equal(view.plain.points.getData()[0], x)
    assert len(view.truth_b.getData()[0]) > 100
    seen = frames(page.regression)
    qtbot.waitUntil(lambda: any("x" in snap for snap in seen), timeout=60_000)
    snap = next(snap for snap in seen if "x" in snap)
    np.testing.assert_allclose(np.sort(snap["x"]), np.sort(x))
    np.testing.assert_allclose(np.sort(snap["y"]), np.sort(y))


def test_classification_tab_is_built_when_its_tab_is_first_clicked(qtbot):
    """Opening the page builds only Figure 15's tab (the tour's Page Down waits for it);
    the classification tab is built when a person first clicks it, with the values
    settings kept for it, and its form and view are then on screen."""
    from PySide6.QtCore import Qt

    page = BBBPage()
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    try:
        assert list(page.sections) == ["regression"]
        assert page.tabs.widget(0) is page.regression.view
        page.restore_settings({"classify": {"lr": 0.002, "hidden": [32]}})  # remembered values
        assert "classify" not in page.sections  # kept until the tab is built
        bar = page.tabs.tabBar()
        assert bar.tabText(1) == "Classification"
        qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(1).center())
        assert page.tabs.currentIndex() == 1 and "classify" in page.sections
        cls = page.sections["classify"]
        qtbot.waitUntil(lambda: cls.view.isVisible() and cls.params.isVisible(), timeout=5_000)
        assert page.tabs.currentWidget() is cls.view
        assert page.control_stack.currentWidget() is cls.controls
        assert page.section_title.text() == "Classification"
        assert cls.params.value("lr") == 0.002 and tuple(cls.params.value("hidden")) == (32,)
        assert page.settings_state()["tab"] == "classify"
        qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(0).center())
        assert page.tabs.currentWidget() is page.regression.view
        assert page.sections["classify"] is cls  # built once
    finally:
        page.close_page()


def test_error_curves_of_a_run_saved_without_errors_have_no_band(qtbot):
    """A run recorded before the errors were measured (no ``*_se`` metrics) still draws its
    curves, without a band, and its summary says "± ?"; steps where the SE was left out
    (one weight draw) are left out of the band only."""
    from engine.core.runtime import MetricStore
    from vigui.pages.bbb.views import ClassifyView

    view = ClassifyView()
    qtbot.addWidget(view)
    store = MetricStore()
    store.append(100, test_error=9.0, plain_test_error=8.0)
    store.append(200, test_error=7.5, plain_test_error=7.0)
    view.render({"metrics": store, "step": 200})
    assert len(view.err_bbb.getData()[0]) == 2
    for edge in view.err_bands["test_error"].edges:
        x = edge.getData()[0]
        assert x is None or len(x) == 0
    assert "BBB 7.500 ± ?" in view.summary.text()
    store.append(300, test_error=7.0, test_error_se=0.8, plain_test_error=6.5, plain_test_error_se=0.7)
    view.render({"metrics": store, "step": 300})
    x, high = view.err_bands["test_error"].edges[1].getData()
    assert x.tolist() == [300] and high.tolist() == [7.8]
