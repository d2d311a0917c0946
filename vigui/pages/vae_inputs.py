"""Input widgets of the VAE page: a log-stepping spin box (learning rate) and a
validated text field for hidden layer sizes. Both follow the spin-box protocol the
base page relies on: ``value()``, ``setValue()`` and a ``valueChanged`` signal."""
from __future__ import annotations

import math
import re

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator, QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QLineEdit

HIDDEN_RANGE = (16, 1024)


class LogSpinBox(QDoubleSpinBox):
    """A spin box for scale parameters: arrows walk 1, 2, 5, 10, ...; typing takes any
    number in range, including "3e-4"."""

    def __init__(self, lo: float, hi: float, value: float, parent=None):
        super().__init__(parent)
        self.setDecimals(8)
        self.setRange(lo, hi)
        self.setValue(value)
        self.setKeyboardTracking(False)
        ladder = []
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            ladder += [m * 10.0 ** e for m in (1, 2, 5)]
        self._ladder = [v for v in ladder if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        s = text.strip()
        try:
            v = float(s)
        except ValueError:
            ok = re.fullmatch(r"[0-9]*\.?[0-9]*([eE][-+]?[0-9]*)?", s) is not None
            return (QValidator.Intermediate if ok else QValidator.Invalid), text, pos
        if self.minimum() <= v <= self.maximum():
            return QValidator.Acceptable, text, pos
        return QValidator.Intermediate, text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:
        v = self.value()
        ladder = self._ladder
        if steps > 0:
            i = next((j for j, x in enumerate(ladder) if x > v * (1 + 1e-9)), len(ladder) - 1)
            i = min(len(ladder) - 1, i + steps - 1)
        else:
            below = [j for j, x in enumerate(ladder) if x < v * (1 - 1e-9)]
            i = max(0, (below[-1] if below else 0) + steps + 1)
        self.setValue(ladder[i])


class SizesEdit(QLineEdit):
    """Hidden layer sizes as text: "256" or "512,256" (1 to 4 layers)."""

    valueChanged = Signal(str)

    def __init__(self, value: str, parent=None):
        super().__init__(parent)
        pattern = QRegularExpression(r"^\s*\d{0,4}(\s*,\s*\d{0,4}){0,3}\s*$")
        self.setValidator(QRegularExpressionValidator(pattern, self))
        self._last = ""
        self.setValue(value)
        self.editingFinished.connect(self._commit)

    def value(self) -> str:
        return self._last

    def setValue(self, value) -> None:
        if isinstance(value, (list, tuple)):
            value = ",".join(str(int(v)) for v in value)
        elif isinstance(value, float) and value.is_integer():
            value = str(int(value))
        self.setText(str(value))
        self._commit()

    def _commit(self) -> None:
        text = ",".join(p.strip() for p in self.text().split(",") if p.strip())
        if text != self.text():
            self.setText(text)
        if text != self._last:
            self._last = text
            self.valueChanged.emit(text)

    def sizes(self) -> tuple[int, ...]:
        """The sizes as a tuple; ValueError naming the problem if out of range."""
        parts = [p for p in self._last.split(",") if p]
        lo, hi = HIDDEN_RANGE
        if not parts:
            raise ValueError("Hidden sizes: give one size per layer, e.g. 256 or 512,256")
        sizes = tuple(int(p) for p in parts)
        bad = [s for s in sizes if not lo <= s <= hi]
        if bad:
            raise ValueError(f"Hidden sizes must be between {lo} and {hi} units per layer; "
                             f"got {bad[0]}")
        return sizes
