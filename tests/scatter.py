"""Checking a reported standard error against the scatter of fresh repeats."""
from __future__ import annotations

import numpy as np


class Repeats:
    """Each repeat's figures and their reported SEs (``<name>_se``): the SD of a figure
    over the repeats is what its SE estimates, so their ratio must be near 1."""

    def __init__(self, names):
        self.means = {k: [] for k in names}
        self.ses = {k: [] for k in names}

    def add(self, got: dict) -> None:
        for k in self.means:
            self.means[k].append(got[k])
            self.ses[k].append(got[f"{k}_se"])

    def sd(self, name: str) -> float:
        return float(np.std(self.means[name], ddof=1))

    def check(self, low: float = 0.8, high: float = 1.2) -> None:
        for k in self.means:
            sd, se = self.sd(k), float(np.mean(self.ses[k]))
            assert low < sd / se < high, (k, sd, se)
