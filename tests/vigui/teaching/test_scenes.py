"""Scene and tour files: format, versions, refusals (no page is built here)."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.paths import ROOT
from vigui.teaching.scenes import (
    SCENE_VERSION,
    Scene,
    SceneError,
    is_tour_file,
    lecture_tour,
    parse_scene,
    parse_tour,
    read_scene,
    read_tour,
    scene_text,
    tours_dir,
    write_scene,
)

PAGES = ["info", "cavi", "vae"]


def scene_dict(**changes):
    data = {"vigui_scene": SCENE_VERSION, "page": "cavi", "params": {"k": 3},
            "run": {"steps": 10}}
    data.update(changes)
    return data


def test_round_trip_through_text(tmp_path):
    scene = Scene(page="cavi", params={"k": 4, "mode": "cavi"}, run={"until": "converged"},
                  title="t", caption="a\nb")
    path = write_scene(scene, tmp_path / "s.json")
    back = read_scene(path)
    assert (back.page, back.params, back.run, back.title, back.caption, back.section) == \
           ("cavi", {"k": 4, "mode": "cavi"}, {"until": "converged"}, "t", "a\nb", None)
    assert json.loads(path.read_text())["vigui_scene"] == SCENE_VERSION
    assert scene_text(back) == scene_text(scene)


def test_version_1_is_migrated():
    scene = parse_scene({"vigui_scene": 1, "page": "info", "tab": "kl", "params": {},
                         "steps": "converged"}, pages=PAGES)
    assert scene.section == "kl" and scene.run == {"until": "converged"}
    scene = parse_scene({"vigui_scene": 1, "page": "cavi", "steps": 25}, pages=PAGES)
    assert scene.run == {"steps": 25} and scene.section is None


@pytest.mark.parametrize("data, words", [
    (scene_dict(vigui_scene=SCENE_VERSION + 1), "newer vigui"),
    (scene_dict(vigui_scene="2"), "version number"),
    (scene_dict(page="nope"), "unknown page 'nope'"),
    (scene_dict(colour="red"), "unknown key 'colour'"),
    (scene_dict(params=[1, 2]), "\"params\" must be an object"),
    (scene_dict(run={"steps": 0}), "steps must be a whole number"),
    (scene_dict(run={"steps": 2.5}), "steps must be a whole number"),
    (scene_dict(run={"steps": True}), "steps must be a whole number"),
    (scene_dict(run={"until": "bored"}), "\"run\" must be null"),
    (scene_dict(run="forever"), "\"run\" must be null"),
    (scene_dict(section=3), "\"section\" must be"),
    (scene_dict(title=["x"]), "\"title\" must be text"),
    ({"page": "cavi"}, "not a vigui scene"),
    ([1, 2], "must be a JSON object"),
    ({"vigui_scene": 1, "page": "cavi", "tab": "a", "section": "b"}, "version 1 has \"tab\""),
])
def test_bad_scenes_are_refused_with_one_message(data, words):
    with pytest.raises(SceneError) as info:
        parse_scene(json.dumps(data), pages=PAGES)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, words", [
    ('{"vigui_scene": 2, "page": "cavi",', "not valid JSON"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"alpha": NaN}}', "NaN is not allowed"),
    (b'\xff\xfe{}', "not UTF-8"),
    ("", "not valid JSON: Expecting value at line 1, column 1"),
])
def test_broken_text_is_refused(text, words):
    with pytest.raises(SceneError) as info:
        parse_scene(text, pages=PAGES)
    assert words in str(info.value)


def test_checkpoint_must_lie_in_the_scene_folder(tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    (tmp_path / "evil.pt").write_bytes(b"x")
    (folder / "good.pt").write_bytes(b"x")
    os.symlink(tmp_path / "evil.pt", folder / "link.pt")
    for name, words in (("../evil.pt", "outside the scene's folder"),
                        ("link.pt", "outside the scene's folder"),
                        (str(tmp_path / "evil.pt"), "must be a relative path"),
                        ("missing.pt", "is missing"),
                        ("", "must be a file name")):
        path = folder / "s.json"
        path.write_text(json.dumps(scene_dict(page="vae", params={}, run=None, checkpoint=name)))
        with pytest.raises(SceneError) as info:
            read_scene(path)
        assert words in str(info.value), name
    path.write_text(json.dumps(scene_dict(page="vae", params={}, run=None, checkpoint="good.pt")))
    assert read_scene(path).checkpoint_path == (folder / "good.pt").resolve()


def test_a_pasted_scene_cannot_name_a_checkpoint():
    with pytest.raises(SceneError, match="must be read from a file"):
        parse_scene(json.dumps(scene_dict(checkpoint="a.pt")), folder=None, pages=PAGES)


def test_unreadable_file_says_so(tmp_path):
    with pytest.raises(SceneError, match="cannot read"):
        read_scene(tmp_path / "absent.json")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["vigui_scene", "page", "params", "run",
                                                       "section", "checkpoint", "x"]), inner,
                                      max_size=5), max_leaves=12))
def test_any_json_gives_a_scene_or_a_scene_error(data):
    try:
        scene = parse_scene(json.dumps(data), pages=PAGES)
    except SceneError as exc:
        assert str(exc)
    else:
        assert scene.page in PAGES


def test_lecture_tour_parses_and_skips_pages_not_built():
    tour = lecture_tour(PAGES)
    assert len(tour.stops) >= 12
    assert {s.page for s in tour.stops} <= set(PAGES)
    for stop in tour.stops:
        assert stop.title and stop.caption.count("\n") == 1, stop.title  # two-line captions
    only_info = lecture_tour(["info"])
    assert only_info.stops and all(s.page == "info" for s in only_info.stops)


def test_shipped_checkpoints_are_small_and_made_by_the_script():
    names = {s.checkpoint for s in lecture_tour(PAGES).stops if s.checkpoint}
    assert names == {"vae-elbo.pt", "vae-recon.pt", "vae-kl.pt"}
    total = sum((tours_dir() / n).stat().st_size for n in names)
    assert total < 3_000_000
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "make_tour_checkpoints", ROOT / "scripts" / "make_tour_checkpoints.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0  # each file's config and step are the script's


def test_user_tours(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"vigui_tour": 1, "title": "Mine",
                                "stops": [{"page": "cavi", "params": {"k": 2}, "title": "a"}]}))
    assert is_tour_file(path) and not is_tour_file(tours_dir() / "vae-kl.pt")
    tour = read_tour(path, PAGES)
    assert tour.title == "Mine" and tour.stops[0].params == {"k": 2}
    for data, words in (({"vigui_tour": 2, "stops": []}, "newer vigui"),
                        ({"vigui_tour": 1, "stops": []}, "non-empty list"),
                        ({"vigui_tour": 1, "stops": [{"page": "x"}]}, "stop 1: unknown page"),
                        ({"vigui_tour": 1, "stops": [{}], "extra": 1}, "unknown keys")):
        with pytest.raises(SceneError, match=words):
            parse_tour(json.dumps(data), pages=PAGES)


@pytest.mark.parametrize("text, words", [
    ('{"vigui_scene": 2, "page": "cavi", "params": {"k": ' + "[" * 100_000 + "]" * 100_000 + "}}",
     "more than 32 deep"),
    ("[" * 100_000, "more than 32 deep"),  # unclosed: still one message, no RecursionError
    ('{"vigui_scene": 2, "page": "cavi", "params": {"n": ' + "7" * 100_000 + "}}",
     "a number with 100,000 digits"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"n": -' + "7" * 31 + "}}",
     "a number with 31 digits"),
    ('{"vigui_scene": 2, "page": "cavi", "params": {"sigma2": 1e999}}', "1e999 is too large"),
])
def test_deep_nesting_and_huge_numbers_are_refused_with_one_message(text, words, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(text)
    for read in (lambda: parse_scene(text, pages=PAGES), lambda: read_scene(path),
                 lambda: parse_tour(text, pages=PAGES)):
        with pytest.raises(SceneError) as info:
            read()
        assert words in str(info.value) or "not a vigui tour" in str(info.value)
        assert "set_int_max_str_digits" not in str(info.value)
    assert not is_tour_file(path)  # the command line's first look must not raise either


def test_brackets_inside_text_do_not_count_as_nesting():
    scene = parse_scene(json.dumps(scene_dict(title="[" * 500 + '"{' * 50)), pages=PAGES)
    assert scene.title.startswith("[[[")


def test_a_data_file_is_looked_for_beside_the_scene(tmp_path, monkeypatch):
    course = tmp_path / "course"
    course.mkdir()
    (course / "points.csv").write_text("1\n2\n")
    path = course / "s.json"
    path.write_text(json.dumps(scene_dict(params={"k": 2, "data_file": "points.csv"})))
    monkeypatch.chdir(tmp_path)  # the scene's folder, not the current directory
    assert read_scene(path).params["data_file"] == str((course / "points.csv").resolve())
    nested = scene_dict(page="info", params={"reg": {"data_file": "points.csv"}})
    path.write_text(json.dumps(nested))
    assert read_scene(path).params["reg"]["data_file"] == str((course / "points.csv").resolve())
    with pytest.raises(SceneError, match="relative path, which only a scene file can have"):
        parse_scene(json.dumps(nested), pages=PAGES)
    # Saved again, a file in the scene's folder is written relative to it: the folder travels.
    scene = read_scene(path)
    write_scene(scene, course / "again.json")
    assert json.loads((course / "again.json").read_text())["params"]["reg"]["data_file"] == "points.csv"
    elsewhere = str(tmp_path / "other.csv")
    write_scene(Scene(page="cavi", params={"data_file": elsewhere}), course / "abs.json")
    assert json.loads((course / "abs.json").read_text())["params"]["data_file"] == elsewhere
