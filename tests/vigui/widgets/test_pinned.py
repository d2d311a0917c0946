"""The pinned-runs view: faded curves on the given plots, the legend table's hide and drop."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from engine.cavi.model import CaviConfig, CaviExperiment
from engine.core.params import specs
from vigui.run.pinned import PinnedRun, PinnedRuns
from vigui.widgets.pinned import FADED_ALPHA, PinnedRunsView
from vigui.widgets.plots import make_plot

pytestmark = pytest.mark.gui


def cavi(k: int, steps: int = 15):
    config = CaviConfig(k=k, n=300, data_seed=3, init_seed=1).validate()
    exp = CaviExperiment(config)
    for _ in range(steps):
        exp.step()
    return config.to_dict(), exp.metrics


@pytest.fixture
def view(qtbot):
    canvas = pg.GraphicsLayoutWidget()
    qtbot.addWidget(canvas)
    elbo = make_plot("ELBO", widget=canvas, row=0, col=0)
    means = make_plot("means", widget=canvas, row=0, col=1)
    runs = PinnedRuns(specs(CaviConfig))
    v = PinnedRunsView(runs, {"elbo": elbo, "m0": means, "m1": means}, columns=["elbo", "m0"])
    qtbot.addWidget(v)
    v.canvas = canvas
    v.elbo, v.means = elbo, means
    return v


def test_pinned_runs_draw_faded_labelled_and_the_table_shows_their_final_metrics(view):
    live_params, live = cavi(3)
    for k in (2, 4):
        params, store = cavi(k, steps=10)
        view.runs.pin(PinnedRun.from_live(params, store))
    view.set_live(live_params, live)
    assert view.labels() == ["K = 2", "K = 4"]
    assert view.isVisibleTo(view.parentWidget()) or not view.isHidden()
    first = view.curves(view.runs[0])
    assert set(first) == {"elbo", "m0", "m1"}
    assert first["elbo"] in view.elbo.items and first["m0"] in view.means.items
    pen = first["elbo"].opts["pen"]
    assert pen.color().alpha() == FADED_ALPHA
    assert first["m1"].opts["pen"].style() == Qt.DashLine  # second metric on the same plot
    np.testing.assert_array_equal(first["elbo"].getData()[1], view.runs[0].metrics.get("elbo")[1])
    # the two runs differ, in their curves and their colours
    second = view.curves(view.runs[1])
    assert not np.allclose(first["elbo"].getData()[1][-1], second["elbo"].getData()[1][-1])
    assert view.runs[0].colour != view.runs[1].colour
    t = view.table
    assert [t.item(r, 1).text() for r in range(t.rowCount())] == ["live run", "K = 2", "K = 4"]
    assert t.item(0, 2).text() == f"{live.latest('elbo'):.4g}".replace("-", "−")
    assert t.item(1, 2).text() == f"{view.runs[0].final['elbo']:.4g}".replace("-", "−")


def test_hide_and_drop_by_clicking(view, qtbot):
    live_params, live = cavi(3)
    for k in (2, 4):
        params, store = cavi(k, steps=10)
        view.runs.pin(PinnedRun.from_live(params, store))
    view.set_live(live_params, live)
    view.show()
    run = view.runs[0]
    curve = view.curves(run)["elbo"]
    qtbot.mouseClick(view.checkbox(0), Qt.LeftButton)
    assert run.visible is False and not curve.isVisible()
    qtbot.mouseClick(view.checkbox(0), Qt.LeftButton)
    assert run.visible and curve.isVisible()
    with qtbot.waitSignal(view.changed):
        qtbot.mouseClick(view.drop_button(0), Qt.LeftButton)
    assert len(view.runs) == 1 and view.labels() == ["K = 4"]
    assert curve not in view.elbo.items
    qtbot.mouseClick(view.drop_button(0), Qt.LeftButton)
    assert len(view.runs) == 0 and view.isHidden()
    assert not [i for i in view.elbo.items if getattr(i, "vigui_metric", None)]


def test_relabels_when_the_live_parameters_change(view):
    params, store = cavi(2, steps=5)
    view.runs.pin(PinnedRun.from_live(params, store))
    live_params, live = cavi(3, steps=5)
    view.set_live(live_params, live)
    assert view.labels() == ["K = 2"]
    view.set_live({**live_params, "k": 2, "n": 500}, live)
    assert view.labels() == ["N = 300"]


def test_a_metric_with_a_standard_error_shows_it_in_the_table(qtbot):
    """A run that measured ``x_se`` beside ``x`` shows "x ± SE" (the digits its error
    allows); a run saved without it shows the plain number; no "_se" column is chosen."""
    from engine.core.runtime import MetricStore
    from vigui.widgets.numbers import fmt_se

    runs = PinnedRuns(specs(CaviConfig))
    v = PinnedRunsView(runs)
    qtbot.addWidget(v)
    store = MetricStore()
    store.append(1, elbo=-12.34567, elbo_se=0.0213, m0=0.5)
    runs.pin(PinnedRun.from_live(CaviConfig().to_dict(), store))
    old = MetricStore()
    old.append(1, elbo=-11.0, m0=0.25)
    runs.pin(PinnedRun.from_live(CaviConfig(k=4).to_dict(), old))
    v.refresh()
    t = v.table
    header = [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
    assert header[2:4] == ["elbo", "m0"]
    assert t.item(1, 2).text() == fmt_se(-12.34567, 0.0213) == "−12.346 ± 0.021"
    assert t.item(2, 2).text() == "−11"
