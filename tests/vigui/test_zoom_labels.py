"""Zoomed for a class (Ctrl+plus three times) on a 1280x800 screen (issue 17): the
labels that still ran together or were cut. Category labels under bars stay apart, a
title fits its plot, a legend shows every entry, and an empty plot (before Play) has
ticks that do not overlap."""
import pytest

from tests.vigui.test_zoom_fits import assert_apart, tick_rects
from tests.vigui.zoomed import tick_labels, zoomed_window
from vigui.widgets.numbers import fmt

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def window(qapp):
    yield from zoomed_window()


def title_fits(plot) -> None:
    label = plot.titleLabel
    drawn = label.item.boundingRect().width()
    assert drawn <= label.width() + 1, (label.text, drawn, label.width())


def test_evidence_gap_bar_labels_apart(window, qtbot):
    window.open_page("vi")
    section = window.current_page().show_section("gap")
    qtbot.wait(300)
    section.set_q(-1.5, 0.5)
    qtbot.wait(200)
    rects = tick_rects(section.bars.getAxis("bottom"))
    assert len(rects) == 4  # every column named
    assert_apart(rects, "gap bar labels")
    # the numbers are on screen, below the plot
    v = section.values()
    text = section.bar_values.text()
    for key in ("log_evidence", "elbo", "kl", "energy", "entropy", "expected_log_lik", "kl_prior"):
        assert fmt(v[key]) in text, key
    assert section.bar_values.isVisible()
    for plot in (section.bars, section.density, section.surface):
        title_fits(plot)


def test_p_and_q_category_labels_apart(window, qtbot):
    window.open_page("info")
    section = window.current_page().show_section("kl")
    qtbot.wait(300)
    for bars in (section.p_bars, section.q_bars):
        assert_apart(tick_rects(bars.getPlotItem().getAxis("bottom")), "p/q labels")


def test_music_vae_loss_legend_keeps_every_entry(window, qtbot):
    window.open_page("musicvae")
    views = window.current_page().views
    qtbot.wait(300)
    legend = views.loss_plot.legend
    names = [label.text for _sample, label in legend.items]
    assert names == ["−ELBO", "recon", "KL"]
    box = views.loss_plot.getViewBox().sceneBoundingRect()
    plot = views.loss_plot.sceneBoundingRect()
    for _sample, label in legend.items:
        rect = label.sceneBoundingRect()
        assert plot.adjusted(-1, -1, 1, 1).contains(rect), (label.text, rect, plot)
        assert label.isVisible()
    assert box.height() > 0


def test_bbb_title_fits_and_empty_plots_have_sane_ticks(window, qtbot):
    window.open_page("bbb")
    page = window.current_page()
    section = page.show_section("regression")
    qtbot.wait(300)
    views = section.view
    title_fits(views.bbb.plot)
    for plot in (views.kl_plot, views.nll_plot):
        for side in ("left", "bottom"):
            assert_apart(tick_rects(plot.getAxis(side)), side)


def tick_texts(axis) -> list[str]:
    return [text for _rect, text in tick_labels(axis)]


def test_vae_empty_log_plot_has_sane_ticks(window, qtbot):
    window.open_page("vae")
    views = window.current_page().views
    qtbot.wait(300)
    for side in ("left", "bottom"):
        assert_apart(tick_rects(views.loss_plot.getAxis(side)), side)
    assert "10²" in tick_texts(views.loss_plot.getAxis("left"))  # 10 to 1000 nats, by decades
    views.clear()  # Reset: empty again, the same range
    qtbot.wait(100)
    assert "10²" in tick_texts(views.loss_plot.getAxis("left"))
