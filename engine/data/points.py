"""A user's own numbers from a CSV file: 1-D or 2-D points, or x,y pairs.

::

    x = read_points("clusters.csv")          # (N, 1) or (N, 2) float64: CAVI's data
    x, y = read_xy("measurements.csv")        # two (N,) float64 arrays: a regression

The format is deliberately forgiving in layout and strict in content:

* values separated by commas, semicolons, tabs or spaces (whichever the first data line
  uses); one row per point;
* an optional header line (the first non-blank line, if it is not all numbers), blank
  lines and lines starting with ``#`` are skipped;
* every row must have the same number of columns, every value must be a finite number
  no larger than ``MAX_ABS`` in magnitude (the models square and sum the values, BBB in
  float32, whose largest number is 3.4e38: 1e308 would become inf there).

Anything else is refused with a :class:`~engine.data.datasets.DatasetError` naming the file, the
line number and what is wrong; nothing is returned half-read. numpy only.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from engine.data.datasets import DatasetError

__all__ = ["read_columns", "read_points", "read_xy", "MAX_ROWS", "MAX_BYTES", "MAX_ABS"]

MAX_ROWS = 1_000_000  # CAVI's largest N
MAX_BYTES = 200 * 2**20  # a CSV of a million 2-D points is about 40 MB
MAX_ABS = 1e15  # squared and summed in float32 this stays far below its 3.4e38
_DELIMITERS = (",", ";", "\t")


def read_columns(path: str | os.PathLike, ncols: tuple[int, ...], what: str = "rows",
                 max_rows: int = MAX_ROWS) -> np.ndarray:
    """The numbers of a CSV file as a (rows, columns) float64 array.

    ``ncols`` lists the column counts allowed (e.g. ``(1, 2)``); ``what`` names a row in
    messages ("points", "x,y pairs"). Raises DatasetError naming the file and line.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise DatasetError(f"{path}: {path.stat().st_size / 2**20:.0f} MB is too large "
                           f"(at most {MAX_BYTES // 2**20} MB)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Excel's byte-order mark
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    allowed = " or ".join(map(str, ncols))
    rows: list[list[float]] = []
    width = None
    delimiter = None
    header_allowed = True
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if delimiter is None:
            delimiter = next((d for d in _DELIMITERS if d in stripped), None)
        fields = _split(stripped, delimiter)
        values = [_number(f) for f in fields]
        if header_allowed and all(v is None for v in values):
            header_allowed = False  # a header: names, not numbers
            delimiter = None  # the data may use another separator than the header
            continue
        header_allowed = False
        bad = next((i for i, v in enumerate(values) if v is None), None)
        if bad is not None:
            raise DatasetError(f"{path}, line {lineno}: {fields[bad]!r} (column {bad + 1}) "
                               "is not a number")
        numbers = [v for v in values if v is not None]  # all of them, as checked
        nonfinite = next((i for i, v in enumerate(numbers) if not math.isfinite(v)), None)
        if nonfinite is not None:
            raise DatasetError(f"{path}, line {lineno}: {fields[nonfinite]!r} (column "
                               f"{nonfinite + 1}) is not a finite number")
        huge = next((i for i, v in enumerate(numbers) if abs(v) > MAX_ABS), None)
        if huge is not None:
            raise DatasetError(f"{path}, line {lineno}: {fields[huge]!r} (column {huge + 1}) "
                               f"is too large: values must lie within ±{MAX_ABS:.0e}; "
                               "rescale the data (the models expect values near 1)")
        if width is None:
            if len(values) not in ncols:
                raise DatasetError(f"{path}, line {lineno}: {len(values)} columns; {what} "
                                   f"need {allowed}")
            width = len(values)
        elif len(values) != width:
            raise DatasetError(f"{path}, line {lineno}: {len(values)} columns, but the "
                               f"first data line has {width}")
        rows.append(numbers)
        if len(rows) > max_rows:
            raise DatasetError(f"{path}, line {lineno}: more than {max_rows:,} {what}")
    if not rows:
        raise DatasetError(f"{path}: no data lines (only blank lines, comments or a header)")
    return np.array(rows, dtype=np.float64)


def read_points(path: str | os.PathLike, max_rows: int = MAX_ROWS) -> np.ndarray:
    """1-D or 2-D points, shape (N, 1) or (N, 2)."""
    return read_columns(path, (1, 2), "points", max_rows)


def read_xy(path: str | os.PathLike, max_rows: int = MAX_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """x,y pairs: two arrays of shape (N,)."""
    table = read_columns(path, (2,), "x,y pairs", max_rows)
    return table[:, 0].copy(), table[:, 1].copy()


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
