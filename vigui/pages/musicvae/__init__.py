"""Chapter 4, the lecture's Music-VAE slide: a VAE over real melodies, live.

The model (:mod:`engine.musicvae.model`) trains on the soprano lines of the Bach chorales in
the page's child process (:class:`~vigui.run.process.ProcessRunner`); every use of
it from here (the interpolation path, a drawn melody, save/open) goes through
``runner.call``. The corpus is parsed once, on a background thread with a progress
bar, before the first run (then it is read from the cache in a fraction of a second).
Sound: :mod:`engine.musicvae.synth` renders a roll, :mod:`vigui.audio` plays it where
PortAudio and an output device exist; otherwise the page says so once and offers
Save as WAV / MIDI.
"""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QWidget,
)

from engine.core.runtime import Cancelled
from engine.musicvae import data as music
from engine.musicvae import synth
from engine.musicvae.model import MusicVAEConfig, MusicVAEExperiment
from vigui import audio
from vigui.pages.musicvae.views import MusicVAEViews
from vigui.pages.trainer import TrainerPage
from vigui.run.control import NotReady
from vigui.run.worker import FINISHED, PAUSED, BackgroundJob
from vigui.widgets import styles
from vigui.widgets.layout import laid_out
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import SEED, ParamForm

__all__ = ["MusicVAEPage", "MelodySource"]

CANCELLED = "cancelled"  # _on_parse_done's marker for a parse stopped on purpose
FIELDS = ["dataset", "model", "latent", "hidden", "free_bits", "kl_warmup", "beta", "lr",
          "batch_size", "transpose", "device", "seed"]
# `vigui --screenshot` gives each page 30 s: the MLP baseline learns the chorales in that
# time (300 steps, ~0.8 epochs); the GRU needs minutes (python -m engine musicvae, then Open).
SCREENSHOT = {"dataset": "bach", "model": "mlp", "latent": 32, "hidden": 256,
              "free_bits": 8.0, "kl_warmup": 1000, "beta": 1.0, "lr": 1e-3,
              "batch_size": 128, "transpose": 5, "device": "cpu", "seed": 0}
SCREENSHOT_STEPS = 300
AUDIO_FILTER = {"wav": "WAV audio (*.wav)", "mid": "MIDI files (*.mid *.midi)"}


class MelodySource(QWidget):
    """Where the melodies come from: the Bach chorales or a folder of the user's MIDI /
    MusicXML files ("Choose a folder…" opens a dialog). Spin-box protocol for ParamForm:
    ``value()`` ("bach" or "folder:<path>"), ``setValue``, ``valueChanged``. (Not a
    QComboBox itself: a folder not yet listed is a valid value.)"""

    valueChanged = Signal(str)

    def __init__(self, value: str = "bach", parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(10)  # a long folder name must not widen the form
        lay.addWidget(self.combo)
        self.combo.addItem("Bach chorales (music21)", "bach")
        self.combo.addItem("Choose a folder of MIDI / MusicXML…", None)
        self.setToolTip("The soprano lines of the 407 Bach chorales music21 ships, or the "
                        "top line of each MIDI / MusicXML file in a folder of yours")
        self._last = 0
        self.setValue(value)
        self.combo.activated.connect(self._on_activated)
        self.combo.currentIndexChanged.connect(self._on_index)

    def value(self) -> str:
        return self.combo.currentData() or "bach"

    def setValue(self, value: str) -> None:
        value = str(value)
        if value != "bach" and not value.startswith("folder:"):
            raise ValueError(f"melodies must be 'bach' or 'folder:<path>', not {value!r}")
        index = self.combo.findData(value)
        if index < 0:
            name = Path(value[len("folder:"):]).name or value
            self.combo.insertItem(self.combo.count() - 1, f"Folder: {name}", value)
            index = self.combo.findData(value)
        self.combo.setCurrentIndex(index)

    def _on_activated(self, index: int) -> None:
        if self.combo.itemData(index) is not None:
            return
        folder = QFileDialog.getExistingDirectory(self, "A folder of MIDI or MusicXML files")
        if folder:
            self.setValue(f"folder:{folder}")
        else:
            self.combo.setCurrentIndex(self._last)

    def _on_index(self, index: int) -> None:
        if self.combo.itemData(index) is None:
            return  # "Choose a folder…": the dialog decides
        if index != self._last:
            self._last = index
            self.valueChanged.emit(self.value())


class MusicVAEPage(TrainerPage):
    # Training is the point: few frames; the child process has the model (its drawing
    # and training do not share a GIL).
    max_fps = 8.0
    live_interval = 2.0  # while training, the path A -> B is decoded again this often

    # -- parameters --------------------------------------------------------------------
    model_what, model_file = "Music VAE model", "musicvae.pt"
    screenshot_params = SCREENSHOT

    def init_state(self) -> None:
        super().init_state()
        self._parse_job: BackgroundJob | None = None
        self._reset_view_state()

    def build_params(self) -> ParamForm:
        self.source = MelodySource()
        form = ParamForm(MusicVAEConfig, FIELDS, extra=[SEED], widgets={"dataset": self.source})
        form.add_row(self._build_parse_row())
        form.add_row(self.trainer.file_buttons())
        self.run.waiting.connect(self._on_waiting)
        return form

    def _build_parse_row(self) -> QWidget:
        box, lay = laid_out(spacing=2)
        self.parse_label = styles.label(styles.NOTE)
        row = QHBoxLayout()
        self.parse_bar = QProgressBar()
        self.parse_bar.setTextVisible(True)
        self.parse_cancel = QPushButton("Cancel")
        self.parse_cancel.clicked.connect(self.cancel_parse)
        row.addWidget(self.parse_bar, 1)
        row.addWidget(self.parse_cancel)
        lay.addWidget(self.parse_label)
        lay.addLayout(row)
        box.setVisible(False)
        self.parse_box = box
        return box

    def make_factory(self):
        temperature = self.views.temperature.value()
        opened = self.trainer.take_opened()  # an opened checkpoint, checked already
        if opened is not None:
            return partial(_with_temperature, opened, temperature)
        config = self.params.config(threads=self.train_threads())
        if not self._corpus_cached(config.dataset):
            self.start_parse(config.dataset)
            raise NotReady(config.dataset)  # _on_waiting says it; Play is remembered
        return partial(_with_temperature, partial(MusicVAEExperiment, config,
                                                  seed=self.param("seed")), temperature)

    def _on_waiting(self, _dataset: str) -> None:
        """make_factory found the melodies not read yet: say so (not an error); a Play
        pressed meanwhile starts training when they are ready (run.play_pending)."""
        if self.run.play_pending:
            text = "training starts as soon as they are ready."
            self.controls.set_state_text("waiting for the melodies; then training starts")
        else:
            text = "press Play now or later: training starts when they are ready."
        self.show_message("The melodies are read once with music21 (progress on the left, "
                          f"about a minute; then cached): {text}", error=False)

    @staticmethod
    def _corpus_cached(name: str) -> bool:
        return music.cache_path(music.corpus_files(name)).is_file()  # MusicDataError: a message

    # -- the corpus, parsed once ---------------------------------------------------------
    def start_parse(self, name: str) -> None:
        if self._parse_job is not None:
            return

        def work(report, cancelled):
            def progress(done, total, file):
                if cancelled():
                    raise Cancelled("reading the melodies was cancelled")
                report(done, total, file)

            music.load_melodies(name, transpose=0, progress=progress)
            return name

        job = BackgroundJob(work, parent=self)
        self._parse_job = job
        job.progress.connect(self._on_parse_progress)
        job.done.connect(lambda result: self._on_parse_done(job, None))
        job.failed.connect(lambda msg: self._on_parse_done(job, msg))
        job.cancelled.connect(lambda: self._on_parse_done(job, CANCELLED))
        self.parse_bar.setRange(0, 0)
        self.parse_label.setText(f"Reading {name} with music21 (once; then cached)…")
        self.parse_box.setVisible(True)

    def cancel_parse(self) -> None:
        if self._parse_job is not None:
            self._parse_job.cancel()
            self.parse_label.setText("Cancelling…")

    def _on_parse_progress(self, args) -> None:
        done, total, file = args
        self.parse_bar.setRange(0, max(1, total))
        self.parse_bar.setValue(done)
        self.parse_bar.setFormat(f"%v / %m  {file}")

    def _on_parse_done(self, job: BackgroundJob, error: str | None) -> None:
        if job is not self._parse_job:
            return
        self._parse_job = None
        job.close()
        job.deleteLater()
        self.parse_box.setVisible(False)
        play, self.run.play_pending = self.run.play_pending, False
        if error is None:
            self.reset(play=play)
        elif error is CANCELLED:
            self.controls.show_state(self.run.state)
            self.show_message("Reading the melodies was cancelled; press Play or Reset to "
                              "read them again.", error=False)
        else:
            self.controls.show_state(self.run.state)
            self.show_message(f"Could not read the melodies:\n{error}")

    @property
    def parsing(self) -> bool:
        return self._parse_job is not None

    # -- views ----------------------------------------------------------------------------
    compare_columns = ("test_neg_elbo", "test_recon", "test_kl", "test_acc")

    def compare_plots(self) -> dict:
        return {"test_recon": self.views.loss_plot, "test_kl": self.views.loss_plot,
                "test_acc": self.views.acc_plot}

    def build_views(self) -> QWidget:
        self.views = v = MusicVAEViews()
        v.point_clicked.connect(self.pick_test_phrase)
        v.a_spin.valueChanged.connect(lambda i: self.set_endpoint("a", ("test", i)))
        v.b_spin.valueChanged.connect(lambda i: self.set_endpoint("b", ("test", i)))
        v.random_pair.clicked.connect(lambda: self.random_pair())
        v.path_steps.valueChanged.connect(lambda _: self.request_path())
        v.path_kind.currentIndexChanged.connect(lambda _: self.request_path())
        v.recon_strip.clicked.connect(lambda i: self._select_roll("recon", i))
        v.samples_strip.clicked.connect(lambda i: self._select_roll("samples", i))
        v.path_strip.clicked.connect(lambda i: self._select_roll("path", i))
        v.play_button.clicked.connect(lambda: self.play_sound())
        v.play_path_button.clicked.connect(lambda: self.play_sound(whole_path=True))
        v.stop_button.clicked.connect(audio.stop)
        v.save_wav.clicked.connect(lambda: self.save_sound(kind="wav"))
        v.save_midi.clicked.connect(lambda: self.save_sound(kind="mid"))
        v.use_as_a.clicked.connect(lambda: self.set_endpoint("a", ("tokens", self.drawn())))
        v.use_as_b.clicked.connect(lambda: self.set_endpoint("b", ("tokens", self.drawn())))
        v.play_drawn.clicked.connect(lambda: self._play_tokens(self.drawn(), "your melody"))
        v.copy_a.clicked.connect(self._copy_a_to_editor)
        v.clear_drawn.clicked.connect(lambda: v.editor.set_tokens(None))
        v.temperature.valueChanged.connect(self.set_sample_temperature)
        self._sound_ok, self._sound_why = audio.output_status()
        v.play_button.setEnabled(self._sound_ok)
        v.play_path_button.setEnabled(self._sound_ok)
        v.play_drawn.setEnabled(self._sound_ok)
        v.stop_button.setEnabled(self._sound_ok)
        if not self._sound_ok:
            for b in (v.play_button, v.play_path_button, v.play_drawn):
                b.setToolTip(f"{self._sound_why[0].upper()}{self._sound_why[1:]}")
        return v

    def _reset_view_state(self) -> None:
        self._a = ("test", 0)
        self._b = ("test", 1)
        self._next_pick = "a"
        self._steps = 0
        self._n_test = 0
        self._latent = None
        self._latent_shown = None
        self._strips: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._path: dict | None = None
        self.live.invalidate()  # an answer for the old run is dropped
        self._selected: tuple[str, int] | None = None
        self._sound_note_shown = False
        self._last_frame_step: tuple | None = None

    def clear_views(self) -> None:
        self._reset_view_state()
        self.views.clear()
        self._update_sound_label()

    def render(self, snap: dict) -> None:
        v = self.views
        self._steps = int(snap.get("step", 0))
        v.show_metrics(snap["metrics"])
        frame_key = (self._steps, snap.get("sample_temperature"))
        if frame_key != self._last_frame_step and "originals" in snap:
            self._last_frame_step = frame_key  # a new step, or the temperature changed
            names = list(snap.get("strip_names", []))
            v.recon_strip.set_rolls(snap["reconstructions"], snap["originals"], names)
            v.samples_strip.set_rolls(snap["samples"],
                                      titles=[f"sample {i + 1}" for i in range(len(snap["samples"]))])
            self._strips["recon"] = (snap["reconstructions"], [f"reconstruction of {n}" for n in names])
            self._strips["samples"] = (snap["samples"], [f"prior sample {i + 1}"
                                                         for i in range(len(snap["samples"]))])
        n_test = int(snap.get("n_test", 0))
        if n_test != self._n_test:
            self._n_test = n_test
            v.set_test_count(n_test)
            if n_test >= 2 and self._path is None:
                self.random_pair(seed=0)
        latent = snap.get("latent")
        if latent is not None and latent is not self._latent_shown:
            self._latent_shown = latent
            self._latent = latent
            v.show_latent(latent, snap["labels"], snap.get("explained_variance"))
            self._update_markers()
        v.summary.setText(self._summary(snap))
        self._maybe_refresh_path()
        if self._shot and self._steps >= SCREENSHOT_STEPS and self.runner is not None:
            self._shot = False
            self.pause()

    def _summary(self, snap: dict) -> str:
        m = snap["metrics"]
        model = "GRU (MusicVAE)" if self.param("model") == "gru" else "MLP baseline"
        parts = [model, f"step {snap.get('step', 0):,}", f"epoch {snap.get('epoch', 0.0):,.2f}",
                 f"{snap.get('samples_seen', 0):,} phrases seen"]
        rate = snap.get("samples_per_s", math.nan)
        if rate == rate and rate > 0:
            parts.append(f"{rate:,.0f} phrases/s")
        text = " · ".join(parts)
        names = ("test_neg_elbo", "test_recon", "test_kl", "test_acc")
        last = [m.latest(k) for k in names]
        if all(math.isfinite(x) for x in last):
            # each ± its standard error over pieces ("± ?": a file saved before them)
            elbo, recon, kl, acc = (_nowrap(fmt_se(scale * v, scale * m.latest(f"{k}_se")))
                                    for v, k, scale in zip(last, names, (1, 1, 1, 100),
                                                           strict=True))
            text += (f"<br>test, nats per phrase: −ELBO <b>{elbo}</b> = recon {recon} + "
                     f"KL {kl} · greedy accuracy <b>{acc}\u00a0%</b>")
        beta = snap.get("beta")
        if beta is not None and beta < 1.0 and self.param("kl_warmup") > 0:
            text += f" · β warming up: {beta:.2f}"
        return text

    def set_sample_temperature(self, temperature: float) -> None:
        """The samples strip decodes the prior draws at this temperature (0: greedy);
        the run goes on, and a paused one redraws at once."""
        if self.runner is None:
            return  # the next run is built with it (make_factory)
        self.runner.call(partial(_set_temperature, float(temperature)),  # a frame follows
                         on_error=lambda msg: self.show_message(f"Temperature: {msg}"))

    # -- choosing A and B ---------------------------------------------------------------
    def pick_test_phrase(self, index: int) -> None:
        """A click in the latent plot: the first sets A, the next B, and so on."""
        which, self._next_pick = self._next_pick, ("b" if self._next_pick == "a" else "a")
        self.set_endpoint(which, ("test", int(index)))

    def random_pair(self, seed: int | None = None) -> None:
        """Two test phrases from two different chorales (asked of the experiment)."""
        if self.runner is None or self._n_test < 2:
            return
        pick = int(np.random.default_rng(seed).integers(1 << 30))
        self.runner.call(lambda exp: _distinct_pair(exp, pick), on_done=self._on_pair)

    def _on_pair(self, pair) -> None:
        if pair is None:
            return
        a, b = pair
        self._a, self._b = ("test", int(a)), ("test", int(b))
        self._sync_spins()
        self.request_path()

    def set_endpoint(self, which: str, spec) -> None:
        if spec[0] == "tokens" and not (np.asarray(spec[1]) >= 2).any():
            self.show_message("Draw a few notes first (click in the editor).", error=False)
            return
        if which == "a":
            self._a = spec
        else:
            self._b = spec
        self._sync_spins()
        self.request_path()

    def _sync_spins(self) -> None:
        for spin, spec in ((self.views.a_spin, self._a), (self.views.b_spin, self._b)):
            if spec[0] == "test" and spin.value() != spec[1]:
                spin.blockSignals(True)
                spin.setValue(spec[1])
                spin.blockSignals(False)

    def drawn(self) -> np.ndarray:
        return self.views.editor.tokens.copy()

    def _copy_a_to_editor(self) -> None:
        if self._path is not None:
            self.views.editor.set_tokens(self._path["a"])

    # -- the path A -> B ---------------------------------------------------------------
    def request_path(self) -> None:
        if self._n_test < 2:
            return
        a, b = self._a, self._b
        steps = self.views.path_steps.value()
        kind = self.views.path_kind.currentData()
        self.ask_live(lambda exp: _path(exp, a, b, steps, kind), self._on_path,
                      "Could not decode the path")

    def _maybe_refresh_path(self) -> None:
        """While training, decode the same path again now and then: it follows the model."""
        if self._path is not None and self.live.due(self._steps):
            self.request_path()

    def _on_path(self, result) -> None:
        if result is None:
            return
        self._path = result
        self.live.step = result["step"]
        v = self.views
        v.show_path(result["tokens"], result["t"], result["a"], result["b"],
                    f"Path A → B ({result['kind']}): A = {result['a_name']}, "
                    f"B = {result['b_name']}; grey: the originals under the decoded ends")
        titles = [f"t = {t:.2f}" for t in result["t"]]
        self._strips["path"] = (result["tokens"], titles)
        drawn = [n for n, spec in (("A", self._a), ("B", self._b)) if spec[0] == "tokens"]
        if drawn:
            accs = {"A": result["acc_a"], "B": result["acc_b"]}
            v.drawn_recon.setText("Your melody as " + ", ".join(
                f"{w}: decoded back with {100 * accs[w]:.0f}% of its steps right" for w in drawn))
        self._update_markers()
        self._update_sound_label()

    def _update_markers(self) -> None:
        if self._path is None or self._latent is None:
            self.views.set_markers(None, None)
            return
        self.views.set_markers(*self._path["ab_xy"])

    @property
    def path_shown(self) -> bool:
        return self._path is not None

    # -- sound ---------------------------------------------------------------------------
    def _select_roll(self, strip: str, index: int) -> None:
        rows = self._strips.get(strip)
        if rows is None or index >= len(rows[0]):
            return
        self._selected = (strip, index)
        v = self.views
        for name, s in (("recon", v.recon_strip), ("samples", v.samples_strip),
                        ("path", v.path_strip)):
            s.select(index if name == strip else None)
        self._update_sound_label()

    def sound_source(self, whole_path: bool = False) -> tuple[np.ndarray, str] | None:
        """What Play and Save use: the selected roll, else the whole path A → B."""
        if not whole_path and self._selected is not None:
            strip, i = self._selected
            rows, titles = self._strips.get(strip, (None, None))
            if rows is not None and i < len(rows):
                return np.asarray(rows[i]), titles[i]
        if self._path is not None:
            return np.asarray(self._path["tokens"]), "the path A → B"
        return None

    def _update_sound_label(self) -> None:
        src = self.sound_source()
        what = f"Sound: {src[1]}" if src else "Sound: nothing yet"
        if not self._sound_ok:
            what += f" · {self._sound_why}; save it as WAV or MIDI instead"
        else:
            what += " · click any roll to choose it"
        self.views.sound_label.setText(what)

    def play_sound(self, whole_path: bool = False) -> None:
        src = self.sound_source(whole_path)
        if src is not None:
            self._play_tokens(*src)

    def _play_tokens(self, tokens: np.ndarray, title: str) -> None:
        try:
            audio.play(synth.render(tokens), synth.SAMPLE_RATE)
        except (RuntimeError, ValueError, OSError) as exc:
            self.show_message(f"Cannot play {title}: {exc}. Use Save WAV or Save MIDI.",
                              error=False)

    def save_sound(self, path: str | None = None, kind: str = "wav",
                   whole_path: bool = False) -> Path | None:
        """Write what Play would play as a WAV or MIDI file (a dialog asks where when
        ``path`` is None)."""
        src = self.sound_source(whole_path)
        if src is None:
            self.show_message("Nothing to save yet: wait for the first phrases.", error=False)
            return None
        tokens, title = src
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, f"Save {title}", f"melody.{kind}",
                                                  AUDIO_FILTER[kind])
            if not path:
                return None
        try:
            if kind == "wav":
                out = synth.write_wav(path, synth.render(tokens), synth.SAMPLE_RATE)
            else:
                out = synth.write_midi(path, tokens)
        except (OSError, ValueError) as exc:
            self.show_message(f"Could not save {title} to {path}:\n{exc}")
            return None
        self.show_message(f"Saved {title} to {out}", error=False)
        return out

    # -- model files (TrainerPage) ------------------------------------------------------------
    def peek_model(self, path: str, device: str | None):
        return MusicVAEExperiment.peek(path, device=device)  # a worker thread: no model, no Qt

    def load_factory(self, path: str):
        return partial(_open_to_continue, path, self.param("device"), self.train_threads())

    def opened(self, path: str, config, info) -> str:
        self._corpus_cached(config.dataset) or self.start_parse(config.dataset)  # MusicDataError
        return (f"Opened {path}: step {info.step:,}, {config.dataset}, {config.model}, latent "
                f"{config.latent}. Press Play to continue training it.")

    def can_reset(self) -> bool:
        return not self.parsing  # the parse's end resets, and the run opens the file then

    def weights_loaded(self) -> None:
        self.live.stale()  # the path is decoded again with these weights

    # -- lifecycle --------------------------------------------------------------------------
    def close_page(self) -> None:
        if self._parse_job is not None:
            self._parse_job.cancel()
            self._parse_job.close()
            self._parse_job = None
        audio.stop()
        super().close_page()

    def screenshot_ready(self) -> bool:
        if self.parsing:
            return False
        if super().screenshot_ready():
            return True
        runner = self.runner
        if runner.state not in (PAUSED, FINISHED) or self._latent is None:
            return False
        if self._path is None or self.live.busy:
            return False
        if self.live.step != self._steps:  # decode it with the weights shown
            self.request_path()
            return False
        return True


# -- run where the model lives (pickled to the child process) --------------------------------
def _open_to_continue(path: str, device: str, threads: int) -> MusicVAEExperiment:
    """A saved run, resumed; it trains on until stopped (a headless run saved after
    --epochs N would otherwise be finished at once)."""
    exp = MusicVAEExperiment.load(path, device=device, threads=threads)
    exp.config = exp.config.replace(epochs=None)
    return exp


def _with_temperature(factory, temperature: float) -> MusicVAEExperiment:
    exp = factory()
    exp.set_sample_temperature(temperature)
    return exp


def _set_temperature(temperature: float, exp: MusicVAEExperiment) -> float:
    return exp.set_sample_temperature(temperature)


def _resolve(exp: MusicVAEExperiment, spec) -> tuple[np.ndarray, str]:
    kind, value = spec
    if kind == "test":
        return exp.test_phrase(int(value))
    return np.asarray(value, dtype=np.int64), "your melody"


def _path(exp: MusicVAEExperiment, a, b, steps: int, kind: str) -> dict:
    """The interpolation the page shows: both ends' tokens and names, the decoded path,
    how well drawn ends are decoded back, and where A and B lie in the latent plot."""
    (ta, na), (tb, nb) = _resolve(exp, a), _resolve(exp, b)
    out = exp.interpolate(ta, tb, steps, kind)
    xy = exp.latent_plane(np.stack([ta, tb]))
    tokens = out["tokens"]
    return {"step": exp.steps, "a": ta, "b": tb, "a_name": na, "b_name": nb,
            "tokens": tokens, "t": out["t"], "kind": kind,
            "acc_a": float((tokens[0] == ta).mean()), "acc_b": float((tokens[-1] == tb).mean()),
            "ab_xy": (tuple(map(float, xy[0])), tuple(map(float, xy[1])))}


def _distinct_pair(exp: MusicVAEExperiment, seed: int) -> tuple[int, int]:
    """Two test phrase indices from different pieces (any two if there is one piece)."""
    rng = np.random.default_rng(int(seed))
    n = exp.test_x.shape[0]
    tunes = np.asarray(getattr(exp.dataset, "test_tune", np.arange(n)))
    a = int(rng.integers(n))
    others = np.flatnonzero(tunes != tunes[a])
    b = int(rng.choice(others)) if len(others) else int((a + 1) % n)
    return a, b


def _nowrap(text: str) -> str:
    """A figure and its error kept on one line when the summary wraps."""
    return text.replace(" ", "\u00a0")
