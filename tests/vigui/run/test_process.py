"""The ProcessRunner: the experiment in a spawned child process, same interface and
signals as the thread runner; release returns while the child is still busy, and the
child then ends on its own (or is terminated): no process or zombie is left behind."""
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from tests.counting import Counter
from vigui.run import process as process_runner
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, FINISHED, PAUSED, RUNNING

START_MS = 30_000  # a spawned child imports numpy (and here pytest) before it runs


def broken_factory():
    raise ValueError("no such dataset")


@pytest.fixture
def make_runner(qtbot):
    runners = []

    def make(factory, **kwargs):
        runner = ProcessRunner(factory, **kwargs)
        runner.frames, runner.events, runner.steps = [], [], [0]
        runner.snapshot_ready.connect(runner.frames.append)
        runner.failed.connect(lambda m: runner.events.append(("failed", m)))
        runner.progress.connect(lambda n, rate: runner.steps.append(n))
        runners.append(runner)
        qtbot.waitUntil(lambda: bool(runner.frames or runner.events), timeout=START_MS)
        return runner

    yield make
    for runner in runners:
        assert runner.close(5.0)
        assert not runner.is_alive and runner._process.exitcode is not None
    assert not multiprocessing.active_children()


def ask(runner, qtbot, fn):
    box = []
    runner.call(fn, box.append, lambda m: box.append(RuntimeError(m)))
    qtbot.waitUntil(lambda: bool(box), timeout=5000)
    return box[0]


def test_step_play_pause_stop_and_calls(make_runner, qtbot):
    from functools import partial

    runner = make_runner(partial(Counter, step_s=0.002))
    assert runner.experiment is None  # it lives in the child
    for _ in range(3):
        runner.step_once()
    qtbot.waitUntil(lambda: runner.steps[-1] == 3 and runner.state == PAUSED, timeout=5000)
    qtbot.waitUntil(lambda: runner.frames[-1]["value"] == 3, timeout=5000)
    runner.play()
    qtbot.waitUntil(lambda: runner.state == RUNNING and runner.steps[-1] > 20, timeout=5000)
    runner.pause()
    qtbot.waitUntil(lambda: runner.state == PAUSED, timeout=5000)
    frozen = ask(runner, qtbot, lambda e: e.steps)
    qtbot.wait(100)
    assert ask(runner, qtbot, lambda e: e.steps) == frozen
    offset = 10
    assert ask(runner, qtbot, lambda e: e.value + offset) == frozen + 10  # closures travel
    error = ask(runner, qtbot, lambda e: 1 / 0)
    assert isinstance(error, RuntimeError) and "ZeroDivisionError" in str(error)
    runner.stop()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=5000)
    runner.play()  # finished: play does nothing, calls are still served
    assert ask(runner, qtbot, lambda e: e.steps) == frozen


def test_exception_and_nan_fail_and_keep_the_last_good_state(make_runner, qtbot):
    from functools import partial

    for kwargs, words in (({"fail_at": 4}, "RuntimeError: boom"), ({"nan_at": 4}, "nan")):
        runner = make_runner(partial(Counter, **kwargs))
        runner.play()
        qtbot.waitUntil(lambda runner=runner: bool(runner.events), timeout=5000)
        assert runner.state == FAILED and words in runner.events[0][1]
        assert ask(runner, qtbot, lambda e: (e.steps, e.value)) == (3, 3)


def test_a_failing_factory_is_reported(make_runner, qtbot):
    runner = make_runner(broken_factory)
    assert runner.events == [("failed", "no such dataset")] and runner.state == FAILED
    assert ask(runner, qtbot, lambda e: 1) is None  # no experiment: calls answer None


def test_finishes_at_its_limit(make_runner, qtbot):
    from functools import partial

    runner = make_runner(partial(Counter, limit=5))
    runner.play()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=5000)
    assert runner.frames[-1]["value"] == 5 and runner.steps[-1] == 5


def wait_for_file(path):
    """Block (in the child) until ``path`` exists: the test decides when a call ends.
    Writes ``path + ".started"`` first, so the test knows the child is inside."""
    open(path + ".started", "w").close()
    while not os.path.exists(path):
        time.sleep(0.01)


def busy(runner, qtbot, flag):
    """Put the child into a call that lasts until ``flag`` exists; wait until it is in."""
    runner.call(lambda e: wait_for_file(flag))
    qtbot.waitUntil(lambda: os.path.exists(flag + ".started"), timeout=10_000)


def gone(pid) -> bool:
    """The process is reaped: not running and no zombie entry left."""
    return not os.path.exists(f"/proc/{pid}")


def test_release_returns_while_the_child_is_busy_and_it_ends_on_its_own(make_runner, qtbot,
                                                                        tmp_path):
    from functools import partial

    runner = make_runner(partial(Counter, step_s=0.001))
    runner.play()
    qtbot.waitUntil(lambda: runner.steps[-1] > 20, timeout=5000)
    flag = str(tmp_path / "go")
    busy(runner, qtbot, flag)  # the child is stuck in this call
    ask_done = []
    runner.call(lambda e: e.steps, ask_done.append)
    runner.release()  # returns at once: nobody waits for the busy child
    assert runner.is_alive
    runner.play()  # commands after release are ignored
    runner.call(lambda e: 1)
    open(flag, "w").close()  # the call ends; the child sees it was released and exits
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=10_000)
    assert runner._process.exitcode == 0  # it finished by itself, it was not killed
    qtbot.waitUntil(lambda: gone(runner.pid), timeout=5000)
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=5000)
    assert ask_done == []  # nothing is delivered after release


def test_a_released_child_that_stays_busy_is_terminated(make_runner, qtbot, tmp_path,
                                                         monkeypatch):
    monkeypatch.setattr(process_runner, "REAP_GRACE_S", 0.5)
    runner = make_runner(Counter)
    busy(runner, qtbot, str(tmp_path / "never"))
    runner.release()
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=10_000)
    assert runner._process.exitcode == -signal.SIGTERM
    qtbot.waitUntil(lambda: gone(runner.pid), timeout=5000)


def test_frames_bring_the_history_in_small_pieces(make_runner, qtbot):
    from functools import partial

    runner = make_runner(partial(Counter, limit=2000))
    runner.play()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=10_000)
    qtbot.waitUntil(lambda: runner.frames[-1]["step"] == 2000, timeout=5000)
    steps, loss = runner.frames[-1]["metrics"].get("loss")
    np.testing.assert_array_equal(steps, np.arange(1, 2001))
    assert np.all(loss == 1.0)
    assert runner.stats.frames == len(runner.frames) and runner.stats.bytes > 0
    # Each frame holds the rows since the last one: bytes stay small however long the run.
    assert runner.stats.bytes / runner.stats.frames < 2000 * 8


def test_a_dead_child_is_a_failure_not_a_hang(make_runner, qtbot):
    runner = make_runner(Counter)
    runner.play()
    os.kill(runner.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: runner.state == FAILED, timeout=5000)
    assert any("ended unexpectedly" in m for _, m in runner.events)


def test_the_child_takes_the_guis_environment_and_never_imports_qt(make_runner, qtbot, monkeypatch, tmp_path):
    """A child forked from the fork server sees the GUI's environment and folder as they
    are when the run starts (not the server's), and a frame request does not make it
    import Qt (a call's function is imported by its module in the child)."""
    import sys
    from functools import partial

    make_runner(partial(Counter, step_s=0.002))  # the fork server runs from here on
    monkeypatch.setenv("VIGUI_TEST_MARK", "fresh")
    monkeypatch.chdir(tmp_path)
    runner = make_runner(partial(Counter, step_s=0.002))
    runner.request_frame()
    runner.step_once()
    qtbot.waitUntil(lambda: runner.steps[-1] == 1, timeout=5000)
    seen = ask(runner, qtbot, lambda exp: (os.environ.get("VIGUI_TEST_MARK"), os.getcwd(),
                                           "PySide6" in sys.modules))
    assert seen == ("fresh", str(tmp_path), False)


def _held_start(monkeypatch, fail: bool = False):
    """Make the next child's start wait until the test lets it go (a fork server still
    importing torch), or fail; returns (let_go event, box with whether it was let go)."""
    import threading

    let_go, seen = threading.Event(), []
    start = multiprocessing.process.BaseProcess.start

    def held(self):
        seen.append(let_go.wait(20))
        if fail:
            raise OSError("no fork server")
        start(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", held)
    return let_go, seen


def test_the_window_never_waits_for_the_child_to_start(qtbot, monkeypatch):
    """The start waits for the fork server (seconds while it imports torch): it happens
    off the GUI thread. Commands given meanwhile are carried out once the child runs."""
    from functools import partial

    let_go, seen = _held_start(monkeypatch)
    runner = ProcessRunner(partial(Counter, step_s=0.002))  # returns, the start still held
    assert runner.is_alive and runner.pid is None and not seen
    runner.step_once()
    runner.step_once()
    steps = []
    runner.progress.connect(lambda n, rate: steps.append(n))
    let_go.set()
    qtbot.waitUntil(lambda: bool(steps) and steps[-1] == 2, timeout=START_MS)
    assert seen == [True] and runner.pid is not None  # let go by the test, not timed out
    assert runner.close(5.0) and not runner.is_alive


def test_a_child_that_cannot_start_is_a_failure_and_closes(qtbot, monkeypatch):
    from functools import partial

    let_go, _ = _held_start(monkeypatch, fail=True)
    runner = ProcessRunner(partial(Counter, step_s=0.002))
    failed = []
    runner.failed.connect(failed.append)
    let_go.set()
    qtbot.waitUntil(lambda: bool(failed), timeout=START_MS)
    assert "could not start: no fork server" in failed[0] and runner.state == FAILED
    assert runner.close(5.0) and not runner.is_alive and runner.pid is None


def test_closing_while_the_child_is_still_starting(qtbot, monkeypatch):
    from functools import partial

    let_go, _ = _held_start(monkeypatch)
    runner = ProcessRunner(partial(Counter, step_s=0.002))
    runner.release()  # the page is left before its child ever ran
    let_go.set()
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=START_MS)
    assert runner._process.exitcode is not None and not multiprocessing.active_children()
