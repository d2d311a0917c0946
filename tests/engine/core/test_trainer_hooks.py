"""The trainer's checkpoint hooks, the shared training config and the thread policy, through
a small real subclass: logistic regression on the digits that also keeps a running
average of its weights (extra state a checkpoint must carry)."""
import dataclasses
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.core import runtime
from engine.core.checkpoint import CheckpointError
from engine.core.params import param, specs
from engine.core.trainer import TorchTrainer, TrainingConfig

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@dataclass(frozen=True)
class AvgConfig(TrainingConfig):
    decay: float = param(0.9, lo=0.0, hi=1.0)
    device: str = "cpu"  # redeclared: the field keeps its place, the default changes


class Averaged(TorchTrainer):
    """Logistic regression plus an exponential moving average of its weight."""

    kind, config_class = "logreg-avg", AvgConfig

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.average = self.model.weight.detach().clone()
        self.cache = "built"

    def build_model(self):
        return nn.Linear(self.n_in, self.n_classes)

    def batch_loss(self, x, y):
        return F.cross_entropy(self.model(x), y), {}

    def _step(self):
        out = super()._step()
        d = self.config.decay
        self.average = d * self.average + (1 - d) * self.model.weight.detach()
        return out

    def on_save_checkpoint(self, state):
        super().on_save_checkpoint(state)
        state["average"] = self.average.clone()

    def on_load_checkpoint(self, state):
        avg = state.get("average")
        if not isinstance(avg, torch.Tensor) or avg.shape != self.average.shape:
            raise CheckpointError(f"{self.loading_path}: no weight average")
        super().on_load_checkpoint(state)
        self.average = avg.clone()

    def weights_changed(self):
        self.cache = "dropped"


def test_extra_state_goes_through_the_hooks_and_the_run_resumes_exactly(tmp_path, digits):
    a = Averaged(AvgConfig(), seed=3, dataset=digits)
    for _ in range(7):
        a.step()
    a.save(tmp_path / "a.pt")
    b = Averaged.load(tmp_path / "a.pt", dataset=digits)
    assert torch.equal(b.average, a.average) and b.cache == "dropped"
    assert (b.steps, b.samples_seen) == (a.steps, a.samples_seen)
    for _ in range(5):
        a.step()
        b.step()
    assert torch.equal(a.average, b.average)
    assert torch.equal(a.model.weight, b.model.weight)


def test_a_hook_that_refuses_leaves_the_running_model_as_it_was(tmp_path, digits):
    plain = Averaged(AvgConfig(), seed=3, dataset=digits)
    plain.step()
    TorchTrainer.save(plain, tmp_path / "x.pt")  # as the base alone writes it: no average
    state = torch.load(tmp_path / "x.pt", weights_only=False)
    state["extra"].pop("average", None)
    torch.save(state, tmp_path / "x.pt")
    other = Averaged(AvgConfig(), seed=4, dataset=digits)
    before = (other.model.weight.clone(), other.steps, other.cache)
    with pytest.raises(CheckpointError, match="no weight average"):
        other._restore(state, tmp_path / "x.pt", full=True)
    assert torch.equal(other.model.weight, before[0]) and other.steps == before[1]
    assert other.cache == before[2]


def test_training_fields_are_declared_once_and_listed_after_the_chapters_own():
    names = [p.name for p in specs(AvgConfig)]
    assert names[:2] == ["dataset", "decay"]
    assert set(names[2:]) == {"lr", "batch_size", "epochs", "eval_every", "eval_size", "threads"}
    assert AvgConfig().device == "cpu" and AvgConfig().lr == 1e-3


@pytest.mark.parametrize("cores", [2, 16])
def test_threads_none_follows_the_policy(monkeypatch, digits, cores):
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: cores)
    Averaged(AvgConfig(threads=None), dataset=digits)
    assert torch.get_num_threads() == runtime.default_threads("cli") == (1 if cores == 2 else 8)
    Averaged(dataclasses.replace(AvgConfig(), threads=3), dataset=digits)
    assert torch.get_num_threads() == 3
