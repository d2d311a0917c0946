"""A page's parameter widgets, built from the config's declarations (engine.core.params).

Each parameter is declared once, on its config field (``param(default, lo=, hi=,
log=, choices=, label=, help=, ...)``); :class:`ParamForm` turns the declarations into
widgets that cannot hold an out-of-range value:

==========================  ===================================================
declaration                 widget
==========================  ===================================================
``choices``                 combo box (``choice_labels`` shown)
``bool``                    check box
``int``                     spin box (``optional``: lowest position = "none")
``float``, ``log=True``     :class:`~vigui.widgets.inputs.LogSpinBox` (1, 2, 5, 10, ...)
``float``                   spin box (``decimals``, ``step``); ``styles={name: "slider"}``
                            gives a labelled slider
``sizes`` (tuple of ints)   :class:`~vigui.widgets.inputs.SizesEdit`
``str``                     line edit
``widget="dataset"``        :class:`~vigui.widgets.datasets.DatasetChooser` (+ download row)
``widget="device"``         :class:`~vigui.widgets.inputs.DeviceChooser`
``widget="points_file"``    :class:`~vigui.widgets.own_data.DataFileChooser` (CSV points;
                            ``"xy_file"``: x,y pairs)
==========================  ===================================================

A page picks the fields and their order (optionally in titled groups), may add
parameters that are not config fields (``extra``: a seed, a display choice) or adjust
a declaration for this page (``overrides``: e.g. a shorter list of choices)::

    form = ParamForm(VAEConfig, ["dataset", "latent", "hidden", "beta", "lr"],
                     extra=[Param(name="seed", kind="int", default=0, lo=0, hi=10**6)])
    form.changed.connect(on_change)      # a user edit (or restore) changed a value
    form.config(threads=1)               # the validated VAEConfig (+ fields not shown)
    form.value("seed"); form.values()    # current values, canonical types
    form.set_values({...}, emit=False)   # programmatic: no ``changed`` signals
    form.state() / form.restore(state)   # JSON-able save/restore; bad values -> defaults
    form.save(settings, key) / form.load(settings, key)   # the same, in a QSettings

Custom widgets (``widgets={name: w}`` or a ``widget=`` name registered with
:func:`register_widget`) follow the spin-box protocol: ``value()``, ``setValue(v)``
(ValueError for a value they cannot show) and a ``valueChanged`` signal; a widget
with a ``row_below`` attribute gets that widget as a full-width row under it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.core.params import Param, specs
from vigui.widgets.inputs import DeviceChooser, LogSpinBox, OptionalSpinBox, SizesEdit

__all__ = ["ParamForm", "register_widget", "SEED"]

#: the seed every page with randomness shows, declared once (one range, one help)
SEED = Param(name="seed", kind="int", default=0, lo=0, hi=1_000_000, label="Seed",
             help="Seeds the weights, the shuffles and the noise (Monte Carlo draws): "
                  "same seed, same run")

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int

#: named widgets (``Param.widget``): name -> factory(param) returning a protocol widget
_NAMED: dict[str, Callable[[Param], QWidget]] = {}


def register_widget(name: str, factory: Callable[[Param], QWidget]) -> None:
    """Let declarations ask for a widget by name (``param(..., widget=name)``)."""
    _NAMED[name] = factory


def _dataset_widget(p: Param) -> QWidget:
    from vigui.widgets.datasets import DatasetChooser  # engine.data.datasets: only pages that train use it

    return DatasetChooser(p.default)


def _own_file_widget(p: Param) -> QWidget:
    from vigui.widgets import own_data  # engine.data.points: only pages that take a user's file use it

    return getattr(own_data, f"{p.widget}_widget")(p)


register_widget("dataset", _dataset_widget)
register_widget("points_file", _own_file_widget)
register_widget("xy_file", _own_file_widget)
register_widget("device", lambda p: DeviceChooser(p.default))


class _Field:
    """One parameter's widget and how to read, write and watch it."""

    def __init__(self, param: Param, widget: QWidget, get: Callable[[], Any],
                 put: Callable[[Any], None], signal):
        self.param, self.widget, self.get, self.put, self.signal = param, widget, get, put, signal


class ParamForm(QWidget):
    """Widgets for a config's declared parameters (see the module docstring)."""

    #: a value changed through the widgets or :meth:`restore` (the name; "" for several)
    changed = Signal(str)

    def __init__(self, config_cls: type | None = None,
                 fields: Sequence[str | tuple[str, Sequence[str]]] | None = None, *,
                 extra: Iterable[Param] = (), overrides: dict[str, dict] | None = None,
                 styles: dict[str, str] | None = None, widgets: dict[str, QWidget] | None = None,
                 parent=None):
        super().__init__(parent)
        self.config_cls = config_cls
        declared = {p.name: p for p in specs(config_cls)} if config_cls is not None else {}
        self._config_fields = set(declared)
        for p in extra:
            if not p.name or not p.kind:
                raise TypeError(f"an extra parameter needs a name and a kind, got {p!r}")
            declared[p.name] = p
        for name, changes in (overrides or {}).items():
            if "choices" in changes:
                changes = {**changes, "choices": tuple(changes["choices"])}
            declared[name] = dataclasses.replace(declared[name], **changes)
        if fields is None:
            fields = [p.name for p in declared.values() if p.gui]
        styles, widgets = styles or {}, widgets or {}
        self.fields: dict[str, _Field] = {}
        self._quiet = 0
        self._rows: dict[str, tuple[QFormLayout, int]] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        self._outer = outer
        form = None
        for item in fields:
            if isinstance(item, str):
                if form is None:
                    form = self._new_form()
                    outer.addLayout(form)
                self._add(form, declared[item], styles.get(item), widgets.get(item))
            else:
                title, names = item
                box = QGroupBox(title)
                group_form = self._new_form()
                group_form.setContentsMargins(6, 6, 6, 6)
                box.setLayout(group_form)
                outer.addWidget(box)
                for name in names:
                    self._add(group_form, declared[name], styles.get(name), widgets.get(name))
                form = None  # fields after a group start a new form below it

    @staticmethod
    def _new_form() -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.setContentsMargins(0, 0, 0, 0)
        return form

    # -- building ---------------------------------------------------------------------------
    def _add(self, form: QFormLayout, p: Param, style: str | None, widget: QWidget | None) -> None:
        field = self._make_field(p, style, widget)
        tip = p.help
        rng = p.describe_range()
        if rng and not p.choices:
            tip = f"{tip} ({rng})" if tip else rng
        if tip:
            field.widget.setToolTip(tip)
        field.signal.connect(lambda *_, name=p.name: self._edited(name))
        self.fields[p.name] = field
        form.addRow(p.title, field.widget)
        below = getattr(field.widget, "row_below", None)
        if isinstance(below, QWidget):
            form.addRow(below)
        self._rows[p.name] = (form, form.rowCount() - 1)

    def _make_field(self, p: Param, style: str | None, widget: QWidget | None) -> _Field:
        if widget is None and p.widget:
            if p.widget not in _NAMED:
                raise TypeError(f"parameter {p.name}: no widget registered as {p.widget!r}")
            widget = _NAMED[p.widget](p)
        if widget is not None:
            return _Field(p, widget, widget.value, widget.setValue, widget.valueChanged)
        if p.choices:
            box = QComboBox()
            labels = p.choice_labels or tuple(str(c) for c in p.choices)
            for label, value in zip(labels, p.choices, strict=False):
                box.addItem(str(label), value)

            def put(value, box=box, p=p):
                index = box.findData(value)
                if index < 0:
                    raise ValueError(f"{p.name} must be {p.describe_range()}, got {value!r}")
                box.setCurrentIndex(index)

            put(p.default)
            return _Field(p, box, box.currentData, put, box.currentIndexChanged)
        if p.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(p.default))
            return _Field(p, box, box.isChecked, box.setChecked, box.toggled)
        if p.kind == "int":
            lo = int(p.lo) if p.lo is not None else -INT_LIMIT + 1
            hi = int(p.hi) if p.hi is not None else INT_LIMIT
            lo, hi = max(lo, -INT_LIMIT + 1), min(hi, INT_LIMIT)
            if p.optional:
                box = OptionalSpinBox(lo, hi, p.default, none_text=_none_text(p))
                box.setGroupSeparatorShown(True)
                if p.step:
                    box.setSingleStep(int(p.step))
                return _Field(p, box, box.optionalValue, box.setOptionalValue, box.valueChanged)
            box = QSpinBox()
            box.setRange(lo, hi)
            box.setSingleStep(int(p.step or 1))
            box.setGroupSeparatorShown(True)
            box.setKeyboardTracking(False)
            box.setValue(int(p.default))
            return _Field(p, box, box.value, box.setValue, box.valueChanged)
        if p.kind == "float":
            lo = p.lo if p.lo is not None else -1e9
            hi = p.hi if p.hi is not None else 1e9
            if p.log and lo > 0:
                box = LogSpinBox(lo, hi, p.default)
                return _Field(p, box, box.value, box.setValue, box.valueChanged)
            decimals = p.decimals if p.decimals is not None else _decimals(p)
            if style == "slider":
                from superqt import QLabeledDoubleSlider

                box = QLabeledDoubleSlider(Qt.Horizontal)
                box.setRange(lo, hi)
                box.setDecimals(decimals)
                box.setSingleStep(p.step or 10.0 ** -decimals)
                box.setPageStep(max(p.step or 0.0, (hi - lo) / 40))
                box.setValue(p.default)
                return _Field(p, box, lambda box=box: float(box.value()), box.setValue,
                              box.valueChanged)
            box = QDoubleSpinBox()
            box.setDecimals(decimals)
            box.setRange(lo, hi)
            box.setSingleStep(p.step or 10.0 ** -decimals)
            box.setKeyboardTracking(False)
            box.setValue(p.default)
            return _Field(p, box, box.value, box.setValue, box.valueChanged)
        if p.kind == "sizes":
            box = SizesEdit(p.default, lo=int(p.lo or 1), hi=int(p.hi or 10**6), length=p.length)
            return _Field(p, box, box.value, box.setValue, box.valueChanged)
        if p.kind == "str":
            box = QLineEdit(str(p.default))

            def put(value, box=box):
                box.setText(value)
                box.editingFinished.emit()

            return _Field(p, box, lambda box=box: box.text().strip() or p.default, put,
                          box.editingFinished)
        raise TypeError(f"parameter {p.name}: no widget for kind {p.kind!r}")

    def add_row(self, widget: QWidget, after: str | None = None) -> None:
        """A full-width row (a button, a note) after field ``after`` (default: at the end)."""
        if after is None:
            self._outer.addWidget(widget)
            return
        form, row = self._rows[after]
        form.insertRow(row + 1, widget)
        for name, (f, r) in self._rows.items():
            if f is form and r > row:
                self._rows[name] = (f, r + 1)

    # -- values -----------------------------------------------------------------------------
    def widget(self, name: str) -> QWidget:
        return self.fields[name].widget

    def param(self, name: str) -> Param:
        return self.fields[name].param

    def value(self, name: str) -> Any:
        return self.fields[name].get()

    def values(self) -> dict[str, Any]:
        return {name: field.get() for name, field in self.fields.items()}

    def config(self, **extra: Any):
        """The validated config from the shown values (fields not shown keep their
        defaults unless given in ``extra``); ValueError naming a bad parameter."""
        if self.config_cls is None:
            raise TypeError("this form has no config class")
        values = {k: v for k, v in self.values().items() if k in self._config_fields}
        values.update(extra)
        return self.config_cls(**values).validate()

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` (checked against the declaration); a user-like change:
        ``changed(name)`` follows if the value differs."""
        field = self.fields[name]
        field.put(field.param.check(value))

    def set_values(self, values: dict[str, Any], *, emit: bool = False) -> None:
        """Show several values at once (names not in the form are ignored); ValueError
        for an invalid one. With ``emit=False`` (default) no ``changed`` is sent."""
        changed = []
        with self.quiet():
            for name, value in values.items():
                field = self.fields.get(name)
                if field is None:
                    continue
                before = field.get()
                field.put(field.param.check(value))
                if field.get() != before:
                    changed.append(name)
        if emit and changed:
            self.changed.emit(changed[0] if len(changed) == 1 else "")

    def quiet(self):
        """``with form.quiet():`` edits inside send no ``changed``."""
        return _Quiet(self)

    def _edited(self, name: str) -> None:
        if not self._quiet:
            self.changed.emit(name)

    # -- save / restore ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The values as plain JSON data (sizes as lists)."""
        return {name: list(v) if isinstance(v, tuple) else v for name, v in self.values().items()}

    def restore(self, state: Any, *, emit: bool = True) -> list[str]:
        """Show saved values. A value that is malformed, out of range or not offered
        here falls back to the parameter's default; names not in the form are ignored.
        Sends one ``changed`` if anything changed (``emit``). Returns the names that
        fell back to their defaults."""
        if not isinstance(state, dict):
            return []
        fallbacks, good = [], {}
        for name, value in state.items():
            field = self.fields.get(name)
            if field is None:
                continue
            try:
                good[name] = field.param.check(value)
                self._probe(field, good[name])
            except (TypeError, ValueError, OverflowError):
                good[name] = field.param.default
                fallbacks.append(name)
        try:
            self.set_values(good, emit=emit)
        except ValueError:  # a default the widget cannot show (e.g. no such device): skip it
            for name, value in good.items():
                try:
                    self.set_values({name: value}, emit=emit)
                except ValueError:
                    fallbacks.append(name)
        return fallbacks

    def check_showable(self, name: str, value: Any) -> None:
        """ValueError if the widget of parameter ``name`` cannot show ``value`` (a combo
        that does not offer it, a non-finite number), shown or not; checks a value the
        declaration already accepted before :meth:`set_values` (KeyError: no such field)."""
        self._probe(self.fields[name], value)

    @staticmethod
    def _probe(field: _Field, value: Any) -> None:
        """ValueError if the widget cannot show ``value`` (a combo without it, ...)."""
        if isinstance(field.widget, QComboBox) and field.widget.findData(value) < 0:
            raise ValueError(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(value)

    def save(self, settings, key: str) -> None:
        """Write :meth:`state` to a QSettings under ``key`` (as JSON)."""
        settings.setValue(key, json.dumps(self.state()))

    def load(self, settings, key: str, *, emit: bool = True) -> list[str]:
        """Read what :meth:`save` wrote; unreadable data leaves the defaults."""
        raw = settings.value(key)
        try:
            state = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            state = None
        return self.restore(state, emit=emit)


class _Quiet:
    def __init__(self, form: ParamForm):
        self.form = form

    def __enter__(self):
        self.form._quiet += 1
        return self.form

    def __exit__(self, *exc):
        self.form._quiet -= 1
        return False


def _decimals(p: Param) -> int:
    """Digits after the point when the declaration does not say: enough for the step
    and the lower bound."""
    smallest = min((abs(v) for v in (p.step, p.lo, p.default) if v), default=1.0)
    return max(2, min(8, 2 - math.floor(math.log10(smallest))))


def _none_text(p: Param) -> str:
    """What the lowest spin-box position says for None: the help after "None:"."""
    marker = "None:"
    if marker in p.help:
        return p.help.split(marker, 1)[1].strip().split(".")[0].strip() or "none"
    return "none"
