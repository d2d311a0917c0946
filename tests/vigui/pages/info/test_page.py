"""The information-theory page: every section updates from sliders, drags, table edits
and presets to the engine's numbers; bad input never raises; no thread outlives it."""
import json
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QPushButton, QSpinBox

from engine.info.measures import (
    GAME1,
    binary_entropy,
    conditional_entropy,
    cross_entropy,
    entropy,
    gaussian_kl,
    kl_divergence,
    mutual_information,
    pmi,
    surprise,
)
from vigui.pages.info import InfoPage
from vigui.pages.info.joint import NEVER_RGB, UNDEFINED_RGB
from vigui.widgets.distribution_editor import DistributionEditor, rescale
from vigui.widgets.numbers import fmt_se

pytestmark = pytest.mark.gui
GUI_SETTINGS = settings(max_examples=40, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def shared_page(qapp):
    """One page for the module (building one takes ~0.4 s); each test starts from its
    default state and ends with its thread stopped."""
    p = InfoPage()
    p.resize(1090, 760)
    p.show()
    defaults = p.settings_state()
    yield p, defaults
    p.close_page()
    p.close()
    p.deleteLater()


@pytest.fixture
def page(shared_page, qtbot):
    p, defaults = shared_page
    p.close_page()
    p.restore_settings(defaults)
    p.clear_message()
    qtbot.waitExposed(p)
    yield p
    p.close_page()


def plain(label) -> str:
    """A rich-text label's text without tags."""
    import re
    return re.sub(r"<[^>]+>", "", label.text()).replace("&nbsp;", " ").replace("&lt;", "<")


def send_mouse(widget, kind, pos: QPointF, buttons=Qt.LeftButton):
    button = Qt.LeftButton if kind != QEvent.MouseMove else Qt.NoButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget.viewport(), event)


def bar_point(bars, x, y) -> QPointF:
    """Widget (viewport) coordinates of the data point (x, y) in a DraggableBars."""
    scene = bars.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
    return QPointF(bars.mapFromScene(scene))


# -- the reusable editor ---------------------------------------------------------------
def test_rescale_keeps_sum_and_proportions():
    p = rescale([0.1, 0.2, 0.3, 0.4], 3, 0.7)
    assert p.sum() == pytest.approx(1.0)
    assert p[3] == pytest.approx(0.7)
    assert p[:3] / p[:3].sum() == pytest.approx([1 / 6, 2 / 6, 3 / 6])
    assert rescale([1.0, 0.0, 0.0], 0, 0.4) == pytest.approx([0.4, 0.3, 0.3])
    assert rescale([0.5, 0.5], 0, 7.0) == pytest.approx([1.0, 0.0])
    assert rescale([0.5, 0.5], 1, math.nan) == pytest.approx([0.5, 0.5])


def test_distribution_editor_slider_rescales(qtbot):
    editor = DistributionEditor(4)
    qtbot.addWidget(editor)
    with qtbot.waitSignal(editor.changed) as blocker:
        editor.slider(0).setValue(0.4)
    assert blocker.args[0] == pytest.approx([0.4, 0.2, 0.2, 0.2])
    assert editor.slider(1).value() == pytest.approx(0.2)
    editor.set_n(6)
    assert editor.n == 6 and editor.probs().sum() == pytest.approx(1.0)
    assert not editor.set_probs([-1, 2])
    assert not editor.set_probs([math.nan, 1])
    assert editor.n == 6


# -- surprise --------------------------------------------------------------------------
def test_surprise_coin_preset_and_slider(page, qtbot):
    s = page.show_section("surprise")
    s.p_heads.setValue(0.3)
    qtbot.mouseClick(s.coin90, Qt.LeftButton)
    text = plain(s.coin_summary)
    assert "0.152 bits" in text and "3.322 bits" in text
    heights = s.bars.opts["height"]
    assert heights == pytest.approx(surprise([0.9, 0.1]))
    assert s.bar_texts[0].textItem.toPlainText() == "0.152 bits"
    s.p_heads.setValue(0.25)
    assert "2.000 bits" in plain(s.coin_summary)
    assert s.values["tails"] == pytest.approx(-math.log2(0.75))
    s.p_heads.setValue(0.0)  # heads impossible: infinite surprise, drawn and labelled
    assert "∞ bits" in plain(s.coin_summary)
    assert s.bar_texts[0].textItem.toPlainText() == "∞ bits"
    assert np.all(np.isfinite(s.bars.opts["height"]))
    assert page.message.isHidden()


@pytest.mark.parametrize("forks", [1, 3, 6, 20])
def test_forks_tree_and_numbers(page, forks):
    s = page.show_section("surprise")
    s.forks.setValue(forks)
    s.destination.setValue(2 ** forks)
    text = plain(s.fork_summary)
    assert f"{2 ** forks:,} destinations" in text
    assert f"{forks:.3f} bits" in text
    assert ("R " * forks).strip() in text  # the last destination: always right
    drawn = min(forks, 6)
    x, _ = s.tree_edges.getData()
    assert len(x) == 2 * (2 ** (drawn + 1) - 2)  # one segment (2 points) per edge
    px, _ = s.tree_path.getData()
    assert len(px) == drawn + 1
    assert s.more.isVisible() == (forks > 6)


# -- entropy ------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, bits", [
    ("Fair die", "2.585"), ("Certain outcome", "0.000"), ("Game 2 coins", "1.750"),
    ("Game 1 coins", "2.000"), ("90% coin", "0.469"), ("Fair coin", "1.000"),
])
def test_entropy_presets(page, qtbot, preset, bits):
    s = page.show_section("entropy")
    qtbot.mouseClick(s.preset_buttons[preset], Qt.LeftButton)
    assert f"{bits} bits" in plain(s.summary)
    p = s.editor.probs()
    assert s.values["entropy_bits"] == pytest.approx(entropy(p))
    assert s.values["entropy_nats"] == pytest.approx(entropy(p, base=math.e))
    assert f"log₂ {p.size} = {math.log2(p.size):.3f} bits" in plain(s.summary)
    assert s.bars.values() == pytest.approx(p)


def test_entropy_uniform_is_maximal_for_each_n(page, qtbot):
    s = page.show_section("entropy")
    for n in (2, 5, 12):
        s.n_box.setValue(n)
        qtbot.mouseClick(s.preset_buttons["Uniform"], Qt.LeftButton)
        assert s.values["entropy_bits"] == pytest.approx(math.log2(n))
        assert "reaches 100.0%" in plain(s.summary)
        assert len(s.bars.values()) == n


def test_entropy_slider_updates_numbers(page):
    s = page.show_section("entropy")
    s.apply_preset("Fair die")
    s.editor.slider(5).setValue(0.5)
    p = s.editor.probs()
    assert p[5] == pytest.approx(0.5) and p.sum() == pytest.approx(1.0)
    assert p[:5] == pytest.approx([0.1] * 5)
    assert f"{entropy(p):.3f} bits" in plain(s.summary)
    assert s.bars.values() == pytest.approx(p)


def test_entropy_drag_bar_with_mouse(page, qtbot):
    s = page.show_section("entropy")
    s.apply_preset("Fair die")
    qtbot.wait(50)
    send_mouse(s.bars, QEvent.MouseButtonPress, bar_point(s.bars, 2, 0.3))
    assert s.editor.probs()[2] == pytest.approx(0.3, abs=0.01)
    send_mouse(s.bars, QEvent.MouseMove, bar_point(s.bars, 3.4, 0.8))  # sideways: still bar 2
    send_mouse(s.bars, QEvent.MouseButtonRelease, bar_point(s.bars, 3.4, 0.8), Qt.NoButton)
    p = s.editor.probs()
    assert p[2] == pytest.approx(0.8, abs=0.01)
    assert np.delete(p, 2) == pytest.approx([0.04] * 5, abs=0.002)
    assert s.editor.slider(2).value() == pytest.approx(p[2], abs=1e-3)
    assert f"{entropy(p):.3f} bits" in plain(s.summary)
    s.bars.drag_to(0, 5.0)  # clipped to 1: a certain outcome
    assert s.values["entropy_bits"] == 0.0


def test_binary_entropy_curve_only_for_two_outcomes(page):
    s = page.show_section("entropy")
    s.apply_preset("90% coin")
    x, y = s.point.getData()
    assert x == pytest.approx([0.9]) and y == pytest.approx([binary_entropy(0.9)])
    assert not s.note.isVisible()
    s.n_box.setValue(3)
    x, _ = s.point.getData()
    assert len(x) == 0 and s.note.isVisible()
    assert "n = 3" in s.note.textItem.toPlainText()


# -- joint table --------------------------------------------------------------------------
def test_joint_default_numbers_and_identities(page):
    s = page.show_section("joint")
    w = np.array([[4, 1, 0], [1, 3, 1], [0, 1, 4]], dtype=float)
    pxy = w / w.sum()
    v = s.values
    assert v["I"] == pytest.approx(mutual_information(pxy))
    assert v["H(X|Y)"] == pytest.approx(conditional_entropy(pxy))
    assert f"I(X;Y) = {mutual_information(pxy):.3f}" in plain(s.summary)
    x0, widths, ys = (np.asarray(s.segments.opts[k]) for k in ("x0", "width", "y"))
    joint_row = widths[ys == 2].sum()
    assert joint_row == pytest.approx(v["H(X,Y)"])
    assert widths[ys == 1].sum() == pytest.approx(v["H(X)"])
    assert widths[ys == 0].sum() == pytest.approx(v["H(Y)"])
    # the normalised table is shown (and says so), marginals included
    assert "normalised" in s.output_title.text()
    assert s.output.item(0, 0).text() == f"{pxy[0, 0]:.3f}"
    assert s.output.item(3, 3).text() == "1.000"


def test_joint_presets(page, qtbot):
    s = page.show_section("joint")
    qtbot.mouseClick(s.independent, Qt.LeftButton)
    assert s.values["I"] == pytest.approx(0.0, abs=1e-9)
    assert "I(X;Y) = 0.000" in plain(s.summary)
    assert np.all(np.isfinite(s.values["pmi"]))
    qtbot.mouseClick(s.copy, Qt.LeftButton)
    assert s.values["I"] == pytest.approx(s.values["H(X)"])
    assert s.values["H(X|Y)"] == pytest.approx(0.0, abs=1e-12)
    s.rows_box.setValue(4)
    s.noise.setValue(0.0)  # moving the noise slider applies the channel preset
    assert s.values["I"] == pytest.approx(2.0)  # 4 values copied exactly: 2 bits
    s.noise.setValue(1.0)
    assert s.values["I"] == pytest.approx(0.0, abs=1e-9)
    s.noise.setValue(0.3)
    pxy = s.values["pxy"]
    assert pxy.shape == (4, 4) and s.values["I"] == pytest.approx(mutual_information(pxy))
    qtbot.mouseClick(s.clear, Qt.LeftButton)
    assert s.values["I"] == pytest.approx(0.0, abs=1e-12)


def test_joint_cell_edit_updates(page):
    s = page.show_section("joint")
    s.set_cell(0, 2, "2.5")
    w = np.array([[4, 1, 2.5], [1, 3, 1], [0, 1, 4]])
    assert s.table() == pytest.approx(w)
    assert s.values["I"] == pytest.approx(mutual_information(w / w.sum()))
    assert page.message.isHidden()
    # garbage: refused with a message, the old value kept
    s.set_cell(1, 1, "abc")
    assert not page.message.isHidden() and "not a number" in page.message.text()
    assert s.input.item(1, 1).text() == "3"
    s.set_cell(1, 1, "-2")
    assert "negative" in page.message.text()
    s.set_cell(1, 1, "7")
    assert page.message.isHidden() and s.table()[1, 1] == 7


def edit_cell(qtbot, table, i, j, keys):
    index = table.model().index(i, j)
    table.setCurrentIndex(index)
    table.edit(index)
    editors = [e for e in table.viewport().findChildren(QAbstractSpinBox) if e.isVisible()]
    assert len(editors) == 1
    editor = editors[0]
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor, keys)
    typed = editor.lineEdit().text()
    qtbot.keyClick(editor, Qt.Key_Return)  # the delegate commits on Return (queued)
    qtbot.waitUntil(lambda: table.state() != table.State.EditingState, timeout=2000)
    return typed


def test_joint_edit_through_delegate(page, qtbot):
    s = page.show_section("joint")
    assert edit_cell(qtbot, s.input, 2, 2, "x9y") == "9"  # letters are refused
    assert s.table()[2, 2] == 9
    edit_cell(qtbot, s.input, 2, 1, "-5")  # a minus sign cannot make a negative weight
    assert s.table()[2, 1] >= 0
    edit_cell(qtbot, s.input, 2, 0, "99999999")  # capped at the maximum weight
    assert 0 <= s.table()[2, 0] <= 1e6
    assert s.values["H(X,Y)"] == pytest.approx(entropy(s.table() / s.table().sum()))


def test_joint_all_zero_table_is_a_message(page):
    s = page.show_section("joint")
    s.set_table(np.zeros((2, 2)))
    assert not page.message.isHidden() and "all zeros" in page.message.text()
    s.set_cell(0, 0, "1")
    assert page.message.isHidden() and s.values["H(X,Y)"] == 0.0


def test_pmi_heat_map(page):
    s = page.show_section("joint")
    s.set_table([[4, 1, 0], [1, 3, 1], [0, 0, 0]])  # a zero row (undefined) and a −∞ cell
    pm = pmi(s.values["pxy"])
    image = s.pmi_image.image
    assert image.shape[:2] == (3, 3)
    assert tuple(image[0, 2, :3]) == NEVER_RGB
    assert tuple(image[2, 0, :3]) == UNDEFINED_RGB
    assert s.pmi_texts[0 * 6 + 2].textItem.toPlainText() == "−∞"
    assert s.pmi_texts[2 * 6 + 1].textItem.toPlainText() == "n/a"
    low, high = s.colour_bar.levels()
    assert low == -high and high == pytest.approx(np.max(np.abs(pm[np.isfinite(pm)])))
    # the largest |PMI| gets a saturated colour, PMI 0 white
    s.set_table([[1, 1], [1, 1]])
    assert tuple(s.pmi_image.image[0, 0, :3]) == (255, 255, 255)


# -- cross-entropy and KL -----------------------------------------------------------------
@pytest.mark.parametrize("game, used, best", [
    ("Game 1", "2.000", "2.000"), ("Game 2", "1.750", "1.750"), ("Game 3", "2.000", "1.750"),
])
def test_coin_games(page, qtbot, game, used, best):
    s = page.show_section("kl")
    qtbot.mouseClick(s.game_buttons[game], Qt.LeftButton)
    text = plain(s.game_label)
    assert f"{used} questions on average" in text and f"{best} with p's own tree" in text
    assert game in text
    title = s.q_tree.getPlotItem().titleLabel.text
    assert f"{used} questions" in title.replace("<b>", "").replace("</b>", "")
    p, q = s.p_editor.probs(), s.q_editor.probs()
    assert s.values["H(p,q)"] == pytest.approx(cross_entropy(p, q))
    assert s.values["KL(p||q)"] == pytest.approx(kl_divergence(p, q))
    assert s.p_editor.labels() == ["blue", "red", "green", "yellow"]
    if game == "Game 2":
        assert s.p_tree.questions[0] == "Is it blue?"
    if game == "Game 3":
        assert ">" in text
        assert s.values["questions_q_tree"] - s.values["questions_p_tree"] == pytest.approx(0.25)


def test_kl_sliders_and_asymmetry(page):
    s = page.show_section("kl")
    s.set_pair([0.7, 0.2, 0.1], [0.2, 0.3, 0.5])
    s.p_editor.slider(0).setValue(0.8)
    p, q = s.p_editor.probs(), s.q_editor.probs()
    assert p[0] == pytest.approx(0.8)
    assert s.game is None
    kl_pq, kl_qp = kl_divergence(p, q), kl_divergence(q, p)
    text = plain(s.summary)
    assert f"KL(p‖q) = {kl_pq:.3f} bits" in text and f"KL(q‖p) = {kl_qp:.3f} bits" in text
    assert "not symmetric" in text
    widths = np.asarray(s.segments.opts["width"])
    assert widths == pytest.approx([entropy(p), kl_pq, entropy(q), kl_qp])
    s.swap_pq()
    assert s.values["KL(p||q)"] == pytest.approx(kl_qp)


def test_kl_infinite_when_q_misses(page, qtbot):
    s = page.show_section("kl")
    qtbot.mouseClick(s.game_buttons["q misses an outcome"], Qt.LeftButton)
    assert math.isinf(s.values["KL(p||q)"]) and math.isinf(s.values["H(p,q)"])
    text = plain(s.summary)
    assert "KL(p‖q) = ∞ bits" in text and "q(yellow) = 0 < p" in text
    assert np.all(np.isfinite(s.segments.opts["width"]))
    assert any(t.textItem.toPlainText() == "KL(p‖q) ∞" for t in s.segment_texts)
    assert math.isfinite(s.values["questions_q_tree"])
    assert page.message.isHidden()


def test_kl_drag_q_bar(page, qtbot):
    s = page.show_section("kl")
    s.apply_game("Game 1")
    qtbot.wait(50)
    send_mouse(s.q_bars, QEvent.MouseButtonPress, bar_point(s.q_bars, 0, 0.5))
    send_mouse(s.q_bars, QEvent.MouseButtonRelease, bar_point(s.q_bars, 0, 0.5), Qt.NoButton)
    q = s.q_editor.probs()
    assert q[0] == pytest.approx(0.5, abs=0.01)
    assert s.values["KL(p||q)"] == pytest.approx(kl_divergence(GAME1, q))
    assert s.q_bars.values() == pytest.approx(q)
    assert s.game is None


def test_kl_n_change(page):
    s = page.show_section("kl")
    s.n_box.setValue(9)
    assert s.p_editor.n == s.q_editor.n == 9
    assert len(s.p_bars.values()) == 9
    assert s.values["H(p)"] == pytest.approx(entropy(s.p_editor.probs()))


# -- Gaussians ----------------------------------------------------------------------------
def test_gaussian_closed_form(page):
    s = page.sections["gauss"]
    s.mu_p.setValue(0.0)
    s.sigma_p.setValue(1.0)
    s.mu_q.setValue(1.0)
    s.sigma_q.setValue(2.0)
    assert s.values["KL(q||p)"] == pytest.approx(gaussian_kl(1.0, 2.0, 0.0, 1.0))
    assert s.values["KL(p||q)"] == pytest.approx(gaussian_kl(0.0, 1.0, 1.0, 2.0))
    assert f"{gaussian_kl(1.0, 2.0, 0.0, 1.0):.4f} nats" in plain(s.summary)
    x, y = s.p_curve.getData()
    assert y.max() == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-3)
    s.sigma_q.setValue(0.0)  # below the range: clamped to a positive sd
    assert s.sigma_q.value() > 0
    assert s.runner is None  # never started: the tab was not shown


def test_gaussian_monte_carlo_converges(page, qtbot):
    s = page.sections["gauss"]
    s.samples.setCurrentIndex(1)  # 10⁵ samples
    page.show_section("gauss")    # showing the tab starts the estimate
    assert s.runner is not None
    s.runner.set_rate(None)        # as fast as possible in the test
    qtbot.waitUntil(lambda: s.last_snapshot is not None and s.last_snapshot["done"], timeout=15000)
    snap = s.last_snapshot
    exact = gaussian_kl(1.0, 0.5, 0.0, 1.0)  # the defaults: q = N(1, 0.5²), p = N(0, 1)
    assert snap["closed_form"] == pytest.approx(exact)
    assert snap["n"] == 100_000
    assert abs(snap["mean"] - exact) <= 4 * snap["se"]
    assert snap["se"] < 0.02
    x, y = s.estimate.getData()
    steps, estimates = snap["metrics"].get("estimate")  # the run's whole (short) history
    assert len(y) == len(estimates) == snap["step"] and y[-1] == snap["mean"]
    np.testing.assert_allclose(10 ** x, snap["metrics"].get("samples")[1], rtol=1e-12)
    assert s.exact_line.value() == pytest.approx(exact)
    assert f"{snap['n']:,} samples" in plain(s.mc_label)
    assert f"{fmt_se(snap['mean'], snap['se'])} nats (± 1 SE)" in plain(s.mc_label)
    qtbot.waitUntil(lambda: s.play_button.text() == "▶ Play", timeout=3000)


def test_gaussian_play_pause_reset_and_param_restart(page, qtbot):
    s = page.show_section("gauss")
    qtbot.waitUntil(lambda: s.last_snapshot is not None and s.last_snapshot["n"] > 0, timeout=5000)
    qtbot.mouseClick(s.play_button, Qt.LeftButton)  # pause
    assert s.play_button.text() == "▶ Play"
    first = s.runner
    s.direction.setCurrentIndex(1)  # KL(p‖q): restarts after a short delay, still paused
    qtbot.waitUntil(lambda: s.runner is not first, timeout=3000)
    assert s.play_button.text() == "▶ Play"
    qtbot.mouseClick(s.reset_button, Qt.LeftButton)
    s.runner.set_rate(None)
    qtbot.waitUntil(lambda: s.last_snapshot is not None and s.last_snapshot["done"], timeout=15000)
    assert s.last_snapshot["closed_form"] == pytest.approx(gaussian_kl(0.0, 1.0, 1.0, 0.5))


def test_space_and_r_drive_the_gaussian_estimate(qtbot):
    """The window's Run menu (Space, R) drives the section's run while its tab shows."""
    from vigui.window import MainWindow

    window = MainWindow(fresh=True)
    qtbot.addWidget(window)
    window.open_page("info")
    page = window.pages["info"]
    s = page.show_section("gauss")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    assert page.run_control() is s.run and s.run.playing
    qtbot.waitUntil(lambda: s.last_snapshot is not None and s.last_snapshot["n"] > 0,
                    timeout=5000)
    qtbot.keyClick(window, Qt.Key_Space)  # pause
    assert not s.run.playing and s.play_button.text() == "▶ Play"
    qtbot.waitUntil(lambda: s.runner.state == "paused", timeout=5000)
    qtbot.keyClick(window, Qt.Key_Space)  # play again
    assert s.run.playing and s.play_button.text() == "❚❚ Pause"
    first = s.runner
    qtbot.keyClick(window, Qt.Key_R)  # a fresh estimate, playing
    assert s.runner is not first and not first.is_alive and s.run.playing
    page.show_section("entropy")  # instant sections have no run: the keys do nothing
    assert page.run_control() is None
    qtbot.keyClick(window, Qt.Key_Space)
    assert s.run.playing
    window.close()
    assert s.runner is None


def test_close_page_stops_threads(qtbot):
    p = InfoPage()
    qtbot.addWidget(p)
    p.show_section("gauss")
    runner = p.gauss.runner
    assert runner.is_alive
    p.close_page()
    assert not runner.is_alive and p.gauss.runner is None
    assert not [t for t in threading.enumerate() if t.name == "vigui-experiment"]
    p.close_page()  # twice is harmless


# -- bad input never raises -----------------------------------------------------------------
GARBAGE = ["abc", "", "-", "--1", "1e999", "-1e999", "nan", "inf", "0.5.5", "9" * 40,
           " ", "1,5", "+-", "0x10"]


def test_garbage_in_every_spin_box(page, qtbot):
    for key in page.sections:
        page.show_section(key)
        boxes = page.sections[key].controls.findChildren(QAbstractSpinBox)
        assert boxes
        for box in boxes:
            for text in GARBAGE:
                box.lineEdit().selectAll()
                qtbot.keyClicks(box.lineEdit(), text)
                qtbot.keyClick(box.lineEdit(), Qt.Key_Return)
                box.clearFocus()
            box.lineEdit().selectAll()
            box.lineEdit().insert("١٢∞")  # non-ASCII (QTest cannot type it)
            box.interpretText()
            extremes = ((-2**31, 2**31 - 1, 0, -1) if isinstance(box, QSpinBox)
                        else (-1e308, 1e308, -math.inf, math.inf, 0.0, -1.0))
            for value in extremes:
                box.setValue(value)
            assert box.minimum() <= box.value() <= box.maximum()
    page.close_page()  # the Gaussian restarts above must not leave a thread
    for section in page.sections.values():
        section.update()
    assert all(math.isfinite(v) for v in page.entropy.editor.probs())


def test_every_button_twice(page, qtbot):
    for key, section in page.sections.items():
        page.show_section(key)
        for button in section.controls.findChildren(QPushButton):
            qtbot.mouseClick(button, Qt.LeftButton)
            qtbot.mouseClick(button, Qt.LeftButton)
    page.close_page()


@GUI_SETTINGS
@given(text=st.one_of(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True).map(str),
                      st.integers(-10**30, 10**30).map(str)),
       cell=st.tuples(st.integers(0, 2), st.integers(0, 2)))
def test_table_never_accepts_garbage(page, text, cell):
    s = page.joint
    before = s.table()
    s.set_cell(*cell, text)
    after = s.table()
    assert np.all(np.isfinite(after)) and np.all(after >= 0) and np.all(after <= 1e6)
    changed = np.flatnonzero((after != before).ravel())
    assert len(changed) <= 1
    assert all(math.isfinite(v) for v in (s.values["I"], s.values["H(X,Y)"])) or \
        not page.message.isHidden()


@GUI_SETTINGS
@given(index=st.integers(-3, 14), height=st.floats(allow_nan=True, allow_infinity=True))
def test_drags_never_break_the_distribution(page, index, height):
    for bars, editor in ((page.entropy.bars, page.entropy.editor), (page.kl.q_bars, page.kl.q_editor)):
        bars.drag_to(index, height)
        p = editor.probs()
        assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)


# -- settings and screenshots -----------------------------------------------------------------
def test_settings_round_trip(page, qtbot):
    page.surprise.p_heads.setValue(0.3)
    page.surprise.forks.setValue(5)
    page.entropy.apply_preset("Loaded die")
    page.entropy.editor.slider(0).setValue(0.25)
    page.joint.set_table([[1, 2], [3, 4], [5, 0]])
    page.kl.apply_game("Game 3")
    page.gauss.mu_q.setValue(-2.5)
    page.gauss.direction.setCurrentIndex(1)
    page.show_section("joint")
    state = json.loads(json.dumps(page.settings_state()))
    other = InfoPage()
    qtbot.addWidget(other)
    try:
        other.restore_settings(state)
        restored = other.settings_state()
        assert restored.keys() == state.keys()
        for key, saved in state.items():
            if isinstance(saved, dict):
                for name, value in saved.items():
                    if isinstance(value, list) and name != "labels":
                        np.testing.assert_allclose(restored[key][name], value, rtol=1e-12)
                    else:
                        assert restored[key][name] == value, (key, name)
            else:
                assert restored[key] == saved
        assert other.tabs.currentIndex() == 2
        assert other.entropy.editor.probs() == pytest.approx(page.entropy.editor.probs())
        assert other.joint.values["I"] == pytest.approx(page.joint.values["I"])
        assert other.kl.game == "Game 3"
    finally:
        other.close_page()


@pytest.mark.parametrize("state", [
    None, [], "x", {"tab": 5}, {"tab": "nope"},
    {"surprise": {"p_heads": "a", "forks": 1e9, "destination": -5}},
    {"entropy": {"p": "abc"}}, {"entropy": {"p": [1, -1]}}, {"entropy": {"p": [0, 0]}},
    {"entropy": {"p": [1] * 40}}, {"entropy": {"p": [1, 2], "labels": [1, 2]}},
    {"joint": {"weights": [[1e400]]}}, {"joint": {"weights": [[1, 2], [3]]}},
    {"joint": {"weights": [[[1]]]}, "noise": "z"}, {"joint": {"weights": [[0.0] * 9] * 9}},
    {"kl": {"p": [0.5, 0.5], "q": [1, 0, 0]}}, {"kl": {"p": None, "q": None, "game": 3}},
    {"gauss": {"mu_p": math.inf, "sigma_p": -1, "direction": "zz", "samples": 3, "seed": 1.5}},
])
def test_restore_ignores_bad_settings(page, state):
    before = json.dumps({k: v for k, v in page.settings_state().items() if k != "tab"})
    page.restore_settings(state)
    after = page.settings_state()
    json.dumps(after)
    sigma = page.gauss.sigma_p.value()
    assert sigma > 0
    if not isinstance(state, dict) or all(k == "tab" for k in state):
        assert json.dumps({k: v for k, v in after.items() if k != "tab"}) == before


def test_prepare_screenshot_is_game_3(page):
    page.kl.apply_game("Game 1")
    page.prepare_screenshot()
    assert page.screenshot_ready()
    assert page.tabs.currentWidget() is page.kl.view
    assert page.kl.game == "Game 3"
    assert page.surprise.values["heads"] == pytest.approx(-math.log2(0.9))


def test_registry_entry_loads_this_page():
    from vigui.pages import REGISTRY
    spec = next(s for s in REGISTRY if s.page_id == "info")
    assert spec.load() is InfoPage


def test_theory_panel_has_every_section(page):
    html = page.theory_view.toHtml()
    text = page.theory_view.toPlainText()
    for words in ("Surprise", "Entropy", "Joint and conditional", "Mutual information",
                  "Cross-entropy", "coin games", "KL divergence", "two Gaussians",
                  "0.152 bits", "2.585 bits", "1.75", "(8)"):
        assert words in text
    for anchor in ("surprise", "entropy", "joint", "kl", "gauss"):
        assert f'name="{anchor}"' in html
