"""The network pieces every chapter shares: :func:`mlp` and the :func:`adam` factory."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["mlp", "adam"]


def mlp(sizes: list[int] | tuple[int, ...], generator: torch.Generator | None = None) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between them (none after
    the last). With ``generator`` each layer's weight, then bias, is drawn from it as
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the same range as torch's default bias init), so
    a network is reproducible without touching torch's global generator."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least two sizes, got {sizes}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(a, b)
        if generator is not None:
            bound = 1.0 / math.sqrt(a)
            with torch.no_grad():
                lin.weight.copy_((torch.rand(b, a, generator=generator) * 2 - 1) * bound)
                lin.bias.copy_((torch.rand(b, generator=generator) * 2 - 1) * bound)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def adam(params: Iterable[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam, fused where the device supports it: one pass over the weights instead of
    about ten, which on the CPU is most of a small MLP step's time. Falls back to the
    plain implementation where torch has no fused kernel for the device or dtype."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)
