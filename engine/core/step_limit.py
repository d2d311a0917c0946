"""Run an Experiment for a fixed number of steps: a scene's "run": {"steps": N}.

:class:`StepLimit` wraps an Experiment and reports ``done`` once it has taken ``limit``
steps (or is done by itself), so the runner stops at exactly that step: with fixed
seeds a scene shows the same numbers every time it opens. Everything else is the
wrapped experiment's (attribute reads are passed through).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class StepLimit:
    """An Experiment that stops after ``limit`` steps (see the module docstring)."""

    def __init__(self, experiment: Any, limit: int):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number of steps >= 0, got {limit!r}")
        self.__dict__["experiment"] = experiment
        self.__dict__["limit"] = limit

    @property
    def done(self) -> bool:
        return bool(self.experiment.done) or self.experiment.steps >= self.limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["experiment"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.experiment, name, value)


def limited(factory: Callable[[], Any], limit: int) -> StepLimit:
    """Build the experiment with ``factory`` and limit it (picklable with ``partial``)."""
    return StepLimit(factory(), limit)
