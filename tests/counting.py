"""A tiny Experiment for the runner tests (importable by a spawned child process)."""
import math
import time

from engine.core.runtime import Experiment


class Counter(Experiment):
    """Counts steps; can be told to fail or to produce NaN at a given step."""

    def __init__(self, fail_at=None, nan_at=None, limit=None, step_s=0.0, heavy_s=0.0):
        super().__init__(None, 0)
        self.value = 0
        self.fail_at, self.nan_at, self.limit = fail_at, nan_at, limit
        self.step_s, self.heavy_s = step_s, heavy_s
        self.heavy_calls = 0

    def _step(self):
        if self.step_s:
            time.sleep(self.step_s)
        if self.fail_at is not None and self.steps + 1 == self.fail_at:
            raise RuntimeError("boom")
        loss = math.nan if self.nan_at is not None and self.steps + 1 == self.nan_at else 1.0
        if math.isfinite(loss):
            self.value += 1  # committed only when the step is good
        return {"loss": loss}

    @property
    def done(self):
        return self.limit is not None and self.steps >= self.limit

    def snapshot(self):
        return {"value": self.value, "step": self.steps}

    def heavy_snapshot(self):
        self.heavy_calls += 1
        time.sleep(self.heavy_s)
        return {"heavy": self.steps}
