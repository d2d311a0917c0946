"""Scenes on pages: check a scene against a page, put it there, read one back.

Any page joins by data: a scene's ``params`` are what the page's
``settings_state()`` holds (an ExperimentPage: its ParamForm's values; a page with
sections: one dict per section), checked against the page's own declarations
(``Param.check``) where a :class:`~vigui.widgets.param_form.ParamForm` shows them and,
for any other control, by reading the value back. The section is the ``"tab"`` entry of
``settings_state()``. A page that can open checkpoints has ``open_model(path)``.

:func:`build_scene_page` applies a scene to a *fresh* page that is not yet on screen;
on any problem it raises :class:`~vigui.teaching.scenes.SceneError` and throws that page away,
so the window changes only once everything has passed.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

from engine.core.step_limit import limited
from vigui.teaching.scenes import Scene, SceneError
from vigui.widgets.param_form import ParamForm

#: parameters that describe the machine, not the lesson: never saved in a scene
MACHINE_PARAMS = {"device", "threads"}

__all__ = ["build_scene_page", "apply_scene", "start_scene", "capture_scene", "MACHINE_PARAMS"]


def build_scene_page(spec, scene: Scene):
    """A new page of ``spec`` showing ``scene`` (not started); SceneError if the scene
    does not fit the page, the page then closed and discarded."""
    page = spec.load()()
    try:
        apply_scene(page, scene)
    except Exception:
        page.close_page()
        page.deleteLater()
        raise
    return page


def apply_scene(page, scene: Scene) -> None:
    """Show the scene's parameters and section on ``page``; SceneError for anything the
    page does not have or cannot show."""
    where = f"page {scene.page!r}"
    params = dict(scene.params)
    _build_sections(page, [*params, scene.section])
    reference = page.settings_state()
    if "tab" in params:
        raise SceneError(f"{where}: give the tab as \"section\", not as a parameter.")
    if scene.section is not None:
        sections = _sections(page)
        if not sections:
            raise SceneError(f"{where} has no sections; \"section\" must be null.")
        if scene.section not in sections:
            raise SceneError(f"{where} has no section {scene.section!r}; "
                             f"it has {', '.join(sections)}.")
    form = getattr(page, "params", None)
    if isinstance(form, ParamForm) and set(reference) <= set(form.fields):
        _apply_form(form, params, where)
    else:
        _apply_nested(page, reference, params, where)
    if scene.section is not None:
        page.restore_settings({"tab": scene.section})
        if page.settings_state().get("tab") != scene.section:
            raise SceneError(f"{where}: could not show section {scene.section!r}.")
    if scene.checkpoint is not None and not callable(getattr(page, "open_model", None)):
        raise SceneError(f"{where} cannot open checkpoints; \"checkpoint\" must be null.")
    if scene.checkpoint is not None:
        from engine.core import checkpoint

        try:
            checkpoint.peek(scene.checkpoint_path)
        except Exception as exc:  # CheckpointError, OSError: the file is not usable
            raise SceneError(f"the checkpoint {scene.checkpoint!r} cannot be opened: {exc}") from None
    if scene.run is not None and page.run_control() is None:
        raise SceneError(f"{where} runs nothing here; \"run\" must be null.")
    if scene.pinned:
        compare = page.comparison()
        if compare is None:
            raise SceneError(f"{where} runs nothing here to compare; \"pinned\" must be empty.")
        compare.restore(scene.pinned)


def _sections(page) -> list[str]:
    """The page's section names: ``page.keys`` where sections are built when first shown
    (then ``page.section(key)`` builds one), else the keys of ``page.sections``."""
    keys = getattr(page, "keys", None)
    if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
        return list(keys)
    sections = getattr(page, "sections", None)
    return list(sections) if isinstance(sections, dict) else []


def _build_sections(page, names) -> None:
    """Build the lazily built sections a scene names, so their values can be checked."""
    built = getattr(page, "sections", None)
    if not isinstance(built, dict) or not callable(getattr(page, "section", None)):
        return
    for name in names:
        if isinstance(name, str) and name in _sections(page) and name not in built:
            page.section(name)


def _apply_form(form: ParamForm, params: dict, where: str) -> None:
    """Check every value with its declaration, then show them all at once."""
    unknown = sorted(set(params) - set(form.fields))
    if unknown:
        raise SceneError(f"{where}: unknown parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}; it has {', '.join(form.fields)}.")
    checked = {}
    for name, value in params.items():
        try:
            checked[name] = form.param(name).check(value)
            _probe(form, name, checked[name])
        except (TypeError, ValueError, OverflowError) as exc:
            text = str(exc) or f"{value!r} cannot be shown"
            raise SceneError(f"{where}: parameter {name}: {text}.") from None
    try:
        form.set_values(checked, emit=False)
    except ValueError as exc:
        raise SceneError(f"{where}: {exc}.") from None
    for name, value in checked.items():
        _same(form.value(name), value, f"{where}: parameter {name}")


def _probe(form: ParamForm, name: str, value: Any) -> None:
    """ValueError if the form's widget cannot show ``value``; a widget with ``check``
    (the own-data file chooser) reads the file, so its message names file, line, column."""
    form.check_showable(name, value)
    check = getattr(form.widget(name), "check", None)
    if callable(check):
        check(value)


def _apply_nested(page, reference: dict, params: dict, where: str) -> None:
    """A page whose state is not one form (sections): keys must be the page's own, each
    value must read back as given (declared forms inside are checked first)."""
    for key, value in params.items():
        if key not in reference or key == "tab":
            raise SceneError(f"{where}: unknown entry {key!r}; it has "
                             f"{', '.join(k for k in reference if k != 'tab')}.")
        ref = reference[key]
        if isinstance(ref, dict):
            if not isinstance(value, dict):
                raise SceneError(f"{where}: {key} must be an object of values.")
            unknown = sorted(set(value) - set(ref))
            if unknown:
                raise SceneError(f"{where}: {key} has no parameter{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(unknown)}; it has {', '.join(ref)}.")
            inner = getattr(_sections_map(page).get(key), "params", None)
            if isinstance(inner, ParamForm):
                for name, v in value.items():
                    try:
                        _probe(inner, name, inner.param(name).check(v))
                    except (TypeError, ValueError, OverflowError) as exc:
                        raise SceneError(f"{where}: {key}.{name}: {exc}.") from None
    page.restore_settings(params)
    shown = page.settings_state()
    for key, value in params.items():
        if isinstance(value, dict):
            for name, v in value.items():
                _same(shown[key].get(name), v, f"{where}: {key}.{name}")
        else:
            _same(shown.get(key), value, f"{where}: {key}")


def _sections_map(page) -> dict:
    sections = getattr(page, "sections", None)
    return sections if isinstance(sections, dict) else {}


def _same(shown: Any, wanted: Any, what: str) -> None:
    """SceneError unless the page shows what the scene asked for (floats to 1e-6)."""
    if not _equal(shown, wanted):
        raise SceneError(f"{what}: {_short(wanted)} is out of range or not accepted here "
                         f"(the page would show {_short(shown)}).")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def start_scene(page, scene: Scene) -> None:
    """Open the scene's checkpoint or start its run on a page it was applied to."""
    if scene.checkpoint is not None:
        page.scene_checkpoint = scene.checkpoint_path  # File > Export as notebook retrains it
        page.open_model(str(scene.checkpoint_path))
    control = page.run_control()
    if control is None:
        return
    if scene.run is None:
        if scene.checkpoint is None and hasattr(page, "activate"):
            control.reset(play=False)
        return
    if "steps" in scene.run:
        original = control.make_factory
        steps = int(scene.run["steps"])
        control.make_factory = lambda: partial(limited, original(), steps)
        try:
            control.reset(play=True)
        finally:
            control.make_factory = original
    else:
        control.reset(play=True)


def capture_scene(page, title: str = "", caption: str = "") -> Scene:
    """The scene of what ``page`` shows now: its parameters, section and how far it ran."""
    state = dict(page.settings_state())
    section = state.pop("tab", None)  # every page with sections names its tab by key
    params = {k: ({n: x for n, x in v.items() if n not in MACHINE_PARAMS} if isinstance(v, dict) else v)
              for k, v in state.items() if k not in MACHINE_PARAMS}
    run = None
    control = page.run_control() if section is None else None
    if control is not None and control.runner is not None:
        steps = int(control.steps)
        run = {"steps": steps} if steps > 0 else None
    compare = page.comparison()
    pinned = list(compare.runs) if compare is not None else []
    return Scene(page=page.page_id, params=params, section=section, run=run,
                 title=title or page.title, caption=caption, pinned=pinned)
