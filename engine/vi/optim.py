"""Adam with cosine annealing for black-box VI, without ``torch.optim``.

torch's ``Optimizer`` imports ``torch._dynamo`` the first time one is built (its
``add_param_group`` is wrapped by ``torch._disable_dynamo``, whose first call imports
the compiler): 2 s on an idle core, 3-5 s on a busy 2-core machine, ~the cost of
``import torch`` again. Black-box VI runs on a thread of the GUI's process, so that
import shared the interpreter lock with the window while a tour stop was being drawn,
and closing the stop waited for it. These few lines do the same arithmetic as
``torch.optim.Adam`` (its single-tensor path, which torch takes on the CPU) followed by
``torch.optim.lr_scheduler.CosineAnnealingLR`` (its recursive form), operation for
operation, so a run gives the same numbers to the last bit on the CPU
(tests/engine/vi/test_optim.py runs both side by side).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["Adam", "CosineAnnealing"]


class Adam:
    """``torch.optim.Adam(params, lr, betas, eps)`` without weight decay or AMSGrad."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not lr >= 0.0 or not eps >= 0.0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam needs lr >= 0, eps >= 0 and betas in [0, 1), got "
                             f"lr={lr}, betas={betas}, eps={eps}")
        self.params = list(params)
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.steps = [0] * len(self.params)  # per parameter, as torch counts them
        self.exp_avg: list[torch.Tensor | None] = [None] * len(self.params)
        self.exp_avg_sq: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Drop the gradients (``set_to_none=True``, torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:  # torch skips a parameter without a gradient
                continue
            grad = p.grad
            if self.exp_avg[i] is None:
                self.exp_avg[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.exp_avg_sq[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
            assert exp_avg is not None and exp_avg_sq is not None
            self.steps[i] += 1
            step = float(self.steps[i])
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1 ** step)
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)


class CosineAnnealing:
    """``CosineAnnealingLR(optimizer, T_max, eta_min)`` on an :class:`Adam`: after
    step t the rate is eta_min + (lr₀ − eta_min)(1 + cos(πt/T_max))/2, updated by
    torch's recursive rule (which is what reproduces its numbers bit for bit)."""

    def __init__(self, optimizer: Adam, t_max: int, eta_min: float = 0.0):
        if t_max < 1:
            raise ValueError(f"t_max must be at least 1, got {t_max}")
        self.optimizer, self.t_max, self.eta_min = optimizer, int(t_max), float(eta_min)
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        t, t_max, eta_min = self.last_epoch, self.t_max, self.eta_min
        lr = self.optimizer.lr
        if (t - 1 - t_max) % (2 * t_max) == 0:  # the rate's minimum passed: back up
            lr = lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = ((1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
                  * (lr - eta_min) + eta_min)
        self.optimizer.lr = lr
