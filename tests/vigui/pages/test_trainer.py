"""TrainerPage: the base of the torch pages, proven on the smallest real chapter one could
add — logistic regression on the digits (engine/core's test trainer) — pressed as a user
presses it: Play, Pause, Save model…, Open model…; the file is peeked off the GUI thread;
an untrained run's child is let go when the page is left."""
import threading
from functools import partial

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tests.engine.core.test_trainer import LogReg, LogRegConfig
from vigui.pages.trainer import SEED, TrainerPage
from vigui.run.worker import PAUSED, ExperimentRunner
from vigui.widgets.param_form import ParamForm
from vigui.widgets.plots import make_plot, pen

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# -- a whole new torch chapter page on the base (the README's "Adding a chapter") ------------
class LogRegPage(TrainerPage):
    runner_class = ExperimentRunner  # a thread here; the chapters use a child process
    theory = "vae"
    model_what, model_file = "logistic regression", "logreg.pt"

    def build_params(self):
        form = ParamForm(LogRegConfig, ["dataset", "lr", "l2", "device", "seed"], extra=[SEED])
        form.add_row(self.trainer.file_buttons())
        return form

    def make_factory(self):
        opened = self.trainer.take_opened()
        if opened is not None:
            return opened
        self.trainer.require()
        config = self.params.config(threads=self.train_threads())
        return partial(LogReg, config, seed=self.param("seed"))

    def peek_model(self, path, device):
        return LogReg.peek(path, device=device)

    def load_factory(self, path):
        return partial(LogReg.load, path, device=self.param("device"), threads=1)

    def build_views(self):
        self.plot = make_plot("Loss", "step", "nats")
        self.curve = self.plot.plot(pen=pen(0))
        return self.plot.getViewWidget()

    def render(self, snap):
        self.curve.setData(*snap["metrics"].get("loss"))

    def clear_views(self):
        self.curve.setData([], [])
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def page(qtbot):
    page = LogRegPage()
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.runner is not None, timeout=60_000)
    yield page
    page.close_page()


def on_run(page, qtbot, fn):
    box = []
    assert page.run.call(fn, on_done=box.append, on_error=lambda m: box.append(RuntimeError(m)))
    qtbot.waitUntil(lambda: bool(box), timeout=60_000)
    assert not isinstance(box[0], Exception), box[0]
    return box[0]


def message(page):
    return page.message.text() if page.message.isVisible() else ""


def test_a_minimal_chapter_plays_pauses_saves_and_opens(page, qtbot, tmp_path, monkeypatch):
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.run.steps >= 20, timeout=60_000)
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)  # the same button pauses
    qtbot.waitUntil(lambda: page.runner.state == PAUSED, timeout=60_000)
    assert len(page.curve.getData()[0]) > 0  # the loss is drawn
    steps = on_run(page, qtbot, lambda e: e.steps)
    weights = on_run(page, qtbot, lambda e: e.model.weight.detach().clone().numpy())

    path = tmp_path / "logreg.pt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(page.model_files.save, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Saved" in message(page), timeout=60_000)
    assert path.is_file() and f"step {steps:,}" in message(page)

    page.params.widget("seed").setValue(5)  # a different, fresh model
    page.params.widget("lr").setValue(0.05)
    qtbot.waitUntil(lambda: page.runner is not None and page.run.steps == 0, timeout=60_000)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(page.model_files.open, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Opened" in message(page), timeout=60_000)
    assert page.param("seed") == 0 and page.param("lr") == pytest.approx(1e-2)  # the file's
    assert on_run(page, qtbot, lambda e: e.steps) == steps
    np.testing.assert_array_equal(
        on_run(page, qtbot, lambda e: e.model.weight.detach().clone().numpy()), weights)
    qtbot.mouseClick(page.controls.play, Qt.LeftButton)  # and it trains on
    qtbot.waitUntil(lambda: page.run.steps > steps, timeout=60_000)
    page.pause()


def test_open_peeks_off_the_gui_thread_and_a_bad_file_changes_nothing(page, qtbot, tmp_path):
    where = []
    real = page.peek_model
    page.peek_model = lambda path, device: (where.append(threading.current_thread()),
                                            real(path, device))[1]
    runner = page.runner
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    page.open_model(str(bad))
    qtbot.waitUntil(lambda: "Could not open" in message(page), timeout=60_000)
    assert where and where[0] is not threading.main_thread()
    assert "unchanged" in message(page) and page.runner is runner
    assert page.param("seed") == 0


def test_leaving_the_page_lets_an_untrained_run_go_and_keeps_a_trained_one(page, qtbot):
    untrained = page.runner
    page.hide()  # another page is shown
    assert page.runner is None and not page.run.started
    page.show()
    page.activate()  # back: built again from the same parameters
    qtbot.waitUntil(lambda: page.runner is not None, timeout=60_000)
    assert page.runner is not untrained
    page.step_once()
    qtbot.waitUntil(lambda: page.run.steps >= 1, timeout=60_000)
    trained = page.runner
    page.hide()
    assert page.runner is trained  # a trained model stays


def test_state_exists_before_the_build_hooks_run(qtbot):
    seen = []

    class Checked(LogRegPage):
        def init_state(self):
            super().init_state()
            self.things = []

        def build_params(self):
            seen.append(("params", hasattr(self, "things"), hasattr(self, "trainer")))
            return super().build_params()

        def build_views(self):
            seen.append(("views", hasattr(self, "things"), self.params is not None))
            return super().build_views()

    page = Checked()
    qtbot.addWidget(page)
    assert seen == [("params", True, True), ("views", True, True)]
    page.close_page()


def test_closing_mid_training_never_joins_the_busy_child_on_the_gui_thread(qtbot, monkeypatch):
    """Close must return at once however busy the child is: the child is asked to end and
    a reaper thread waits for it, never the GUI thread."""
    import multiprocessing.process

    from vigui.run.process import ProcessRunner

    class InChild(LogRegPage):
        runner_class = ProcessRunner

    page = InChild()
    qtbot.addWidget(page)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.runner is not None, timeout=60_000)
    page.play()
    qtbot.waitUntil(lambda: page.run.steps > 5, timeout=120_000)
    runner = page.runner
    joins = []
    real_join = multiprocessing.process.BaseProcess.join

    def join(self, timeout=None):
        joins.append(threading.current_thread())
        return real_join(self, timeout)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "join", join)
    page.close_page()  # mid-training
    assert page.runner is None
    assert threading.main_thread() not in joins
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=60_000)  # it does end
