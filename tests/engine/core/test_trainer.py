"""engine.core.trainer.TorchTrainer through the smallest real subclass: logistic regression
on the digits (a model and a loss; the base does the rest)."""
import copy
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.core import trainer
from engine.core.checkpoint import CheckpointError
from engine.core.params import Config, param
from engine.core.runtime import NonFiniteError
from engine.core.trainer import TorchTrainer

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@dataclass(frozen=True)
class LogRegConfig(Config):
    dataset: str = trainer.dataset_param()
    lr: float = trainer.lr_param(1e-2)
    batch_size: int = trainer.batch_size_param()
    device: str = trainer.device_param("cpu")
    epochs: int | None = trainer.epochs_param()
    eval_every: int = trainer.eval_every_param()
    eval_size: int = trainer.eval_size_param()
    threads: int | None = trainer.threads_param()
    l2: float = param(0.0, lo=0.0, hi=1.0)


class LogReg(TorchTrainer):
    kind, config_class, architecture = "logreg", LogRegConfig, ()

    def build_model(self):
        return nn.Linear(self.n_in, self.n_classes)

    def batch_loss(self, x, y):
        ce = F.cross_entropy(self.model(x), y)
        return ce + self.config.l2 * self.model.weight.square().sum(), {"ce": ce}

    def test_metrics(self):
        logits = self.model(self.eval_x)
        return {"test_acc": float((logits.argmax(1) == self.eval_y).float().mean())}


def run(exp, steps):
    return [exp.step()["loss"] for _ in range(steps)]


def state_of(exp):
    """Deep copies of the weights and of the whole Adam state."""
    return copy.deepcopy(exp.model.state_dict()), copy.deepcopy(exp.optimizer.state_dict())


def assert_same_state(a, b):
    (wa, oa), (wb, ob) = a, b
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for i in oa["state"]:
        for key, value in oa["state"][i].items():
            assert torch.equal(value, ob["state"][i][key]), (i, key)


def test_a_model_and_a_loss_train_on_real_data(digits):
    exp = LogReg(LogRegConfig(epochs=8, eval_size=360), seed=0, dataset=digits)
    assert exp.total_steps == 8 * math.ceil(len(digits.train_x) / 128)
    while not exp.done:
        exp.step()
    assert exp.steps == exp.total_steps and exp.epoch == pytest.approx(8.0)
    steps, acc = exp.metrics.get("test_acc")
    assert len(acc) == 8  # measured at each epoch end
    assert acc[-1] > 0.9  # logistic regression on the digits: about 95%
    loss = exp.metrics.column("loss")
    assert loss[-12:].mean() < 0.5 * loss[:3].mean()
    assert exp.metrics.column("ce")[-1] == pytest.approx(loss[-1])  # l2 = 0
    snap = exp.snapshot()
    assert snap["step"] == exp.steps and snap["samples_seen"] == 8 * len(digits.train_x)
    assert snap["samples_per_s"] > 0 and snap["device"] == "cpu"


def test_each_epoch_is_a_fresh_shuffle_from_seed_and_epoch(digits):
    exp = LogReg(seed=3, dataset=digits)
    p0, p1 = exp._permutation(0), exp._permutation(1)
    n = len(digits.train_x)
    assert torch.equal(torch.sort(p0).values, torch.arange(n))  # every row once an epoch
    assert not torch.equal(p0, p1)
    assert torch.equal(p1, LogReg(seed=3, dataset=digits)._permutation(1))
    assert not torch.equal(p0, LogReg(seed=4, dataset=digits)._permutation(0))
    # Batches stop at the epoch's end: the last one is smaller, the next epoch starts whole.
    per_epoch = exp.steps_per_epoch
    run(exp, per_epoch)
    assert exp.samples_seen == n
    exp.step()
    assert exp.samples_seen == n + 128


def test_same_seed_same_run_and_the_global_rng_is_left_alone(digits):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = LogReg(seed=1, dataset=digits)
    assert torch.equal(torch.rand(1), before)  # the init used its own generator
    b = LogReg(seed=1, dataset=digits)
    assert run(a, 15) == run(b, 15)


def test_resume_continues_exactly(tmp_path, digits):
    a = LogReg(seed=2, dataset=digits)
    run(a, 17)  # past an epoch end (12 steps)
    a.save(tmp_path / "a.pt")
    b = LogReg.load(tmp_path / "a.pt", dataset=digits)
    assert b.steps == 17 and b.metrics.state() == a.metrics.state()
    assert_same_state(state_of(a), state_of(b))
    assert run(a, 10) == run(b, 10)


def test_a_nan_gradient_with_a_finite_loss_keeps_the_last_good_state(digits):
    exp = LogReg(seed=0, dataset=digits)
    reference = LogReg(seed=0, dataset=digits)
    run(exp, 5)
    run(reference, 5)
    good = state_of(exp)
    hook = exp.model.weight.register_hook(lambda g: torch.full_like(g, math.nan))
    with pytest.raises(NonFiniteError, match="gradient became non-finite at step 6"):
        exp.step()
    assert exp.steps == 5 and exp.samples_seen == 5 * 128 and len(exp.metrics) == 5
    assert_same_state(state_of(exp), good)  # weights and Adam moments: bit for bit
    hook.remove()
    assert run(exp, 3) == run(reference, 3)  # and it goes on as if nothing had happened


def test_a_nan_loss_part_is_caught_too(digits):
    exp = LogReg(seed=0, dataset=digits)
    run(exp, 2)
    good = state_of(exp)
    exp.batch_loss = lambda x, y: (exp.model(x).sum() * 0.0, {"ce": torch.tensor(math.inf)})
    with pytest.raises(NonFiniteError, match="the ce became non-finite"):
        exp.step()
    assert_same_state(state_of(exp), good)


def test_subclass_and_config_mistakes_are_clear(digits):
    class NoKind(LogReg):
        kind = ""

    with pytest.raises(TypeError, match="must set kind and config_class"):
        NoKind(dataset=digits)

    @dataclass(frozen=True)
    class Bare(Config):
        dataset: str = trainer.dataset_param()

    class BareTrainer(LogReg):
        config_class = Bare

    with pytest.raises(TypeError, match="lacks the training field"):
        BareTrainer(dataset=digits)


def test_load_weights_checks_before_touching(tmp_path, digits):
    a = LogReg(seed=0, dataset=digits)
    run(a, 3)
    a.save(tmp_path / "a.pt")
    other = LogReg(LogRegConfig(l2=0.1), seed=5, dataset=digits)
    run(other, 2)
    other.load_weights(tmp_path / "a.pt")
    assert torch.equal(other.model.weight, a.model.weight) and other.steps == 2
    assert not other.optimizer.state  # Adam restarts
    with pytest.raises(CheckpointError, match="'logreg' checkpoint, not a 'vae'"):
        from engine.vae.model import VAEExperiment
        VAEExperiment.load(tmp_path / "a.pt", dataset=digits)
    np.testing.assert_array_equal(other.images(other.eval_x[:2]).shape, (2, 8, 8))
