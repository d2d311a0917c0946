"""Scenes and tour stops as notebooks: `vigui --notebook`, the page's full parameters,
clear refusals."""
from __future__ import annotations

import json

import pytest

nbformat = pytest.importorskip("nbformat")

from engine.bbb.regression import RegressionConfig  # noqa: E402
from engine.core.params import specs  # noqa: E402
from vigui.app import main  # noqa: E402
from vigui.teaching.scenes import lecture_tour, tours_dir  # noqa: E402

pytestmark = pytest.mark.gui


def params_cell(nb) -> dict:
    """The PARAMS literal of a notebook's config cell."""
    source = next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("# The page's"))
    namespace: dict = {}
    exec(source, namespace)  # plain literals written by the exporter
    return namespace


def test_cli_writes_the_notebook_of_a_scene_file(tmp_path, capsys, qapp):
    scene = {"vigui_scene": 2, "page": "cavi", "title": "Gradient vs CAVI",
             "params": {"k": 3, "true_k": 3, "n": 500, "sigma2": 10.0, "dim": 1, "data_seed": 3,
                        "init_seed": 1, "mode": "gradient", "alpha": 0.0002},
             "run": {"steps": 300}}
    path = tmp_path / "lesson.json"
    path.write_text(json.dumps(scene))
    out = tmp_path / "lesson.ipynb"
    assert main(["--notebook", str(path), str(out)]) == 0
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    ns = params_cell(nb)
    assert ns["STEPS"] == 300
    assert {k: ns["PARAMS"][k] for k in scene["params"]} == scene["params"]
    assert nb.cells[0].source.startswith("# Gradient vs CAVI")


def test_a_tour_stop_with_partial_params_gets_the_pages_full_parameter_column(tmp_path, qapp):
    tour = lecture_tour()
    index = next(i for i, s in enumerate(tour.stops) if s.page == "bbb") + 1
    out = tmp_path / "fig15.ipynb"
    assert main(["--notebook", f"lecture#{index}", str(out)]) == 0
    ns = params_cell(nbformat.read(out, as_version=4))
    shown = {p.name for p in specs(RegressionConfig) if p.gui}
    assert shown - {"device"} <= set(ns["PARAMS"]) and ns["SEED"] == 0
    stop = tour.stops[index - 1]  # Figure 15 opens the shipped model: its steps are the run's
    from engine.core import checkpoint

    assert stop.checkpoint and stop.run is None
    assert ns["STEPS"] == checkpoint.peek(tours_dir() / stop.checkpoint).step


def test_a_checkpoint_stop_trains_the_checkpoints_model_for_its_steps(tmp_path, qapp):
    from engine.core import checkpoint
    from vigui.teaching.scenes import tours_dir

    tour = lecture_tour()
    index = next(i for i, s in enumerate(tour.stops) if s.checkpoint == "vae-recon.pt") + 1
    out = tmp_path / "recon.ipynb"
    assert main(["--notebook", f"lecture#{index}", str(out)]) == 0
    nb = nbformat.read(out, as_version=4)
    ns = params_cell(nb)
    peek = checkpoint.peek(tours_dir() / "vae-recon.pt")
    assert ns["STEPS"] == peek.step == 3000 and ns["PARAMS"]["loss_mode"] == "recon"
    assert ns["SEED"] == peek.extra["seed"]
    assert "vae-recon.pt" in nb.cells[0].source


@pytest.mark.parametrize("source, words", [
    ("lecture#0", "stops 1 to"),
    ("missing.json", "cannot read"),
])
def test_bad_sources_give_one_line_and_status_2(tmp_path, capsys, qapp, source, words):
    out = tmp_path / "x.ipynb"
    assert main(["--notebook", source, str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unwritable_path_is_one_line_and_no_file(tmp_path, capsys, qapp):
    scene = tmp_path / "s.json"
    scene.write_text(json.dumps({"vigui_scene": 2, "page": "cavi", "params": {"k": 2}}))
    out = tmp_path / "no-such-folder" / "x.ipynb"
    assert main(["--notebook", str(scene), str(out)]) == 2
    assert "cannot write" in capsys.readouterr().err
