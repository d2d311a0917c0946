"""The screen's number formats: a value shown to the digits its standard error allows."""
import math

from vigui.widgets.numbers import fmt, fmt_se


def test_value_with_its_error():
    assert fmt_se(12.3456, 0.0231) == "12.346 ± 0.023"
    assert fmt_se(-0.5, 0.31) == "−0.50 ± 0.31"
    assert fmt_se(1234.5, 27.0) == "1234 ± 27"
    assert fmt_se(1.5, math.inf) == "1.500 ± ?"
    assert fmt(-0.0001) == "0.000"
