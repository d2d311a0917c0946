"""The VAE page in a real (offscreen) window: training views, latent picking and
interpolation, save/open, bad files, NaN, resets, closing, downloads.

Tests that train on real images (scikit-learn's digits, in the page's child process)
are marked slow: ``make test-fast`` skips them."""
import multiprocessing

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from engine.core import checkpoint
from engine.data import datasets as data
from engine.vae.model import VAEConfig, VAEExperiment
from vigui.pages.vae import VAEPage
from vigui.run.worker import FAILED, FINISHED, PAUSED, RUNNING
from vigui.widgets.inputs import LogSpinBox

slow = pytest.mark.slow
SMALL = {"dataset": "digits", "latent": 2, "hidden": "64", "batch_size": 128, "lr": 1e-3,
         "beta": 1.0, "loss_mode": "elbo", "likelihood": "bernoulli", "device": "cpu",
         "seed": 0}
N_TEST_DIGITS = 360
START_MS = 40_000  # a child process imports torch and loads the data first (slow when busy)


@pytest.fixture
def page(qtbot):
    page = VAEPage()
    qtbot.addWidget(page)
    page.restore_settings(SMALL)
    page.resize(1100, 760)
    page.show()
    page.activate()
    yield page
    page.close_page()


class Remote:
    """The page's experiment as the tests see it: it trains in the runner's child
    process, so ``steps`` is the last count the runner reported and ``config`` is
    fetched once through ``runner.call``."""

    def __init__(self, page, qtbot):
        self.runner = page.runner
        self.runner.progress.connect(self._on_progress)
        self.config, self._steps = on_worker(page, qtbot, lambda e: (e.config, e.steps))

    def _on_progress(self, steps, rate):
        self._steps = steps

    @property
    def steps(self):
        return self._steps


def built(page, qtbot):
    """Wait for the page's experiment to be built; a Remote view of it."""
    qtbot.waitUntil(lambda: page.runner is not None, timeout=10_000)
    return Remote(page, qtbot)


def train(page, qtbot, steps):
    """Play until at least ``steps`` steps are done, then pause."""
    exp = built(page, qtbot)
    page.play()
    qtbot.waitUntil(lambda: exp.steps >= steps, timeout=20_000)
    page.pause()
    qtbot.waitUntil(lambda: page.runner.state == PAUSED, timeout=5000)
    page.runner.request_frame()  # the views show the paused state
    qtbot.waitUntil(lambda: page._steps == exp.steps, timeout=5000)
    return exp


def on_worker(page, qtbot, fn):
    """Run fn(experiment) where it lives (the page's only way in) and wait. Before the
    experiment is built the call waits for it; a failed build answers None."""
    box = []
    assert page.runner is not None
    page.runner.call(fn, on_done=box.append, on_error=lambda m: box.append(RuntimeError(m)))
    qtbot.waitUntil(lambda: bool(box), timeout=START_MS)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


def latent_points(page):
    return sum(len(item.data) for item in page.views.class_scatter)


def message(page):
    return page.message.text() if page.message.isVisible() else ""


@slow
def test_training_fills_every_view(page, qtbot):
    exp = train(page, qtbot, 40)
    v = page.views
    qtbot.waitUntil(lambda: latent_points(page) == N_TEST_DIGITS, timeout=5000)
    x, y = v.train_curves["loss"].xData, v.train_curves["loss"].yData
    assert len(x) == exp.steps >= 40 and np.all(np.isfinite(y))
    tx = v.test_curves["test_loss"].xData
    assert tx is not None and len(tx) >= 1  # digits: a test point at every epoch end
    recon = v.recon_view.image.image
    assert recon.shape == (2 * 8 + 1, 8 * 8 + 7)  # originals over reconstructions
    assert v.samples_view.image.image.shape == (6 * 9 - 1, 6 * 9 - 1)
    assert v.manifold_image.image is not None and v.manifold_widget.isVisible()
    assert "step" in v.summary.text() and "KL" in v.summary.text()
    # every test figure with its standard error, measured (not "± ?")
    shown = v.summary.text().replace("\xa0", " ")  # a figure and its error never wrap apart
    assert shown.count("±") == 3 and "± ?" not in shown
    assert "standard error" in v.summary.toolTip()
    assert not page.message.isVisible()
    assert exp.config.hidden == (64,) and exp.config.latent == 2


@slow
def test_manifold_is_upright_and_placed_in_z(page, qtbot):
    """Top-left tile on screen = the code (smallest z1, largest z2) of the grid."""
    train(page, qtbot, 30)
    qtbot.waitUntil(lambda: page.views.manifold_image.image is not None, timeout=5000)
    heavy = on_worker(page, qtbot, lambda e: e.heavy_snapshot())
    x0, x1, y0, y1 = heavy["manifold_extent"]
    shown = page.views.manifold_image.image  # rows go up the z2 axis
    rect = page.views.manifold_image.mapRectToParent(page.views.manifold_image.boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((x0, x1), rel=1e-4)
    assert (rect.top(), rect.bottom()) == pytest.approx((y0, y1), rel=1e-4)
    half_x, half_y = (x1 - x0) / 30, (y1 - y0) / 30  # 15 tiles, codes at tile centres
    top_left = on_worker(page, qtbot, lambda e: e.decode_latent([[x0 + half_x, y1 - half_y]]))
    np.testing.assert_allclose(shown[-8:, :8][::-1], top_left[0], atol=1e-5)
    bottom_right = on_worker(page, qtbot,
                             lambda e: e.decode_latent([[x1 - half_x, y0 + half_y]]))
    np.testing.assert_allclose(shown[:8, -8:][::-1], bottom_right[0], atol=1e-5)


@slow
def test_two_clicks_decode_a_path(page, qtbot):
    train(page, qtbot, 20)
    qtbot.waitUntil(lambda: latent_points(page) > 0, timeout=5000)
    # A: a real left click in the scatter, through pyqtgraph's scene.
    widget = page.views.latent_widget
    vb = page.views.latent_plot.getViewBox()
    vb.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0)
    qtbot.wait(50)
    pos = widget.mapFromScene(vb.mapViewToScene(QPointF(-1.0, 0.5)))
    qtbot.mouseClick(widget.viewport(), Qt.LeftButton, pos=pos)
    assert page._point_a == pytest.approx((-1.0, 0.5), abs=0.1)
    assert page._point_b is None
    assert len(page.views.latent_path["stars"].data) == 1
    # B through the public method.
    page.pick_latent(1.5, -0.5)
    qtbot.waitUntil(lambda: page.interpolation_shown, timeout=5000)
    strip = page.views.interp_view.image.image
    assert strip.shape == (8, 10 * 9 - 1)
    assert len(page.views.latent_path["stars"].data) == 2
    assert len(page.views.manifold_path["stars"].data) == 2
    a = page._point_a  # the function travels to the child process: no page in it
    expected = on_worker(page, qtbot, lambda exp: exp.interpolate(a, (1.5, -0.5), 10))
    np.testing.assert_allclose(strip[:, :8], expected[0], atol=1e-6)

    # After Stop the model still answers: a new pair decodes.
    page.stop()
    qtbot.waitUntil(lambda: page.runner.state == FINISHED, timeout=5000)
    page.pick_latent(0.0, 0.0)
    assert not page.interpolation_shown and page.views.interp_view.image.image is None
    page.pick_latent(0.5, 0.5)
    qtbot.waitUntil(lambda: page.interpolation_shown, timeout=5000)


@slow
def test_save_and_reopen_gives_the_same_model(page, qtbot, tmp_path):
    exp = train(page, qtbot, 25)
    code = np.array([[0.3, -0.2]])
    before = on_worker(page, qtbot, lambda e: e.decode_latent(code))
    steps = exp.steps
    path = tmp_path / "model.pt"
    page.save_model(str(path))
    qtbot.waitUntil(lambda: "Saved" in message(page), timeout=5000)
    assert path.is_file()

    page.params.widget("seed").setValue(7)  # a different, fresh model
    fresh = built(page, qtbot)
    assert fresh.runner is not exp.runner and fresh.steps == 0

    page.open_model(str(path))
    qtbot.waitUntil(lambda: "Opened" in message(page), timeout=10_000)
    opened = built(page, qtbot)
    assert opened.steps == steps
    assert page.param("seed") == 0 and page.param("hidden") == (64,)
    after = on_worker(page, qtbot, lambda e: e.decode_latent(code))
    np.testing.assert_array_equal(before, after)
    # The opened run trains on.
    page.play()
    qtbot.waitUntil(lambda: opened.steps > steps + 3, timeout=10_000)
    page.pause()


@slow
def test_opens_a_checkpoint_written_by_the_cli(page, qtbot, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "cli.pt"
    result = subprocess.run([sys.executable, "-m", "engine", "vae", "--dataset", "digits",
                             "--latent", "3", "--hidden", "48", "--epochs", "1", "--threads", "1",
                             "--iw-k", "2", "--quiet", "--out", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built(page, qtbot)
    page.open_model(str(path))
    qtbot.waitUntil(lambda: "Opened" in message(page), timeout=10_000)
    opened = built(page, qtbot)
    assert opened.steps == 12 and opened.config.latent == 3
    assert page.param("latent") == 3 and page.param("hidden") == (48,)


@slow
def test_a_file_saved_before_standard_errors_shows_its_figures_with_unknown_errors(page, qtbot, tmp_path):
    """A model saved before the SEs were measured (the tour model with its *_se series
    taken out, as files of that version are) opens as "value ± ?"; the shipped one with
    its errors."""
    from tests.paths import ROOT

    shipped = ROOT / "resources/tours/vae-elbo.pt"
    saved = torch.load(shipped, weights_only=True)
    metrics = saved["metrics"]
    for name in [n for n in metrics["series"] if n.endswith("_se")]:
        del metrics["series"][name], metrics["last"][name]
    older = tmp_path / "older.pt"
    torch.save(saved, older)

    built(page, qtbot)
    def shown():
        return page.views.summary.text().replace("\xa0", " ")

    page.open_model(str(older))
    qtbot.waitUntil(lambda: "Opened" in message(page), timeout=10_000)
    qtbot.waitUntil(lambda: "± ?" in shown(), timeout=START_MS)
    assert shown().count("± ?") == 3
    assert not page.message.isVisible() or "Opened" in message(page)
    page.open_model(str(shipped))
    qtbot.waitUntil(lambda: "± ?" not in shown() and "±" in shown(), timeout=START_MS)
    assert shown().count("±") == 3


@slow
def test_bad_files_leave_the_model_running(page, qtbot, tmp_path):
    exp = built(page, qtbot)
    runner = page.runner
    page.play()
    qtbot.waitUntil(lambda: exp.steps > 5, timeout=10_000)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04" + bytes(range(200)))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    other_kind = tmp_path / "cvae.pt"
    checkpoint.save(other_kind, kind="cvae", state_dict={}, config={}, dataset="digits",
                    step=0, metrics=[])
    for path, words in ((corrupt, "corrupt"), (foreign, "not a vigui checkpoint"),
                        (other_kind, "not a 'vae'"), (tmp_path / "missing.pt", "no such")):
        page.clear_message()
        page.open_model(str(path))
        qtbot.waitUntil(lambda: "Could not open" in message(page), timeout=10_000)
        assert words in message(page) and "unchanged" in message(page)
        assert page.runner is runner and runner.state == RUNNING

    # Weights of a model with another latent size do not fit this one.
    other = VAEExperiment(VAEConfig(dataset="digits", latent=3, hidden=(64,), device="cpu"),
                          seed=1)
    other_latent = tmp_path / "latent3.pt"
    other.save(other_latent)
    weights_before = on_worker(page, qtbot, lambda e: e.model.mu_head.weight.detach().clone())
    page.clear_message()
    page.load_weights(str(other_latent))
    qtbot.waitUntil(lambda: "Could not load weights" in message(page), timeout=10_000)
    assert "latent=3" in message(page) and "latent=2" in message(page)
    assert page.runner is runner and runner.state == RUNNING
    n = exp.steps
    qtbot.waitUntil(lambda: exp.steps > n + 3, timeout=10_000)  # still training
    page.pause()
    qtbot.waitUntil(lambda: runner.state == PAUSED, timeout=5000)
    assert on_worker(page, qtbot, lambda e: e.model.mu_head.weight.shape) == weights_before.shape

    # Same architecture: the weights are taken.
    same = VAEExperiment(VAEConfig(dataset="digits", latent=2, hidden=(64,), device="cpu"), seed=3)
    same_path = tmp_path / "same.pt"
    same.save(same_path)
    page.load_weights(str(same_path))
    qtbot.waitUntil(lambda: "Loaded the weights" in message(page), timeout=10_000)
    got = on_worker(page, qtbot, lambda e: e.model.mu_head.weight.detach().clone())
    torch.testing.assert_close(got, same.model.mu_head.weight)


def remember_good_states(exp):
    """Installed in the child: after every good step keep a copy of the weights and of
    Adam's state, to compare with what the experiment holds after a failure."""
    import copy

    inner = exp.step

    def step():
        values = inner()  # raises on NaN/inf before anything below
        exp.good = (exp.steps, copy.deepcopy(exp.model.state_dict()),
                    copy.deepcopy(exp.optimizer.state_dict()))
        return values

    exp.step = step
    return True


def same_as_last_good(exp):
    """In the child: the step count, weights and Adam state equal the last good ones."""
    import torch

    steps, weights, adam = exp.good
    now = exp.model.state_dict()
    same_weights = all(torch.equal(now[k], weights[k]) for k in weights)
    state, good_state = exp.optimizer.state_dict()["state"], adam["state"]
    same_adam = state.keys() == good_state.keys() and all(
        torch.equal(torch.as_tensor(state[i][k]), torch.as_tensor(good_state[i][k]))
        for i in good_state for k in good_state[i])
    finite = all(torch.isfinite(v).all() for v in now.values())
    return steps == exp.steps, same_weights, same_adam, finite


@slow
def test_learning_rate_10_fails_with_a_message_and_keeps_the_last_good_weights(page, qtbot):
    page.params.widget("lr").setValue(10.0)
    assert page.param("lr") == 10.0  # reachable from the widget
    exp = built(page, qtbot)
    assert exp.config.lr == 10.0
    assert on_worker(page, qtbot, remember_good_states)
    page.play()
    qtbot.waitUntil(lambda: page.runner.state == FAILED, timeout=10_000)
    qtbot.waitUntil(lambda: "non-finite" in message(page), timeout=5000)
    steps = exp.steps
    qtbot.wait(200)
    assert exp.steps == steps  # stopped
    # Exactly the weights and Adam state of the last good step, not merely finite ones.
    assert on_worker(page, qtbot, same_as_last_good) == (True, True, True, True)
    images = on_worker(page, qtbot, lambda e: e.decode_latent([[0.0, 0.0]]))
    assert np.all(np.isfinite(images))
    assert "Play" in page.controls.play.text()
    assert page.controls.state_label.text() == "stopped: error"


@slow
def test_changing_latent_dim_resets_and_projects(page, qtbot):
    exp = train(page, qtbot, 5)
    old = page.runner
    page.params.widget("latent").setValue(4)
    assert page.runner is not old
    qtbot.waitUntil(lambda: not old.is_alive, timeout=15_000)  # the old child ends by itself
    new = built(page, qtbot)
    assert new.runner is not exp.runner and new.config.latent == 4 and new.steps == 0
    page.step_once()
    qtbot.waitUntil(lambda: "PCA" in page.views.latent_plot.titleLabel.text, timeout=5000)
    assert not page.views.manifold_widget.isVisible()
    assert latent_points(page) == N_TEST_DIGITS
    # The PCA plane is pickable too.
    page.pick_latent(-1.0, 0.0)
    page.pick_latent(1.0, 0.0)
    qtbot.waitUntil(lambda: page.interpolation_shown, timeout=5000)


@slow
def test_close_page_mid_training_stops_threads(qtbot):
    page = VAEPage()
    qtbot.addWidget(page)
    page.restore_settings(SMALL)
    page.show()
    page.activate()
    page.play()
    exp = built(page, qtbot)
    qtbot.waitUntil(lambda: exp.steps > 10, timeout=10_000)
    runner = page.runner
    page.pick_latent(0.0, 0.0)
    page.pick_latent(1.0, 1.0)  # a request in flight while closing
    page.close_page()  # returns at once; the child ends on its own
    assert page.runner is None
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=15_000)
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=15_000)
    assert runner._process.exitcode == 0


def test_widgets_enforce_ranges(page, qtbot):
    w = page.params.widget
    w("latent").setValue(99)
    w("beta").setValue(-1.0)
    w("batch_size").setValue(10**6)
    w("lr").setValue(1e-9)
    state = page.settings_state()
    # The declared ranges (engine.vae.model.VAEConfig), the same the CLI checks.
    assert state["latent"] == 64 and state["beta"] == 0.0 and state["batch_size"] == 4096
    assert state["lr"] == pytest.approx(1e-6)
    old = page.runner
    hidden = w("hidden")
    hidden.selectAll()
    qtbot.keyClicks(hidden, "5000")  # above the 4096 units a layer may have: refused
    qtbot.keyClick(hidden, Qt.Key_Return)
    assert page.param("hidden") == (64,) and page.runner is old
    with pytest.raises(ValueError, match="between 8 and 4096"):
        hidden.setValue("5000")
    hidden.setText("")
    qtbot.keyClicks(hidden, "128,64")
    qtbot.keyClick(hidden, Qt.Key_Return)
    exp = built(page, qtbot)
    assert page.runner is not old and exp.config.hidden == (128, 64)
    page.restore_settings({"hidden": "32"})  # old settings saved it as text
    assert page.param("hidden") == (32,)
    page.restore_settings({"hidden": [5000], "latent": "x", "dataset": "idx:/nowhere"})
    assert page.param("hidden") == (400,) and page.param("latent") == 2  # the defaults
    assert page.param("dataset") == "digits"


def test_log_spin_box_steps_through_1_2_5():
    box = LogSpinBox(1e-5, 10.0, 1e-3)
    box.stepBy(1)
    assert box.value() == pytest.approx(2e-3)
    box.stepBy(2)
    assert box.value() == pytest.approx(1e-2)
    box.stepBy(-3)
    assert box.value() == pytest.approx(1e-3)
    box.setValue(3e-4)
    box.stepBy(-1)
    assert box.value() == pytest.approx(2e-4)
    box.stepBy(100)
    assert box.value() == 10.0
    assert box.textFromValue(3e-4) == "0.0003"
    assert box.valueFromText("1e-4") == pytest.approx(1e-4)


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """MNIST absent whatever this machine holds; downloads go to a temporary cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VIGUI_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    assert data.available()["mnist"] is None


def choose_mnist(page, qtbot):
    box = page.datasets
    box.refresh()
    assert "not downloaded" in box.itemText(box.findData("mnist"))
    box.setCurrentIndex(box.findData("mnist"))
    assert page.runner is None and "not on this computer" in message(page)
    assert box.row_below.isVisible()


def test_download_offline_gives_a_clear_message(page, qtbot, no_mnist, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", ("http://127.0.0.1:9/",))  # refused at once
    choose_mnist(page, qtbot)
    d = page.datasets
    d.download_button.click()
    assert d.progress.isVisible() and d.cancel_button.isVisible()
    qtbot.waitUntil(lambda: "Could not download MNIST" in message(page), timeout=20_000)
    text = message(page)
    assert "offline" in text and "127.0.0.1" in text and "IDX files" in text
    assert not d.progress.isVisible() and d.download_button.isEnabled()
    assert not d.downloading and page.runner is None
    # Back to digits: training works as before.
    d.setCurrentIndex(d.findData("digits"))
    built(page, qtbot)


def test_download_with_mocked_fetch_reports_progress_and_cancels(page, qtbot, no_mnist,
                                                                 monkeypatch):
    seen = []

    def slow_fetch(name, *, progress=None, cancel=None, **kwargs):
        for i in range(10_000):
            if cancel():
                raise data.DownloadCancelled("cancelled")
            progress(i * 1000, 10_000_000, "train-images-idx3-ubyte.gz")
            seen.append(i)
            import time
            time.sleep(0.002)
        raise data.DownloadError("could not download train-images-idx3-ubyte.gz")

    monkeypatch.setattr(data, "fetch", slow_fetch)
    choose_mnist(page, qtbot)
    d = page.datasets
    d.start_download()
    qtbot.waitUntil(lambda: d.progress.value() > 0, timeout=5000)
    assert "file 1 of 4" in d.status.text()
    d.cancel_download()
    qtbot.waitUntil(lambda: "cancelled" in message(page), timeout=5000)
    assert not d.downloading and not d.cancel_button.isVisible()

    def failing_fetch(name, **kwargs):
        raise data.DownloadError("could not download t10k-images-idx3-ubyte.gz; every "
                                 "mirror failed:\n  http://x/: [Errno -3] name resolution")

    monkeypatch.setattr(data, "fetch", failing_fetch)
    d.start_download()
    qtbot.waitUntil(lambda: "Could not download" in message(page), timeout=5000)
    assert "name resolution" in message(page)


@slow
def test_screenshot_state(page, qtbot):
    page.prepare_screenshot()
    qtbot.waitUntil(page.screenshot_ready, timeout=30_000)
    exp = built(page, qtbot)
    assert exp.steps >= 1500 and page.runner.state == PAUSED
    assert exp.config.dataset == "digits" and exp.config.latent == 2
    assert page.interpolation_shown and latent_points(page) == N_TEST_DIGITS
    assert page.views.manifold_image.image is not None
