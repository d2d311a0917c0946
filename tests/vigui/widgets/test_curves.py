"""The one loss-curve widget: metric names -> curves, train thin, test with markers."""
import numpy as np
import pyqtgraph as pg

from engine.core.runtime import MetricStore
from vigui.widgets.curves import MAX_TEST_MARKERS, Curve, LossCurves

SPEC = (Curve("loss", None, 0), Curve("test_loss", "objective", 0, test=True))


def _curves(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    curves = LossCurves(widget.getPlotItem(), SPEC)
    curves.widget = widget  # the plot lives as long as the curves
    return curves


def test_a_store_is_drawn_by_metric_name_with_the_test_curve_in_the_legend(qtbot):
    curves = _curves(qtbot)
    store = MetricStore()
    for step in range(1, 11):
        store.append(step, loss=1.0 / step, **({"test_loss": 2.0 / step} if step % 5 == 0 else {}))
    curves.show(store)
    x, y = curves.items["loss"].getData()
    np.testing.assert_allclose(x, np.arange(1, 11))
    np.testing.assert_allclose(y, 1.0 / np.arange(1, 11))
    tx, ty = curves.items["test_loss"].getData()
    np.testing.assert_allclose(tx, [5, 10])
    np.testing.assert_allclose(ty, [0.4, 0.2])
    legend = curves.plot.legend
    assert [label.text for _, label in legend.items] == ["objective"]
    assert curves.items["test_loss"].opts["symbol"] == "o"
    assert curves.items["loss"].opts["symbol"] is None
    assert set(curves.subset(test=True)) == {"test_loss"}


def test_only_metrics_with_new_points_are_redrawn_and_clear_empties(qtbot):
    curves = _curves(qtbot)
    store = MetricStore()
    store.append(1, loss=3.0, test_loss=3.5)
    curves.show(store)
    curves.items["test_loss"].setData([], [])  # a redraw would bring it back
    store.append(2, loss=2.0)
    curves.show(store)
    assert len(curves.items["loss"].getData()[0]) == 2
    assert curves.items["test_loss"].getData()[0] is None or \
        len(curves.items["test_loss"].getData()[0]) == 0
    curves.clear()
    curves.show(store)  # after clear everything is drawn again
    assert len(curves.items["test_loss"].getData()[0]) == 1


def test_many_test_points_drop_their_markers_and_columns_skip_nan(qtbot):
    curves = _curves(qtbot)
    n = MAX_TEST_MARKERS + 1
    cols = {"step": np.arange(n, dtype=float), "loss": np.full(n, np.nan),
            "test_loss": np.linspace(1, 2, n)}
    cols["loss"][:3] = [1.0, 2.0, 3.0]
    curves.show(cols)
    assert curves.items["test_loss"].opts["symbol"] is None
    np.testing.assert_allclose(curves.items["loss"].getData()[1], [1.0, 2.0, 3.0])
