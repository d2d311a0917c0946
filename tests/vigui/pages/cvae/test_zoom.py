"""The CVAE page zoomed for a class (Ctrl+plus three times, issue 17) on a 1280x800 screen:
the loss legend inside its plot, the NCLL table's headers as large as its cells, the
shipped run's every validation point inside the loss plot."""
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

from engine.core.checkpoint import peek
from engine.core.runtime import MetricStore
from tests.paths import ROOT
from vigui.pages.cvae.views import LEGEND_HTML, TABLE_FONT
from vigui.window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def zoomed(qapp):
    """The window on the CVAE page zoomed with Ctrl+plus x3 at 1920x1080, then made
    1280x800 (the plots shrink after the zoom: their legends must follow)."""
    window = MainWindow(fresh=True, open_initial=False)
    window.resize(1920, 1080)
    window.show()
    window.activateWindow()
    assert QTest.qWaitForWindowExposed(window) and QTest.qWaitForWindowActive(window)
    window.open_page("cvae")
    page = window.current_page()
    before = {"app": QApplication.font().pointSizeF(),
              "header": page.table.table.horizontalHeader().font().pointSizeF()}
    for _ in range(3):
        QTest.keyClick(window, Qt.Key_Plus, Qt.ControlModifier)
    assert window.zoom == pytest.approx(1.4)
    QTest.qWait(100)
    window.resize(1280, 800)
    yield window, page, before
    page.close_page()
    window.set_zoom(1.0)
    window.close()


def settle(qtbot):
    qtbot.wait(150)  # layouts and style sheets apply at the next polish


def test_zoomed_loss_legend_fits_inside_its_plot(zoomed, qtbot):
    window, page, _ = zoomed
    settle(qtbot)
    view = page.curves
    plot = view.getPlotItem()
    shown = QRectF(0, 0, view.viewport().width(), view.viewport().height())
    assert plot.geometry().width() <= view.viewport().width() + 1  # the plot is not cut
    legend = plot.legend
    # A view box clips what it holds: a legend in it must lie inside it; one too wide for
    # it hangs on the plot, above the axes.
    inside = plot.vb.sceneBoundingRect() if legend.parentItem() is plot.vb else shown
    if legend.parentItem() is plot:
        assert legend.zValue() > plot.getAxis("left").zValue()
    for _sample, label in legend.items:
        rect = label.mapRectToScene(label.itemRect())
        assert shown.contains(rect) and inside.adjusted(-1, -1, 1, 1).contains(rect), (
            label.text, rect, inside)
    # The colour key of the strip ("■ given ■ model's output ■ hidden") shown whole.
    key = next(lab for lab in page.findChildren(QLabel) if lab.text() == LEGEND_HTML)
    assert key.isVisible() and key.width() >= key.sizeHint().width()
    right = key.mapTo(window, key.rect().topRight()).x()
    assert right <= page.theory_view.mapTo(window, page.theory_view.rect().topLeft()).x()


def test_zoomed_table_headers_grow_with_the_cells(zoomed, qtbot):
    _, page, before = zoomed
    settle(qtbot)
    table = page.table.table
    cells = table.font().pointSizeF()
    assert cells == pytest.approx(QApplication.font().pointSizeF() * TABLE_FONT, abs=0.05)
    for header in (table.horizontalHeader(), table.verticalHeader()):
        assert header.font().pointSizeF() == pytest.approx(cells)
    assert table.horizontalHeader().font().pointSizeF() == pytest.approx(before["header"] * 1.4,
                                                                         abs=0.1)


def test_loss_plot_shows_every_validation_point_of_a_real_run(zoomed, qtbot):
    """The shipped tour's CVAE run (baseline then CVAE with its free-bits floor): every
    validation point and the CVAE's train curve are inside the plot's y-range."""
    _, page, _ = zoomed
    metrics = MetricStore.from_state(peek(ROOT / "resources/tours/cvae-column.pt").metrics)
    page.curves.show_metrics(metrics)
    low, high = page.curves.getPlotItem().viewRange()[1]
    for name in ("baseline_val", "cvae_val", "cvae_neg_elbo"):
        _, y = metrics.get(name)
        assert low <= y.min() and y.max() <= high, (name, y.min(), y.max(), low, high)
        assert page.curves.curves[name].getData()[1].max() <= high


def test_ctrl_0_gives_the_views_their_room_back(zoomed, qtbot):
    """Zoomed, the parameter column and the navigator grew; Ctrl+0 makes them as narrow as
    before (the navigator had kept its zoomed width: the page could not take it back at
    the moment of the font change)."""
    window, page, _ = zoomed
    settle(qtbot)
    column = page.splitter.sizes()[0]
    qtbot.keyClick(window, Qt.Key_0, Qt.ControlModifier)
    assert window.zoom == 1.0
    settle(qtbot)
    assert page.splitter.sizes()[0] <= round(column / 1.4) + 6, (column, page.splitter.sizes())
    assert window._splitter.sizes()[0] <= window._side.maximumWidth()
