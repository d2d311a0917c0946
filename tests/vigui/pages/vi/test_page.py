"""The variational-inference page: every tab driven by hand (hover, drag q, click data,
run each estimator and family); numbers on screen agree with the engine; no thread
outlives a test."""
import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.vi import latent
from engine.vi.estimators import ESTIMATORS
from engine.vi.models import ConjugateGaussian
from vigui.pages.vi import VIPage
from vigui.run.worker import FINISHED
from vigui.widgets.numbers import fmt_se

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("torch_one_thread")]


@pytest.fixture(scope="module")
def shared_page(qapp):
    p = VIPage()
    p.resize(1280, 800)
    p.show()
    yield p
    p.close_page()
    p.close()
    p.deleteLater()


@pytest.fixture
def page(shared_page, qtbot):
    qtbot.waitExposed(shared_page)
    shared_page.clear_message()
    yield shared_page
    shared_page.close_page()


def view_point(plot_widget, plot, x, y) -> QPointF:
    """Viewport coordinates of the data point (x, y) of a PlotWidget's plot."""
    scene = plot.getViewBox().mapViewToScene(QPointF(x, y))
    return QPointF(plot_widget.mapFromScene(scene))


def mouse(widget, kind, pos: QPointF, buttons=Qt.LeftButton):
    button = Qt.LeftButton if kind != QEvent.MouseMove else Qt.NoButton
    event = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos.toPoint())), button, buttons,
                        Qt.NoModifier)
    QApplication.sendEvent(widget.viewport(), event)


def click(widget, pos: QPointF):
    mouse(widget, QEvent.MouseButtonPress, pos)
    mouse(widget, QEvent.MouseButtonRelease, pos, Qt.NoButton)


def drag(widget, start: QPointF, end: QPointF, steps=6):
    mouse(widget, QEvent.MouseButtonPress, start)
    for i in range(1, steps + 1):
        mouse(widget, QEvent.MouseMove, start + (end - start) * (i / steps), Qt.LeftButton)
    mouse(widget, QEvent.MouseButtonRelease, end, Qt.NoButton)


# -- latent variables --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", latent.MAPS)
def test_latent_hover_traces_points_through_g(page, qtbot, kind):
    s = page.show_section("latent")
    s.kind.setCurrentIndex(s.kind.findData(kind))
    pos = view_point(s.z_widget, s.z_plot, 1.1, -0.6)
    mouse(s.z_widget, QEvent.MouseMove, pos, Qt.NoButton)
    z, gz = s.traced
    assert z == pytest.approx([1.1, -0.6], abs=0.05)
    assert gz == pytest.approx(latent.push(z[None], kind, seed=0)[0])
    if kind == "ring":
        assert "ring of radius ≈ 1" in s.summary.text()
    assert s.z_img.image is not None and s.x_img.image.sum() > 0


def test_latent_mean_radius_carries_its_monte_carlo_error(page):
    # The shown SE against brute force: the scatter of the mean over 100 seeds.
    import re

    s = page.show_section("latent")
    s.kind.setCurrentIndex(s.kind.findData("ring"))
    s.samples.setCurrentIndex(0)  # 2,000 draws: an error worth showing
    means, ses = [], []
    for seed in range(1, 101):
        s.seed.setValue(seed)
        shown = re.search(r"Mean radius ‖x‖ = <b>([\d.]+) ± ([\d.]+)</b>", s.summary.text())
        means.append(float(shown[1]))
        ses.append(float(shown[2]))
    assert np.mean(ses) == pytest.approx(np.std(means, ddof=1), rel=0.2)
    exact = 1 + 0.1 * math.sqrt(math.pi / 2)
    assert abs(np.mean(means) - exact) < 4 * np.mean(ses) / math.sqrt(len(means))


def test_latent_sample_figures_show_their_errors(page):
    """The ring's radius sd and the affine map's sample covariance are Monte Carlo figures:
    each is shown as value ± SE (issue 18), the SEs of engine.vi.latent."""
    s = page.show_section("latent")
    s.kind.setCurrentIndex(s.kind.findData("ring"))
    r = latent.ring_radius(s.x)
    assert f"sd {fmt_se(*latent.sd_with_se(r))}," in s.summary.text()
    s.kind.setCurrentIndex(s.kind.findData("affine"))
    cov, se = latent.covariance_with_se(s.x)
    assert (f"Sample covariance [{fmt_se(cov[0, 0], se[0, 0])}, {fmt_se(cov[0, 1], se[0, 1])}; "
            f"{fmt_se(cov[1, 1], se[1, 1])}] vs AAᵀ") in s.summary.text()


def test_latent_prior_cloud_is_plainly_visible(page, qtbot):
    """Figure 5's p(z) = N(0, I): dark near the mean, as light as the page far out."""
    s = page.show_section("latent")
    s.kind.setCurrentIndex(s.kind.findData("ring"))
    qtbot.wait(50)
    image = s.z_widget.grab().toImage()
    ratio = s.z_widget.devicePixelRatioF()

    def lightness(x, y):
        p = view_point(s.z_widget, s.z_plot, x, y)
        return np.mean([image.pixelColor(int(p.x() * ratio) + dx, int(p.y() * ratio) + dy).lightness()
                        for dx in range(-3, 4) for dy in range(-3, 4)])

    centre, far = lightness(0.2, -0.2), lightness(3.2, 3.2)
    assert far > 240 and centre < 190, (centre, far)


# -- the evidence gap ---------------------------------------------------------------------------
def test_gap_bars_add_up_and_drag_q(page, qtbot):
    s = page.show_section("gap")
    s.screenshot()
    start = view_point(s.surface_widget, s.surface, -1.5, 0.5)
    end = view_point(s.surface_widget, s.surface, 0.6, -0.9)
    drag(s.surface_widget, start, end)
    m, log_s = s.q()
    assert m == pytest.approx(0.6, abs=0.1) and log_s == pytest.approx(-0.9, abs=0.1)
    v = s.values()
    assert v["elbo"] + v["kl"] == pytest.approx(v["log_evidence"], abs=1e-9)
    assert v["energy"] + v["entropy"] == pytest.approx(v["elbo"], abs=1e-9)
    assert v["expected_log_lik"] - v["kl_prior"] == pytest.approx(v["elbo"], abs=1e-9)
    # the bars: the KL bar ends exactly on the log p(x) line
    opts = s.bar_items.opts
    assert opts["y0"][2] + opts["height"][2] == pytest.approx(v["log_evidence"], abs=1e-9)
    assert s.evidence_line.value() == pytest.approx(v["log_evidence"])


def test_gap_click_adds_and_removes_data_points(page, qtbot):
    s = page.show_section("gap")
    s.screenshot()
    n = len(s.x)
    click(s.density_widget, view_point(s.density_widget, s.density, -3.0, 0.1))
    assert len(s.x) == n + 1 and s.x[-1] == pytest.approx(-3.0, abs=0.05)
    model = ConjugateGaussian(s.x, s.sigma_x.value())
    assert s.values()["log_evidence"] == pytest.approx(model.log_evidence())
    click(s.density_widget, view_point(s.density_widget, s.density, s.x[-1], 0.0))
    assert len(s.x) == n
    s.x = s.x[:1]
    s.update()
    click(s.density_widget, view_point(s.density_widget, s.density, s.x[0], 0.0))
    assert len(s.x) == 1 and "at least one" in page.message.text()


def test_gap_optimise_reaches_the_posterior(page, qtbot):
    s = page.show_section("gap")
    s.screenshot()
    s.run.set_rate(None)  # the page animates at 30 steps/s; the test needs no animation
    qtbot.mouseClick(s.optimise, Qt.LeftButton)
    qtbot.waitUntil(lambda: s.run.state == FINISHED, timeout=20_000)
    qtbot.waitUntil(lambda: s.values()["kl"] < 1e-5, timeout=5_000)
    m, log_s = s.q()
    assert m == pytest.approx(s.model.post_mean, abs=1e-2)
    assert len(s.path.getData()[0]) > 10


# -- estimators --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["gaussian", "logistic"])
def test_estimators_run_and_agree_with_the_true_gradient(page, qtbot, model):
    s = page.show_section("estimators")
    s.restore({"model": model, "samples": 3, "batch": 100, "max_steps": 40, "lr": 0.005, "m": 0.5,
               "log_s": -0.5})
    s._restart_timer.stop()
    s.run.set_rate(None)
    s.run.reset(play=True)
    qtbot.waitUntil(lambda: s.run.state == FINISHED and s.last_snapshot is not None
                    and s.last_snapshot["step"] == 40, timeout=20_000)
    snap = s.last_snapshot
    for k in ESTIMATORS:
        assert np.all(np.abs(snap["mean"][k] - snap["true_grad"]) < 5 * snap["stderr"][k]), k
        x, y = s.hist_curves[0][k].getData()
        assert len(x) == len(y) + 1 and y.sum() > 0.95 * snap["count"]
        assert len(s.paths[k].getData()[0]) > 1
    assert "Variance ratio score / reparam" in s.summary.text()
    qtbot.waitUntil(lambda: len(s.var_curves["score"].getData()[0]) == 10, timeout=10_000)
    # every variance and ratio on screen carries its SE (issue 18), the curve a ± 1 SE band
    text = s.summary.text()
    ratio = text.split("score / reparam = <b>")[1].split("</b>")[0]
    assert " ± " in ratio and "?" not in ratio
    assert text.count(" ± ") >= 3 * 2 + 3 + 2 and "± ?" not in text
    for k in ESTIMATORS:
        _, value = s.var_curves[k].getData()
        (_, low), (_, high) = (edge.getData() for edge in s.var_bands[k])
        assert np.all(low < value) and np.all(value < high), k
        assert s.var_fills[k].path().boundingRect().height() > 0, k  # the shading is drawn
    # a frame saved before the errors were measured still opens, with "± ?"
    old = {key: v for key, v in snap.items() if key not in ("variance_se", "ratio_se")}
    s.render(old)
    assert "variance " in s.summary.text() and "± ?" in s.summary.text()


def test_estimators_drag_the_comparison_point(page, qtbot):
    s = page.show_section("estimators")
    s.restore({"model": "gaussian", "m": 0.0, "log_s": 0.0})
    start = view_point(s.map_widget, s.map, 0.0, 0.0)
    end = view_point(s.map_widget, s.map, 1.0, -1.0)
    drag(s.map_widget, start, end)
    assert s.params.value("m") == pytest.approx(1.0, abs=0.1)
    assert s.params.value("log_s") == pytest.approx(-1.0, abs=0.1)
    qtbot.waitUntil(lambda: s.run.runner is not None, timeout=5_000)


# -- black-box VI --------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["meanfield", "fullcov", "flow"])
def test_bbvi_runs_each_family(page, qtbot, family):
    s = page.show_section("bbvi")
    s.restore({"target": "gaussian", "rho": 0.8, "family": family, "divergence": "reverse",
               "samples": 64, "lr": 0.03, "max_steps": 150, "seed": 0})
    s._restart_timer.stop()
    s.run.reset(play=True)
    qtbot.waitUntil(lambda: s.run.state == FINISHED and s.last_snapshot is not None
                    and s.last_snapshot["step"] == 150, timeout=30_000)
    assert all(iso.data is not None and not iso.boundingRect().isEmpty() for iso in s.isocurves)
    assert len(s.sample_dots.data) == 400
    if family != "flow":
        x, _ = s.ellipses[0].getData()
        assert len(x) == 100
    assert "1 − ρ²" in s.numbers.text()
    assert "KL(q‖p)" in s.summary.text()


def test_bbvi_forward_kl_on_the_mixture(page, qtbot):
    s = page.show_section("bbvi")
    s.restore({"target": "mixture", "family": "fullcov", "divergence": "forward", "max_steps": 200,
               "lr": 0.05, "samples": 128})
    s._restart_timer.stop()
    s.run.reset(play=True)
    qtbot.waitUntil(lambda: s.run.state == FINISHED and s.last_snapshot is not None
                    and s.last_snapshot["step"] == 200, timeout=30_000)
    cov = s.last_snapshot["cov"]
    assert cov[0, 0] > 3.0  # stretched over both modes at x = ±2.4
    assert "forward KL(p‖q)" in s.summary.text()
    # every Monte Carlo figure on screen carries its SE (issue 18): the moving-average
    # ELBO and KL(q‖p), this step's KL(p‖q), the fits table; the tooltip says what it covers
    metrics = s.last_snapshot["metrics"]
    elbo, se = metrics.latest("elbo_avg"), metrics.latest("elbo_avg_se")
    assert 0 < se < 0.25 * metrics.latest("elbo_se")  # ~sqrt(0.05 / 1.95) = 0.16 of a step
    summary = s.summary.text()
    assert f"ELBO ≈ <b>{fmt_se(elbo, se)}</b>" in summary
    assert f"KL(q‖p) ≈ <b>{fmt_se(s.last_snapshot['log_z'] - elbo, se)}</b>" in summary
    assert "lag" in s.summary.toolTip()
    numbers = s.numbers.text()
    kl = fmt_se(metrics.latest("kl_forward"), metrics.latest("kl_forward_se"))
    assert f"KL(p‖q) on this step's samples of p ≈ {kl} nats" in numbers
    assert f"ELBO <b>{fmt_se(elbo, se)}</b>" in numbers and "± ?" not in numbers


def test_bbvi_parameter_change_restarts(page, qtbot):
    s = page.show_section("bbvi")
    s.run.reset(play=False)
    first = s.run.runner
    family = s.params.widget("family")
    family.setCurrentIndex(family.findData("meanfield"))
    qtbot.waitUntil(lambda: s.run.runner is not first and s.run.runner is not None, timeout=5_000)
    assert not s.params.widget("layers").isEnabled()


# -- the page ------------------------------------------------------------------------------------
def test_settings_round_trip_and_bad_values(page, qtbot):
    page.show_section("gap").restore({"n": 5, "true_z": 0.5, "sigma_x": 2.0, "seed": 3, "m": 0.3,
                                      "log_s": -1.0})
    state = page.settings_state()
    page.restore_settings({"gap": {"n": "many", "m": math.nan, "log_s": None}, "tab": "nope",
                           "bbvi": {"target": "donut", "lr": -5}})
    assert page.sections["gap"].n.value() == 5
    page.restore_settings(state)
    assert page.sections["gap"].q() == pytest.approx((0.3, -1.0))
    assert page.settings_state()["gap"] == state["gap"]


def test_switching_tabs_pauses_runs_and_close_stops_threads(page, qtbot):
    s = page.show_section("bbvi")
    s.restore({"target": "banana", "family": "flow", "max_steps": 100_000})
    s._restart_timer.stop()
    s.run.reset(play=True)
    qtbot.waitUntil(lambda: s.last_snapshot is not None, timeout=10_000)
    page.show_section("latent")
    assert not s.run.playing
    page.close_page()
    assert s.run.runner is None


def test_each_run_owning_section_is_one_runnable_unit(page, qtbot):
    """The sections create run, params, buttons and last_snapshot themselves (the names
    pinned runs build on); Reset empties the last frame until the new run draws."""
    from vigui.pages.runnable import Runnable
    for key in ("estimators", "bbvi"):
        s = page.show_section(key)
        assert isinstance(s, Runnable) and s.run_control() is s.run
        s.restore({"max_steps": 5})
        assert s.state()["max_steps"] == 5
        s._restart_timer.stop()
        s.run.set_rate(None)
        for _ in range(2):  # the second Reset drops the finished run's last frame at once
            qtbot.mouseClick(s.buttons.reset, Qt.LeftButton)
            assert s.last_snapshot is None
            qtbot.waitUntil(lambda s=s: s.last_snapshot is not None
                            and s.last_snapshot["step"] == 5, timeout=20_000)
            qtbot.waitUntil(lambda s=s: s.screenshot_ready(), timeout=10_000)
