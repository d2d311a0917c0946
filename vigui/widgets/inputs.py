"""Input widgets that refuse out-of-range values: a log-stepping spin box (learning
rates, variances), a text field for a list of sizes (hidden layers), and an integer
spin box whose lowest position means "none" (optional parameters).

Each follows the spin-box protocol :class:`~vigui.widgets.param_form.ParamForm` relies
on: ``value()``, ``setValue()`` and a ``valueChanged`` signal.
"""
from __future__ import annotations

import math
import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

__all__ = ["LogSpinBox", "SizesEdit", "OptionalSpinBox", "DeviceChooser"]


class LogSpinBox(QDoubleSpinBox):
    """A spin box for scale parameters: arrows walk 1, 2, 5, 10, ...; typing takes any
    number in range, including "3e-4"; out-of-range text is never accepted."""

    def __init__(self, lo: float, hi: float, value: float, parent=None):
        super().__init__(parent)
        if not 0 < lo < hi:
            raise ValueError(f"a log spin box needs 0 < lo < hi, got {lo!r}, {hi!r}")
        self.setDecimals(max(8, 3 - math.floor(math.log10(lo))))
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
        if math.isfinite(v) and self.minimum() <= v <= self.maximum():
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


class _SizesValidator(QValidator):
    """Digits and commas only; acceptable when every entry is in [lo, hi] and the
    number of entries is in ``length``; typing on the way there is intermediate."""

    def __init__(self, lo: int, hi: int, length: tuple[int, int], parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.length = lo, hi, length
        self._digits = len(str(hi))

    def validate(self, text: str, pos: int):
        if re.fullmatch(r"[\d\s,]*", text) is None:
            return QValidator.Invalid, text, pos
        parts = [p.strip() for p in text.split(",")]
        if len(parts) > self.length[1] or any(len(p) > self._digits for p in parts):
            return QValidator.Invalid, text, pos
        if any(not p for p in parts) or any(" " in p for p in parts):
            return QValidator.Intermediate, text, pos
        sizes = [int(p) for p in parts]
        if len(sizes) < self.length[0] or not all(self.lo <= s <= self.hi for s in sizes):
            return QValidator.Intermediate, text, pos
        return QValidator.Acceptable, text, pos


class SizesEdit(QLineEdit):
    """A list of sizes as text, "400" or "512,256": each entry in [lo, hi], between
    ``length[0]`` and ``length[1]`` entries. Text that is not a valid list is never
    committed: Return does nothing and leaving the field restores the last valid list.
    :meth:`value` is a tuple of ints."""

    valueChanged = Signal(object)

    def __init__(self, value=(400,), lo: int = 1, hi: int = 4096,
                 length: tuple[int, int] = (1, 4), parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.length = int(lo), int(hi), tuple(length)
        self.setValidator(_SizesValidator(self.lo, self.hi, self.length, self))
        self._value: tuple[int, ...] = ()
        self.setValue(value)
        self.editingFinished.connect(self._commit)
        self.setToolTip(f"{self.length[0]} to {self.length[1]} sizes separated by commas, "
                        f"each {self.lo} to {self.hi}")

    def value(self) -> tuple[int, ...]:
        return self._value

    def setValue(self, value) -> None:
        """Show ``value`` (a tuple/list of ints or text like "512,256"); ValueError if
        it is not a valid list of sizes for this field."""
        sizes = self.parse(value)
        self.setText(",".join(map(str, sizes)))
        self._set(sizes)

    def parse(self, value) -> tuple[int, ...]:
        """The sizes of ``value`` as a tuple, or ValueError saying what is wrong."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                sizes = tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError(f"sizes must be whole numbers separated by commas, "
                                 f"got {value!r}") from None
        elif isinstance(value, (list, tuple)):
            try:
                sizes = tuple(int(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"sizes must be whole numbers, got {value!r}") from None
            if any(isinstance(v, bool) or float(v) != int(v) for v in value):
                raise ValueError(f"sizes must be whole numbers, got {value!r}")
        else:
            raise ValueError(f"sizes must be a list of numbers, got {value!r}")
        lo_n, hi_n = self.length
        if not lo_n <= len(sizes) <= hi_n:
            raise ValueError(f"give {lo_n} to {hi_n} sizes, got {len(sizes)}")
        bad = [s for s in sizes if not self.lo <= s <= self.hi]
        if bad:
            raise ValueError(f"sizes must be between {self.lo} and {self.hi}; got {bad[0]}")
        return sizes

    def focusOutEvent(self, event) -> None:
        if not self.hasAcceptableInput():
            self.setText(",".join(map(str, self._value)))  # back to the last valid list
        super().focusOutEvent(event)

    def _commit(self) -> None:
        if self.hasAcceptableInput():
            sizes = self.parse(self.text())
            self.setText(",".join(map(str, sizes)))
            self._set(sizes)

    def _set(self, sizes: tuple[int, ...]) -> None:
        if sizes != self._value:
            self._value = sizes
            self.valueChanged.emit(sizes)


class OptionalSpinBox(QSpinBox):
    """An integer in [lo, hi] or None, shown as ``none_text`` one below ``lo``."""

    def __init__(self, lo: int, hi: int, value: int | None, none_text: str = "none",
                 parent=None):
        super().__init__(parent)
        self.setRange(lo - 1, hi)
        self.setSpecialValueText(none_text)
        self.setKeyboardTracking(False)
        self.setOptionalValue(value)

    def optionalValue(self) -> int | None:
        v = super().value()
        return None if v == self.minimum() else v

    def setOptionalValue(self, value: int | None) -> None:
        self.setValue(self.minimum() if value is None else int(value))


class DeviceChooser(QComboBox):
    """Where torch runs: "auto" (a GPU when there is one), "cpu" and this machine's
    GPUs. Imports torch (only pages that train use it)."""

    valueChanged = Signal(str)

    def __init__(self, value: str = "auto", parent=None):
        super().__init__(parent)
        from engine.core.runtime import available_devices

        for name in available_devices():
            self.addItem(name, name)
        self.setValue(value)
        self.currentIndexChanged.connect(lambda _: self.valueChanged.emit(self.value()))

    def value(self) -> str:
        return self.currentData()

    def setValue(self, value: str) -> None:
        index = self.findData(value)
        if index < 0:
            raise ValueError(f"device {value!r} is not available here; one of "
                             f"{', '.join(self.itemData(i) for i in range(self.count()))}")
        self.setCurrentIndex(index)
