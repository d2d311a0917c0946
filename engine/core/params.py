"""Parameters declared once: range, choices, label and help live on the config field.

An experiment's config is a frozen dataclass whose fields are declared with
:func:`param`. From that one declaration come the validation (:meth:`Config.validate`),
the command-line flags (:func:`add_arguments` / :func:`from_args`) and the page's
widgets with save/restore (``vigui.widgets.param_form``)::

    @dataclass(frozen=True)
    class VAEConfig(Config):
        latent: int = param(2, lo=2, hi=64, label="Latent dims", help="size of z")
        lr: float = param(1e-3, lo=1e-6, hi=10.0, log=True, label="Learning rate")
        likelihood: str = param("bernoulli", choices=("bernoulli", "gaussian"))
        hidden: tuple[int, ...] = param((400,), lo=8, hi=4096, length=(1, 4))
        epochs: int | None = param(None, lo=1, hi=100_000, optional=True)

Widgets: ``label`` names the row, ``help`` is its tooltip, ``log`` steps in decades,
``decimals``/``step`` shape a linear spin box, ``choice_labels`` name the choices,
``widget`` asks for a named widget of the GUI kit ("dataset", "device") and
``gui=False`` / ``cli=False`` keep a parameter off the page / the command line.
``symbol`` is how error messages name it ("K must be between 1 and 10").

Kinds follow the annotation: ``int``, ``float``, ``str``, ``bool`` and ``tuple[int, ...]``
(a list of sizes), each optionally ``| None`` (then ``optional=True`` must say that None
is allowed and what it means, in ``help``). Fields declared with a plain default (no
:func:`param`) are internal: not validated here, no flag, no widget.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "param", "specs", "Config", "add_arguments", "from_args", "parse_sizes"]

KINDS = ("int", "float", "str", "bool", "sizes")


@dataclass(frozen=True)
class Param:
    """The declaration of one parameter (see the module docstring)."""

    name: str = ""
    kind: str = ""  # one of KINDS, filled in from the annotation by specs()
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()  # allowed values; labels via choice_labels
    choice_labels: tuple = ()  # shown in widgets, same order as choices
    log: bool = False  # widgets step in decades (learning rates, variances)
    label: str = ""
    help: str = ""
    symbol: str = ""  # how error messages name it (default: the field name), e.g. "K"
    optional: bool = False  # None allowed
    length: tuple[int, int] = (1, 8)  # sizes: how many entries
    decimals: int | None = None  # widgets: digits after the point
    step: float | None = None  # widgets: the arrow-key step (linear ranges)
    cli: bool = True  # a command-line flag
    gui: bool = True  # a widget on the page
    widget: str = ""  # a named widget of the GUI kit instead of the kind's default
    #                   ("dataset": the chooser with its download row; "device": this
    #                   machine's devices); validation stays the kind's

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g} to {self.hi:g}"
        return ""

    def check(self, value: Any) -> Any:
        """Return ``value`` in its canonical type, or raise ValueError naming the parameter."""
        name = self.symbol or self.name
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{name} must be given (None is not allowed)")
        if self.kind == "bool":
            if isinstance(value, (bool,)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
                return bool(value)
            raise ValueError(f"{name} must be true or false, got {value!r}")
        if self.kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
            if self.choices and value not in self.choices:
                raise ValueError(f"{name} must be {self.describe_range()}, got {value!r}")
            return value
        if self.kind == "sizes":
            if isinstance(value, str):
                value = parse_sizes(value, name)
            if not isinstance(value, (tuple, list)):
                raise ValueError(f"{name} must be a list of sizes, got {value!r}")
            lo_n, hi_n = self.length
            if not lo_n <= len(value) <= hi_n:
                raise ValueError(f"{name} must have {lo_n} to {hi_n} entries, got {len(value)}")
            return tuple(self._check_number(v, int, f"{name} entry") for v in value)
        if self.kind == "int":
            return self._check_number(value, int, name)
        if self.kind == "float":
            return self._check_number(value, float, name)
        raise TypeError(f"parameter {name}: unknown kind {self.kind!r}")

    def _check_number(self, value, kind, name):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if kind is int:
            if not isinstance(value, numbers.Integral):
                if not (math.isfinite(value) and float(value).is_integer()):
                    raise ValueError(f"{name} must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{name} must be {self.describe_range()}, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"{name} must be between {self.lo:g} and {self.hi:g}, got {value!r}")
        return value


def param(default: Any, **declaration: Any) -> Any:
    """Declare a config field: ``x: float = param(1.0, lo=0, hi=10, label="x")``."""
    unknown = set(declaration) - {f.name for f in dataclasses.fields(Param)}
    if unknown or {"name", "kind", "default"} & set(declaration):
        raise TypeError(f"param(): unknown or reserved keyword(s) {sorted(unknown)}")
    if "choices" in declaration:
        declaration["choices"] = tuple(declaration["choices"])
    return dataclasses.field(default=default, metadata={"param": Param(default=default, **declaration)})


def _kind_of(annotation) -> tuple[str, bool]:
    """(kind, allows None) from a field's resolved type annotation."""
    args = typing.get_args(annotation)
    allows_none = type(None) in args
    if allows_none:
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else annotation
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return "sizes", allows_none
    for kind, typ in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if annotation is typ:
            return kind, allows_none
    raise TypeError(f"unsupported parameter type {annotation!r}")


_SPECS: dict[type, tuple[Param, ...]] = {}


def specs(cls_or_config) -> tuple[Param, ...]:
    """The declared parameters of a config class (or instance), in field order."""
    cls = cls_or_config if isinstance(cls_or_config, type) else type(cls_or_config)
    if cls not in _SPECS:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            p = f.metadata.get("param")
            if p is None:
                continue
            kind, allows_none = _kind_of(hints[f.name])
            if p.optional and not allows_none:
                raise TypeError(f"{cls.__name__}.{f.name}: optional=True needs a '| None' type")
            out.append(dataclasses.replace(p, name=f.name, kind=kind))
        # A base's shared parameters (the training fields) come after the chapter's own,
        # in forms and flags, wherever the dataclass put them.
        trailing = getattr(cls, "trailing_params", ())
        out.sort(key=lambda p: p.name in trailing)
        _SPECS[cls] = tuple(out)
    return _SPECS[cls]


class Config:
    """Mixin for frozen config dataclasses declared with :func:`param`.

    ``trailing_params`` names parameters listed last by :func:`specs` (so in forms and
    flags): a base class's shared fields, which dataclasses would put first."""

    trailing_params: typing.ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for p in specs(self):  # lists from JSON become tuples, so configs stay hashable
            value = getattr(self, p.name)
            if p.kind == "sizes" and isinstance(value, list):
                object.__setattr__(self, p.name, tuple(value))

    def validate(self):
        """Raise ValueError naming the first invalid parameter; return self."""
        for p in specs(self):
            object.__setattr__(self, p.name, p.check(getattr(self, p.name)))
        return self

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists), for checkpoints, scenes and JSON."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]  # a dataclass mixin
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """The config of plain data; unknown keys raise ValueError (a foreign file)."""
        if not isinstance(d, dict):
            raise ValueError(f"a {cls.__name__} must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(map(str, unknown))}")
        return cls(**d)


def parse_sizes(text: str, name: str = "sizes") -> tuple[int, ...]:
    """ "512, 256" -> (512, 256); ValueError naming ``name`` otherwise."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{name} must be whole numbers separated by commas, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser, cls, exclude: Iterable[str] = (),
                  defaults: dict[str, Any] | None = None) -> None:
    """One flag per declared parameter (``--batch-size``), defaults from the declaration."""
    exclude, defaults = set(exclude), defaults or {}
    for p in specs(cls):
        if not p.cli or p.name in exclude:
            continue
        default = defaults.get(p.name, p.default)
        text = p.help or p.title
        rng = p.describe_range()
        shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        text += f" ({rng}; default {shown})" if rng else f" (default {shown})"
        if p.kind == "bool":
            parser.add_argument(p.flag, dest=p.name, action=argparse.BooleanOptionalAction,
                                default=default, help=text)
            continue
        typ = {"int": int, "float": float, "str": str, "sizes": str}[p.kind]
        kw: dict[str, Any] = {"dest": p.name, "type": typ, "default": default, "help": text}
        if p.kind == "sizes":
            kw["default"] = ",".join(map(str, default)) if default is not None else None
            kw["metavar"] = "N[,N...]"
        parser.add_argument(p.flag, **kw)


def from_args(cls, ns: argparse.Namespace, exclude: Iterable[str] = (), **overrides: Any):
    """The validated config from parsed flags (flags absent from ``ns`` or named in
    ``exclude`` keep defaults)."""
    values, exclude = {}, set(exclude)
    for p in specs(cls):
        if p.name in exclude and p.name not in overrides:
            continue
        if p.name in overrides:
            values[p.name] = overrides[p.name]
        elif hasattr(ns, p.name):
            value = getattr(ns, p.name)
            if p.kind == "sizes" and isinstance(value, str):
                value = parse_sizes(value, p.flag)
            values[p.name] = value
    values.update({k: v for k, v in overrides.items() if k not in values})
    return cls(**values).validate()
