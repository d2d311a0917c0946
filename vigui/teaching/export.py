"""A page or a scene as a Jupyter notebook (File > Export as notebook, ``vigui --notebook``).

The notebook needs every parameter the page shows, not only those a scene names (a
tour stop may give one seed and leave the rest to the page's defaults, which can differ
from the config's). So a scene is first put on a fresh page, off screen and not
started, exactly as opening it would, and the page's own state is what is exported.
"""
from __future__ import annotations

from pathlib import Path

from vigui.notebook import NotebookError, checkpoint_params, write_notebook
from vigui.teaching.apply import build_scene_page, capture_scene
from vigui.teaching.scenes import Scene, SceneError

__all__ = ["scene_notebook", "page_notebook", "run_steps"]


def run_steps(run: dict | None) -> int | None:
    """A scene's "run" as the notebook's step count (None: until the run is done)."""
    if run is None:
        return 0
    return int(run["steps"]) if "steps" in run else None


def scene_notebook(scene: Scene, path: str | Path, specs) -> Path:
    """Write the notebook of ``scene`` (SceneError / NotebookError with one message)."""
    spec = next((s for s in specs if s.page_id == scene.page), None)
    if spec is None:
        raise SceneError(f"unknown page {scene.page!r}.")
    page = build_scene_page(spec, scene)
    try:
        shown = capture_scene(page)
    finally:
        page.close_page()
        page.deleteLater()
    section = scene.section or shown.section
    return _write(path, scene.page, shown.params, section, run_steps(scene.run),
                  scene.title, scene.caption, scene.checkpoint_path)


def page_notebook(page, path: str | Path, steps: int | None = None, checkpoint=None) -> Path:
    """Write the notebook of what ``page`` shows now (its parameters, section and how far
    its run went)."""
    scene = capture_scene(page, *getattr(page, "scene_words", ("", "")))
    if steps is None:
        steps = run_steps(scene.run)
    if checkpoint is not None and steps not in (0, checkpoint_params(checkpoint)[2]):
        checkpoint = None  # trained on since it was opened: the page's own state is the run
    return _write(path, page.page_id, scene.params, scene.section, steps, scene.title,
                  scene.caption, checkpoint)


def _write(path, page_id, params, section, steps, title, caption, checkpoint) -> Path:
    try:
        return write_notebook(path, page_id, params, section, steps=steps, title=title,
                              caption=caption, checkpoint=checkpoint)
    except LookupError as exc:
        raise NotebookError(str(exc.args[0]) if exc.args else str(exc)) from None
