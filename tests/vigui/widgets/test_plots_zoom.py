"""Plot text follows the presentation zoom whenever it is set (issue 17): zoomed with
Ctrl+plus three times, a title, axis label or legend entry that a page sets afterwards
is as large as the zoom says, not the unzoomed size."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from vigui.widgets.plots import _pt
from vigui.window import MainWindow

pytestmark = pytest.mark.gui


def label_pt(label) -> float:
    return _pt(label.opts.get("size"), 0.0)


def axis_label_pt(axis) -> float:
    style = axis.label.toHtml()  # what is drawn
    return float(style.split("font-size:")[-1].split("pt")[0])  # the span, not the body


def choose(form, name: str, data) -> None:
    combo = form.widget(name)
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData(data))


def test_titles_labels_and_legend_entries_set_after_a_zoom_are_zoomed(qtbot):
    window = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(window)
    window.resize(1920, 1080)  # room for every title at its zoomed size
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    try:
        window.open_page("cavi")
        page = window.current_page()
        qtbot.waitUntil(lambda: page._data_id is not None, timeout=20_000)  # data drawn
        assert label_pt(page.data_plot.titleLabel) == pytest.approx(9.0)
        for _ in range(3):
            qtbot.keyClick(window, Qt.Key_Plus, Qt.ControlModifier)
        assert window.zoom == pytest.approx(1.4)
        # The page sets its titles, axis labels and a legend entry again: 2-D data, and
        # gradient ascent (its own ELBO curve in the legend).
        choose(page.params, "dim", 2)
        choose(page.params, "mode", "gradient")
        qtbot.waitUntil(lambda: page.data_plot.titleLabel.text == "Data coloured by φ",
                        timeout=20_000)
        assert label_pt(page.data_plot.titleLabel) == pytest.approx(9.0 * 1.4, abs=0.05)
        assert label_pt(page.means_plot.titleLabel) == pytest.approx(9.0 * 1.4, abs=0.05)
        left = page.data_plot.getAxis("left")
        assert left.labelText == "x₂"
        assert axis_label_pt(left) == pytest.approx(9.0 * 1.4, abs=0.05)
        assert left.style["tickFont"].pointSizeF() == pytest.approx(8 * 1.4)
        legend = page.elbo_plot.legend
        qtbot.waitUntil(lambda: any(label.text == "gradient ascent" for _, label in legend.items))
        for _sample, label in legend.items:
            assert label_pt(label) >= 8 * 1.4 * 0.6  # zoomed (fitted to its plot at most)
            assert label_pt(label) == pytest.approx(label_pt(legend.items[0][1]))
        # A zoomed title is not cut by the title row's fixed 30 px, and one wider than its
        # plot is drawn smaller (not below its unzoomed size) and shows its start.
        title = page.data_plot.titleLabel
        assert title.geometry().height() >= title.itemRect().height() - 1
        window.resize(1280, 800)  # narrower plots: titles are fitted
        qtbot.wait(200)
        for plot in (page.data_plot, page.elbo_plot, page.means_plot):
            label = plot.titleLabel
            assert label_pt(label) >= label._vigui_pt - 0.05, label.text
            text = label.mapRectToParent(label.itemRect())
            assert text.left() >= label.geometry().left() - 1, label.text
        qtbot.keyClick(window, Qt.Key_0, Qt.ControlModifier)
        assert label_pt(page.data_plot.titleLabel) == pytest.approx(9.0)
        assert axis_label_pt(left) == pytest.approx(9.0)
    finally:
        window.set_zoom(1.0)
        window.close()
