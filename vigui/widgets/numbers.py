"""Numbers for the screen: one format for a value, one for a value with its error."""
from __future__ import annotations

import math

__all__ = ["fmt", "fmt_se"]


def fmt(x: float, digits: int = 3) -> str:
    """A number for the screen: ∞ for inf, no "-0.000"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = f"{x:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "−")


def fmt_se(value: float, se: float) -> str:
    """``value ± se`` with the value given to the digits its error allows (two significant
    digits of the error, at most four decimals); ``± ?`` when the error is unknown (one
    draw, a run saved before errors were measured)."""
    if se is None or not math.isfinite(se):
        return f"{fmt(value)} ± ?"
    digits = max(0, min(4, 1 - math.floor(math.log10(se)))) if se > 0 else 3
    return f"{fmt(value, digits)} ± {fmt(se, digits)}"
