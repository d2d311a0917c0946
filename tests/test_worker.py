"""The ExperimentRunner: play/pause/step/stop, throttled frames, failures, view cadence."""
import math
import time

import numpy as np
import pytest

from counting import Counter
from engine.runtime import Metrics, NonFiniteError
from vigui.worker import FAILED, FINISHED, PAUSED, ExperimentRunner


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
        qtbot.waitUntil(lambda: bool(runner.frames) and runner.frames[-1]["step"] == expected, timeout=2000)
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


def test_frames_are_throttled(make_runner, qtbot):
    exp = Counter()
    runner = make_runner(exp, max_fps=30)
    runner.play()
    qtbot.wait(600)  # the GUI is free to draw every frame it is sent
    runner.pause()
    qtbot.wait(100)
    # Thousands of steps, but at most ~30 frames a second (+ the first and the last).
    assert exp.steps > 500
    assert 3 <= len(runner.frames) <= 0.8 * 30 + 4


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


def test_heavy_views_respect_the_time_budget(make_runner, qtbot):
    # Each heavy view costs 20 ms; with half of a 20% budget they may come at most every
    # ~0.18 s.
    exp = Counter(step_s=0.0005, heavy_s=0.02)
    runner = make_runner(exp, view_budget=0.2, heavy_min_interval=0.05)
    runner.play()
    qtbot.wait(1000)  # the GUI draws frames meanwhile; heavy views ride on frames
    runner.pause()
    qtbot.wait(100)
    assert 2 <= exp.heavy_calls <= 1.0 / 0.18 + 3
    assert any("heavy" in f for f in runner.frames)


def test_close_mid_run_is_prompt(make_runner, qtbot):
    exp = Counter(step_s=0.002)
    runner = make_runner(exp)
    runner.play()
    qtbot.waitUntil(lambda: exp.steps > 5, timeout=2000)
    assert runner.close(5.0)
    assert not runner.is_alive


def test_rate_limit_spaces_steps(make_runner, qtbot):
    exp = Counter()
    stamps = []
    inner = exp._step
    exp._step = lambda: (stamps.append(time.perf_counter()), inner())[1]
    runner = make_runner(exp)
    runner.set_rate(50.0)
    runner.play()
    qtbot.waitUntil(lambda: len(stamps) >= 8, timeout=5000)
    runner.pause()
    # 50 steps/s: consecutive steps start at least ~20 ms apart (load can only add).
    assert min(np.diff(stamps[:8])) >= 0.018


def test_metrics_history_roundtrip():
    m = Metrics()
    m.append(1, loss=2.0)
    m.append(2, loss=1.0, test_loss=3.0)
    arrays = m.as_arrays()
    np.testing.assert_array_equal(arrays["step"], [1, 2])
    assert math.isnan(arrays["test_loss"][0]) and arrays["test_loss"][1] == 3.0
    assert Metrics.from_list(m.to_list()).to_list() == m.to_list()


def test_non_finite_error_is_raised_by_step():
    exp = Counter(nan_at=1)
    with pytest.raises(NonFiniteError, match="kept the state of step 0"):
        exp.step()
    assert exp.steps == 0 and len(exp.metrics) == 0
