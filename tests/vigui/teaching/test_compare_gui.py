"""Compare runs in a real (offscreen) window: Keep this run by key and button on the VAE
page, labels and curves of two β, hide/drop, pinned runs surviving a page switch and a
saved scene, the Figures 10-11 stop, metrics as CSV and the page as a notebook from the
File menu (QFileDialog patched), with the notebook's numbers equal to the page's."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from vigui.pages.vae import VAEPage
from vigui.run.worker import FINISHED, ExperimentRunner
from vigui.teaching.scenes import lecture_tour, parse_scene, read_scene
from vigui.window import MainWindow

pytestmark = pytest.mark.gui

VAE = {"dataset": "digits", "latent": 2, "hidden": [32], "beta": 1.0, "lr": 0.003,
       "batch_size": 64, "loss_mode": "elbo", "likelihood": "bernoulli", "seed": 0}
STEPS = 120


@pytest.fixture
def window(qtbot, monkeypatch):
    # The VAE trains in a child process in the app; a thread starts faster in tests.
    monkeypatch.setattr(VAEPage, "runner_class", ExperimentRunner)
    win = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    win.activateWindow()  # shortcuts act in the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    yield win
    for page in list(win.pages.values()):
        page.close_page()
    win.close()


def run_scene(win, qtbot, params, steps=STEPS, page="vae"):
    scene = {"vigui_scene": 2, "page": page, "params": params, "run": {"steps": steps}}
    assert win.open_scene(parse_scene(scene)), win.scene_error
    p = win.current_page()
    qtbot.waitUntil(lambda: p.runner is not None and p.runner.state == FINISHED, timeout=60_000)
    qtbot.waitUntil(lambda: p.run.steps == steps, timeout=5000)
    return p


def train_again(page, qtbot, **changes):
    """Change parameters in the form (a new run), Play, Pause after STEPS steps or more."""
    old = page.runner
    page.params.set_values(changes, emit=True)
    qtbot.waitUntil(lambda: page.runner is not old and page.runner is not None, timeout=5000)
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.run.steps >= STEPS, timeout=60_000)
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: not page.run.playing, timeout=5000)
    # the last frame after the pause brings the history up to the step shown
    qtbot.waitUntil(lambda: len(page.runner.metrics.get("loss")[0]) == page.run.steps, timeout=10_000)


def test_pin_two_betas_on_the_vae_page_by_key_and_button(window, qtbot):
    page = run_scene(window, qtbot, VAE)  # β = 1
    compare = page.comparison()
    assert not compare.view.isVisible()
    window.nav.setFocus()  # not a text field, where K is a letter typed
    qtbot.keyClick(window, Qt.Key_K)  # Run > Keep this run
    assert len(compare.runs) == 1 and compare.view.isVisible()
    train_again(page, qtbot, beta=0.0)
    qtbot.mouseClick(compare.button, Qt.LeftButton)
    page.params.set_values({"beta": 4.0}, emit=True)  # the live run now: β = 4
    assert compare.view.labels() == ["β = 1", "β = 0"]
    table = compare.view.table
    assert [table.item(r, 1).text() for r in range(table.rowCount())] == ["live run", "β = 1", "β = 0"]
    one, zero = compare.runs
    kl1, kl0 = one.metrics.get("test_kl")[1], zero.metrics.get("test_kl")[1]
    # the faded curves are those histories (the loss plot has a log y axis)
    np.testing.assert_allclose(compare.view.curves(one)["test_kl"].getData()[1], np.log10(kl1))
    np.testing.assert_allclose(compare.view.curves(zero)["test_kl"].getData()[1], np.log10(kl0))
    # β = 0 lets the codes spread away from the prior: a larger KL than the ELBO's β = 1
    assert kl0[-1] > 1.5 * kl1[-1]
    assert one.final["test_kl"] == kl1[-1] and one.steps == STEPS and zero.steps >= STEPS
    assert compare.view.curves(zero)["test_recon"] in page.views.loss_plot.items
    # hide, then drop, by clicking
    qtbot.mouseClick(compare.view.checkbox(0), Qt.LeftButton)
    assert not compare.view.curves(one)["test_kl"].isVisible()
    qtbot.mouseClick(compare.view.drop_button(0), Qt.LeftButton)
    assert compare.view.labels() == ["β = 0"]
    assert compare.view.curves(one) == {}


def test_pinned_runs_survive_a_page_switch_and_go_into_a_saved_scene(window, qtbot, tmp_path):
    page = run_scene(window, qtbot, {**VAE, "beta": 0.0})
    qtbot.mouseClick(page.comparison().button, Qt.LeftButton)
    kept = page.comparison().runs[0]
    window.open_page("cavi")
    window.open_page("vae")
    assert window.current_page() is page and list(page.comparison().runs) == [kept]
    page.params.set_values({"beta": 1.0}, emit=True)
    window.save_scene(tmp_path / "two.json")
    saved = read_scene(tmp_path / "two.json")
    assert len(saved.pinned) == 1 and saved.pinned[0].params["beta"] == 0.0
    assert window.open_scene_file(tmp_path / "two.json"), window.scene_error
    again = window.current_page()
    assert again is not page
    assert again.comparison().view.labels() == ["β = 0"]
    np.testing.assert_allclose(again.comparison().runs[0].metrics.get("test_kl")[1],
                               kept.metrics.get("test_kl")[1], rtol=1e-6)


def test_keep_with_nothing_run_says_so(window, qtbot):
    window.open_page("info")
    window.current_page().show_section("surprise")
    qtbot.keyClick(window, Qt.Key_K)
    assert "runs nothing to keep" in window.statusBar().currentMessage()


def test_the_figures_10_11_stop_overlays_three_runs(window, qtbot):
    tour = lecture_tour()
    index = next(i for i, s in enumerate(tour.stops) if s.pinned)
    window.tour = tour
    assert window.show_stop(index), window.scene_error
    page = window.current_page()
    compare = page.comparison()
    # labelled by what differs from the live run, once the page shows the opened model
    qtbot.waitUntil(lambda: sorted(compare.view.labels()) == ["KL only", "Reconstruction only"],
                    timeout=20_000)
    table = compare.view.table
    assert {table.item(r, 1).text() for r in range(table.rowCount())} == \
        {"live run", "KL only", "Reconstruction only"}
    assert set(compare.view.curves(compare.runs[0])) == {"test_recon", "test_kl"}
    # KL only: codes on the prior, KL near 0; reconstruction only: a large KL
    kl = {label: r.final["test_kl"] for r, label in zip(compare.runs, compare.view.labels(), strict=True)}
    assert kl["KL only"] < 0.1 < kl["Reconstruction only"]


def test_metrics_and_notebook_from_the_file_menu(window, qtbot, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    from vigui.notebook import parse_final

    params = {"k": 3, "true_k": 3, "n": 400, "sigma2": 10.0, "dim": 1, "data_seed": 3,
              "init_seed": 1, "mode": "gradient", "alpha": 0.0002}
    page = run_scene(window, qtbot, params, steps=40, page="cavi")
    qtbot.mouseClick(page.comparison().button, Qt.LeftButton)
    page.params.set_values({"k": 2}, emit=True)
    qtbot.waitUntil(lambda: page.run.steps == 0, timeout=5000)
    page.run.play()
    qtbot.waitUntil(lambda: page.run.steps >= 5, timeout=10_000)
    page.run.pause()
    qtbot.waitUntil(lambda: not page.run.playing, timeout=5000)
    # the page shows (and a notebook is exported for) the step the run paused at
    qtbot.waitUntil(lambda: page.runner.metrics.get("m0")[0][-1] == page.run.steps, timeout=10_000)
    # CSV: the live run and the pinned one (K = 3)
    target = tmp_path / "m.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.csv_action.trigger()
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["run"] for r in rows} == {"live run", "K = 3"}
    assert len([r for r in rows if r["run"] == "K = 3"]) == 40
    # a cancelled dialog writes nothing
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    window.notebook_action.trigger()
    assert not list(tmp_path.glob("*.ipynb"))
    # the notebook of what the page shows now, executed: the page's numbers
    out = tmp_path / "cavi.ipynb"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    window.notebook_action.trigger()
    nb = nbformat.read(out, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = {name: page.runner.metrics.latest(name) for name in page.runner.metrics.names}
    assert parse_final(nb) == shown and len(shown) >= 5
