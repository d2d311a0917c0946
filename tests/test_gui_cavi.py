"""The CAVI page in a real (offscreen) window: run, pause, step, reset, parameter changes."""
import numpy as np
import pytest

from vigui.pages.cavi import CaviPage
from vigui.worker import FINISHED, PAUSED


@pytest.fixture
def page(qtbot):
    page = CaviPage()
    qtbot.addWidget(page)
    page.restore_settings({"n": 500, "k": 3, "true_k": 3, "dim": 1, "data_seed": 1, "init_seed": 0,
                           "mode": "cavi"})
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
    assert page.controls.play.text().endswith("Play")


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
    page._param_widgets["k"].setValue(5)
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
    qtbot.waitUntil(lambda: len(page.elbo_grad.getData()[0] if page.elbo_grad.getData()[0] is not None else []) == 30, timeout=5000)
    assert len(page.elbo_curve.getData()[0]) == 30
    assert len(page.scatter.data) == 300


def test_widgets_enforce_ranges(page):
    page._param_widgets["k"].setValue(99)
    page._param_widgets["sigma2"].setValue(-5.0)
    page._param_widgets["n"].setValue(10**9)
    state = page.settings_state()
    assert state["k"] == 10 and state["sigma2"] == 0.1 and state["n"] == 100_000


def test_k_larger_than_n_gives_message_not_crash(page, qtbot):
    page.restore_settings({"n": 10, "k": 10, "true_k": 10})
    page.reset()
    # N = 10 with K = 10 is valid; the run must work.
    page.play()
    qtbot.waitUntil(lambda: page.runner.state == FINISHED, timeout=10_000)
    assert not page.message.isVisible()
