"""The ProcessRunner: the experiment in a spawned child process, same interface and
signals as the thread runner; close is prompt and leaves no process behind."""
import multiprocessing
import os
import signal
import time

import pytest

from counting import Counter
from vigui.process_runner import ProcessRunner
from vigui.worker import FAILED, FINISHED, PAUSED, RUNNING

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
        qtbot.waitUntil(lambda: bool(runner.events), timeout=5000)
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


def test_close_mid_run_is_prompt(make_runner, qtbot):
    from functools import partial

    runner = make_runner(partial(Counter, step_s=0.001))
    runner.play()
    qtbot.waitUntil(lambda: runner.steps[-1] > 50, timeout=5000)
    runner.call(lambda e: time.sleep(0.2))  # a request in flight
    t0 = time.perf_counter()
    assert runner.close(5.0)
    assert time.perf_counter() - t0 < 3.0
    assert runner._process.exitcode == 0
    runner.play()  # commands after close are ignored
    runner.call(lambda e: 1)


def test_a_dead_child_is_a_failure_not_a_hang(make_runner, qtbot):
    runner = make_runner(Counter)
    runner.play()
    os.kill(runner.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: runner.state == FAILED, timeout=5000)
    assert any("ended unexpectedly" in m for _, m in runner.events)
