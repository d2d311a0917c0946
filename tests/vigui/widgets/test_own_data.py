"""The user's own data in the GUI: a CSV into the CAVI page, an image folder into the
dataset chooser of the training pages. Bad files are refused with a message and change
nothing."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.cavi.model import sample_mixture
from vigui.pages.cavi import CaviPage
from vigui.run.worker import FINISHED
from vigui.widgets.datasets import DatasetChooser


@pytest.fixture
def cavi(qtbot):
    page = CaviPage()
    qtbot.addWidget(page)
    page.restore_settings({"n": 300, "k": 2, "true_k": 2, "dim": 1, "data_seed": 1,
                           "init_seed": 0, "mode": "cavi", "data_file": None})
    page.show()
    page.activate()
    yield page
    page.close_page()


def test_cavi_page_fits_a_csv_and_refuses_a_bad_one(cavi, qtbot, tmp_path):
    x, _, _ = sample_mixture(400, 2, 30.0, dim=2, seed=2)
    good = tmp_path / "mine.csv"
    np.savetxt(good, x, delimiter=",", header="a,b", comments="")
    files = cavi.params.widget("data_file")
    assert files.choose(str(good))
    assert not cavi.params.widget("n").isEnabled() and not cavi.new_data.isEnabled()
    assert "400 points, 2-D" in files.label.text()
    cavi.play()
    qtbot.waitUntil(lambda: cavi.runner is not None and cavi.runner.state == FINISHED,
                    timeout=10_000)
    assert cavi.runner.experiment.x.shape == (400, 2)
    qtbot.waitUntil(lambda: "mine.csv" in cavi.summary.text(), timeout=3000)
    assert "N = 400" in cavi.summary.text() and "d = 2" in cavi.summary.text()

    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,4\n5;x\n")
    runner = cavi.runner
    assert not files.choose(str(bad))
    assert cavi.message.isVisible()
    assert f"{bad}, line 3:" in cavi.message.text()
    assert files.value() == str(good.resolve()) and cavi.runner is runner  # nothing changed

    files.setValue(None)  # back to the model's data
    assert cavi.params.widget("n").isEnabled()
    qtbot.waitUntil(lambda: cavi.runner is not runner, timeout=5000)
    state = cavi.settings_state()
    assert state["data_file"] is None


def test_remembered_csv_that_went_missing_falls_back_to_model_data(cavi, tmp_path):
    gone = tmp_path / "gone.csv"
    assert cavi.params.restore({"data_file": str(gone)}, emit=False) == ["data_file"]
    assert cavi.param("data_file") is None


def make_images(root, labels=("a", "b"), n=4):
    for k, label in enumerate(labels):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((9, 9), 60 * k + i, np.uint8)).save(root / label / f"{i}.png")
    return root


def test_dataset_chooser_takes_an_image_folder(qtbot, tmp_path):
    chooser = DatasetChooser("digits")
    qtbot.addWidget(chooser)
    messages, values = [], []
    chooser.message.connect(lambda text, error: messages.append((text, error)))
    chooser.valueChanged.connect(values.append)

    folder = make_images(tmp_path / "shapes")
    chooser.choose_folder(str(folder))
    qtbot.waitUntil(lambda: not chooser.reading, timeout=10_000)
    name = f"folder:{folder.resolve()}"
    assert chooser.value() == name and values == [name]
    assert "shapes (images)" in chooser.currentText()
    assert messages[-1] == (f"Using {folder.resolve()}: 8 images of 28×28, 2 classes.", False)
    chooser.require()  # exists: no error

    broken = make_images(tmp_path / "broken")
    (broken / "b" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    chooser.choose_folder(str(broken))
    qtbot.waitUntil(lambda: not chooser.reading, timeout=10_000)
    text, error = messages[-1]
    assert error and "2.png: not a readable image" in text and str(broken / "b") in text
    assert chooser.value() == name and values == [name]  # nothing changed

    empty = tmp_path / "empty"
    empty.mkdir()
    chooser.choose_folder(str(empty))
    qtbot.waitUntil(lambda: not chooser.reading, timeout=10_000)
    assert messages[-1][1] and "no PNG/JPG/JPEG images" in messages[-1][0]
    assert chooser.value() == name


def test_dataset_chooser_restores_folders_that_exist(qtbot, tmp_path):
    chooser = DatasetChooser("digits")
    qtbot.addWidget(chooser)
    folder = make_images(tmp_path / "mine")
    chooser.setValue(f"folder:{folder}")
    assert chooser.value() == f"folder:{folder}"
    with pytest.raises(ValueError, match="does not exist"):
        chooser.setValue(f"folder:{tmp_path / 'gone'}")
    with pytest.raises(ValueError, match="dataset must be one of"):
        chooser.setValue("nonsense")


def test_bbb_regression_page_takes_x_y_pairs(qtbot, tmp_path):
    from vigui.pages.bbb import BBBPage

    page = BBBPage()
    qtbot.addWidget(page)
    page.regression.params.set_values({"hidden": [16], "batch_size": 30, "pred_samples": 20})
    page.resize(1280, 800)
    page.show()
    page.activate()
    try:
        rng = np.random.default_rng(1)
        x = rng.uniform(-3, 3, 40)
        good = tmp_path / "pairs.csv"
        np.savetxt(good, np.c_[x, np.sin(x)], delimiter=",", header="x,y", comments="")
        section = page.regression
        files = section.params.widget("data_file")
        seen = []
        section.run.frame.connect(seen.append)
        assert files.choose(str(good))
        assert not section.params.widget("function").isEnabled()
        section.run.play()
        qtbot.waitUntil(lambda: any(s.get("function") == f"file:{good.resolve()}"
                                    and "quantiles" in s for s in seen), timeout=60_000)
        snap = next(s for s in seen if s.get("function") == f"file:{good.resolve()}")
        assert len(snap["x"]) == 40 and snap["grid"][0] < -3
        xr = section.view.bbb.plot.viewRange()[0]
        assert xr[0] < -3 and xr[1] > 3  # the plot follows the data's range
        bad = tmp_path / "bad.csv"
        bad.write_text("x,y\n1,2\n2,two\n")
        assert not files.choose(str(bad))
        assert f"{bad}, line 3:" in page.message.text()
        assert files.value() == str(good.resolve())
    finally:
        page.close_page()


def test_open_button_asks_for_a_file_and_uses_it(cavi, qtbot, monkeypatch, tmp_path):
    """The real button: its clicked(checked) must not reach choose() as the path."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    x, _, _ = sample_mixture(450, 2, 30.0, dim=1, seed=5)
    good = tmp_path / "heights.csv"
    np.savetxt(good, x)
    bad = tmp_path / "bad.csv"
    bad.write_text("1\n2\nthree\n")
    answers = [str(bad), str(good), ""]
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (answers.pop(0), "CSV files (*.csv *.txt *.tsv)"))
    files = cavi.params.widget("data_file")
    n_box = cavi.params.widget("n")
    before = n_box.value()
    assert before == 300

    qtbot.mouseClick(files.open_button, Qt.LeftButton)  # a bad file: refused, said
    assert cavi.message.isVisible() and f"{bad}, line 3:" in cavi.message.text()
    assert files.value() is None

    qtbot.mouseClick(files.open_button, Qt.LeftButton)  # a good one: used, error gone
    assert files.value() == str(good.resolve())
    assert "450 points, 1-D" in files.label.text()
    assert "Could not use" not in cavi.message.text()
    assert f"Using {good.resolve()}: 450 points, 1-D." in cavi.message.text()
    assert not n_box.isEnabled() and n_box.value() == 450  # the greyed N is the file's

    qtbot.mouseClick(files.open_button, Qt.LeftButton)  # cancelled: nothing changes
    assert files.value() == str(good.resolve())

    qtbot.mouseClick(files.clear_button, Qt.LeftButton)  # forgotten: the user's N returns
    assert files.value() is None and n_box.isEnabled() and n_box.value() == before


def test_bbb_open_button_and_a_scene_with_a_huge_value(qtbot, monkeypatch, tmp_path):
    """BBB's regression tab: the button works, and a scene naming a CSV with 1e308 is
    refused naming line and column, as CAVI's is."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    from vigui.pages.bbb import BBBPage
    from vigui.teaching.apply import apply_scene
    from vigui.teaching.scenes import SceneError, parse_scene

    page = BBBPage()
    qtbot.addWidget(page)
    page.show()
    page.activate()
    try:
        pairs = tmp_path / "pairs.csv"
        np.savetxt(pairs, np.c_[np.linspace(-1, 1, 45), np.linspace(0, 2, 45)], delimiter=",")
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(pairs), ""))
        files = page.regression.params.widget("data_file")
        qtbot.mouseClick(files.open_button, Qt.LeftButton)
        assert files.value() == str(pairs.resolve())
        assert page.regression.params.widget("n_points").value() == 45

        huge = tmp_path / "huge.csv"
        huge.write_text("x,y\n0,1\n1e308,2\n")
        for name in ("bbb", "cavi"):
            params = ({"regression": {"data_file": str(huge)}} if name == "bbb"
                      else {"data_file": str(huge)})
            scene = parse_scene({"vigui_scene": 2, "page": name, "params": params},
                                pages=["bbb", "cavi"])
            target = page if name == "bbb" else CaviPage()
            try:
                with pytest.raises(SceneError) as info:
                    apply_scene(target, scene)
            finally:
                if target is not page:
                    target.close_page()
            assert f"{huge}, line 3: '1e308' (column 1) is too large" in str(info.value)
            assert "None" not in str(info.value)
    finally:
        page.close_page()


@pytest.mark.parametrize("page_id, n, summary", [("cavi", 450, "450 points, 2-D"),
                                                 ("bbb", 80, "80 x,y pairs")])
def test_a_chosen_file_and_its_summary_are_shown_whole(qtbot, tmp_path, page_id, n, summary):
    """At 1280x800, Open… on CAVI's and BBB's own-data row (the file dialog answering a
    path): the file's name and what it holds show in full, and no wrapped text in the
    parameter column is cut (the summary beside the buttons showed "450" of "450 points,
    2-D"; on BBB the noise hint above it lost a line)."""
    from unittest import mock

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog, QLabel

    from vigui.window import MainWindow

    path = tmp_path / "mine.csv"
    xy = np.random.default_rng(0).normal(size=(n, 2))
    np.savetxt(path, xy, delimiter=",", header="x,y", comments="")
    win = MainWindow(fresh=True, open_initial=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    try:
        win.open_page(page_id)
        page = win.current_page()
        files = page.params.widget("data_file") if page_id == "cavi" else \
            page.section().params.widget("data_file")
        qtbot.wait(500)  # laid out and shown, as a person sees it before pressing Open…
        with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(str(path), "")):
            qtbot.mouseClick(files.open_button, Qt.LeftButton)
        assert files.value() == str(path.resolve())
        qtbot.wait(200)  # the layout settles
        column = files.window().findChildren(QLabel)
        cut = [lab.text()[:40] for lab in column
               if lab.isVisible() and lab.wordWrap() and page.side.isAncestorOf(lab)
               and lab.heightForWidth(lab.width()) > lab.height() + 1]
        assert not cut
        assert files.label.text() == summary and files.name.text() == "mine.csv"
        for label in (files.label, files.name):
            assert label.isVisible() and label.width() >= label.sizeHint().width()
            assert label.height() >= label.sizeHint().height()
        size = files.label.fontInfo().pointSizeF()
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # window shortcuts need it
        qtbot.keyClick(win, Qt.Key_Plus, Qt.ControlModifier)  # zoom: the summary grows too
        qtbot.waitUntil(lambda: files.label.fontInfo().pointSizeF() > size, timeout=3000)
    finally:
        win.set_zoom(1.0)
        win.close()
