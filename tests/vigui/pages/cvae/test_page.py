"""The conditional VAE page in an offscreen window: live completions of the drawing,
masks retraining or reopening the right model, the NCLL table, save/open, closing."""
import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.paths import ROOT
from vigui.pages.cvae import CVAEPage
from vigui.run.worker import FINISHED, PAUSED

# Small networks and patience 1: a digits run ends by early stopping in a few seconds.
SMALL = {"dataset": "digits", "task": "q1", "hidden": [32], "latent": 4, "lr": 3e-3,
         "patience": 1, "kl_warmup": 0, "residual": True, "device": "cpu", "seed": 0}


@pytest.fixture
def page(qtbot):
    page = CVAEPage()
    qtbot.addWidget(page)
    page.restore_settings(SMALL)
    page.resize(1100, 760)
    page.show()
    page.activate()
    yield page
    page.close_page()


def on_worker(page, qtbot, fn):
    box = []
    page.runner.call(fn, on_done=box.append, on_error=lambda m: box.append(RuntimeError(m)))
    qtbot.waitUntil(lambda: bool(box), timeout=60_000)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


def trained(page, qtbot):
    """Play until both networks stopped early (the run finishes)."""
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    page.play()
    qtbot.waitUntil(lambda: page.runner.state == FINISHED, timeout=60_000)
    page.runner.request_frame()
    qtbot.waitUntil(lambda: page._phase == "done", timeout=30_000)


def shown_completions(page):
    return page.completions.image.image.copy()


def message(page):
    return page.message.text() if page.message.isVisible() else ""


def test_drawing_changes_the_completions(page, qtbot):
    trained(page, qtbot)
    qtbot.waitUntil(page.drawing_ready, timeout=30_000)
    before, version = shown_completions(page), page.completions_version
    assert page.canvas.mask.sum() == 16  # digits, 1 quadrant: a 4x4 block is given
    # Paint the whole given quadrant (bottom left): the models see another input.
    for r in range(4, 8):
        for c in range(4):
            page.canvas.stroke_at(r, c, paint=True)
    qtbot.waitUntil(lambda: page.completions_version > version, timeout=30_000)
    qtbot.waitUntil(lambda: not page.live.busy, timeout=30_000)
    after = shown_completions(page)
    assert after.shape == before.shape and not np.array_equal(after, before)
    # Ink on hidden pixels is not seen by the models: the completions stay.
    version = page.completions_version
    page.canvas.stroke_at(0, 7, paint=True)
    qtbot.waitUntil(lambda: page.completions_version > version, timeout=30_000)
    qtbot.waitUntil(lambda: not page.live.busy, timeout=30_000)
    np.testing.assert_array_equal(shown_completions(page), after)


def test_kl_curve_and_spread_are_on_the_page(page, qtbot):
    """Play with the real button until the CVAE has trained a few steps: the KL curve
    has points and the strip shows the samples' spread (a column and a number)."""
    from PySide6.QtCore import Qt
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    assert page.kl_view.points() == 0
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: page._phase in ("cvae", "done") and page.kl_view.points() >= 3,
                    timeout=120_000)  # the child process may take a while to start
    x, y = page.kl_view.train.getData()
    assert len(x) >= 3 and np.isfinite(y).all() and (y >= 0).all()
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)  # pause
    assert "spread" in page.summary.text()
    assert "±" in page.summary.text() and "± ?" not in page.summary.text()
    # The strip: 6 rows; input, baseline, 4 samples, truth and the spread: 8 columns.
    assert page.strip.image.image.shape[:2] == (6 * 9 - 1, 8 * 9 - 1)
    assert any(c.toPlainText() == "spread" for c in page.strip._captions)


def test_choosing_a_mask_retrains_or_reopens_the_right_model(page, qtbot):
    trained(page, qtbot)
    q1_steps, q1_task = on_worker(page, qtbot, lambda e: (e.steps, e.config.task))
    assert q1_task == "q1"
    qtbot.waitUntil(lambda: page.cached_path("q1") is not None, timeout=30_000)
    page.params.set_value("task", "q3")  # a new mask: a new run, trained from scratch
    steps, task, phase = on_worker(page, qtbot, lambda e: (e.steps, e.config.task, e.phase))
    assert (steps, task, phase) == (0, "q3", "baseline")
    page.runner.request_frame()
    qtbot.waitUntil(lambda: page._model_mask is not None and page._model_mask.sum() == 48,
                    timeout=30_000)  # the canvas shows the new mask
    assert np.array_equal(page.canvas.mask, page._model_mask)
    page.params.set_value("task", "q1")  # trained before: reopened, not retrained
    steps, task, phase = on_worker(page, qtbot, lambda e: (e.steps, e.config.task, e.phase))
    assert (steps, task, phase) == (q1_steps, "q1", "done")
    page.runner.request_frame()
    qtbot.waitUntil(lambda: page._model_mask is not None and page._model_mask.sum() == 16,
                    timeout=30_000)


def test_the_free_bits_scaling_control_sets_the_free_nats_of_the_mask(page, qtbot):
    """3 observed quadrants hide 1/4 of the image: scaled (the default) the CVAE gets
    (1/4 / 3/4)^2 of the 3 free nats; "nothing" in the control gives it all 3."""
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    page.params.set_value("task", "q3")
    nats = on_worker(page, qtbot, lambda e: (e.config.free_bits_scaling, e.cvae.free_bits))
    assert nats == ("hidden2", pytest.approx(1 / 3))
    combo = page.params.widget("free_bits_scaling")
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels == ["hidden pixels² (default)", "hidden pixels", "nothing (per image)"]
    combo.setCurrentIndex(labels.index("nothing (per image)"))
    nats = on_worker(page, qtbot, lambda e: (e.config.free_bits_scaling, e.cvae.free_bits))
    assert nats == ("none", 3.0)


def test_a_drawn_mask_trains_its_own_model(page, qtbot):
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    qtbot.waitUntil(lambda: page._model_mask is not None or page.drawing_ready(),
                    timeout=30_000)
    page.canvas.set_tool("show")
    page.canvas.stroke_at(0, 0)  # one more given pixel than the quadrant task has
    assert page.train_mask.isEnabled()
    expected = page.canvas.mask.copy()
    page.train_on_drawn_mask()
    task, observed = on_worker(page, qtbot, lambda e: (e.config.task, e.observed))
    assert task == "custom" and np.array_equal(observed, expected)
    qtbot.waitUntil(lambda: page.runner.state != PAUSED, timeout=5000)


def test_evaluate_fills_the_table_with_progress(page, qtbot):
    trained(page, qtbot)
    qtbot.waitUntil(lambda: page.cached_path("q1") is not None, timeout=30_000)
    seen = []
    page.eval_progress.valueChanged.connect(seen.append)
    page.evaluate()
    assert page.evaluating
    qtbot.waitUntil(lambda: not page.evaluating, timeout=120_000)
    rows = page.table.rows
    assert set(rows) == {"q1", "q2", "q3"}
    assert not rows["q1"]["trained_here"] and rows["q2"]["trained_here"]
    for row in rows.values():
        assert row["cvae_ncll_is"] <= row["cvae_neg_elbo"] + 0.05
    # Fewer hidden pixels, fewer nats.
    assert rows["q1"]["baseline_ncll"] > rows["q2"]["baseline_ncll"] > rows["q3"]["baseline_ncll"]
    # The bar moves forward only and ends full (how many updates depends on the speed).
    assert page.eval_progress.value() == 1000 and seen and seen[-1] == 1000
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False)), seen
    assert page.table.table.item(0, 0).text() != ""
    assert float(page.table.table.item(0, 3).text()) == pytest.approx(rows["q1"]["kl"], abs=0.01)
    assert "±" in page.table.table.item(0, 2).toolTip()
    # every entry (baseline, −ELBO, IS, KL) with its standard error over the test images
    for c, name in enumerate(("baseline_ncll", "cvae_neg_elbo", "cvae_ncll_is", "kl")):
        tip = page.table.table.item(0, c).toolTip()
        assert "standard error over 360 test images" in tip and "± ?" not in tip
        assert 0 < rows["q1"][f"{name}_se"] < 0.05 * rows["q1"][name]
    assert "paired standard error" in page.table.table.item(0, 2).toolTip()


def test_save_and_open_round_trip_and_bad_files(page, qtbot, tmp_path):
    trained(page, qtbot)
    path = tmp_path / "m.pt"
    page.save_model(str(path))
    qtbot.waitUntil(lambda: "Saved" in message(page), timeout=30_000)
    steps = on_worker(page, qtbot, lambda e: e.steps)
    page.params.set_value("task", "q2")
    page.open_model(str(path))
    qtbot.waitUntil(lambda: "Opened" in message(page), timeout=60_000)
    assert page.param("task") == "q1"
    assert on_worker(page, qtbot, lambda e: (e.steps, e.phase)) == (steps, "done")
    (tmp_path / "bad.pt").write_text("not a model")
    page.open_model(str(tmp_path / "bad.pt"))  # peeked on a worker thread
    qtbot.waitUntil(lambda: "Could not open" in message(page), timeout=10_000)
    assert "not a PyTorch checkpoint" in message(page)
    assert on_worker(page, qtbot, lambda e: e.steps) == steps  # the model is unchanged


def test_close_page_mid_training_and_mid_evaluation(qtbot):
    page = CVAEPage()
    qtbot.addWidget(page)
    page.restore_settings(SMALL)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.runner is not None, timeout=30_000)
    page.play()
    qtbot.waitUntil(page.drawing_ready, timeout=60_000)
    page.canvas.stroke_at(6, 1, paint=True)  # a completion request in flight
    page.evaluate()
    runner, evaluation = page.runner, page._eval_runner
    page.close_page()  # returns at once; the children end on their own
    assert page.runner is None and not page.evaluating
    qtbot.waitUntil(lambda: not runner.is_alive and not evaluation.is_alive, timeout=30_000)
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=30_000)
    assert runner._process.exitcode == 0 and evaluation._process.exitcode == 0


def test_closing_the_app_mid_training_exits_0():
    env = {"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT),
           "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"], "PATH": os.environ.get("PATH", "")}
    result = subprocess.run([sys.executable, "-m", "vigui", "--page", "cvae", "--run",
                             "--quit-after", "3"], env=env, capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
