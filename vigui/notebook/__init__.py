"""The page as a Jupyter notebook: the same figure, from the engine, in plain Python.

:func:`build_notebook` writes an nbformat v4 notebook for one page (or section) in one
state: the chapter's theory as markdown (LaTeX for Jupyter's MathJax), a config cell
with the page's parameters and seed, the run loop for the same number of steps, the
final numbers (printed with ``repr``: a test compares them with the page's digit for
digit), and the page's plots drawn with matplotlib. It takes plain values (a page id,
a section, the parameters the page shows), so it needs neither Qt nor a page:
``File > Export as notebook`` passes the page's state, ``vigui --notebook scene.json
out.ipynb`` a scene's. What each page runs is in :mod:`vigui.notebook.recipes`.
"""
from __future__ import annotations

import json
import pprint
from pathlib import Path
from typing import Any

from vigui.notebook.recipes import RECIPES, Recipe, recipe_for
from vigui.notebook.theory import theory_markdown

__all__ = ["build_notebook", "write_notebook", "NotebookError", "RECIPES", "FINAL_TAG",
           "parse_final", "checkpoint_params"]

FINAL_TAG = "final"  # the cell printing the final numbers
MACHINE = ("device", "threads")


class NotebookError(ValueError):
    """A page state that cannot be exported; the message says why."""


def checkpoint_params(path: str | Path) -> tuple[dict[str, Any], int, int]:
    """(parameters, seed, steps) of a checkpoint: the notebook trains the same model
    from scratch instead of opening the file (it needs no file beside it)."""
    from engine.core import checkpoint

    try:
        peek = checkpoint.peek(path)
    except Exception as exc:  # CheckpointError, OSError
        raise NotebookError(f"the checkpoint {path} cannot be read: {exc}") from None
    config = {k: v for k, v in dict(peek.config).items() if k not in MACHINE}
    return config, int((peek.extra or {}).get("seed", 0)), int(peek.step)


def _literal(value: Any) -> str:
    """Python source for plain data (JSON's true/null as True/None)."""
    return pprint.pformat(value, indent=1, width=96, sort_dicts=False)


def build_notebook(page: str, params: dict[str, Any], section: str | None = None, *,
                   steps: int | None = None, title: str = "", caption: str = "",
                   checkpoint: str | Path | None = None):
    """The notebook (an ``nbformat.NotebookNode``) reproducing the page's figure.

    ``params`` are the page's (or the section's) parameter values as a scene holds them;
    ``steps``: how far the page ran (None: until the run is done); ``checkpoint``: a
    model file the page opened (its config, seed and step count are used instead)."""
    import nbformat.v4 as nbf

    recipe = recipe_for(page, section)
    params = dict(params or {})
    if isinstance(params.get(section), dict):  # a sectioned page's {section: {...}}
        params = dict(params[section])
    note = ""
    if checkpoint is not None:
        params, seed, steps = checkpoint_params(checkpoint)
        params["seed"] = seed
        note = (f"\n\nThe page opened the model file `{Path(checkpoint).name}` ({steps:,} steps "
                "trained); this notebook trains the same model from scratch with the same "
                "seed and number of steps.")
    seed = None
    if recipe.seed:
        seed = params.pop("seed", 0)
    for name in MACHINE:
        params.pop(name, None)
    params.update(recipe.fixed)

    cells = [nbf.new_markdown_cell(_header(page, section, title, caption) + note)]
    cells += [nbf.new_markdown_cell(text) for text in theory_markdown(_theory_name(page))]
    cells.append(nbf.new_markdown_cell("## The page's figure, from the engine"))
    cells.append(nbf.new_code_cell(recipe.imports.rstrip() + "\n"))
    config = f"PARAMS = {_literal(params)}\n"
    if recipe.seed:
        config += f"SEED = {int(seed)}\n"
    if recipe.iterative:
        config += f"STEPS = {steps!r}  # how far the page ran (None: until the run is done)\n"
    cells.append(nbf.new_code_cell("# The page's parameters and seed\n" + config))
    cells.append(nbf.new_code_cell(recipe.build.rstrip() + "\n"))
    if recipe.iterative:
        cells.append(nbf.new_code_cell(
            "while not exp.done and (STEPS is None or exp.steps < STEPS):\n"
            "    exp.step()\n"
            "print(f\"{exp.steps} steps\")\n"))
        final = "FINAL = {name: exp.metrics.latest(name) for name in exp.metrics.names}\n"
    else:
        final = ""
    cells.append(nbf.new_code_cell(
        "# The final numbers (as the page shows them after the same run)\n" + final +
        "for name, value in FINAL.items():\n"
        "    print(f\"{name} = {value!r}\")\n", metadata={"tags": [FINAL_TAG]}))
    if recipe.curves:
        cells.append(nbf.new_code_cell(_curves_code(recipe)))
    cells.append(nbf.new_code_cell(recipe.views.rstrip() + "\n"))
    nb = nbf.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["vigui"] = {"page": page, "section": section, "steps": steps}
    return nb


def _curves_code(recipe: Recipe) -> str:
    panels = [(t, list(names), y) for t, names, y in recipe.curves]
    return (
        f"CURVES = {_literal(panels)}\n"
        "fig, axes = plt.subplots(1, len(CURVES), figsize=(5.5 * len(CURVES), 3.5), squeeze=False)\n"
        "for ax, (title, names, ylabel) in zip(axes[0], CURVES):\n"
        "    for name in names:\n"
        "        if name in exp.metrics.names:\n"
        "            steps, values = exp.metrics.get(name)\n"
        "            ax.plot(steps, values, label=name, marker='.' if len(steps) < 30 else None)\n"
        "    ax.set_title(title); ax.set_xlabel('step'); ax.set_ylabel(ylabel)\n"
        "    if ax.lines:\n"
        "        ax.legend(fontsize=8)\n"
        "plt.show()\n")


def _theory_name(page: str) -> str:
    return page


def _header(page: str, section: str | None, title: str, caption: str) -> str:
    from vigui import __version__
    from vigui.pages import REGISTRY

    chapter = next((s for s in REGISTRY if s.page_id == page), None)
    name = f"Chapter {chapter.chapter}: {chapter.title}" if chapter else page
    lines = [f"# {title or name}", ""]
    if title:
        lines += [f"*{name}*" + (f", section *{section}*" if section else ""), ""]
    elif section:
        lines += [f"Section *{section}*", ""]
    if caption:
        lines += [caption.replace("\n", "  \n"), ""]
    lines.append(f"Exported from vigui {__version__}. It runs the same engine the page runs "
                 "(`pip install vigui`), with the page's parameters and seeds, so its final "
                 "numbers are the page's.")
    return "\n".join(lines)


def write_notebook(path: str | Path, page: str, params: dict[str, Any], section: str | None = None,
                   **kw) -> Path:
    """Build the notebook and write it atomically (a temporary file, then a rename)."""
    import nbformat

    nb = build_notebook(page, params, section, **kw)
    nbformat.validate(nb)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise NotebookError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def parse_final(nb) -> dict[str, float]:
    """The final numbers an executed notebook printed (its ``final`` cell)."""
    for cell in nb.cells:
        if FINAL_TAG in cell.get("metadata", {}).get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
            out = {}
            for line in text.splitlines():
                name, _, value = line.partition(" = ")
                out[name] = float(json.loads(value)) if value not in ("nan", "inf", "-inf") else float(value)
            return out
    raise NotebookError("the notebook has no final-numbers cell")
