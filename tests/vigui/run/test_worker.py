"""The ExperimentRunner: play/pause/step/stop, failures, calls, the metric history it
keeps, closing. (The loop's pacing is tested on a fake clock in test_loop.py.)"""
import math
import time

import numpy as np
import pytest

from engine.core.runtime import Cancelled, MetricStore, NonFiniteError
from tests.counting import Counter
from vigui.run.worker import FAILED, FINISHED, PAUSED, BackgroundJob, ExperimentRunner


@pytest.fixture
def make_runner(qtbot):
    runners = []

    def make(exp, **kwargs):
        runner = ExperimentRunner(lambda: exp, **kwargs)
        frames = []
        runner.snapshot_ready.connect(frames.append)
        runner.frames = frames
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        assert runner.close(5.0)


def test_runs_to_done_and_reports_finished(make_runner, qtbot):
    exp = Counter(limit=200)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=5000)
    assert exp.steps == 200
    qtbot.waitUntil(lambda: bool(runner.frames) and runner.frames[-1]["value"] == 200, timeout=2000)


def test_step_once_does_exactly_one_step(make_runner, qtbot):
    exp = Counter()
    runner = make_runner(exp)
    qtbot.waitUntil(lambda: runner.experiment is not None, timeout=2000)
    for expected in (1, 2, 3):
        runner.step_once()
        qtbot.waitUntil(lambda n=expected: bool(runner.frames) and runner.frames[-1]["step"] == n,
                        timeout=2000)
    time.sleep(0.1)
    assert exp.steps == 3


def test_pause_stops_stepping_and_play_resumes(make_runner, qtbot):
    exp = Counter(step_s=0.001)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: exp.steps > 20, timeout=3000)
    runner.pause()
    qtbot.waitUntil(lambda: runner.state == PAUSED, timeout=2000)
    frozen = exp.steps
    time.sleep(0.1)
    assert exp.steps == frozen
    runner.play()
    qtbot.waitUntil(lambda: exp.steps > frozen + 20, timeout=3000)


def test_frames_bring_the_history_and_heavy_views(make_runner, qtbot):
    exp = Counter(limit=2000)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=10_000)
    qtbot.waitUntil(lambda: runner.frames[-1]["step"] == 2000, timeout=2000)
    store = runner.frames[-1]["metrics"]
    assert store is runner.metrics  # the runner's store, fed by the frames' deltas
    steps, loss = store.get("loss")
    np.testing.assert_array_equal(steps, np.arange(1, 2001))
    np.testing.assert_array_equal(loss, exp.metrics.get("loss")[1])
    assert len(runner.frames) < 2000  # far fewer frames than steps
    assert "heavy" in runner.frames[-1]  # the latest heavy views ride on every frame
    assert runner.stats.frames == len(runner.frames)


def test_the_drawn_history_stays_bounded(make_runner, qtbot):
    from vigui.run.worker import DISPLAY_BUCKETS, DISPLAY_RECENT

    exp = Counter(limit=30_000)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: runner.state == FINISHED, timeout=30_000)
    qtbot.waitUntil(lambda: runner.frames[-1]["step"] == 30_000, timeout=5000)
    steps, loss = runner.metrics.get("loss")
    assert len(steps) <= 2 * DISPLAY_RECENT + 2 * DISPLAY_BUCKETS + 2
    assert steps[0] == 1 and steps[-1] == 30_000 and np.all(np.diff(steps) > 0)
    np.testing.assert_array_equal(steps[-DISPLAY_RECENT:], np.arange(30_001 - DISPLAY_RECENT, 30_001))


def test_exception_becomes_message_and_run_stops(make_runner, qtbot):
    exp = Counter(fail_at=5)
    runner = make_runner(exp)
    messages = []
    runner.failed.connect(messages.append)
    runner.play()
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert "boom" in messages[0]
    assert runner.state == FAILED and exp.steps == 4
    runner.play()  # a failed run does not resume
    time.sleep(0.05)
    assert exp.steps == 4


def test_nan_stops_with_message_and_keeps_last_good_state(make_runner, qtbot):
    exp = Counter(nan_at=10)
    runner = make_runner(exp)
    messages = []
    runner.failed.connect(messages.append)
    runner.play()
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert "loss became nan at step 10" in messages[0]
    assert exp.value == 9 and exp.steps == 9
    qtbot.waitUntil(lambda: runner.frames[-1]["value"] == 9, timeout=2000)


def test_factory_error_is_reported(qtbot):
    def bad():
        raise ValueError("K must be between 1 and 10, got 11")

    runner = ExperimentRunner(bad)
    messages = []
    runner.failed.connect(messages.append)
    qtbot.waitUntil(lambda: bool(messages), timeout=2000)
    assert "K must be between" in messages[0]
    assert runner.close(2.0)


def test_call_runs_on_worker_between_steps(make_runner, qtbot):
    exp = Counter(step_s=0.001)
    runner = make_runner(exp)
    runner.play()
    results, errors = [], []
    runner.call(lambda e: e.value * 0 + 42, results.append)
    runner.call(lambda e: 1 / 0, None, errors.append)
    qtbot.waitUntil(lambda: bool(results and errors), timeout=3000)
    assert results == [42] and "ZeroDivisionError" in errors[0]


def test_close_mid_run_ends_the_thread_between_steps(make_runner, qtbot):
    exp = Counter(step_s=0.002)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: exp.steps > 5, timeout=5000)
    assert runner.close(timeout=None)  # waits for the step in progress, then the thread ends
    assert not runner.is_alive
    frozen = exp.steps
    time.sleep(0.05)
    assert exp.steps == frozen and exp.value == frozen  # no step after close, none cut short
    runner.play()  # commands after close are harmless


def test_metrics_history_roundtrip():
    m = MetricStore()
    m.append(1, loss=2.0)
    m.append(2, loss=1.0, test_loss=3.0)
    arrays = m.as_arrays()
    np.testing.assert_array_equal(arrays["step"], [1, 2])
    assert math.isnan(arrays["test_loss"][0]) and arrays["test_loss"][1] == 3.0
    assert MetricStore.from_list(m.to_list()).to_list() == m.to_list()


def test_non_finite_error_is_raised_by_step():
    exp = Counter(nan_at=1)
    with pytest.raises(NonFiniteError, match="kept the state of step 0"):
        exp.step()
    assert exp.steps == 0 and len(exp.metrics) == 0


@pytest.mark.parametrize("raised", [Cancelled("stopped"), InterruptedError("half-way")])
def test_a_cancelled_job_ends_quietly(qtbot, capfd, raised):
    """Cancel is a normal end: ``cancelled`` fires, ``failed`` does not, nothing on stderr
    (a bare machine's screenshot run cancelled a corpus parse and printed a traceback)."""
    started = []

    def work(report, cancelled):
        started.append(True)
        while not cancelled():
            time.sleep(0.005)
        raise raised

    job = BackgroundJob(work)
    ends = []
    job.cancelled.connect(lambda: ends.append("cancelled"))
    job.failed.connect(lambda msg: ends.append(f"failed: {msg}"))
    job.done.connect(lambda result: ends.append("done"))
    qtbot.waitUntil(lambda: bool(started), timeout=3000)
    job.cancel()
    qtbot.waitUntil(lambda: bool(ends), timeout=3000)
    assert ends == ["cancelled"]
    assert job.close()
    assert "Traceback" not in capfd.readouterr().err


def test_a_job_that_fails_by_itself_still_reports_it(qtbot):
    def work(report, cancelled):
        raise OSError("disk full")

    job = BackgroundJob(work)
    ends = []
    job.failed.connect(ends.append)
    job.cancelled.connect(lambda: ends.append("cancelled"))
    qtbot.waitUntil(lambda: bool(ends), timeout=3000)
    assert ends == ["OSError: disk full"] and job.close()


def test_abandon_does_not_wait_for_a_run_still_being_built(qtbot):
    """A page's first run replaced while its experiment is still being built (a tour
    stop): abandon returns at once, the build ends by itself and nothing is left."""
    import threading

    go, built = threading.Event(), []

    def slow_build():
        go.wait(3.0)  # a build that takes seconds (imports, data) unless told to go
        built.append(True)
        return Counter()

    runner = ExperimentRunner(slow_build)
    runner.abandon()
    assert not built  # abandon did not wait for the build
    go.set()
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=5000)
    assert built and runner._loop.closing  # built, then ended without running
