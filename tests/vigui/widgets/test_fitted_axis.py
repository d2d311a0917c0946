"""FittedAxis on a log scale (issue 17): on a short or empty log plot pyqtgraph labelled
no decade at all and crowded minor labels (2, 3, ... 9) over each other. Now every decade
in view is labelled when the axis has room, and no two labels are closer than a line."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtGui import QFontMetrics

from vigui.widgets.plots import FittedAxis

pytestmark = pytest.mark.gui


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(-3, 5), span=st.floats(0.05, 8), size=st.floats(40, 600))
def test_log_labels_a_line_apart_and_decades_first(qapp, lo, span, size):
    axis = FittedAxis("left")
    axis.logMode = True
    hi = lo + span
    levels = axis.tickValues(lo, hi, size)
    shown = sorted(v for _spacing, values in levels for v in values if lo <= v <= hi)
    need = 1.3 * QFontMetrics(axis.font()).height()
    per_unit = size / span
    for a, b in zip(shown, shown[1:], strict=False):
        assert (b - a) * per_unit >= need - 1e-6, (a, b, levels)
    decades = [d for d in range(math.ceil(lo), math.floor(hi) + 1)]
    if len(decades) == 1 and size >= need:
        assert decades[0] in shown  # the one decade in view is labelled, not only 2·10^k
    if len(decades) > 1:  # decades, every one or every few, before any minor label
        assert [v for v in shown if abs(v - round(v)) < 1e-9], levels
