"""The NCLL table: several tasks, trained where needed, then evaluated."""
from __future__ import annotations

import dataclasses
from typing import Any

from engine.core.runtime import Experiment
from engine.cvae.config import CVAEConfig
from engine.cvae.evaluation import Evaluation
from engine.cvae.experiment import CVAEExperiment
from engine.cvae.tasks import QUADRANT_TASKS, TASKS


class NCLLTable(Experiment):
    """Fills the NCLL table for ``tasks`` (default 1, 2, 3 quadrants) on one dataset.

    Each task's networks come from ``checkpoints[task]`` (a file the page saved) or, if
    there is none, are trained here to their early stop; then the test set is evaluated
    chunk by chunk. One :meth:`step` is one training minibatch or one evaluation chunk,
    so a GUI run shows progress and can stop at any time. ``rows`` holds each finished
    task's :meth:`CVAEExperiment.evaluate` entry."""

    def __init__(self, config: CVAEConfig | None = None, seed: int | None = 0, dataset=None,
                 checkpoints: dict[str, str] | None = None,
                 tasks: tuple[str, ...] = QUADRANT_TASKS, n_test: int | None = None):
        config = (config or CVAEConfig()).validate()
        super().__init__(config, seed)
        for task in tasks:
            if task not in TASKS or task == "custom":
                raise ValueError(f"tasks must be among {TASKS[:4]}, got {task!r}")
        if dataset is None:
            from engine.data import datasets as data
            dataset = data.load(config.dataset)
        self.dataset, self.tasks = dataset, tuple(tasks)
        self.checkpoints = dict(checkpoints or {})
        self.n_test = n_test
        self.rows: dict[str, dict[str, Any]] = {}
        self.trained: dict[str, bool] = {}
        self._index = 0
        self._exp: CVAEExperiment | None = None
        self._eval: Evaluation | None = None
        self.device = "cpu"

    @property
    def task(self) -> str | None:
        return self.tasks[self._index] if self._index < len(self.tasks) else None

    def _open(self, task: str) -> CVAEExperiment:
        path = self.checkpoints.get(task)
        if path:
            exp = CVAEExperiment.load(path, dataset=self.dataset, device=self.config.device,
                                      threads=self.config.threads)
            if exp.config.task != task:
                raise ValueError(f"{path} holds the {exp.config.task} task, not {task}")
        else:
            exp = CVAEExperiment(dataclasses.replace(self.config, task=task), seed=self.seed,
                                 dataset=self.dataset)
        self.trained[task] = not exp.done
        self.device = exp.device
        return exp

    def _step(self) -> dict[str, float]:
        task = self.task
        if task is None:
            return {}
        if self._exp is None:
            self._exp = self._open(task)
        exp = self._exp
        if not exp.done:
            exp.step()
        elif self._eval is None:
            x = exp._test_x if self.n_test is None else exp._test_x[:self.n_test]
            self._eval = Evaluation(exp.model, x, exp.config.particles, exp.config.is_samples,
                                    seed=exp.seed + 3)
        else:
            self._eval.step()
            if self._eval.finished:
                row = exp.evaluate_entry(self._eval.result())
                row["trained_here"] = self.trained[task]
                self.rows[task] = row
                self._exp, self._eval = None, None
                self._index += 1
        return {"progress": self.progress}

    @property
    def progress(self) -> float:
        """Share of the work done, in [0, 1]: training counts 70% of a task, evaluation 30%."""
        if self.task is None:
            return 1.0
        within = 0.0
        if self._exp is not None:
            total = self._exp.total_steps
            train = 1.0 if self._exp.done else (self._exp.steps / total if total else 0.0)
            ev = self._eval.done / self._eval.n if self._eval is not None else 0.0
            within = (0.7 * min(train, 1.0) + 0.3 * ev) if self.trained.get(self.task) else ev
        return (self._index + within) / len(self.tasks)

    @property
    def done(self) -> bool:
        return self.task is None

    def snapshot(self) -> dict[str, Any]:
        stage = "done"
        if self.task is not None:
            if self._exp is None or (self._eval is None and not self._exp.done):
                what = f"training {self.task}"
                if self._exp is not None:
                    what += f" ({self._exp.phase}, epoch {self._exp.trainer.epoch:.1f})" \
                        if self._exp.trainer is not None else ""
                stage = what
            else:
                stage = f"evaluating {self.task}"
        return {"step": self.steps, "progress": self.progress, "stage": stage,
                "rows": {k: dict(v) for k, v in self.rows.items()}}

    def evaluate(self) -> dict[str, Any]:
        return {k: dict(v) for k, v in self.rows.items()}
