"""Safe save/load of trainer checkpoints.

A checkpoint is one ``torch.save`` file holding a plain dict::

    {"format": "vigui-checkpoint", "version": 1, "kind": "vae", "state_dict": {...},
     "config": {...}, "dataset": "digits", "step": 1200, "metrics": {...}, "extra": {...}}

``metrics`` is a ``MetricStore.state()`` (bounded however long the run); files written
before the store hold a list of rows, which ``MetricStore.from_state`` reads too.

Files are written atomically (temp file in the same directory, then ``os.replace``),
so a crash mid-write never leaves a half-written checkpoint under the final name.
They are read with ``torch.load(weights_only=True)``: only tensors and plain
containers (dict, list, tuple, str, int, float, bool, None) can come back, so opening
a file from elsewhere cannot run code. Anything wrong with a file raises
:class:`CheckpointError` naming the file and the problem. Model-specific checks
(latent size, layer shapes) belong to the trainer that loads the state dict.

:func:`peek` reads what a file holds (kind, config, dataset, step, weight shapes,
extra data, metrics) without building anything and without torch: enough to show a
checkpoint's settings or refuse it before a model is built.
"""
from __future__ import annotations

import collections
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CheckpointError", "FORMAT", "VERSION", "save", "load", "peek", "Peek", "TensorInfo"]

FORMAT = "vigui-checkpoint"
VERSION = 1

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
_PICKLE_MAGIC = b"\x80"  # legacy torch.save / plain pickle
_REQUIRED = ("kind", "state_dict", "config", "dataset", "step", "metrics")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, foreign or does not fit the model."""


def save(path: str | os.PathLike, *, kind: str, state_dict: dict, config: dict,
         dataset: str, step: int, metrics: dict | list, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically; returns the final path.

    ``config``, ``metrics`` and ``extra`` must be plain data (nested dict/list/tuple of
    str, int, float, bool, None, tensors): anything else could not be read back with
    ``weights_only=True``, so it is refused here with a TypeError naming the key.
    """
    import torch

    path = Path(path)
    payload = {
        "format": FORMAT, "version": VERSION, "kind": str(kind),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "config": config, "dataset": str(dataset), "step": int(step),
        "metrics": metrics, "extra": extra or {},
    }
    for key in ("config", "metrics", "extra"):
        _check_plain(payload[key], key)
    # Temp file in the target directory so os.replace is a same-filesystem rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load(path: str | os.PathLike, *, kind: str | None = None,
         map_location: Any = "cpu") -> dict:
    """Read and check a checkpoint; returns its dict (tensors on ``map_location``).

    Raises :class:`CheckpointError` for a missing, empty, truncated or corrupt file,
    a file that is not a torch file, a torch file that is not a vigui checkpoint, a
    checkpoint of another ``kind`` or an unsupported version.
    """
    import torch

    path = _check_file(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise CheckpointError(
                f"{path}: cannot read the checkpoint: it holds Python objects other than "
                f"tensors and plain data, which are not loaded since they could run code"
            ) from exc
        raise CheckpointError(f"{path}: cannot read the checkpoint: the file is "
                              f"corrupt ({_first_line(exc)})") from exc
    except Exception as exc:  # torch raises RuntimeError, OSError, EOFError...
        raise CheckpointError(f"{path}: cannot read the checkpoint: the file is truncated "
                              f"or corrupt ({_first_line(exc)})") from exc
    _check_payload(data, path, kind)
    if not all(isinstance(v, torch.Tensor) for v in data["state_dict"].values()):
        raise CheckpointError(f"{path}: checkpoint state_dict is not a dict of tensors")
    return data


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise CheckpointError(f"{path}: the file is empty (an interrupted save?)")
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC)):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({_describe(head)})")
    return path


def _check_payload(data, path, kind: str | None) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        what = "a bare state dict or another program's file" if isinstance(data, dict) \
            else f"a {type(data).__name__}"
        raise CheckpointError(f"{path}: a PyTorch file but not a vigui checkpoint ({what})")
    version = data.get("version")
    if version != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported "
            f"(this vigui reads version {VERSION})")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if kind is not None and data["kind"] != kind:
        raise CheckpointError(
            f"{path}: this is a {data['kind']!r} checkpoint, not a {kind!r} one")
    if not isinstance(data["state_dict"], dict):
        raise CheckpointError(f"{path}: checkpoint state_dict is not a dict of tensors")


# -- peek: what a checkpoint holds, without torch --------------------------------------------
@dataclass(frozen=True)
class TensorInfo:
    """A tensor in a peeked checkpoint: its shape and dtype, not its data."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Peek:
    """What :func:`peek` reads: everything but the tensors' data.

    ``shapes`` maps each weight's name to its shape; ``extra`` is the trainer's extra
    data with tensors (Adam moments, RNG state) as :class:`TensorInfo`; ``metrics`` the
    saved metric history (``MetricStore.from_state`` reads it)."""

    path: Path
    kind: str
    config: dict
    dataset: str
    step: int
    shapes: dict[str, tuple[int, ...]]
    extra: dict
    metrics: Any


def peek(path: str | os.PathLike, *, kind: str | None = None) -> Peek:
    """Read a checkpoint's kind, config, dataset, step, weight shapes and extra data
    cheaply: no model, no dataset, no experiment, and (for files written by
    :func:`save`) without importing torch or reading the tensors' data.

    Raises :class:`CheckpointError` like :func:`load` for files that are not readable
    vigui checkpoints (or of another ``kind``)."""
    path = _check_file(path)
    try:
        data = _peek_zip(path)
    except _Unsupported:  # a layout this reader does not know: let torch read it
        data = _as_peeked(load(path, kind=kind))
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError,
            TypeError, IndexError, AttributeError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: the file is truncated "
                              f"or corrupt ({_first_line(exc)})") from exc
    _check_payload(data, path, kind)
    state = data["state_dict"]
    if not all(isinstance(v, TensorInfo) for v in state.values()):
        raise CheckpointError(f"{path}: checkpoint state_dict is not a dict of tensors")
    return Peek(path=path, kind=str(data["kind"]), config=data["config"],
                dataset=str(data["dataset"]), step=int(data["step"]),
                shapes={str(k): v.shape for k, v in state.items()},
                extra=data.get("extra") or {}, metrics=data["metrics"])


class _Unsupported(Exception):
    """The file uses a pickle global the torch-free reader does not handle."""


_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
           "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
           "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
           "BoolStorage": "bool"}


class _StorageType(str):
    pass


def _rebuild_tensor(storage, offset, size, stride, *args) -> TensorInfo:
    return TensorInfo(tuple(int(s) for s in size), storage)


class _ShapeUnpickler(pickle.Unpickler):
    """Unpickles torch's data.pkl into plain data with tensors as TensorInfo: only the
    globals a checkpoint written by :func:`save` uses are known; anything else is
    :class:`_Unsupported` (never imported, so reading cannot run code)."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        raise _Unsupported(f"{module}.{name}")

    def persistent_load(self, pid):
        # ("storage", storage type, key, location, numel): the type is all we keep.
        if not (isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "storage"):
            raise _Unsupported(f"persistent id {pid!r}")
        return str(pid[1])


def _peek_zip(path: Path) -> dict:
    if not zipfile.is_zipfile(path):
        raise _Unsupported("legacy (non-zip) torch file")
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(names) != 1:
            raise _Unsupported("no data.pkl")
        with z.open(names[0]) as f:
            return _ShapeUnpickler(f).load()


def _as_peeked(data):
    """A torch-loaded checkpoint with its tensors replaced by TensorInfo."""
    import torch

    if isinstance(data, torch.Tensor):
        return TensorInfo(tuple(data.shape), str(data.dtype).removeprefix("torch."))
    if isinstance(data, dict):
        return {k: _as_peeked(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_as_peeked(v) for v in data)
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _describe(head: bytes) -> str:
    if head.startswith(b"\x89PNG"):
        return "it looks like a PNG image"
    if head[:1] in (b"{", b"["):
        return "it looks like a JSON file"
    try:
        head.decode("utf-8")
        return "it looks like a text file"
    except UnicodeDecodeError:
        return f"it starts with bytes {head!r}"


def _check_plain(obj: Any, where: str) -> None:
    """Refuse what ``torch.load(weights_only=True)`` would not read back."""
    import torch

    if obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint {where}: key {k!r} is not a str or int")
            _check_plain(v, f"{where}.{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"checkpoint {where}: {type(obj).__name__} is not plain data")
