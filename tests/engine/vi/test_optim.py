"""Black-box VI's Adam and cosine annealing (engine/vi/optim.py) against torch.optim's,
side by side: the same numbers to the last bit, and no torch._dynamo import."""
import math
import subprocess
import sys

import pytest
import torch

from engine.vi.bbvi import FAMILIES, BBVIConfig, BBVIExperiment
from engine.vi.optim import Adam, CosineAnnealing

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_adam_and_cosine_annealing_match_torch_bit_for_bit():
    """Noisy gradients of a quadratic, three cosine periods (so the rate goes down, back
    up through torch's restart rule and down again), one parameter that has no gradient
    on odd steps (torch skips it and does not count its step)."""
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen)]
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    t_max, lr = 40, 0.05
    opt, sched = Adam(ours, lr=lr), None
    sched = CosineAnnealing(opt, t_max=t_max, eta_min=0.01 * lr)
    ref = torch.optim.Adam(theirs, lr=lr)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=t_max, eta_min=0.01 * lr)
    for step in range(3 * t_max):
        noise = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in start]
        for params in (ours, theirs):
            loss = (params[0] - 1).pow(2).sum() + (params[0] * noise[0]).sum()
            if step % 2 == 0:
                loss = loss + (params[1] ** 4).sum() + (params[1] * noise[1]).sum()
            loss.backward()
        opt.step()
        ref.step()
        opt.zero_grad()
        ref.zero_grad()
        sched.step()
        ref_sched.step()
        assert opt.lr == ref_sched.get_last_lr()[0], step
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), (step, (a - b).abs().max())
    assert opt.steps == [3 * t_max, 3 * t_max // 2]
    # the closed form the recursion follows, at a point past one period
    t = 3 * t_max
    assert math.isclose(opt.lr, 0.01 * lr + (lr - 0.01 * lr) * (1 + math.cos(math.pi * t / t_max)) / 2,
                        rel_tol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("divergence", ["reverse", "forward"])
def test_a_bbvi_run_is_the_run_torch_optim_gave(family, divergence):
    """The experiment with its optimiser swapped for torch.optim's ends on the same q."""
    config = BBVIConfig(target="banana", family=family, divergence=divergence, max_steps=60,
                        samples=16, anneal=True, device="cpu")
    ours, theirs = BBVIExperiment(config, seed=3), BBVIExperiment(config, seed=3)
    theirs.opt = torch.optim.Adam(theirs.q.parameters(), lr=config.lr)
    theirs.sched = torch.optim.lr_scheduler.CosineAnnealingLR(theirs.opt, T_max=config.max_steps,
                                                              eta_min=0.01 * config.lr)
    while not ours.done:
        ours.step()
        theirs.step()
    for a, b in zip(ours.q.parameters(), theirs.q.parameters(), strict=True):
        assert torch.equal(a, b)
    assert ours.metrics.get("elbo")[1].tolist() == theirs.metrics.get("elbo")[1].tolist()


def test_bad_settings_are_refused():
    p = [torch.zeros(2, requires_grad=True)]
    for kwargs in ({"lr": -1.0}, {"lr": math.nan}, {"betas": (1.0, 0.999)}, {"eps": -1e-8}):
        with pytest.raises(ValueError, match="Adam needs"):
            Adam(p, **kwargs)
    with pytest.raises(ValueError, match="t_max"):
        CosineAnnealing(Adam(p), t_max=0)


def test_a_bbvi_run_does_not_import_torchs_compiler():
    """The point of the module: a run on the GUI's process imports no torch._dynamo."""
    code = ("import sys\nfrom engine.vi.bbvi import BBVIConfig, BBVIExperiment\n"
            "e = BBVIExperiment(BBVIConfig(family='flow', max_steps=5, device='cpu', threads=1))\n"
            "while not e.done: e.step()\n"
            "print(e.steps, 'torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["5", "False"]
