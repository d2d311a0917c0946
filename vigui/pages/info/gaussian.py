"""KL divergence between two normal densities: closed form both ways, and a Monte Carlo
estimate converging live (engine.info.GaussianKLMonteCarlo in an ExperimentRunner)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)
from superqt import QLabeledDoubleSlider

from engine.info import GaussianKLConfig, GaussianKLMonteCarlo, gaussian_kl

from ...widgets.plots import colour, pen
from ...worker import FAILED, FINISHED, RUNNING, ExperimentRunner
from .common import Section, fmt, group, static_plot, summary_label

MU_RANGE = (-5.0, 5.0)
SIGMA_RANGE = (0.1, 5.0)    # sd > 0 is guaranteed by the widget range
STEPS_PER_SECOND = 30.0     # the estimate grows ~5% in samples per step: a few seconds to 10⁶
SAMPLE_CHOICES = [("10⁴", 10_000), ("10⁵", 100_000), ("10⁶", 1_000_000), ("10⁷", 10_000_000)]
DIRECTIONS = [("samples from q: KL(q‖p)", "qp"), ("samples from p: KL(p‖q)", "pq")]
RESTART_DELAY_MS = 150      # slider drags restart the estimate once they pause


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def normal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def _slider(lo: float, hi: float, value: float, tip: str) -> QLabeledDoubleSlider:
    s = QLabeledDoubleSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setDecimals(2)
    s.setSingleStep(0.01)
    s.setPageStep(0.25)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class GaussianSection(Section):
    title = "Gaussians"
    anchor = "gauss"

    def build(self) -> None:
        self.runner: ExperimentRunner | None = None
        self._started = False
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.setInterval(RESTART_DELAY_MS)
        self._restart_timer.timeout.connect(lambda: self.restart(play=not self._user_paused))
        self._user_paused = False  # a parameter change restarts playing unless paused by hand

        # -- controls -----------------------------------------------------------------
        self.mu_p = _slider(*MU_RANGE, 0.0, "Mean of p")
        self.sigma_p = _slider(*SIGMA_RANGE, 1.0, "Standard deviation of p (> 0)")
        self.mu_q = _slider(*MU_RANGE, 1.0, "Mean of q")
        self.sigma_q = _slider(*SIGMA_RANGE, 0.5, "Standard deviation of q (> 0)")
        for title, mu, sigma in (("p = N(μ_p, σ_p²)", self.mu_p, self.sigma_p),
                                 ("q = N(μ_q, σ_q²)", self.mu_q, self.sigma_q)):
            box = QWidget()
            form = QFormLayout(box)
            form.setContentsMargins(0, 0, 0, 0)
            form.addRow("mean μ", mu)
            form.addRow("sd σ", sigma)
            self.controls_layout.addWidget(group(title, box))

        self.direction = QComboBox()
        for text, data in DIRECTIONS:
            self.direction.addItem(text, data)
        self.direction.setToolTip("Which KL the Monte Carlo estimate targets")
        self.samples = QComboBox()
        for text, data in SAMPLE_CHOICES:
            self.samples.addItem(text, data)
        self.samples.setCurrentIndex(2)
        self.samples.setToolTip("Stop after this many samples")
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Random seed: the same seed gives the same estimate")
        self.play_button = QPushButton("❚❚ Pause")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Start the estimate again from zero samples")
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.reset_button)
        mc = QWidget()
        form = QFormLayout(mc)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Estimate", self.direction)
        form.addRow("Samples", self.samples)
        form.addRow("Seed", self.seed)
        form.addRow(buttons)
        self.state_label = QLabel("not started")
        self.state_label.setStyleSheet("color: #555;")
        form.addRow(self.state_label)
        self.controls_layout.addWidget(group("Monte Carlo estimate", mc))

        for w in (self.mu_p, self.sigma_p, self.mu_q, self.sigma_q):
            w.valueChanged.connect(self._params_changed)
        for w in (self.direction, self.samples):
            w.currentIndexChanged.connect(self._params_changed)
        self.seed.valueChanged.connect(self._params_changed)
        self.play_button.clicked.connect(self.toggle_play)
        self.reset_button.clicked.connect(self.reset)

        # -- views ----------------------------------------------------------------------
        lay = QVBoxLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        lay.addWidget(self.summary)
        self.density_widget = pg.PlotWidget()
        self.density = static_plot(self.density_widget, "Densities", "x", "density")
        self.density.showGrid(x=True, y=True, alpha=0.15)
        self.density.addLegend(offset=(-5, 5), labelTextSize="9pt")
        # NoPen, not pen=None: a PlotDataItem with pen=None never fills its curve's path,
        # which leaves a FillBetweenItem on it empty.
        self.p_fill_base = pg.PlotDataItem(pen=pg.mkPen(None))
        self.p_curve = pg.PlotDataItem(pen=pen(0, 2), name="p")
        self.q_curve = pg.PlotDataItem(pen=pen(1, 2), name="q")
        self.p_fill = pg.FillBetweenItem(self.p_curve, self.p_fill_base, brush=colour(0, 40))
        self.q_fill = pg.FillBetweenItem(self.q_curve, self.p_fill_base, brush=colour(1, 40))
        for item in (self.p_fill_base, self.p_fill, self.q_fill, self.p_curve, self.q_curve):
            self.density.addItem(item)
        lay.addWidget(self.density_widget, 4)

        self.mc_widget = pg.PlotWidget()
        self.mc = static_plot(self.mc_widget, "Monte Carlo estimate vs number of samples",
                              "samples (log scale)", "KL (nats)")
        self.mc.showGrid(x=True, y=True, alpha=0.15)
        self.mc.setLogMode(x=True, y=False)
        self.mc.getViewBox().setMouseEnabled(False, False)
        self.mc.addLegend(offset=(-5, 5), labelTextSize="9pt")
        self.band_hi = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band_lo = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self.band_hi, self.band_lo, brush=colour(0, 60))
        self.estimate = pg.PlotDataItem(pen=pen(0, 1.5), name="running estimate ± 2 SE")
        self.exact_line = pg.InfiniteLine(angle=0, pen=pg.mkPen((20, 20, 20), width=1.5,
                                                               style=Qt.DashLine))
        for item in (self.band_hi, self.band_lo, self.band, self.estimate, self.exact_line):
            self.mc.addItem(item)
        self.mc.legend.addItem(pg.PlotDataItem(pen=pg.mkPen((20, 20, 20), width=1.5,
                                                            style=Qt.DashLine)), "closed form")
        self.mc_label = summary_label()
        lay.addWidget(self.mc_widget, 5)
        lay.addWidget(self.mc_label)
        self.last_snapshot: dict | None = None

    # -- parameters --------------------------------------------------------------------------
    def params(self) -> dict:
        return {"mu_p": float(self.mu_p.value()), "sigma_p": float(self.sigma_p.value()),
                "mu_q": float(self.mu_q.value()), "sigma_q": float(self.sigma_q.value())}

    def config(self) -> GaussianKLConfig:
        v = self.params()
        if self.direction.currentData() == "pq":  # samples from p: KL(p || q)
            mu_s, sd_s, mu_t, sd_t = v["mu_p"], v["sigma_p"], v["mu_q"], v["sigma_q"]
        else:
            mu_s, sd_s, mu_t, sd_t = v["mu_q"], v["sigma_q"], v["mu_p"], v["sigma_p"]
        return GaussianKLConfig(mu_q=mu_s, sigma_q=sd_s, mu_p=mu_t, sigma_p=sd_t,
                                max_samples=int(self.samples.currentData())).validate()

    def _params_changed(self, *_args) -> None:
        self.update()
        if self._started:
            self._restart_timer.start()

    # -- the runner ----------------------------------------------------------------------
    def shown(self) -> None:
        if not self._started:
            self.restart(play=True)

    def restart(self, play: bool = True) -> None:
        """A fresh estimate from zero samples with the current parameters."""
        self._restart_timer.stop()
        self._started = True
        self._close_runner()
        self._clear_mc()
        try:
            config = self.config()
        except ValueError as exc:
            self.report(str(exc))
            return
        seed = int(self.seed.value())
        runner = ExperimentRunner(lambda: GaussianKLMonteCarlo(config, seed=seed), parent=self)
        runner.snapshot_ready.connect(self.render)
        runner.failed.connect(self.report)
        runner.state_changed.connect(self._on_state)
        runner.set_rate(STEPS_PER_SECOND)
        self.runner = runner
        if play:
            runner.play()
        self._on_state(RUNNING if play else "idle")

    def reset(self) -> None:
        self._user_paused = False
        self.restart(play=True)

    @property
    def playing(self) -> bool:
        return self.runner is not None and self.play_button.text().startswith("❚❚")

    def toggle_play(self) -> None:
        if self.runner is None or self.runner.state in (FINISHED, FAILED):
            self.reset()
        elif self.playing:
            self._user_paused = True
            self.runner.pause()
            self._on_state("paused")
        else:
            self._user_paused = False
            self.runner.play()
            self._on_state(RUNNING)

    def _on_state(self, state: str) -> None:
        running = state == RUNNING
        self.play_button.setText("❚❚ Pause" if running else "▶ Play")
        self.state_label.setText({"idle": "ready", RUNNING: "sampling…", "paused": "paused",
                                  FINISHED: "finished", FAILED: "stopped: error"}.get(state, state))

    def _close_runner(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            for signal in (runner.snapshot_ready, runner.failed, runner.state_changed):
                signal.disconnect()
            runner.close()
            runner.deleteLater()

    def close(self) -> None:
        """Stop the estimate and its thread; nothing restarts until the tab is shown again."""
        self._restart_timer.stop()
        self._close_runner()
        if self._started:
            self._started = False
            self._on_state("idle")
            self.state_label.setText("stopped")

    # -- drawing ----------------------------------------------------------------------------
    def refresh(self) -> None:
        v = self.params()
        kl_qp = gaussian_kl(v["mu_q"], v["sigma_q"], v["mu_p"], v["sigma_p"])
        kl_pq = gaussian_kl(v["mu_p"], v["sigma_p"], v["mu_q"], v["sigma_q"])
        self.values = {"KL(q||p)": kl_qp, "KL(p||q)": kl_pq}
        lo = min(v["mu_p"] - 4 * v["sigma_p"], v["mu_q"] - 4 * v["sigma_q"])
        hi = max(v["mu_p"] + 4 * v["sigma_p"], v["mu_q"] + 4 * v["sigma_q"])
        x = np.linspace(lo, hi, 600)
        p = normal_pdf(x, v["mu_p"], v["sigma_p"])
        q = normal_pdf(x, v["mu_q"], v["sigma_q"])
        self.p_fill_base.setData(x, np.zeros_like(x))
        self.p_curve.setData(x, p)
        self.q_curve.setData(x, q)
        self.density.getViewBox().setRange(xRange=(lo, hi), yRange=(0, 1.08 * max(p.max(), q.max())),
                                           padding=0.01)
        ln2 = math.log(2)
        self.summary.setText(
            f"Closed form: KL(q‖p) = <b>{fmt(kl_qp, 4)} nats</b> ({fmt(kl_qp / ln2)} bits), "
            f"KL(p‖q) = <b>{fmt(kl_pq, 4)} nats</b> ({fmt(kl_pq / ln2)} bits)"
            + (" — not symmetric." if abs(kl_qp - kl_pq) > 5e-4 else "."))
        target = kl_pq if self.direction.currentData() == "pq" else kl_qp
        self.exact_line.setValue(target)

    def _log_ticks(self, x0: float, x1: float) -> None:
        """Decades labelled 10, 100, 1,000, …; unlabelled minor ticks at 2…9 × 10^k."""
        key = (math.floor(x0), math.ceil(x1))
        if getattr(self, "_ticks_for", None) == key:
            return
        self._ticks_for = key
        major, minor = [], []
        for k in range(key[0], key[1] + 1):
            major.append((float(k), f"{10 ** k:,}" if k < 6 else f"10{_superscript(k)}"))
            minor += [(math.log10(m) + k, "") for m in range(2, 10)]
        self.mc.getAxis("bottom").setTicks([major, minor])

    def _clear_mc(self) -> None:
        for item in (self.band_hi, self.band_lo, self.estimate):
            item.setData([], [])
        self.last_snapshot = None
        self.mc_label.setText("Monte Carlo: press ▶ Play to draw samples.")

    def render(self, snap: dict) -> None:
        self.last_snapshot = snap
        n, est, se = snap["samples"], snap["estimate"], snap["stderr"]
        exact = snap["closed_form"]
        name = "KL(p‖q)" if self.direction.currentData() == "pq" else "KL(q‖p)"
        source = "p" if self.direction.currentData() == "pq" else "q"
        if len(n) == 0:
            self._clear_mc()
            return
        self.estimate.setData(n, est)
        self.band_hi.setData(n, est + 2 * se)
        self.band_lo.setData(n, est - 2 * se)
        self.exact_line.setValue(exact)
        # Keep the closed form and the band in view without letting the first, wild
        # estimates flatten the picture.
        tail = slice(min(len(n) - 1, 3), None)
        lo = min(exact, float(np.min(est[tail] - 2 * se[tail])))
        hi = max(exact, float(np.max(est[tail] + 2 * se[tail])))
        pad = max(0.05 * (hi - lo), 0.02 * max(abs(exact), 0.05))
        x0, x1 = math.log10(max(n[0], 1)), math.log10(n[-1]) + 0.05
        self.mc.getViewBox().setRange(xRange=(x0, x1), yRange=(lo - pad, hi + pad), padding=0)
        self._log_ticks(x0, x1)
        mean, stderr = snap["mean"], snap["se"]
        z = (mean - exact) / stderr if stderr > 0 else 0.0
        z = 0.0 if abs(z) < 0.05 else z  # no "−0.0 SE"
        other = "q" if source == "p" else "p"
        self.mc_label.setText(
            f"Monte Carlo {name}: mean of log {source}(x) − log {other}(x) over x ~ {source}: "
            f"<b>{fmt(mean, 4)} ± {fmt(stderr, 4)}</b> nats (± 1 SE) after "
            f"<b>{int(snap['n']):,}</b> samples; closed form <b>{fmt(exact, 4)}</b> "
            f"(off by {z:+.1f} SE).")

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        out = self.params()
        out.update({"direction": self.direction.currentData(),
                    "samples": int(self.samples.currentData()), "seed": int(self.seed.value())})
        return out

    def restore(self, state: dict) -> None:
        for name, widget, (lo, hi) in (("mu_p", self.mu_p, MU_RANGE), ("mu_q", self.mu_q, MU_RANGE),
                                       ("sigma_p", self.sigma_p, SIGMA_RANGE),
                                       ("sigma_q", self.sigma_q, SIGMA_RANGE)):
            value = state.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                widget.setValue(min(hi, max(lo, float(value))))
        for name, box in (("direction", self.direction), ("samples", self.samples)):
            index = box.findData(state.get(name))
            if index >= 0:
                box.setCurrentIndex(index)
        seed = state.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            self.seed.setValue(min(1_000_000, max(0, seed)))

    def screenshot(self) -> None:
        self.restore({"mu_p": 0.0, "sigma_p": 1.0, "mu_q": 1.0, "sigma_q": 0.5,
                      "direction": "qp", "samples": 1_000_000, "seed": 0})
