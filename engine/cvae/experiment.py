"""The experiment the page and the CLI run: baseline, then CVAE, with checkpoints."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from engine.core import checkpoint
from engine.core.runtime import Experiment
from engine.core.stats import mean_se
from engine.core.trainer import Checkpointed
from engine.cvae.config import KIND, CVAEConfig
from engine.cvae.evaluation import SPREAD_SAMPLES, evaluate_model, mean_hidden, sample_spread
from engine.cvae.networks import CompletionModel
from engine.cvae.tasks import mask_to_string
from engine.cvae.trainers import BaselineTrainer, CVAETrainer, _CompletionTrainer, split_validation
from engine.data.datasets import Dataset

N_STRIP = 6  # test images in the Figure 14 strip
# Fields newer than some files, with the value that trains as those files were trained:
# no free bits (before they existed), free bits the same for every mask (before scaling).
LEGACY_FIELDS = {"free_bits": 0.0, "free_bits_scaling": "none"}


class CVAEExperiment(Checkpointed, Experiment):
    """One task: the baseline trains (early stopping), then the CVAE with it frozen.

    One :meth:`step` is one minibatch of whichever network is training (its
    :class:`BaselineTrainer` or :class:`CVAETrainer`, sharing one model and one copy of
    the data). Metrics per step: ``baseline_loss`` or ``cvae_loss`` (the objective),
    ``cvae_neg_elbo`` / ``cvae_recon`` / ``cvae_kl`` (train, nats per image); at epoch
    ends ``baseline_val`` / ``cvae_val`` (validation split); ``epoch`` (fractional
    epochs of the network training).
    """

    kind = KIND
    config_class = CVAEConfig
    model: CompletionModel
    seed: int
    architecture = _CompletionTrainer.architecture

    @classmethod
    def config_from_checkpoint(cls, ckpt: dict, path, device: str | None = None,
                               threads: int | None = None):
        """As the base class; a file saved before a field existed was trained as if it
        held the value that means "off" (LEGACY_FIELDS), not today's default."""
        saved = ckpt.get("config")
        if isinstance(saved, dict):
            missing = {k: v for k, v in LEGACY_FIELDS.items() if k not in saved}
            ckpt = {**ckpt, "config": {**saved, **missing}}
        return super().config_from_checkpoint(ckpt, path, device=device, threads=threads)

    def __init__(self, config: CVAEConfig | None = None, seed: int | None = 0, dataset=None):
        config = (config or CVAEConfig()).validate()
        if seed is None:
            seed = cast(int, np.random.SeedSequence().entropy) % (2**62)
        super().__init__(config, int(seed))
        if dataset is None:
            from engine.data import datasets as data
            dataset = data.load(config.dataset)
        self.dataset = dataset
        fit, val = split_validation(len(dataset.train_x), config.val_fraction)
        train_x = np.asarray(dataset.train_x)
        fit_set = Dataset(dataset.name, train_x[fit], np.asarray(dataset.train_y)[fit],
                          dataset.test_x, dataset.test_y, dataset.shape, dataset.classes,
                          dataset.source)
        self.baseline = BaselineTrainer(config, self.seed, fit_set,
                                        val_x=torch.from_numpy(_flat(train_x[val])))
        self.model = self.baseline.model
        self.cvae = CVAETrainer(config, self.seed + 1, fit_set, model=self.model,
                                val_x=self.baseline.val_x)
        self.cvae.share_data(self.baseline)
        self.device = self.baseline.device
        self.shape = self.baseline.shape
        self.n_in = self.baseline.n_in
        self.observed = self.model.observed.bool().cpu().numpy().reshape(self.shape)
        self.phase = "baseline"
        self.n_samples = 4
        self._test_x = self.baseline.test_x
        self._strip = self._test_x[:N_STRIP]
        self._strip_seed = self.seed + 21

    # -- training --------------------------------------------------------------------------
    @property
    def trainer(self) -> _CompletionTrainer | None:
        return {"baseline": self.baseline, "cvae": self.cvae}.get(self.phase)

    def _step(self) -> dict[str, float]:
        trainer = self.trainer
        if trainer is None:
            return {}
        values = trainer.step()
        prefix = self.phase
        out = {("epoch" if k == "epoch" else f"{prefix}_val" if k == "val_loss" else
                f"{prefix}_{k}"): v for k, v in values.items()}
        if trainer.done:
            trainer.finish()
            self.phase = "cvae" if self.phase == "baseline" else "done"
        return out

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this session over both networks (images per second)."""
        parts = [(t._session_samples, t._train_time) for t in (self.baseline, self.cvae)]
        seconds = sum(p[1] for p in parts)
        return sum(p[0] for p in parts) / seconds if seconds > 0 else math.nan

    @property
    def total_steps(self) -> int | None:
        """Steps if neither network stops early (None without an epoch limit)."""
        b, c = self.baseline.total_steps, self.cvae.total_steps
        return None if b is None or c is None else b + c

    # -- views -----------------------------------------------------------------------------
    def set_samples(self, n: int) -> None:
        """How many CVAE samples the strip shows per input."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 32:
            raise ValueError(f"n_samples must be an integer from 1 to 32, got {n!r}")
        self.n_samples = int(n)

    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: phase, counters and the Figure 14 strip for N_STRIP test images:
        ``inputs`` (n, H, W), ``baseline`` (n, H, W), ``samples`` (n, n_samples, H, W),
        ``truth`` (n, H, W), ``observed`` (H, W) bool; ``spread`` (n, H, W), each pixel's
        std across SPREAD_SAMPLES completions, ``spread_mean`` (over hidden pixels and the
        strip's images) and ``spread_mean_se``, its standard error over those images.
        Completions keep the observed pixels; samples use fixed noise, so they change
        only as the model learns."""
        self.model.eval()
        x = self._strip
        gen = torch.Generator(device=x.device).manual_seed(self._strip_seed)
        samples = self.model.sample_completions(x, self.n_samples, gen)
        spread = sample_spread(self.model, x, SPREAD_SAMPLES, gen)
        spread_mean, spread_se = mean_se(mean_hidden(spread, self.model.observed))
        return {
            "step": self.steps, "phase": self.phase, "task": self.config.task,
            "epoch_baseline": self.baseline.epoch, "epoch_cvae": self.cvae.epoch,
            "samples_per_s": self.samples_per_s, "device": self.device,
            "observed": self.observed.copy(),
            "truth": self._images(x),
            "inputs": self._images(self.model.paste(x, torch.zeros_like(x))),
            "baseline": self._images(self.model.baseline_completion(x)),
            "samples": self._images(samples).reshape(x.shape[0], self.n_samples, *self.shape),
            "spread": spread.cpu().numpy().reshape(x.shape[0], *self.shape),
            "spread_mean": spread_mean, "spread_mean_se": spread_se,
            "spread_samples": SPREAD_SAMPLES,
        }

    def _images(self, flat: torch.Tensor) -> np.ndarray:
        return self.baseline.images(flat)

    @torch.no_grad()
    def complete(self, image, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
        """Completions of one (H, W) image (only its observed pixels are read):
        ``baseline`` (H, W) and ``samples`` (n, H, W), z ~ p(z|x) with a seeded draw."""
        img = np.array(image, dtype=np.float32)  # a copy: torch may not share read-only memory
        if img.shape != self.shape:
            raise ValueError(f"image must have shape {self.shape}, got {img.shape}")
        if not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
            raise ValueError("image pixels must be finite and in [0, 1]")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 64:
            raise ValueError(f"n must be an integer from 1 to 64, got {n!r}")
        self.model.eval()
        x = torch.from_numpy(img.reshape(1, -1)).to(self._test_x.device)
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        return {"baseline": self._images(self.model.baseline_completion(x))[0],
                "samples": self._images(self.model.sample_completions(x, n, gen)[0])}

    def test_image(self, index: int) -> np.ndarray:
        """Test image ``index`` as (H, W) float32 (to start a drawing from)."""
        index = int(index) % self._test_x.shape[0]
        return self._images(self._test_x[index:index + 1])[0]

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, n: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
        """Test-set nats per image (the first n test images, or all): ``baseline_ncll``,
        ``cvae_neg_elbo`` (config.particles samples), ``cvae_ncll_is`` (config.is_samples
        importance samples from q(z|x, y)), with the epochs each network trained."""
        x = self._test_x if n is None else self._test_x[:n]
        out = evaluate_model(self.model, x, self.config.particles, self.config.is_samples,
                             seed=self.seed + 3, progress=progress)
        return self.evaluate_entry(out)

    def evaluate_entry(self, out: dict[str, Any]) -> dict[str, Any]:
        """An evaluation result with the task, dataset and the epochs each network trained."""
        out = dict(out)
        out.update(task=self.config.task, dataset=self.dataset.name,
                   baseline_epochs=self.baseline.epochs_done,
                   baseline_best_epoch=self.baseline.best_epoch,
                   cvae_epochs=self.cvae.epochs_done, cvae_best_epoch=self.cvae.best_epoch,
                   baseline_val=self.baseline.best_val, cvae_val=self.cvae.best_val)
        return out

    # -- checkpoints (Checkpointed's format; the hooks add the task's progress) -------------
    def on_save_checkpoint(self, state: dict[str, Any]) -> None:
        """The phase, the mask and where each network's training stands."""
        state.update(phase=self.phase, observed=mask_to_string(self.observed),
                     baseline=_plain(self.baseline.position()), cvae=_plain(self.cvae.position()))

    def on_load_checkpoint(self, state: dict[str, Any]) -> None:
        """Same task, phase and progress (Adam's moments restart: they are not saved)."""
        err, path = checkpoint.CheckpointError, self.loading_path
        if state.get("observed") != mask_to_string(self.observed):
            raise err(f"{path}: checkpoint's mask does not match its task")
        phase = state.get("phase")
        if phase not in ("baseline", "cvae", "done"):
            raise err(f"{path}: checkpoint has an unknown phase {phase!r}")
        try:
            positions = (dict(state["baseline"]), dict(state["cvae"]))
            for pos in positions:
                for key in ("steps", "samples_seen", "best_val", "best_epoch", "stale", "started"):
                    float(pos[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise err(f"{path}: checkpoint progress is malformed ({exc})") from exc
        # Validated: from here on nothing can fail halfway.
        self.phase = phase
        for t, pos in zip((self.baseline, self.cvae), positions, strict=True):
            t.restore_position(pos)

    def weights_changed(self) -> None:
        """New weights: each network goes on from them, with a fresh Adam."""
        for t in (self.baseline, self.cvae):
            t.weights_changed()


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in d.items()}


def _flat(images: np.ndarray) -> np.ndarray:
    return np.array(images, dtype=np.float32).reshape(len(images), -1)
