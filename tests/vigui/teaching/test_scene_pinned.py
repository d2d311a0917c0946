"""Pinned runs in scene files: round trip, runs read from checkpoints, refusals, and
older scenes (no "pinned") still open."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.cavi.model import CaviConfig, CaviExperiment
from engine.core import checkpoint
from engine.core.runtime import MetricStore
from vigui.run.pinned import MAX_PINNED, PinnedRun
from vigui.teaching.scenes import (
    Scene,
    SceneError,
    parse_scene,
    read_scene,
    scene_text,
    tours_dir,
    write_scene,
)

PAGES = ["cavi", "vae"]


def cavi_pinned(k: int, steps: int = 30) -> PinnedRun:
    config = CaviConfig(k=k, n=300, data_seed=3, init_seed=1).validate()
    exp = CaviExperiment(config)
    for _ in range(steps):
        exp.step()
    return PinnedRun.from_live(config.to_dict(), exp.metrics)


def test_a_scene_with_pinned_runs_round_trips(tmp_path):
    runs = [cavi_pinned(2), cavi_pinned(4, steps=12)]
    runs[1].visible = False
    scene = Scene(page="cavi", params={"k": 3}, run={"steps": 30}, pinned=runs)
    path = write_scene(scene, tmp_path / "s.json")
    back = read_scene(path)
    assert len(back.pinned) == 2 and [r.visible for r in back.pinned] == [True, False]
    for a, b in zip(runs, back.pinned, strict=True):
        assert a.params == b.params and a.steps == b.steps
        for name in a.metrics.names:
            np.testing.assert_allclose(b.metrics.get(name)[1], a.metrics.get(name)[1], rtol=1e-6)
            assert b.final[name] == pytest.approx(a.final[name], rel=1e-6)
    # the text round-trips exactly once written
    assert scene_text(back) == path.read_text()


def test_a_scene_without_pinned_runs_has_no_key_and_older_files_open():
    scene = Scene(page="cavi", params={"k": 3})
    assert "pinned" not in json.loads(scene_text(scene))
    old = {"vigui_scene": 1, "page": "cavi", "tab": None, "params": {"k": 2}, "steps": 5}
    assert parse_scene(old, pages=PAGES).pinned == []


def test_pinned_runs_can_come_from_checkpoints_beside_the_scene(tmp_path):
    shutil.copy(tours_dir() / "vae-kl.pt", tmp_path)
    data = {"vigui_scene": 2, "page": "vae", "params": {},
            "pinned": [{"checkpoint": "vae-kl.pt", "name": "KL only"}]}
    scene = parse_scene(json.dumps(data), folder=tmp_path, pages=PAGES)
    (run,) = scene.pinned
    peek = checkpoint.peek(tmp_path / "vae-kl.pt")
    saved = MetricStore.from_state(peek.metrics)
    assert run.name == "KL only" and run.steps == 3000 and run.params["loss_mode"] == "kl"
    np.testing.assert_array_equal(run.metrics.get("test_loss")[1], saved.get("test_loss")[1])
    # written back, it carries the history itself (the scene may move without the file)
    again = parse_scene(scene_text(scene), pages=PAGES)
    assert again.pinned[0].name == "KL only"
    np.testing.assert_allclose(again.pinned[0].metrics.get("kl")[1][-5:], saved.get("kl")[1][-5:], rtol=1e-6)


@pytest.mark.parametrize("pinned, words", [
    ("runs", "must be a list"),
    ([{"checkpoint": "../outside.pt"}], "outside"),
    ([{"checkpoint": "missing.pt"}], "cannot be read"),
    ([{"checkpoint": "vae-kl.pt", "colour": 1}], "nothing else"),
    ([{"params": {}, "metrics": {"loss": {"step": [1], "value": "x"}}}], "lists of numbers"),
    ([{"params": {}, "metrics": {}}] * (MAX_PINNED + 1), "at most"),
])
def test_bad_pinned_entries_refuse_the_scene_with_one_message(tmp_path, pinned, words):
    data = {"vigui_scene": 2, "page": "vae", "params": {}, "pinned": pinned}
    with pytest.raises(SceneError, match=words):
        parse_scene(json.dumps(data), folder=tmp_path, pages=PAGES)
