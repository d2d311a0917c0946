"""Scene files: one page in one state, saved as human-readable JSON (no Qt here).

A scene names a page, its parameters (what the page's parameter column shows, seeds
included: every page declares its seeds as parameters), optionally a section (tab),
how far to run and a checkpoint to start from::

    {
      "vigui_scene": 2,
      "page": "cavi",
      "section": null,
      "title": "Figure 3: CAVI on three clusters",
      "caption": "Line one.\\nLine two.",
      "params": {"k": 3, "true_k": 3, "n": 500, "dim": 1, "data_seed": 3, ...},
      "run": {"steps": 60},
      "checkpoint": null
    }

``run`` is ``null`` (build the run, do not play it), ``{"steps": N}`` (play exactly N
steps, then stop: with fixed seeds the same numbers every time) or
``{"until": "converged"}`` (play until the experiment says it is done). ``checkpoint``
is a file beside the scene file (a relative path that must stay inside the scene's
folder) that the page opens instead of building a fresh model (a shipped tour's
checkpoints lie beside the tour); Play then continues training it, Reset starts again
from scratch.

Versions: 1 was the first draft (``"tab"`` for the section, ``"steps": N |
"converged"``); it is migrated on reading. A file from a newer vigui is refused.

:func:`parse_scene` checks everything that needs no page (JSON, keys, types, the page
id, the run, the checkpoint's path and presence) and raises :class:`SceneError` with
one message; :mod:`vigui.teaching.apply` checks the parameters against the page's own
declarations before anything on screen changes. A tour (:func:`parse_tour`) is a list
of scenes with a title; :func:`lecture_tour` is the one shipped with the app.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENE_VERSION = 2
TOUR_VERSION = 1
SCENE_KEYS = {"vigui_scene", "page", "section", "title", "caption", "params", "run", "checkpoint",
              "pinned"}
TOUR_KEYS = {"vigui_tour", "title", "stops"}
MAX_STEPS = 10_000_000
MAX_BYTES = 1_000_000  # a scene is a few hundred bytes (pinned runs: up to ~0.4 MB); a tour a few kB
# A scene nests about 4 deep (tour > stops > scene > params > section); json would hit
# Python's recursion limit near 1,000 and int() refuses over 4,300 digits with advice
# meant for programmers, so both are bounded here with a message for the teacher.
MAX_DEPTH = 32
MAX_DIGITS = 30
#: parameters naming the user's own data file: relative to the scene's folder in a file
FILE_PARAMS = ("data_file",)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")

__all__ = ["Scene", "SceneError", "Tour", "SCENE_VERSION", "parse_scene", "read_scene",
           "write_scene", "scene_text", "parse_tour", "read_tour", "lecture_tour",
           "known_pages", "is_tour_file"]


class SceneError(ValueError):
    """A scene or tour that cannot be opened; the message says why, in one sentence."""


@dataclass
class Scene:
    page: str
    params: dict[str, Any] = field(default_factory=dict)
    section: str | None = None
    run: dict[str, Any] | None = None
    checkpoint: str | None = None  # as written in the file (relative to folder)
    title: str = ""
    caption: str = ""
    folder: Path | None = None     # where a checkpoint is looked for
    #: runs kept for comparison (vigui.run.pinned): their parameters and metric
    #: histories, or a checkpoint beside the scene whose history and config are read
    pinned: list = field(default_factory=list)

    @property
    def checkpoint_path(self) -> Path | None:
        if self.checkpoint is None:
            return None
        return resolve_checkpoint(self.checkpoint, self.folder)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vigui_scene": SCENE_VERSION, "page": self.page}
        if self.title:
            out["title"] = self.title
        if self.caption:
            out["caption"] = self.caption
        out["section"] = self.section
        out["params"] = self.params
        out["run"] = self.run
        out["checkpoint"] = self.checkpoint
        if self.pinned:  # absent otherwise, so older vigui versions still open the file
            from vigui.run.pinned import SCENE_POINTS

            curves = sum(len(p.metrics.series) for p in self.pinned) or 1
            out["pinned"] = [p.to_data(points_per_series=SCENE_POINTS // curves) for p in self.pinned]
        return out


@dataclass
class Tour:
    title: str
    stops: list[Scene]


def known_pages() -> list[str]:
    from vigui.pages import available

    return [spec.page_id for spec in available()]


# -- reading -----------------------------------------------------------------------------
def _load_json(text: str | bytes, where: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SceneError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    if len(text) > MAX_BYTES:
        raise SceneError(f"{where} is too large for a scene ({len(text):,} characters).")
    _check_depth(text, where)
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_int,
                          parse_float=_float)
    except json.JSONDecodeError as exc:
        raise SceneError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}.") from None
    except ValueError as exc:  # NaN / Infinity
        raise SceneError(f"{where}: {exc}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed in a scene")


def _check_depth(text: str, where: str) -> None:
    """SceneError if objects and lists nest deeper than MAX_DEPTH (strings skipped)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise SceneError(f"{where} nests lists or objects more than {MAX_DEPTH} deep; "
                             "a scene needs about 4.")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number with {len(text.lstrip('-')):,} digits is not allowed "
                         f"in a scene (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: json would read it as inf
        raise ValueError(f"the number {_clip(text)} is too large for a scene")
    return value


def _clip(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def migrate(data: dict, where: str) -> dict:
    """A scene dict of any known version as the current version (a new dict)."""
    version = data.get("vigui_scene", SCENE_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SceneError(f"{where}: \"vigui_scene\" must be a version number, got {version!r}.")
    if version > SCENE_VERSION:
        raise SceneError(f"{where} was written by a newer vigui (scene version {version}; "
                         f"this one reads up to {SCENE_VERSION}). Update vigui to open it.")
    data = dict(data)
    if version == 1:
        for old, new in (("tab", "section"), ("steps", "run")):
            if old in data and new in data:
                raise SceneError(f"{where}: version 1 has \"{old}\", not \"{new}\".")
        if "tab" in data:
            data["section"] = data.pop("tab")
        if "steps" in data:
            steps = data.pop("steps")
            data["run"] = ({"until": "converged"} if steps == "converged" else
                           None if steps is None else {"steps": steps})
    data["vigui_scene"] = SCENE_VERSION
    return data


def parse_scene(data: Any, folder: Path | None = None, where: str = "the scene",
                pages: list[str] | None = None) -> Scene:
    """A checked :class:`Scene` from JSON text or an already parsed dict; SceneError
    naming the first problem. ``folder``: where its checkpoint must lie."""
    if isinstance(data, (str, bytes)):
        data = _load_json(data, where)
    if not isinstance(data, dict):
        raise SceneError(f"{where} must be a JSON object {{...}}, got {type(data).__name__}.")
    if "vigui_scene" not in data:
        raise SceneError(f"{where} is not a vigui scene (no \"vigui_scene\" version).")
    data = migrate(data, where)
    unknown = sorted(set(data) - SCENE_KEYS)
    if unknown:
        raise SceneError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(SCENE_KEYS))}).")
    page = data.get("page")
    pages = known_pages() if pages is None else pages
    if not isinstance(page, str) or page not in pages:
        raise SceneError(f"{where}: unknown page {page!r}; this vigui has {', '.join(pages)}.")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise SceneError(f"{where}: \"params\" must be an object of parameter values.")
    section = data.get("section")
    if section is not None and not isinstance(section, str):
        raise SceneError(f"{where}: \"section\" must be a section name or null, got {section!r}.")
    for key in ("title", "caption"):
        if not isinstance(data.get(key, ""), str):
            raise SceneError(f"{where}: \"{key}\" must be text.")
    params = _map_files(params, lambda name: _resolve_data_file(name, folder, where))
    scene = Scene(page=page, params=params, section=section, run=_check_run(data.get("run"), where),
                  checkpoint=data.get("checkpoint"), title=data.get("title", ""),
                  caption=data.get("caption", ""), folder=folder,
                  pinned=_check_pinned(data.get("pinned"), folder, where))
    if scene.checkpoint is not None:
        if not isinstance(scene.checkpoint, str) or not scene.checkpoint.strip():
            raise SceneError(f"{where}: \"checkpoint\" must be a file name or null.")
        try:
            path = scene.checkpoint_path
        except SceneError as exc:
            raise SceneError(f"{where}: {exc}") from None
        if not path.is_file():
            raise SceneError(f"{where}: the checkpoint {scene.checkpoint!r} is missing "
                             f"(looked for {path}).")
    return scene


def _check_run(run: Any, where: str) -> dict | None:
    if run is None:
        return None
    if isinstance(run, dict) and set(run) == {"steps"}:
        steps = run["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise SceneError(f"{where}: \"run\": steps must be a whole number from 1 to "
                             f"{MAX_STEPS:,}, got {steps!r}.")
        return {"steps": steps}
    if run == {"until": "converged"}:
        return {"until": "converged"}
    raise SceneError(f"{where}: \"run\" must be null, {{\"steps\": N}} or "
                     f"{{\"until\": \"converged\"}}, got {json.dumps(run)}.")


def _check_pinned(data: Any, folder: Path | None, where: str) -> list:
    """The scene's pinned runs as :class:`~vigui.run.pinned.PinnedRun` objects. An entry
    ``{"checkpoint": "file.pt", "name": "..."}`` takes the history and parameters saved
    in a model file beside the scene (no model is built)."""
    from vigui.run.pinned import MAX_PINNED, PinnedError, parse_pinned

    if data is None:
        return []
    if not isinstance(data, list):
        raise SceneError(f"{where}: \"pinned\" must be a list of runs.")
    if len(data) > MAX_PINNED:
        raise SceneError(f"{where}: at most {MAX_PINNED} pinned runs, got {len(data)}.")
    runs = []
    try:
        for i, entry in enumerate(data, 1):
            if isinstance(entry, dict) and "checkpoint" in entry:
                runs.append(_pinned_checkpoint(entry, folder, f"{where}, pinned run {i}"))
            else:
                runs += parse_pinned([entry], f"{where}, pinned run {i}")
    except PinnedError as exc:
        raise SceneError(str(exc)) from None
    return runs


def _pinned_checkpoint(entry: dict, folder: Path | None, where: str):
    from engine.core import checkpoint
    from engine.core.runtime import MetricStore
    from vigui.run.pinned import PinnedRun

    unknown = sorted(set(entry) - {"checkpoint", "name"})
    if unknown or not isinstance(entry["checkpoint"], str) or not isinstance(entry.get("name", ""), str):
        raise SceneError(f"{where}: a checkpoint entry has \"checkpoint\" (a file name) and "
                         "optionally \"name\", nothing else.")
    try:
        path = resolve_checkpoint(entry["checkpoint"], folder)
        peek = checkpoint.peek(path)
        store = MetricStore.from_state(peek.metrics)
    except SceneError as exc:
        raise SceneError(f"{where}: {exc}") from None
    except Exception as exc:  # CheckpointError, OSError, a malformed history
        raise SceneError(f"{where}: the checkpoint {entry['checkpoint']!r} cannot be read: "
                         f"{exc}") from None
    params = {k: v for k, v in dict(peek.config).items() if k not in ("device", "threads")}
    params["seed"] = (peek.extra or {}).get("seed", 0)
    return PinnedRun.from_live(params, store, steps=peek.step, name=entry.get("name", ""))


def _map_files(params: dict, fn) -> dict:
    """``params`` with ``fn`` applied to each own-data file name (sections included)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            value = _map_files(value, fn)
        elif key in FILE_PARAMS and isinstance(value, str):
            value = fn(value)
        out[key] = value
    return out


def _resolve_data_file(name: str, folder: Path | None, where: str) -> str:
    """A data file named in a scene: relative names lie in the scene's folder (a scene
    e-mailed with its CSV), never in whatever directory vigui was started from."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return str(path)
    if folder is None:
        raise SceneError(f"{where}: the data file {name!r} is a relative path, which only a "
                         "scene file can have (it is looked for beside the file).")
    return str(Path(folder).resolve() / path)


def _relative_files(params: dict, folder: Path) -> dict:
    """Data files inside ``folder`` written relative to it, so the folder travels whole."""
    root = Path(folder).resolve()

    def relative(name: str) -> str:
        path = Path(name)
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else name

    return _map_files(params, relative)


def resolve_checkpoint(name: str, folder: Path | None) -> Path:
    """The checkpoint ``name`` inside ``folder``; SceneError for an absolute path or
    one that leads outside the folder (``..``, links)."""
    if folder is None:
        raise SceneError("a scene with a checkpoint must be read from a file "
                         "(the checkpoint lies beside it).")
    if Path(name).is_absolute() or "\\" in name or ":" in name:
        raise SceneError(f"the checkpoint {name!r} must be a relative path beside the scene file.")
    root = Path(folder).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise SceneError(f"the checkpoint {name!r} lies outside the scene's folder {root}.")
    return path


def read_scene(path: str | Path) -> Scene:
    """Read and check a scene file (SceneError for anything wrong, OSError included)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SceneError(f"cannot read {path}: {exc.strerror or exc}.") from None
    return parse_scene(raw, folder=path.parent, where=str(path))


def scene_text(scene: Scene) -> str:
    """The scene as the JSON text a file holds (also what Copy scene puts on the clipboard)."""
    return json.dumps(scene.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_scene(scene: Scene, path: str | Path) -> Path:
    """Write ``scene`` to ``path`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    scene = Scene(**{**scene.__dict__, "params": _relative_files(scene.params, path.parent)})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(scene_text(scene), encoding="utf-8")
    tmp.replace(path)
    return path


# -- tours ---------------------------------------------------------------------------------
def parse_tour(data: Any, folder: Path | None = None, where: str = "the tour",
               pages: list[str] | None = None) -> Tour:
    """A checked :class:`Tour`: ``{"vigui_tour": 1, "title": ..., "stops": [scene, ...]}``;
    a stop without ``vigui_scene`` is of the current scene version."""
    if isinstance(data, (str, bytes)):
        data = _load_json(data, where)
    if not isinstance(data, dict) or "vigui_tour" not in data:
        raise SceneError(f"{where} is not a vigui tour (no \"vigui_tour\" version).")
    version = data["vigui_tour"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SceneError(f"{where}: \"vigui_tour\" must be a version number, got {version!r}.")
    if version > TOUR_VERSION:
        raise SceneError(f"{where} was written by a newer vigui (tour version {version}).")
    unknown = sorted(set(data) - TOUR_KEYS)
    if unknown:
        raise SceneError(f"{where}: unknown keys {', '.join(map(repr, unknown))}.")
    stops = data.get("stops")
    if not isinstance(stops, list) or not stops:
        raise SceneError(f"{where}: \"stops\" must be a non-empty list of scenes.")
    pages = known_pages() if pages is None else pages
    out = []
    for i, stop in enumerate(stops, 1):
        if isinstance(stop, dict) and "vigui_scene" not in stop:
            stop = {"vigui_scene": SCENE_VERSION, **stop}
        out.append(parse_scene(stop, folder, f"{where}, stop {i}", pages))
    title = data.get("title", "Tour")
    return Tour(title=title if isinstance(title, str) else "Tour", stops=out)


def read_tour(path: str | Path, pages: list[str] | None = None) -> Tour:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SceneError(f"cannot read {path}: {exc.strerror or exc}.") from None
    return parse_tour(raw, folder=path.parent, where=str(path), pages=pages)


def is_tour_file(path: str | Path) -> bool:
    """True if ``path`` holds a tour (a top-level "vigui_tour" key), not a scene."""
    try:
        data = _load_json(Path(path).read_bytes(), str(path))
    except (OSError, SceneError):
        return False  # read_scene then says what is wrong
    return isinstance(data, dict) and "vigui_tour" in data


def tours_dir() -> Path:
    from vigui import resources_dir

    return Path(str(resources_dir() / "tours"))


def lecture_tour(pages: list[str] | None = None) -> Tour:
    """The lecture's tour shipped with the app, keeping only the stops whose page this
    vigui has (a chapter not built yet simply has no stops)."""
    path = tours_dir() / "lecture.json"
    data = _load_json(path.read_bytes(), str(path))
    pages = known_pages() if pages is None else pages
    data = dict(data, stops=[s for s in data.get("stops", [])
                             if not isinstance(s, dict) or s.get("page") in pages])
    return parse_tour(data, folder=path.parent, where=str(path), pages=pages)
