"""A user's own data: CSV points / x,y pairs (engine.data.points) and image folders (engine.data.datasets)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.cavi.model import CAVI, CaviConfig, CaviExperiment, sample_mixture
from engine.data import datasets as data
from engine.data.datasets import DatasetError, DatasetNotFound
from engine.data.points import read_points, read_xy

# --------------------------------------------------------------------------- CSV


def write(tmp_path, text, name="points.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_points_with_header_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "# made by hand\nx1,x2\n\n1.5,2\n-3e-1, 4\n#end\n")
    np.testing.assert_array_equal(read_points(path), [[1.5, 2.0], [-0.3, 4.0]])


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", "  "])
def test_separators(tmp_path, sep):
    path = write(tmp_path, f"1{sep}2\n3{sep}4\n")
    np.testing.assert_array_equal(read_points(path), [[1, 2], [3, 4]])


def test_one_column_is_1d(tmp_path):
    x = read_points(write(tmp_path, "value\n1\n2\n3\n"))
    assert x.shape == (3, 1)


@pytest.mark.parametrize("text, line, words", [
    ("1,2\n3,abc\n5,6\n", 2, ["'abc'", "column 2", "not a number"]),
    ("x,y\n1,2\n3,4,5\n", 3, ["3 columns", "first data line has 2"]),
    ("1,2\n\n# c\n3,nan\n", 4, ["'nan'", "not a finite number"]),
    ("1,2\n3,1e308\n", 2, ["'1e308'", "column 2", "too large", "rescale"]),
    ("1,2\n-2e15,0\n", 2, ["'-2e15'", "column 1", "too large"]),
    ("1,2,3\n", 1, ["3 columns", "1 or 2"]),
    ("1,2\n3,\n", 2, ["''", "column 2"]),
])
def test_bad_line_is_refused_naming_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        read_points(path)
    message = str(info.value)
    assert str(path) in message and f"line {line}:" in message
    for word in words:
        assert word in message


def test_the_largest_value_allowed_is_read(tmp_path):
    assert read_points(write(tmp_path, "1e15\n-1e15\n"))[:, 0].tolist() == [1e15, -1e15]


def test_files_without_data_are_refused(tmp_path):
    for text in ("", "x,y\n", "# only a comment\n\n"):
        with pytest.raises(DatasetError, match="no data lines"):
            read_points(write(tmp_path, text))
    with pytest.raises(DatasetError, match="no such file"):
        read_points(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError, match="not a text file"):
        read_points(tmp_path / "bin.csv")


def test_xy_pairs(tmp_path):
    x, y = read_xy(write(tmp_path, "x,y\n0,1\n0.5,-2\n"))
    np.testing.assert_array_equal(x, [0, 0.5])
    np.testing.assert_array_equal(y, [1, -2])
    with pytest.raises(DatasetError, match="line 1: 1 columns; x,y pairs need 2"):
        read_xy(write(tmp_path, "1\n2\n"))


def test_too_many_rows_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="line 4: more than 3 points"):
        read_points(write(tmp_path, "1\n2\n3\n4\n"), max_rows=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=30))
def test_round_trip_of_written_points(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "p.csv"
    path.write_text("a,b\n" + "\n".join(f"{a!r},{b!r}" for a, b in rows) + "\n")
    np.testing.assert_array_equal(read_points(path), np.array(rows))


def test_cavi_fits_points_from_a_file(tmp_path):
    x, mu, _ = sample_mixture(600, 3, 25.0, dim=2, seed=4)
    path = tmp_path / "mine.csv"
    np.savetxt(path, x, delimiter=",", header="x1,x2", comments="", fmt="%.17g")
    exp = CaviExperiment(CaviConfig(k=3, sigma2=25.0, data_file=str(path), init_seed=0))
    assert exp.x.shape == (600, 2) and exp.true_mu.shape == (0, 2)
    np.testing.assert_array_equal(exp.x, x)  # %.17g: exact
    while not exp.done:
        exp.step()
    # The same fit as CAVI on the array itself, and the true means recovered.
    ref = CAVI(x, 3, 25.0, seed=0)
    for _ in range(exp.steps):
        ref.step()
    np.testing.assert_allclose(exp.cavi.m, ref.m)
    found = sorted(exp.cavi.m[:, 0])
    assert np.allclose(found, sorted(mu[:, 0]), atol=0.3)


def test_cavi_refuses_more_clusters_than_points_in_the_file(tmp_path):
    path = write(tmp_path, "1\n2\n")
    with pytest.raises(ValueError, match="K = 3 exceeds N = 2"):
        CaviExperiment(CaviConfig(k=3, data_file=str(path)))


# --------------------------------------------------------------------------- image folders


def make_folder(root, counts=None, size=(12, 10), mode="L"):
    """Sub-folders of images whose mean brightness encodes the class."""
    counts = counts or {"circle": 6, "square": 7}
    rng = np.random.default_rng(0)
    for k, (label, n) in enumerate(sorted(counts.items())):
        (root / label).mkdir(parents=True)
        for i in range(n):
            arr = np.full(size[::-1], 40 + 150 * k, np.uint8)
            if i % 2:  # PNG (lossless) with a random corner; JPEG plain (no ringing)
                arr[0, 0] = rng.integers(0, 255)
            im = Image.fromarray(arr, "L").convert(mode)
            im.save(root / label / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return root


def test_image_folder_labels_from_subfolders(tmp_path):
    root = make_folder(tmp_path / "shapes")
    ds = data.load(f"folder:{root}")
    assert ds.classes == ("circle", "square")
    assert ds.shape == (data.IMAGE_SIZE, data.IMAGE_SIZE)
    assert len(ds.train_x) + len(ds.test_x) == 13
    assert len(ds.test_x) == 2  # one in six of each class: 6 // 6 + 7 // 6
    assert set(ds.test_y) == {0, 1}
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
        # Grey level of the class, resized: the centre keeps its value (JPEG: roughly).
        centre = x[:, 14, 14] * 255
        np.testing.assert_allclose(centre, np.where(y == 0, 40, 190), atol=4)
    assert data.load(f"folder:{root}") is ds  # cached


def test_image_folder_converts_colour_and_transparency(tmp_path):
    root = tmp_path / "rgba"
    root.mkdir()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:4, :, 3] = 255  # top half opaque white, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(root / "a.png")
    Image.fromarray(np.full((5, 5, 3), (255, 0, 0), np.uint8), "RGB").save(root / "b.png")
    ds = data.load_image_folder(root, size=8)
    assert ds.classes == ("rgba",)  # loose images: one class, the folder's name
    images = np.concatenate([ds.train_x, ds.test_x])
    glyph = next(im for im in images if im.max() == 1.0)
    assert glyph[:3].min() == 1.0 and glyph[5:].max() == 0.0
    red = next(im for im in images if im.max() < 1.0)
    np.testing.assert_allclose(red, 76 / 255, atol=1 / 255)  # ITU-R 601 luma of red


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match=r"empty: no PNG/JPG/JPEG images"):
        data.load(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(DatasetNotFound, match="does not exist"):
        data.load(f"folder:{tmp_path / 'nowhere'}")


def test_corrupt_image_is_refused_naming_it(tmp_path):
    root = make_folder(tmp_path / "shapes")
    bad = root / "square" / "003.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    with pytest.raises(DatasetError) as info:
        data.load(f"folder:{root}")
    assert f"{bad}: not a readable image" in str(info.value)
    (root / "circle" / "zzz.jpg").write_bytes(b"this is text, not a JPEG")
    with pytest.raises(DatasetError, match="zzz.jpg: not a readable image"):
        data.load_image_folder(root)


def test_mixed_layout_and_single_image_are_refused(tmp_path):
    root = make_folder(tmp_path / "mixed")
    Image.new("L", (4, 4)).save(root / "loose.png")
    with pytest.raises(DatasetError, match="both directly"):
        data.load(f"folder:{root}")
    one = tmp_path / "one"
    one.mkdir()
    Image.new("L", (4, 4)).save(one / "only.png")
    with pytest.raises(DatasetError, match="at least 2 images"):
        data.load(f"folder:{one}")


def test_a_vae_trains_on_an_image_folder(tmp_path):
    from engine.vae.model import VAEConfig, VAEExperiment

    root = make_folder(tmp_path / "shapes", counts={"a": 12, "b": 12})
    name = f"folder:{root}"
    exp = VAEExperiment(VAEConfig(dataset=name, latent=2, hidden=(32,), batch_size=8,
                                  device="cpu", threads=1), seed=0)
    assert exp.n_classes == 2 and exp.shape == (28, 28)
    losses = [exp.step()["loss"] for _ in range(60)]
    assert math.isfinite(losses[-1]) and np.mean(losses[-10:]) < np.mean(losses[:10])


def test_bbb_regression_trains_on_x_y_pairs_from_a_file(tmp_path):
    from engine.bbb import RegressionConfig, RegressionExperiment

    rng = np.random.default_rng(0)
    x = rng.uniform(2.0, 4.0, 60)
    y = 0.5 * x + 0.05 * rng.standard_normal(60)
    path = tmp_path / "xy.csv"
    np.savetxt(path, np.c_[x, y], delimiter=",", header="x,y", comments="", fmt="%.17g")
    exp = RegressionExperiment(RegressionConfig(data_file=str(path), hidden=(16,), threads=1,
                                                device="cpu", pred_samples=20), seed=0)
    np.testing.assert_array_equal(exp.x, x)
    np.testing.assert_array_equal(exp.y, y)
    for _ in range(5):
        exp.step()
    snap = exp.snapshot()
    lo, hi = snap["train_range"]
    assert (lo, hi) == (x.min(), x.max())
    assert snap["grid"][0] < lo and snap["grid"][-1] > hi  # beyond the data on both sides
    assert np.isnan(snap["truth"]).all()  # no true curve for the user's data
    assert snap["function"] == f"file:{path}"
    ev = exp.evaluate()
    assert math.isfinite(ev["rmse"]) and math.isnan(ev["rmse_truth"])
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3\n")
    with pytest.raises(DatasetError, match=r"bad.csv, line 3: 1 columns, but the first data line has 2"):
        RegressionExperiment(RegressionConfig(data_file=str(bad), threads=1, device="cpu"))
