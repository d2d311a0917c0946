"""The CAVI page in a real (offscreen) window: run, pause, step, reset, parameter changes."""
import numpy as np
import pytest
from PySide6.QtCore import Qt

from vigui.pages.cavi import CaviPage
from vigui.run.worker import FINISHED, PAUSED


@pytest.fixture
def page(qtbot):
    page = CaviPage()
    qtbot.addWidget(page)
    page.restore_settings({"n": 500, "k": 3, "true_k": 3, "dim": 1, "data_seed": 1, "init_seed": 0,
                           "mode": "cavi"})
    # A window's size: at the page's own 610 px its plots are a few pixels wide (they were
    # wider only because their titles overflowed the canvas), and a curve that narrow is
    # drawn downsampled.
    page.resize(1100, 760)
    page.show()
    page.activate()
    yield page
    page.close_page()


def last_frame(page, qtbot):
    frames = []
    page.runner.snapshot_ready.connect(frames.append)
    return frames


def test_runs_to_convergence_with_rising_elbo(page, qtbot):
    page.play()
    qtbot.waitUntil(lambda: page.runner.state == FINISHED, timeout=10_000)
    exp = page.runner.experiment
    assert exp.converged
    elbo = exp.metrics.column("elbo")
    assert np.all(np.diff(elbo) >= -1e-9 * np.abs(elbo[1:]))
    qtbot.waitUntil(lambda: "converged" in page.summary.text(), timeout=3000)
    x, y = page.elbo_curve.getData()
    assert len(x) == exp.steps  # the drawn curve is the whole history
    np.testing.assert_array_equal(y, elbo)
    assert page.controls.play.text().endswith("Play")
    assert page.controls.state_label.text() == "finished"


def test_step_pause_and_reset(page, qtbot):
    qtbot.waitUntil(lambda: page.runner.experiment is not None, timeout=3000)
    page.step_once()
    page.step_once()
    qtbot.waitUntil(lambda: page.runner.experiment.steps == 2, timeout=3000)
    qtbot.waitUntil(lambda: "sweep 2 " in page.summary.text(), timeout=3000)
    assert page.runner.state == PAUSED

    page.restore_settings({"n": 100_000})  # slow enough to pause mid-run
    page.play()
    qtbot.waitUntil(lambda: page.runner.experiment is not None and page.runner.experiment.steps > 2,
                    timeout=10_000)
    page.pause()
    qtbot.waitUntil(lambda: page.runner.state == PAUSED, timeout=3000)
    frozen = page.runner.experiment.steps
    qtbot.wait(200)
    assert page.runner.experiment.steps == frozen

    old = page.runner
    page.reset()
    assert page.runner is not old and not old.is_alive
    qtbot.waitUntil(lambda: page.runner.experiment is not None, timeout=3000)
    assert page.runner.experiment.steps == 0


def test_changing_k_mid_run_resets_cleanly(page, qtbot):
    page.restore_settings({"n": 50_000})
    page.play()
    qtbot.waitUntil(lambda: page.runner.experiment is not None and page.runner.experiment.steps > 1,
                    timeout=10_000)
    old = page.runner
    page.params.widget("k").setValue(5)
    assert page.runner is not old and not old.is_alive
    qtbot.waitUntil(lambda: page.runner.experiment is not None, timeout=5000)
    assert page.runner.experiment.cavi.k == 5
    qtbot.waitUntil(lambda: page.runner.experiment.steps > 0, timeout=5000)  # kept playing
    qtbot.waitUntil(lambda: "K = 5" in page.summary.text(), timeout=5000)


def test_two_d_gradient_mode_draws_both_curves(page, qtbot):
    page.restore_settings({"dim": 2, "mode": "gradient", "alpha": 1e-4, "n": 300})
    for _ in range(30):
        page.step_once()
    qtbot.waitUntil(lambda: page.runner.experiment is not None and page.runner.experiment.steps == 30,
                    timeout=5000)
    def grad_points() -> int:
        x = page.elbo_grad.getData()[0]
        return 0 if x is None else len(x)

    qtbot.waitUntil(lambda: grad_points() == 30, timeout=5000)
    # The CAVI curve runs until CAVI converged (it may before sweep 30).
    cavi_steps = page.runner.experiment.metrics.get("elbo")[0]
    assert 0 < len(page.elbo_curve.getData()[0]) == len(cavi_steps) <= 30
    assert len(page.scatter.data) == 300


def test_widgets_enforce_ranges(page):
    page.params.widget("k").setValue(99)
    page.params.widget("sigma2").setValue(-5.0)
    page.params.widget("n").setValue(10**9)
    page.params.widget("alpha").setValue(5.0)
    state = page.settings_state()
    # The declared ranges (engine.cavi.model.CaviConfig), the same the CLI checks.
    assert state["k"] == 10 and state["sigma2"] == 0.1 and state["n"] == 1_000_000
    assert state["alpha"] == 1.0
    assert page.params.config().validate() is not None


def test_k_can_never_exceed_n(page, qtbot):
    """K > N cannot be entered: the largest K is the smallest N. K = N is a valid run."""
    from engine.cavi.model import CaviConfig

    k_box, n_box = page.params.widget("k"), page.params.widget("n")
    assert k_box.maximum() <= n_box.minimum()
    with pytest.raises(ValueError, match="N must be between"):
        CaviConfig(k=10, n=9).validate()  # what a file or script could still ask for
    page.params.restore({"k": 11, "n": 9})  # saved settings out of range: the defaults
    assert (page.param("k"), page.param("n")) == (3, 1000) and page.params.config().k <= 3
    page.params.restore({"n": 10, "k": 10, "true_k": 10})
    page.play()
    qtbot.waitUntil(lambda: page.runner.state == FINISHED, timeout=10_000)
    assert not page.message.isVisible()
    assert page.runner.experiment.cavi.k == 10 and len(page.runner.experiment.x) == 10


def test_space_s_and_r_drive_the_page(qtbot):
    from PySide6.QtWidgets import QApplication

    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    qtbot.addWidget(window)
    window.open_page("cavi")
    cavi = window.pages["cavi"]
    cavi.params.restore({"n": 100_000}, emit=False)
    cavi.reset()
    qtbot.waitUntil(lambda: cavi.runner.experiment is not None, timeout=5000)
    window.show()
    window.activateWindow()  # shortcuts act in the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(window, Qt.Key_S)
    qtbot.waitUntil(lambda: cavi.runner.experiment.steps == 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key_Space)
    qtbot.waitUntil(lambda: cavi.runner.experiment.steps > 2, timeout=10_000)
    assert cavi.controls.play.text() == "❚❚ Pause"
    qtbot.keyClick(window, Qt.Key_Space)
    qtbot.waitUntil(lambda: cavi.runner.state == PAUSED, timeout=5000)
    old = cavi.runner
    qtbot.keyClick(window, Qt.Key_R)
    assert cavi.runner is not old and cavi.run.state == "idle"
    window.close()


def test_header_says_what_the_run_is_doing(page, qtbot):
    qtbot.waitUntil(lambda: "sweep 0 " in page.summary.text(), timeout=5000)
    assert "running" not in page.summary.text() and "press Play" in page.summary.text()
    page.controls.speed.setCurrentIndex(page.controls.speed.findData(3.0))  # 3 sweeps/s
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: "running" in page.summary.text(), timeout=10_000)
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.run.state == PAUSED, timeout=10_000)
    qtbot.waitUntil(lambda: "· paused ·" in page.summary.text(), timeout=3000)
    assert "running" not in page.summary.text()
