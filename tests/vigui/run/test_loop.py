"""The run loop's pacing as behaviour, on a fake clock (no wall time is measured):
the rate limit spaces steps, frames are capped and wait for the GUI, expensive views
keep to their share of the time, frames carry only the new metric rows."""
import pickle

import numpy as np
import pytest

from engine.core.runtime import MetricStore
from tests.counting import Counter
from vigui.run.loop import FINISHED, RunLoop


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class TimedCounter(Counter):
    """A Counter whose steps and heavy views cost fake time."""

    def __init__(self, clock, step_s=0.001, heavy_s=0.0, **kwargs):
        super().__init__(**kwargs)
        self.clock, self.cost, self.heavy_cost = clock, step_s, heavy_s
        self.starts, self.heavy_starts = [], []

    def _step(self):
        self.starts.append(self.clock.t)
        self.clock.t += self.cost
        return super()._step()

    def heavy_snapshot(self):
        self.heavy_starts.append(self.clock.t)
        self.clock.t += self.heavy_cost
        self.heavy_calls += 1
        return {"heavy": self.steps}


def drive(exp, clock, until, rate=None, draw_s=0.0, gui_draws=True, **options):
    """Run a RunLoop on this thread until fake time ``until``; the GUI draws each frame
    in ``draw_s`` (at once, or never if not ``gui_draws``). Returns (loop, events)."""
    events = []

    class Loop(RunLoop):
        def _wait(self, timeout):
            assert timeout is not None, "the loop would wait for a command forever"
            clock.t += timeout
            if clock.t >= until:
                self.close()

    def post(kind, *args):
        events.append((clock.t, kind, args))
        if kind == "frame" and gui_draws:
            loop.frame_drawn(draw_s)
        if clock.t >= until:
            loop.close()

    loop = Loop(lambda: exp, post, **options)
    loop.clock = clock
    loop.set_rate(rate)
    loop.play()
    loop.run()
    return loop, events


def frames(events):
    return [(t, args) for t, kind, args in events if kind == "frame"]


def test_rate_limit_spaces_steps_by_the_period():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.002)
    drive(exp, clock, until=1.0, rate=50.0)
    gaps = np.diff(exp.starts)
    assert len(exp.starts) >= 45
    np.testing.assert_allclose(gaps, 0.02, rtol=1e-9)  # 50 steps/s, whatever a step costs
    fast = TimedCounter(FakeTime(), step_s=0.002)
    drive(fast, fast.clock, until=1.0)  # no rate: back to back
    np.testing.assert_allclose(np.diff(fast.starts), 0.002, rtol=1e-9)


def test_frames_are_capped_at_max_fps():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    _, events = drive(exp, clock, until=2.0, max_fps=30.0)
    times = [t for t, _ in frames(events)]
    assert exp.steps > 1900  # thousands of steps ...
    assert 58 <= len(times) <= 62  # ... but 30 frames a second (+ the first)
    assert min(np.diff(times[1:])) >= 1 / 30 - 1e-9


def test_frames_wait_for_the_gui_to_draw():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    _, events = drive(exp, clock, until=1.0, gui_draws=False)
    assert len(frames(events)) == 1  # the first frame was never drawn: no second one
    assert exp.steps > 900  # and training went on meanwhile


def test_slow_drawing_spaces_frames_to_the_view_budget():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    _, events = drive(exp, clock, until=10.0, max_fps=30.0, view_budget=0.1, draw_s=0.02)
    times = [t for t, _ in frames(events)]
    # Drawing costs 20 ms; frames get 5% of the time: one every 0.4 s once the loop has
    # learnt the cost (a moving average), never more often than 30 a second.
    gaps = np.diff(times[1:])
    assert np.all(gaps >= 1 / 30 - 1e-9) and np.all(np.diff(gaps) >= -1e-9)
    assert gaps[-3:] == pytest.approx(0.4, rel=0.01)


def test_heavy_views_keep_to_their_share_of_the_time():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.0005, heavy_s=0.02)
    _, events = drive(exp, clock, until=10.0, view_budget=0.2, heavy_min_interval=0.05)
    heavy_time = exp.heavy_calls * 0.02
    assert heavy_time <= 0.1 * clock.t + 0.02  # half of the 20% budget (+ the first view)
    assert exp.heavy_calls >= 0.9 * 0.1 * clock.t / 0.02  # and not starved
    fresh = [args[1] for _, args in frames(events) if args[1] is not None]
    assert len(fresh) == exp.heavy_calls  # each heavy view travels once
    other = FakeTime()
    cheap = TimedCounter(other, step_s=0.0005, heavy_s=0.0001)
    drive(cheap, other, until=2.0, heavy_min_interval=0.5)
    assert cheap.heavy_calls <= 2.0 / 0.5 + 1  # cheap views: the minimum interval rules


def test_frames_carry_only_new_metric_rows_and_rebuild_the_history():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    _, events = drive(exp, clock, until=3.0, max_fps=30.0)
    store = MetricStore()
    sizes = []
    for _, (snap, _heavy, delta, _) in frames(events):
        assert "metrics" not in snap  # the history never travels whole
        store.apply(delta)
        sizes.append(len(pickle.dumps(delta)))
    sent = snap["steps_done"]  # the last frame's step count
    steps, loss = store.get("loss")
    np.testing.assert_array_equal(steps, np.arange(1, sent + 1))
    np.testing.assert_array_equal(loss, exp.metrics.get("loss")[1][:sent])
    # A frame holds the ~33 rows of its 1/30 s, not the thousands before it.
    assert max(sizes[5:]) < 3 * np.median(sizes[5:])
    assert max(sizes[5:]) < len(pickle.dumps(exp.metrics.state())) / 20


def test_closing_while_building_posts_nothing_more():
    events = []
    loop = None

    def build():
        loop.close()  # the GUI closed the run while it was being built
        return Counter()

    loop = RunLoop(build, lambda kind, *args: events.append(kind))
    loop.play()
    loop.run()
    assert events == []


def test_stop_finishes_and_play_does_not_resume():
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001, limit=50)
    loop, events = drive(exp, clock, until=10.0)
    assert exp.steps == 50 and ("state", (FINISHED,)) in [(k, a) for _, k, a in events]


def test_a_thread_runner_steps_only_once_the_gui_has_drawn():
    """yield_to_gui (thread runners): no step while a frame waits to be drawn; a GUI
    that never draws delays the run by at most a second per frame, never stops it."""
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    drawn_at = []
    loop_box = []

    class Loop(RunLoop):
        def _wait(self, timeout):
            clock.t += timeout
            if clock.t >= 3.0:
                self.close()

    def post(kind, *args):
        if kind == "frame":
            # The GUI draws 50 ms after each frame; meanwhile no step may start.
            drawn_at.append((clock.t, clock.t + 0.05, exp.steps))
            clock.t += 0.05
            loop_box[0].frame_drawn(0.05)
        if clock.t >= 3.0:
            loop_box[0].close()

    loop = Loop(lambda: exp, post, max_fps=30.0, yield_to_gui=True)
    loop_box.append(loop)
    loop.clock = clock
    loop.play()
    loop.run()
    for posted, drawn, _steps in drawn_at:
        assert not any(posted <= t < drawn for t in exp.starts)

    stuck = FakeTime()
    slow = TimedCounter(stuck, step_s=0.001)
    _, events = drive(slow, stuck, until=5.0, gui_draws=False, yield_to_gui=True)
    assert slow.steps >= 4  # waits up to a second for each undrawn frame, then goes on
    assert len(frames(events)) >= 4


def test_a_pause_sends_the_frame_of_the_step_it_stopped_at():
    """Frames are capped, so the last one drawn while playing lags the run; pausing sends
    one more with the history up to the step shown (Keep this run pins all of it)."""
    clock = FakeTime()
    exp = TimedCounter(clock, step_s=0.001)
    events = []

    class Loop(RunLoop):
        def _wait(self, timeout):
            if timeout is None:  # paused: nothing more will come
                self.close()
                return
            clock.t += timeout

    def post(kind, *args):
        events.append((clock.t, kind, args))
        if kind == "frame":
            loop.frame_drawn(0.0)
        if clock.t >= 0.5 and loop._playing:
            loop.pause()

    loop = Loop(lambda: exp, post, max_fps=10.0)
    loop.clock = clock
    loop.play()
    loop.run()
    sent = frames(events)
    received = MetricStore()
    for _, (_snap, _heavy, delta, _cost) in sent:
        received.apply(delta)
    assert exp.steps > 400
    assert sent[-1][1][0]["steps_done"] == exp.steps
    assert len(received.get("loss")[0]) == exp.steps
