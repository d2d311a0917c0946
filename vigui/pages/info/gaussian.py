"""KL divergence between two normal densities: closed form both ways, and a Monte Carlo
estimate converging live (engine.info.measures.GaussianKLMonteCarlo run by a RunControl, the
same run control the chapter pages use: Space, S and R drive it while the tab shows)."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QVBoxLayout

from engine.core.params import Param
from engine.info.measures import GaussianKLConfig, GaussianKLMonteCarlo, gaussian_kl
from vigui.pages.info.common import Section, fmt, static_plot, summary_label
from vigui.run.control import RunButtons, RunControl
from vigui.run.worker import IDLE, RUNNING
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import SEED, ParamForm
from vigui.widgets.plots import colour, fitted_axes, pen

STEPS_PER_SECOND = 30.0     # the estimate grows ~5% in samples per step: a few seconds to 10⁶
RESTART_DELAY_MS = 150      # slider drags restart the estimate once they pause
FIELDS = [("p = N(μ_p, σ_p²)", ["mu_p", "sigma_p"]), ("q = N(μ_q, σ_q²)", ["mu_q", "sigma_q"]),
          ("Monte Carlo estimate", ["direction", "max_samples", "seed"])]
# The lecture's picture: p = N(0, 1), q = N(1, 0.5²); sliders for the four numbers.
OVERRIDES = {
    "mu_p": {"default": 0.0, "label": "mean μ", "help": "Mean of p"},
    "sigma_p": {"default": 1.0, "label": "sd σ", "help": "Standard deviation of p (> 0)"},
    "mu_q": {"default": 1.0, "label": "mean μ", "help": "Mean of q"},
    "sigma_q": {"default": 0.5, "label": "sd σ", "help": "Standard deviation of q (> 0)"},
    "max_samples": {"choices": (10_000, 100_000, 1_000_000, 10_000_000),
                    "choice_labels": ("10⁴", "10⁵", "10⁶", "10⁷"),
                    "help": "Stop after this many samples"},
}
EXTRA = [
    Param(name="direction", kind="str", default="qp", choices=("qp", "pq"),
          choice_labels=("samples from q: KL(q‖p)", "samples from p: KL(p‖q)"),
          label="Estimate", help="Which KL the Monte Carlo estimate targets"),
    SEED,
]
SLIDERS = {name: "slider" for name in ("mu_p", "sigma_p", "mu_q", "sigma_q")}


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def normal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class GaussianSection(Section):
    title = "Gaussians"
    anchor = "gauss"

    def build(self) -> None:
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.setInterval(RESTART_DELAY_MS)
        # A parameter change restarts the estimate, playing unless paused by hand.
        self._restart_timer.timeout.connect(
            lambda: self.restart(play=not self.run.paused_by_user))

        # -- controls -----------------------------------------------------------------
        self.params = ParamForm(GaussianKLConfig, FIELDS, extra=EXTRA, overrides=OVERRIDES,
                                styles=SLIDERS)
        self.controls_layout.addWidget(self.params)
        self.mu_p, self.sigma_p = self.params.widget("mu_p"), self.params.widget("sigma_p")
        self.mu_q, self.sigma_q = self.params.widget("mu_q"), self.params.widget("sigma_q")
        self.direction = self.params.widget("direction")
        self.samples = self.params.widget("max_samples")
        self.seed = self.params.widget("seed")

        self.run = RunControl(self._make_factory, rate=STEPS_PER_SECOND, reset_plays=True,
                              parent=self)
        self.run.frame.connect(self.render)
        self.run.rejected.connect(self.report)
        self.run.failed.connect(self.report)
        self.run.resetting.connect(self._clear_mc)
        self.buttons = RunButtons(self.run, step=False, stop=False, speed=False,
                                  state_text={IDLE: "ready", RUNNING: "sampling…"})
        self.buttons.state_label.setText("not started")
        self.buttons.reset.setToolTip("Start the estimate again from zero samples (R)")
        self.play_button, self.reset_button = self.buttons.play, self.buttons.reset
        self.params.add_row(self.buttons, after="seed")
        self.params.changed.connect(self._params_changed)

        # -- views ----------------------------------------------------------------------
        lay = QVBoxLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        lay.addWidget(self.summary)
        self.density_widget = pg.PlotWidget(axisItems=fitted_axes())
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

        self.mc_widget = pg.PlotWidget(axisItems=fitted_axes())
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
        # a new seed or sample size is a new run: the table compares the estimates
        self.add_comparison({}, ("estimate", "stderr", "samples"),
                            place_button=lambda b: self.params.add_row(b))
        self.last_snapshot: dict | None = None

    # -- parameters --------------------------------------------------------------------------
    def params_values(self) -> dict:
        v = self.params.values()
        return {name: v[name] for name in ("mu_p", "sigma_p", "mu_q", "sigma_q")}

    def config(self) -> GaussianKLConfig:
        """The estimate's config: samples from q (KL(q‖p)) or, reversed, from p."""
        v = self.params.values()
        if v["direction"] == "pq":  # samples from p: KL(p || q)
            mu_s, sd_s, mu_t, sd_t = v["mu_p"], v["sigma_p"], v["mu_q"], v["sigma_q"]
        else:
            mu_s, sd_s, mu_t, sd_t = v["mu_q"], v["sigma_q"], v["mu_p"], v["sigma_p"]
        return GaussianKLConfig(mu_q=mu_s, sigma_q=sd_s, mu_p=mu_t, sigma_p=sd_t,
                                max_samples=int(v["max_samples"])).validate()

    def _params_changed(self, *_args) -> None:
        self.update()
        if self.run.started:
            self._restart_timer.start()

    # -- the run --------------------------------------------------------------------------------
    def _make_factory(self):
        return partial(GaussianKLMonteCarlo, self.config(), seed=int(self.params.value("seed")))

    @property
    def runner(self):
        return self.run.runner

    def run_control(self) -> RunControl:
        return self.run

    def shown(self) -> None:
        if not self.run.started:
            self.restart(play=True)

    def restart(self, play: bool = True) -> None:
        """A fresh estimate from zero samples with the current parameters."""
        self._restart_timer.stop()
        self.run.reset(play=play)

    def reset(self) -> None:
        self.run.restart()

    def toggle_play(self) -> None:
        self.run.toggle_play()

    def close(self) -> None:
        """Stop the estimate and its thread; nothing restarts until the tab is shown again."""
        self._restart_timer.stop()
        was_started = self.run.started
        self.run.close()
        if was_started:
            self.buttons.set_state_text("stopped")

    # -- drawing ----------------------------------------------------------------------------
    def refresh(self) -> None:
        v = self.params_values()
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
        target = kl_pq if self.params.value("direction") == "pq" else kl_qp
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
        metrics = snap["metrics"]
        steps, est = metrics.get("estimate")
        # Samples and standard errors at the estimate's steps (the series share steps).
        n = np.interp(steps, *metrics.get("samples")) if len(steps) else steps
        se = np.interp(steps, *metrics.get("stderr")) if len(steps) else steps
        exact = snap["closed_form"]
        direction = self.params.value("direction")
        name = "KL(p‖q)" if direction == "pq" else "KL(q‖p)"
        source = "p" if direction == "pq" else "q"
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
            f"<b>{fmt_se(mean, stderr)}</b> nats (± 1 SE) after "
            f"<b>{int(snap['n']):,}</b> samples; closed form <b>{fmt(exact, 4)}</b> "
            f"(off by {z:+.1f} SE).")

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        return self.params.state()

    def restore(self, state: dict) -> None:
        """Saved values; anything malformed or out of range falls back to its default."""
        self.params.restore(state)

    def screenshot(self) -> None:
        self.params.restore({"mu_p": 0.0, "sigma_p": 1.0, "mu_q": 1.0, "sigma_q": 0.5,
                             "direction": "qp", "max_samples": 1_000_000, "seed": 0})
