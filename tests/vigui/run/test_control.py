"""RunControl: a factory that is not ready yet (NotReady) is no error, and a Play pressed
meanwhile is remembered until the data is there (or the user pauses)."""
from PySide6.QtCore import Qt

from tests.counting import Counter
from vigui.run.control import NotReady, RunButtons, RunControl
from vigui.run.worker import IDLE, RUNNING


def test_play_while_not_ready_is_remembered_not_rejected(qtbot):
    ready = []

    def make_factory():
        if not ready:
            raise NotReady("reading the data")
        return lambda: Counter(limit=10**6)

    control = RunControl(make_factory)
    buttons = RunButtons(control)
    qtbot.addWidget(buttons)
    waiting, rejected = [], []
    control.waiting.connect(waiting.append)
    control.rejected.connect(rejected.append)
    assert not control.reset()                     # the page opens: no run, no error
    assert waiting == ["reading the data"] and not rejected and not control.play_pending
    qtbot.mouseClick(buttons.play, Qt.LeftButton)  # Play while the data loads
    assert control.runner is None and control.play_pending and control.state == IDLE
    control.reset()                                 # e.g. a parameter edited meanwhile
    assert control.play_pending and not rejected
    ready.append(True)
    assert control.reset(play=control.play_pending)  # the data arrived: the page resets
    assert control.state == RUNNING and not control.play_pending
    qtbot.waitUntil(lambda: control.steps > 0, timeout=5000)
    control.close()


def test_pause_or_a_refusal_forgets_a_pending_play(qtbot):
    answers = [NotReady("later"), ValueError("bad value")]

    def make_factory():
        raise answers.pop(0)

    control = RunControl(make_factory)
    control.play()
    assert control.play_pending
    control.pause()
    assert not control.play_pending
    control.play()                                  # a real refusal: nothing pending
    assert not control.play_pending and control.runner is None
