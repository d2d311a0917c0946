"""LiveQuery: one request in flight, asked again only when due, stale answers dropped."""
from vigui.run.live import LiveQuery


class FakeRun:
    """Holds the calls; the test answers them in any order."""

    def __init__(self, alive=True):
        self.calls, self.alive = [], alive

    def call(self, fn, on_done=None, on_error=None):
        if not self.alive:
            return False
        self.calls.append((fn, on_done, on_error))
        return True


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_asks_again_only_when_the_model_moved_and_the_interval_passed():
    clock, run, shown = Clock(), FakeRun(), []
    q = LiveQuery(interval=1.0, clock=clock)
    assert q.due(0)
    q.ask(run, lambda exp: exp * 2, on_done=shown.append)
    assert q.busy and not q.due(5)  # one request in flight
    fn, done, _ = run.calls[-1]
    done(fn(21))
    q.step = 5
    assert shown == [42] and not q.busy
    clock.t += 0.5
    assert not q.due(6)  # too soon
    clock.t += 0.6
    assert not q.due(5)  # the model has not moved
    assert q.due(6)


def test_an_answer_to_an_old_question_is_dropped():
    run, shown, errors = FakeRun(), [], []
    q = LiveQuery(interval=1.0, clock=Clock())
    q.ask(run, None, on_done=shown.append, on_error=errors.append)
    old_done, old_error = run.calls[-1][1:]
    q.ask(run, None, on_done=shown.append)  # the user changed the question
    old_done("old")
    old_error("old failure")
    assert shown == [] and errors == [] and q.busy
    run.calls[-1][1]("new")
    assert shown == ["new"] and not q.busy


def test_invalidate_drops_answers_in_flight_and_stale_asks_at_once():
    clock, run, shown = Clock(), FakeRun(), []
    q = LiveQuery(interval=10.0, clock=clock)
    q.ask(run, None, on_done=shown.append)
    q.invalidate()  # a reset: a new run
    assert not q.busy
    run.calls[-1][1]("from the old run")
    assert shown == []
    q.ask(run, None, on_done=shown.append)
    run.calls[-1][1]("x")
    q.step = 3
    assert not q.due(4)  # within the interval
    q.stale()  # new weights: ask at the next frame even at the same step
    assert q.due(3)


def test_no_run_means_not_busy():
    q = LiveQuery(interval=1.0, clock=Clock())
    assert q.ask(FakeRun(alive=False), None, on_done=print) is False
    assert not q.busy and q.due(0)


def test_ask_latest_keeps_one_request_in_flight_and_sends_the_newest_waiting_one():
    run, shown, errors = FakeRun(), [], []
    q = LiveQuery(interval=1.0, clock=Clock())
    q.ask_latest(run, "first", on_done=shown.append, on_error=errors.append)
    q.ask_latest(run, "second", on_done=shown.append, on_error=errors.append)
    q.ask_latest(run, "third", on_done=shown.append, on_error=errors.append)
    assert [c[0] for c in run.calls] == ["first"]  # one in flight, the rest wait
    run.calls[-1][1]("answer 1")
    assert shown == ["answer 1"]  # the answer in flight is still shown
    assert [c[0] for c in run.calls] == ["first", "third"] and q.busy  # the newest wins
    q.ask_latest(run, "fourth", on_done=shown.append, on_error=errors.append)
    run.calls[-1][2]("failed")  # an error with a newer question waiting: not shown
    assert errors == [] and run.calls[-1][0] == "fourth"
    run.calls[-1][2]("failed again")
    assert errors == ["failed again"] and not q.busy
    q.ask_latest(run, "fifth", on_done=shown.append)
    q.ask_latest(run, "sixth", on_done=shown.append)
    q.invalidate()  # a reset drops the waiting question too
    run.calls[-1][1]("late")
    assert shown == ["answer 1"] and run.calls[-1][0] == "fifth"
