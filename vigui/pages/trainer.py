"""What every unit that trains a torch model shares (VAE, Music VAE, CVAE, BBB's tasks).

:class:`Trainer` is one object a page or a section owns (``self.trainer``), created
before its build hooks run. It reaches its unit's ``run`` (RunControl), ``params``
(ParamForm) and ``show_message`` when it needs them, and brings:

* torch threads: :func:`engine.core.runtime.default_threads` for where the run lives
  (a child process or a thread of the GUI process);
* the dataset chooser's whole lifecycle (:meth:`attach`): its messages shown, a finished
  download of the chosen dataset starts a new run, ``require`` before a run is built,
  ``refresh`` when the unit is shown, ``close_jobs`` when it closes;
* Save / Open / Load weights (:meth:`file_buttons`): saving and loading weights go to the
  model where it runs (``run.call``); opening peeks at the file on a worker thread (no
  model, no tensors read on the GUI thread), shows the file's settings and seed, and the
  next run loads the file where it trains. A bad file leaves the current run as it was.

The unit supplies ``peek_model(path, device) -> (config, info)`` (runs off the GUI
thread: no Qt), ``load_factory(path)`` (the picklable factory that loads the file),
``opened(path, config, info) -> str`` (the message; a hook to show more of the file) and,
optionally, ``weights_loaded()``. :class:`TrainerPage` is an ExperimentPage that owns one.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QObject

from engine.core.runtime import default_threads
from vigui.pages.base import ExperimentPage
from vigui.run.live import LiveQuery
from vigui.run.process import ProcessRunner
from vigui.run.worker import FAILED, BackgroundJob
from vigui.widgets.datasets import DatasetChooser
from vigui.widgets.model_files import ModelFileButtons
from vigui.widgets.param_form import SEED

__all__ = ["Trainer", "TrainerUnit", "TrainerPage", "SEED"]


# -- run where the model lives (module level: they pickle to the child process) ---------------
def _save(path: str, exp):
    exp.save(path)
    return exp.steps


def _load_weights(path: str, exp):
    exp.load_weights(path)
    return exp.steps


class Trainer(QObject):
    """A training unit's threads, dataset chooser and model files (module docstring)."""

    def __init__(self, unit, *, what: str = "model", default_name: str = "model.pt",
                 weights: bool = True, dataset_field: str = "dataset"):
        super().__init__(unit)
        self.unit = unit
        self.what, self.default_name, self.weights = what, default_name, weights
        self.dataset_field = dataset_field
        self.datasets: DatasetChooser | None = None
        self.files: ModelFileButtons | None = None
        self._opened: str | None = None  # a peeked checkpoint: the next run loads it
        self.run_from_file = False  # the current run was opened from a file
        self._peek: BackgroundJob | None = None

    # -- threads -----------------------------------------------------------------------------
    def threads(self) -> int:
        runner = getattr(self.unit.run, "runner_class", ProcessRunner)
        return default_threads("process" if issubclass(runner, ProcessRunner) else "thread")

    # -- the dataset chooser -------------------------------------------------------------
    def attach(self, form) -> None:
        """Take over the form's dataset chooser (if it has one)."""
        if self.dataset_field not in form.fields:
            return
        widget = form.widget(self.dataset_field)
        if isinstance(widget, DatasetChooser):
            self.datasets = widget
            widget.message.connect(self.unit.show_message)
            widget.downloaded.connect(self._on_downloaded)

    def _on_downloaded(self, name: str) -> None:
        if self.unit.params.value(self.dataset_field) == name:
            self.unit.run.reset()

    def require(self) -> None:
        """Before a run is built: a missing dataset is a message (ValueError), not a crash."""
        if self.datasets is not None:
            self.datasets.require()

    def shown(self) -> None:
        if self.datasets is not None:
            self.datasets.refresh()  # a dataset copied in meanwhile is found

    def close(self) -> None:
        job, self._peek = self._peek, None
        if job is not None:
            job.close()  # a peek reads a few kB: waiting for it is short
        if self.datasets is not None:
            self.datasets.close_jobs()

    def release_if_idle(self) -> bool:
        """The unit left the screen: a run that has not trained (and was not opened from a
        file) ends its child process; the next reset builds it again from the same
        parameters and seed. A trained or opened model is kept, paused."""
        return not self.run_from_file and self.unit.run.release_if_idle()

    # -- model files ---------------------------------------------------------------------
    def file_buttons(self) -> ModelFileButtons:
        """The Save / Open (/ Load weights) buttons, wired; the unit places them."""
        self.files = ModelFileButtons(self.what, default_name=self.default_name,
                                      weights=self.weights)
        self.files.save_requested.connect(self.save)
        self.files.open_requested.connect(self.open)
        self.files.weights_requested.connect(self.load_weights)
        return self.files

    def take_opened(self) -> Callable | None:
        """In ``make_factory``: the factory of an opened file (once), else None."""
        path, self._opened = self._opened, None
        self.run_from_file = path is not None
        return None if path is None else self.unit.load_factory(path)

    def forget_opened(self) -> None:
        self._opened = None

    @property
    def peeking(self) -> bool:
        return self._peek is not None

    def save(self, path: str) -> None:
        """The model, its optimizer state and history, written where it runs."""
        path, say = str(path), self.unit.show_message

        def done(steps):
            if steps is None:
                say("The model is still being built; save again in a moment.")
            else:
                say(self.unit.saved_text(path, steps), error=False)

        if not self.unit.run.call(partial(_save, path), on_done=done,
                                  on_error=lambda msg: say(f"Could not save to {path}:\n{msg}")):
            say("There is no model to save: press Reset to build one.")

    def open(self, path: str) -> None:
        """Resume a saved run: peek at the file off the GUI thread; only a usable
        checkpoint replaces the current run."""
        path = str(path)
        device = self.unit.params.value("device") if "device" in self.unit.params.fields else None
        peek_model = self.unit.peek_model
        if self._peek is not None:
            self._peek.cancel()
        job = self._peek = BackgroundJob(lambda report, cancelled: peek_model(path, device),
                                         parent=self)
        job.done.connect(lambda result: self._peeked(job, path, result))
        job.failed.connect(lambda msg: self._peek_failed(job, path, msg))

    def _peeked(self, job: BackgroundJob, path: str, result) -> None:
        if job is not self._peek:
            return  # a newer Open came since
        self._peek = None
        config, info = result
        try:
            text = self.unit.opened(path, config, info)  # may refuse (ValueError): nothing changed yet
        except ValueError as exc:
            self._peek_failed(job, path, str(exc), current=True)
            return
        form = self.unit.params
        shown = {name: value for name, value in config.to_dict().items()
                 if name in form.fields and name != "device"}
        seed = (info.extra or {}).get("seed")
        if isinstance(seed, int) and SEED.lo <= seed <= SEED.hi and "seed" in form.fields:
            shown["seed"] = seed
        form.restore(shown, emit=False)  # the file's settings, no reset per field
        self._opened = path
        if self.unit.can_reset():
            self.unit.run.reset(play=False)
        self.unit.show_message(text, error=False)

    def _peek_failed(self, job: BackgroundJob, path: str, message: str,
                     current: bool = False) -> None:
        if job is not self._peek and not current:
            return
        self._peek = None
        self.unit.show_message(f"Could not open {path}:\n{message}\nThe current model is "
                               "unchanged.")

    def load_weights(self, path: str) -> None:
        """A saved model's weights into the current one (same architecture)."""
        path, say = str(path), self.unit.show_message

        def done(steps):
            if steps is not None:
                self.unit.weights_loaded()
                say(f"Loaded the weights of {path} (Adam restarts; the history so far "
                    "stays).", error=False)

        if not self.unit.run.call(partial(_load_weights, path), on_done=done, on_error=lambda msg: say(
                f"Could not load weights from {path}:\n{msg}\nThe current model is unchanged.")):
            say("There is no model to load weights into: press Reset first.")


class TrainerUnit:
    """The hooks a :class:`Trainer` calls on its unit, with their defaults; mixed into
    TrainerPage and into BBB's task sections (a unit also has ``run``, ``params`` and
    ``show_message(text, error)``)."""

    def peek_model(self, path: str, device: str | None):
        """``(config, info)`` of a checkpoint; runs on a worker thread (no Qt)."""
        raise NotImplementedError

    def load_factory(self, path: str) -> Callable:
        """The (picklable) factory that loads ``path`` where the run lives."""
        raise NotImplementedError

    def opened(self, path: str, config, info) -> str:
        """The file's settings are about to be shown: anything else to take from it (a
        ValueError refuses the file), and the message to show."""
        return f"Opened {path}: step {info.step:,}. Press Play to continue training it."

    def saved_text(self, path: str, steps: int) -> str:
        return f"Saved the model at step {steps:,} to {path}"

    def weights_loaded(self) -> None:
        """New weights in the running model (views that follow the model refresh)."""

    def can_reset(self) -> bool:
        """False while something must finish before the opened file's run is built."""
        return True

    def save_model(self, path: str) -> None:
        self.trainer.save(path)

    def open_model(self, path: str) -> None:
        self.trainer.open(path)

    def load_weights(self, path: str) -> None:
        self.trainer.load_weights(path)


class TrainerPage(TrainerUnit, ExperimentPage):
    """An ExperimentPage that trains a torch model in a child process, with a
    :class:`Trainer` (``self.trainer``). Subclasses set ``model_what``/``model_file``
    (and ``load_weights_button``), build their form with ``extra=[SEED]`` and place
    ``self.trainer.file_buttons()`` in it, and in ``make_factory`` return
    ``self.trainer.take_opened()`` when it is not None, else call
    ``self.trainer.require()`` and build a new run with ``self.trainer.threads()``.
    ``self.live`` asks the model the page's question again while it trains (every
    ``live_interval`` s). ``vigui --screenshot`` plays a run of ``screenshot_params``
    (``self._shot`` is True until the page has what it shows)."""

    runner_class = ProcessRunner
    # Training is the point: views get 6 % of the time, the rest goes to the steps
    # (bench/vae.py measures it).
    view_budget = 0.06
    #: how often, while training, the page's question to the model (a decoded path, the
    #: completions of a drawing) is asked again: ``self.live`` follows the model
    live_interval = 1.0
    model_what = "model"
    model_file = "model.pt"
    load_weights_button = True
    screenshot_params: dict = {}

    def init_state(self) -> None:
        super().init_state()
        self._shot = False
        self.live = LiveQuery(self.live_interval)
        self.trainer = Trainer(self, what=self.model_what, default_name=self.model_file,
                               weights=self.load_weights_button)

    def __init__(self, parent=None):
        super().__init__(parent)
        if self.params is not None:
            self.trainer.attach(self.params)

    # -- shortcuts ------------------------------------------------------------------------------
    @property
    def datasets(self) -> DatasetChooser | None:
        return self.trainer.datasets

    @property
    def model_files(self) -> ModelFileButtons | None:
        return self.trainer.files

    def train_threads(self) -> int:
        return self.trainer.threads()

    def ask_live(self, fn: Callable, on_done: Callable, failed: str) -> None:
        """Ask the model ``fn(exp)`` (run where it trains) as ``self.live``'s question;
        an error is shown as "``failed``: why"."""
        self.live.ask(self.run, fn, on_done=on_done,
                      on_error=lambda msg: self.show_message(f"{failed}: {msg}"))

    # -- lifecycle --------------------------------------------------------------------------
    def activate(self) -> None:
        self.trainer.shown()
        super().activate()

    def close_page(self) -> None:
        self.trainer.close()
        super().close_page()

    def prepare_screenshot(self) -> None:
        self.params.restore(self.screenshot_params, emit=False)
        self._shot = True
        self.reset(play=True)

    def screenshot_ready(self) -> bool:
        """A failed or refused run is pictured as it is; else the subclass says."""
        runner = self.runner
        return runner is None or runner.state == FAILED

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Another page was shown (not a minimised window): let an idle child go."""
        super().hideEvent(event)
        if not event.spontaneous():
            self.trainer.release_if_idle()
