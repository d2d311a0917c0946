"""StepLimit: a scene's {"steps": N} stops an Experiment at exactly N steps."""
import pickle
from functools import partial

import pytest

from engine.cavi.model import CaviConfig, CaviExperiment
from engine.core.step_limit import StepLimit, limited


def make():
    return CaviExperiment(CaviConfig(k=3, n=200, true_k=3, data_seed=1).validate())


def test_stops_at_exactly_the_limit_and_passes_everything_else_through():
    exp = limited(make, 7)
    assert not exp.done
    while not exp.done:
        exp.step()
    assert exp.steps == 7
    assert exp.metrics is exp.experiment.metrics
    exp.note = 1  # attributes are set on the experiment itself
    assert exp.experiment.note == 1


def test_an_experiment_done_earlier_stays_done():
    exp = StepLimit(make(), 10_000)
    while not exp.done:
        exp.step()
    assert exp.experiment.converged and exp.steps < 10_000


def test_the_factory_pickles_for_a_child_process():
    factory = pickle.loads(pickle.dumps(partial(limited, make, 3)))
    assert factory().limit == 3


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_bad_limits_are_refused(bad):
    with pytest.raises(ValueError, match="limit"):
        StepLimit(make(), bad)
