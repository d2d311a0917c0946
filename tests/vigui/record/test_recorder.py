"""Recording a page or plot into GIF/MP4 (vigui.record.recorder, vigui.record.video) and exporting a
plot as SVG/PDF (vigui.record.vector)."""
from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QLabel

from vigui.record import video
from vigui.record.capture import CaptureTarget, capture_targets, grab_frame
from vigui.record.recorder import RecordDialog, Recorder
from vigui.record.vector import export_vector
from vigui.widgets.plots import make_plot, pen

needs_mp4 = pytest.mark.skipif(not video.mp4_available(), reason="imageio-ffmpeg not installed")


# --------------------------------------------------------------------------- encoding


def striped_store(n=12, w=64, h=48):
    """Frames that all differ: a bar moving right, coloured by the frame number."""
    store = video.FrameStore(w, h)
    for i in range(n):
        frame = np.full((h, w, 3), 255, np.uint8)
        frame[:, 4 * i:4 * i + 4] = (200, 20 * i % 256, 40)
        store.append(frame)
    return store


def test_gif_has_the_frames_size_and_timing_asked_for(tmp_path):
    store = striped_store()
    steps = []
    (path,) = video.encode(store, tmp_path / "clip", fps=20, formats=("gif",),
                           progress=lambda done, total, what: steps.append((done, total, what)))
    assert path == tmp_path / "clip.gif"
    assert steps[-1] == (12, 12, "GIF") and len(steps) == 12
    with Image.open(path) as im:
        assert im.size == (64, 48) and im.n_frames == 12
        assert im.info["loop"] == 0
        delays = []
        for i in range(im.n_frames):
            im.seek(i)
            delays.append(im.info["duration"])
            rgb = np.asarray(im.convert("RGB"))
            assert (rgb[:, 4 * i + 1] == (200, 20 * i % 256, 40)).all()  # the right frame
        assert delays == [50] * 12  # 20 frames/s
    store.discard()
    assert not store.path.exists()


def test_gif_delay_is_whole_hundredths():
    assert video.gif_delay_ms(10) == 100 and video.gif_delay_ms(30) == 30
    assert video.gif_delay_ms(60) == 20  # browsers slow shorter delays down


@needs_mp4
def test_mp4_has_the_frames_and_size(tmp_path):
    import imageio_ffmpeg

    store = striped_store(n=15, w=96, h=64)
    (path,) = video.encode(store, tmp_path / "clip.mp4", fps=15, formats=("mp4",))
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(64, 96, 3) for f in reader]
    assert meta["size"] == (96, 64) and meta["fps"] == 15 and len(frames) == 15
    # H.264 is lossy: the bar is where it should be, roughly its colour.
    assert np.abs(frames[7][:, 29].astype(int) - (200, 140, 40)).mean() < 25


def test_cancel_and_bad_input_leave_nothing(tmp_path):
    store = striped_store()
    with pytest.raises(video.EncodingCancelled):
        video.encode(store, tmp_path / "x", 10, ("gif",), cancel=lambda: True)
    assert list(tmp_path.iterdir()) == []  # no half-written file
    with pytest.raises(ValueError, match="formats"):
        video.encode(store, tmp_path / "x", 10, ("avi",))
    with pytest.raises(ValueError, match="fps"):
        video.encode(store, tmp_path / "x", 0, ("gif",))
    with pytest.raises(ValueError, match="64x48|48x64"):
        store.append(np.zeros((10, 10, 3), np.uint8))
    empty = video.FrameStore(8, 8)
    with pytest.raises(ValueError, match="no frames"):
        video.write_gif(empty, tmp_path / "e.gif", 10)
    full = video.FrameStore(8, 8, max_bytes=8 * 8 * 3 * 2)
    full.append(np.zeros((8, 8, 3), np.uint8), repeat=2)
    with pytest.raises(video.RecordingFull):
        full.append(np.zeros((8, 8, 3), np.uint8))
    for s in (store, empty, full):
        s.discard()


# --------------------------------------------------------------------------- capture


class Counter(QLabel):
    """A widget whose picture changes every time it is asked to."""

    def __init__(self):
        super().__init__("0")
        self.setAlignment(Qt.AlignCenter)
        self.setStyleSheet("QLabel { background: white; font-size: 30px; }")
        self.resize(200, 100)
        self.n = 0

    def bump(self):
        self.n += 1
        self.setText(str(self.n))
        self.setStyleSheet(f"QLabel {{ background: rgb({(self.n * 37) % 256}, 200, 255); "
                           "font-size: 30px; }")


def test_recorder_grabs_at_the_rate_and_size_asked_for(qtbot, tmp_path):
    widget = Counter()
    qtbot.addWidget(widget)
    widget.show()
    recorder = Recorder(CaptureTarget("counter", widget), fps=20, width=121, max_seconds=0.6,
                        folder=tmp_path)
    assert recorder.frame_size == QSize(120, 60)  # even sides, the widget's shape
    recorder.ticked.connect(lambda *_: widget.bump())
    with qtbot.waitSignal(recorder.stopped, timeout=5000) as stopped:
        recorder.start()
    assert "time limit" in stopped.args[0]
    assert len(recorder.store) == 12  # 0.6 s at 20 frames/s, late ticks filled in
    (gif,) = video.encode(recorder.store, tmp_path / "rec", recorder.fps, ("gif",))
    with Image.open(gif) as im:
        assert im.size == (120, 60)
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
        assert total == 12 * 50  # identical frames may merge; the duration is kept
        assert im.n_frames >= 2
    recorder.store.discard()
    with pytest.raises(ValueError, match="fps"):
        Recorder(CaptureTarget("counter", widget), fps=0)


def plots_widget():
    w = pg.GraphicsLayoutWidget()
    w.resize(700, 420)
    left = make_plot("Sine", "x", "y", widget=w, row=0, col=0)
    x = np.linspace(0, 10, 200)
    left.plot(x, np.sin(x), pen=pen(0, 2))
    right = make_plot("Points", "a", "b", widget=w, row=0, col=1)
    right.plot([1, 2, 3], [3, 1, 2], pen=pen(1, 2), symbol="o")
    return w, left


def test_targets_are_the_page_and_each_plot(qtbot):
    w, left = plots_widget()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    titles = [t.title for t in capture_targets(w)]
    assert titles == ["Whole page", "Plot: Sine", "Plot: Points"]
    sine = capture_targets(w)[1]
    rect = sine.rect()
    assert 300 < rect.width() < 400 and rect.height() > 380  # the left half
    frame = grab_frame(sine, QSize(100, 120))
    assert frame.shape == (120, 100, 3) and frame.dtype == np.uint8
    blue = frame[..., 2].astype(int) - frame[..., 0] > 50  # the sine's colour (palette 0)
    assert blue.sum() > 20


def test_record_dialog_writes_gif_and_mp4_with_progress(qtbot, tmp_path):
    w, _ = plots_widget()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    dialog = RecordDialog(lambda: w)
    qtbot.addWidget(dialog)
    dialog.what.setCurrentIndex(1)  # Plot: Sine
    dialog.fps.setValue(10)
    dialog.width_box.setValue(320)
    dialog.limit.setValue(1)
    dialog.path.setText(str(tmp_path / "sine"))
    dialog.mp4.setChecked(video.mp4_available())
    progress = []
    with qtbot.waitSignal(dialog.written, timeout=20_000) as written:
        assert dialog.start()
        dialog.progress.valueChanged.connect(progress.append)
    paths = written.args[0]
    assert [p.suffix for p in paths] == [".gif", ".mp4"][:1 + video.mp4_available()]
    assert progress and max(progress) == dialog.recorder.store.count * len(paths)
    with Image.open(paths[0]) as im:
        size = dialog.recorder.frame_size
        assert im.size == (size.width(), size.height()) and size.width() == 320
    assert "Wrote 10 frames" in dialog.state.text()
    assert not dialog.recorder.store.path.exists()  # raw frames removed
    assert dialog.record_button.isEnabled() and not dialog.busy


# --------------------------------------------------------------------------- SVG / PDF


def render_svg(path, size):
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    image = QImage(size, QImage.Format_RGB888)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    return qimage_array(image)


def qimage_array(image):
    image = image.convertToFormat(QImage.Format_RGB888)
    w, h = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return rows.reshape(h, image.bytesPerLine())[:, :w * 3].reshape(h, w, 3).copy()


def blue_mask(rgb):
    """Pixels of the curve's colour (PALETTE[0] is blue)."""
    return (rgb[..., 2].astype(int) - rgb[..., 0] > 80)


def test_svg_export_draws_the_plot_as_on_screen(qtbot, tmp_path):
    w, _ = plots_widget()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    sine = capture_targets(w)[1]
    path = export_vector(sine, tmp_path / "sine.svg")
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    assert ">Sine<" in text and re.search(r">\s*-?0\.5\s*<", text)  # real text, tick labels
    # Rendered back, the curve lies where the screen shows it.
    screen = qimage_array(w.grab(sine.rect()).toImage())
    size = QSize(screen.shape[1], screen.shape[0])
    drawn = render_svg(path, size)
    a, b = blue_mask(screen), blue_mask(drawn)
    assert a.sum() > 100
    overlap = (a & b).sum() / max(1, (a | b).sum())
    assert overlap > 0.5, overlap  # the broken route (scene.render) overflows the axes
    assert "<image" not in text  # no bitmap: vectors only
    # the curve, the axes, their ticks and the grid lines, each a vector path (20 here;
    # a bitmap route has one <image> and a handful of paths)
    assert text.count("<path") + text.count("<polyline") >= 15


def test_pdf_export_is_a_valid_pdf_with_the_plot_text(qtbot, tmp_path):
    w, _ = plots_widget()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    points = capture_targets(w)[2]
    path = export_vector(points, tmp_path / "points.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    rect = points.rect()
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box and abs(float(box.group(1)) - rect.width()) < 1.5 \
        and abs(float(box.group(2)) - rect.height()) < 1.5
    assert b"/Font" in data  # text as text, not pixels
    with pytest.raises(ValueError, match=r"\.svg or \.pdf"):
        export_vector(points, tmp_path / "points.png")


def test_painted_pixels_match_a_repaint(qtbot):
    w, _ = plots_widget()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.wait(100)
    sine = capture_targets(w)[1]
    fast = grab_frame(sine, QSize(200, 240)).astype(int)
    slow = grab_frame(sine, QSize(200, 240), repaint=True).astype(int)
    assert np.abs(fast - slow).mean() < 2.0


def test_record_dialog_steps_aside_and_covered_pixels_are_not_read(qtbot, tmp_path):
    """Ctrl+Shift+R, Record: the dialog leaves the page (Stop waits in the status bar);
    with another vigui window over the page the screen is not read; Ctrl+Shift+R stops."""
    from vigui.record.capture import _painted_pixels
    from vigui.window import MainWindow

    win = MainWindow(fresh=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.open_page("info")
    page = win.current_page()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # window shortcuts need it
    try:
        qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)
        dialog = win.record_dialog
        assert dialog.isVisible()
        dialog.path.setText(str(tmp_path / "page"))
        dialog.mp4.setChecked(False)
        dialog.fps.setValue(10)
        dialog.width_box.setValue(320)
        dialog.limit.setValue(20)
        qtbot.mouseClick(dialog.record_button, Qt.LeftButton)
        assert dialog.busy and not dialog.isVisible()
        assert dialog.stop_button.isVisible() and dialog.stop_button.window() is win
        qtbot.waitUntil(lambda: "Stop recording (" in dialog.stop_button.text(), timeout=5000)
        assert _painted_pixels(page, page.rect()) is not None  # nothing over the page
        cover = QLabel("over the page")
        qtbot.addWidget(cover)
        cover.setGeometry(QRectF(page.mapToGlobal(page.rect().center()).toPointF(),
                                 QSize(50, 50).toSizeF()).toRect())
        cover.show()
        assert _painted_pixels(page, page.rect()) is None  # painted from the page instead
        cover.hide()
        with qtbot.waitSignal(dialog.written, timeout=20_000):
            qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)  # stop
            assert dialog.isVisible() and not dialog.stop_button.isVisible()
        assert (tmp_path / "page.gif").exists()
    finally:
        win.close()


def test_record_dialogs_default_name_follows_the_page(qtbot, tmp_path, monkeypatch):
    """Ctrl+Shift+R on one page, close, another page, Ctrl+Shift+R: the offered file is
    named after the page now shown (it kept the first page's name); a typed name stays."""
    from vigui.window import MainWindow

    monkeypatch.setenv("HOME", str(tmp_path))
    win = MainWindow(fresh=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # window shortcuts need it
    try:
        win.open_page("info")
        qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)
        dialog = win.record_dialog
        assert "vigui-info-" in dialog.path.text()
        dialog.close()
        win.open_page("cavi")
        qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)
        assert dialog.isVisible() and "vigui-cavi-" in dialog.path.text()
        dialog.path.setText(str(tmp_path / "mine"))
        dialog.close()
        win.open_page("info")
        qtbot.keyClick(win, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)
        assert dialog.path.text() == str(tmp_path / "mine")
    finally:
        win.close()
