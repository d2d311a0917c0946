"""The bounded metric store: full resolution while short, min/max buckets when long."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.runtime import MetricStore, Series


def test_short_history_is_exact():
    store = MetricStore()
    for i in range(1, 101):
        store.append(i, loss=1.0 / i, **({"test": 2.0 * i} if i % 10 == 0 else {}))
    steps, loss = store.get("loss")
    assert np.array_equal(steps, np.arange(1, 101))
    assert np.allclose(loss, 1.0 / np.arange(1, 101))
    steps, test = store.get("test")
    assert np.array_equal(steps, np.arange(10, 101, 10))
    assert store.last() == {"step": 100.0, "loss": 0.01, "test": 200.0}
    arrays = store.as_arrays()
    assert len(arrays["step"]) == 100 and np.isnan(arrays["test"][0]) and arrays["test"][9] == 20.0


def test_a_million_steps_stay_bounded_and_keep_each_buckets_extremes():
    s = Series(recent=256, max_buckets=128)
    rng = np.random.default_rng(0)
    y = rng.standard_normal(1_000_000)
    y[123_457] = 50.0  # a spike far in the past
    y[765_432] = -60.0  # and a dip
    for i, v in enumerate(y):
        s.append(i, v)
    assert s.count == 1_000_000
    assert len(s) <= 2 * 128 + 2 * 256
    x_kept, y_kept = s.arrays()
    assert np.all(np.diff(x_kept) > 0)  # in step order
    assert y_kept.max() == 50.0 and y_kept.min() == -60.0
    # The recent window is exact.
    assert np.array_equal(y_kept[-256:], y[-256:])
    # Every folded bucket holds the true min and max of the raw points it covers.
    bx, by, width = s._old_x, s._old_y, s.width
    assert len(bx) >= 2 * 64
    for b in range(len(bx) // 2):
        chunk = y[b * width:(b + 1) * width]
        assert bx[2 * b] >= b * width and bx[2 * b + 1] < (b + 1) * width
        assert {by[2 * b], by[2 * b + 1]} == {chunk.min(), chunk.max()}


def test_an_experiment_of_a_million_steps_keeps_a_bounded_store_and_small_frames():
    """What a runner does for an hour's run: step, ship the delta every 1,000 steps."""
    from engine.core.runtime import Experiment

    class Wave(Experiment):
        def _step(self):
            t = self.steps + 1
            return {"loss": math.sin(t / 1000) + (9.0 if t == 123_457 else 0.0)}

    exp, gui, cursor = Wave(), MetricStore(), None
    sizes = []
    while exp.steps < 1_000_000:
        exp.step()
        if exp.steps % 1000 == 0:
            delta, cursor = exp.metrics.delta(cursor)
            gui.apply(delta)
            sizes.append([(item[0], len(item[1]) if item[0] == "add" else len(item[1]["x"]))
                          for item in delta.values()])
    # The first frame introduces the series; every later one carries its 1,000 new points.
    assert sizes[0] == [("all", 1000)] and sizes[1:] == [[("add", 1000)]] * 999
    assert exp.metrics.rows == 1_000_000
    series = exp.metrics.series["loss"]
    assert len(series) <= 2 * series.max_buckets + 2 * series.recent + 2
    steps, loss = exp.metrics.get("loss")
    assert loss.max() == pytest.approx(9.0 + math.sin(123.457))  # the spike, kept
    assert steps[np.argmax(loss)] == 123_457
    assert loss.min() == pytest.approx(-1.0, abs=1e-6)  # the wave's troughs, kept
    gx, gy = gui.get("loss")  # the GUI's copy folds the same way
    assert np.array_equal(gx, steps) and np.array_equal(gy, loss)
    assert "metrics" not in exp.snapshot()


def test_delta_carries_only_new_rows_and_rebuilds_a_receiver_that_fell_behind():
    src, dst = MetricStore(recent=64, max_buckets=32), MetricStore(recent=64, max_buckets=32)
    cursor = None
    sizes = []
    for i in range(1, 5001):
        src.append(i, loss=math.sin(i / 50.0))
        if i % 10 == 0:
            delta, cursor = src.delta(cursor)
            sizes.append(len(delta["loss"][1]))
            dst.apply(delta)
    assert max(sizes) == 10  # never the whole history
    assert np.array_equal(src.get("loss")[0], dst.get("loss")[0])
    assert np.array_equal(src.get("loss")[1], dst.get("loss")[1])
    # A receiver far behind gets the whole (bounded) state instead.
    for i in range(5001, 5501):
        src.append(i, loss=float(i))
    delta, cursor = src.delta(cursor)
    assert delta["loss"][0] == "all"
    fresh = MetricStore(recent=64, max_buckets=32)
    fresh.apply(delta)
    assert np.array_equal(fresh.get("loss")[1], src.get("loss")[1])
    assert dst.last() is not None


def test_state_round_trip_and_old_row_format():
    store = MetricStore(recent=16, max_buckets=8)
    for i in range(1, 1001):
        store.append(i, elbo=-1000.0 / i)
    again = MetricStore.from_state(store.state(), recent=16, max_buckets=8)
    assert np.array_equal(again.get("elbo")[1], store.get("elbo")[1])
    assert again.last() == store.last() and again.rows == 1000
    old = MetricStore.from_state([{"step": 1.0, "loss": 3.0}, {"step": 2.0, "loss": 2.0}])
    assert old.get("loss")[1].tolist() == [3.0, 2.0]
    with pytest.raises(ValueError):
        MetricStore.from_state({"series": {"x": {"x": [1, 2], "y": [1]}}})
    with pytest.raises(ValueError):
        MetricStore.from_state("nonsense")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.integers(2, 40),
       st.integers(1, 20))
def test_extremes_survive_any_stream(values, recent, buckets):
    s = Series(recent=recent, max_buckets=buckets)
    for i, v in enumerate(values):
        s.append(i, v)
    _, kept = s.arrays()
    assert kept.max() == max(values) and kept.min() == min(values)
    assert len(s) <= 2 * buckets + 2 * recent + 2
