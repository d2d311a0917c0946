"""Zoomed for a class (Ctrl+plus three times) on a 1280x800 screen with the parameter
column shown (issue 17): the CVAE's table shows its numbers whole and its strip's captions
apart, the Music VAE's sound buttons lie under the piano rolls, not over them, and no
axis' tick labels run into each other."""
import numpy as np
import pyqtgraph as pg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import QRect
from PySide6.QtGui import QFontMetrics

from tests.vigui.zoomed import tick_labels, zoomed_window
from vigui.pages.cvae.views import pack_lines

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def window(qapp):
    yield from zoomed_window()


def on_window(widget, window) -> QRect:
    return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())


def assert_apart(rects, what):
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), (what, a, b)


def test_cvae_table_and_strip_fit(window, qtbot):
    window.open_page("cvae")
    page = window.current_page()
    qtbot.wait(200)
    assert window.width() <= 1280  # the page's minimum does not widen the window
    assert page.splitter.widget(0).isVisible()  # the parameter column is shown
    rows = {t: {"baseline_ncll": 100.43, "cvae_neg_elbo": 71.81, "cvae_ncll_is": 69.95,
                "kl": 12.34, "baseline_epochs": 37, "cvae_epochs": 15} for t in ("q1", "q2", "q3")}
    page.table.show_rows(rows)
    qtbot.wait(200)
    table = page.table.table
    metrics = QFontMetrics(table.font())
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            text = table.item(r, c).text()
            assert metrics.horizontalAdvance(text) <= table.columnWidth(c), (text, c)
    header = table.horizontalHeader()
    for c in range(table.columnCount()):
        assert header.sectionSizeHint(c) <= table.columnWidth(c) + 1
    # the table and its note do not overlap, and it lies inside its view column
    assert on_window(table, window).bottom() <= on_window(page.table.note, window).top()
    assert table.width() >= table.minimumWidth()
    # the Figure 14 strip: captions apart, above the image, inside the view
    rng = np.random.default_rng(0)
    observed = np.zeros((8, 8), bool)
    observed[4:, :4] = True
    page.strip.show_strip({"observed": observed, "inputs": rng.random((6, 8, 8)),
                           "baseline": rng.random((6, 8, 8)), "truth": rng.random((6, 8, 8)),
                           "samples": rng.random((6, 6, 8, 8)), "spread": rng.random((6, 8, 8))})
    qtbot.wait(200)
    captions = [item.sceneBoundingRect() for item in page.strip._captions]
    assert len(captions) == 5
    assert_apart(captions, "strip captions")
    image = page.strip.image.sceneBoundingRect()
    view = page.strip.view.sceneBoundingRect()
    for rect in captions:
        assert rect.bottom() <= image.top() + 1 and view.adjusted(-1, -1, 1, 1).contains(rect)
    for plot in (page.curves.getPlotItem(), page.kl_view.getPlotItem()):
        for side in ("left", "bottom"):
            assert_apart(tick_rects(plot.getAxis(side)), side)


def test_musicvae_buttons_below_the_rolls_and_ticks_apart(window, qtbot):
    window.open_page("musicvae")
    page = window.current_page()
    qtbot.wait(300)
    assert window.width() <= 1280
    views = page.views
    # the texts a trained model's page shows (they wrap onto more lines zoomed)
    views.summary.setText("MLP baseline · step 354 · epoch 0.98 · 45,312 phrases seen · "
                          "12,545 phrases/s<br>test, nats per phrase: −ELBO <b>32.12</b> = "
                          "recon 26.43 + KL 5.69 · greedy accuracy <b>75.2%</b> · β warming up: 0.35")
    views.path_title.setText("Path A → B (slerp): A = bwv262 #99, B = bwv11.6 #24; grey: the "
                             "originals under the decoded ends")
    qtbot.wait(300)
    strip = on_window(views.path_strip, window)
    for button in (views.play_button, views.play_path_button, views.stop_button,
                   views.save_wav, views.save_midi):
        assert not on_window(button, window).intersects(strip), button.text()
    assert on_window(views.path_title, window).bottom() <= strip.top()
    for spin in (views.path_kind, views.path_steps, views.random_pair):
        assert not on_window(spin, window).intersects(on_window(views.path_title, window))
    assert_apart(tick_rects(views.acc_plot.getAxis("left")), "accuracy ticks")


@given(st.lists(st.tuples(st.floats(0, 60), st.floats(1, 120)), min_size=1, max_size=8))
def test_caption_lines_keep_every_caption_apart_from_its_line_neighbours(spans):
    """pack_lines: on each line the captions (centre, width; in order of x) keep the
    margin; a caption goes one line up only when every lower line is taken there."""
    xs = np.cumsum([x for x, _ in spans])
    spans = [(float(x), w) for x, (_, w) in zip(xs, spans, strict=True)]
    rows = pack_lines(spans, margin=6.0)
    for line in set(rows):
        on = [s for s, r in zip(spans, rows, strict=True) if r == line]
        for (x0, w0), (x1, w1) in zip(on, on[1:], strict=False):
            assert x1 - w1 / 2 >= x0 + w0 / 2 + 6.0 - 1e-9
    for i, row in enumerate(rows):
        for lower in range(row):  # each lower line had a caption in the way
            x, w = spans[i]
            left = [s for s, r in zip(spans[:i], rows[:i], strict=True) if r == lower]
            assert left and x - w / 2 < left[-1][0] + left[-1][1] / 2 + 6.0


def test_black_box_vi_stop_keeps_its_target_plot(window, qtbot):
    """Tour stop 13 (black-box VI on the banana): the target plot was squeezed to a
    15 px strip by the wrapped numbers beside the ELBO plot; now the column scrolls."""
    from vigui.teaching.scenes import lecture_tour

    tour = lecture_tour([spec.page_id for spec in window.specs])
    stop = next(i for i, s in enumerate(tour.stops) if s.page == "vi" and "banana" in s.title)
    assert window.start_tour(tour, stop)
    try:
        qtbot.wait(300)
        section = window.current_page().show_section("bbvi")
        plot = section.plane_widget
        assert plot.isVisible() and plot.height() >= 150, plot.height()
        box = section.plane.getViewBox().sceneBoundingRect()
        assert box.height() >= 80, box
    finally:
        window.leave_tour()
        window.current_page().close_page()  # its run's thread ends with the test


def tick_rects(axis: pg.AxisItem):
    """The rectangles the axis draws its tick labels in (pyqtgraph's own layout)."""
    return [rect for rect, _text in tick_labels(axis)]
