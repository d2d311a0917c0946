"""Recording a page (or one of its plots) while it runs, into an animated GIF and an MP4.

The window's Record menu (:mod:`vigui.record.menu`) opens a :class:`RecordDialog`: what
to capture (the whole page, or one plot), the frame rate, the width (the height follows
the capture's shape), the formats and the file name; Record starts, Stop ends and
writes the files in the background with a progress bar (:mod:`vigui.record.video` encodes).

A :class:`Recorder` grabs its target on a GUI timer (reading the pixels the window has
already painted where the platform allows: ~1 ms, not the 20-30 ms of painting the
plots again), scales it to the chosen size and appends the raw frame to a
:class:`~vigui.record.video.FrameStore` on disk (memory stays flat).
Only the page may appear in a recording: the screen's pixels are read only where no
other window of vigui (a dialog, a menu, a tooltip) and no overlay of the window lies
over the captured area, nor for half a second after one left it (the screen keeps its
pixels until the page has painted that area again: the first frame, taken as the Record
dialog hides, showed the dialog); otherwise that frame is painted from the page itself. While
recording, the Record dialog steps aside: it hides, and a Stop button in the window's
status bar (or Ctrl+Shift+R again) ends the recording. (Windows of other programs are
invisible to Qt: keep them off the page while recording.)
When a tick comes late (the GUI was busy), the frame is repeated so that the video keeps
the run's real pace. What a grab costs the run is measured in ``bench/recorder.py``.

What is captured and how a frame is read: :mod:`vigui.record.capture`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vigui.record import video
from vigui.record.capture import CaptureTarget, capture_targets, covered, grab_frame
from vigui.run.worker import BackgroundJob

__all__ = ["Recorder", "RecordDialog"]

MAX_FPS = 30
DEFAULT_FPS = 10
DEFAULT_WIDTH = 640
DEFAULT_SECONDS = 60
#: seconds after a window over the capture (the Record dialog, a menu) left it during which
#: frames are painted from the page: the screen still shows that window until the page
#: has painted the area it uncovered
SETTLE_SECONDS = 0.5


class Recorder(QObject):
    """Frames of a target at ``fps`` into a FrameStore, from :meth:`start` to :meth:`stop`."""

    #: frames so far, seconds recorded
    ticked = Signal(int, float)
    #: the recording ended: why ("" when stopped by the user)
    stopped = Signal(str)

    def __init__(self, target: CaptureTarget, fps: float = DEFAULT_FPS,
                 width: int = DEFAULT_WIDTH, max_seconds: float = DEFAULT_SECONDS,
                 folder=None, parent=None):
        super().__init__(parent)
        if not 1 <= fps <= MAX_FPS:
            raise ValueError(f"fps must be from 1 to {MAX_FPS}, got {fps!r}")
        if not 16 <= width <= 3840:
            raise ValueError(f"width must be from 16 to 3840 pixels, got {width!r}")
        if not 0 < max_seconds <= 3600:
            raise ValueError(f"max_seconds must be in (0, 3600], got {max_seconds!r}")
        self.target, self.fps, self.max_seconds = target, float(fps), float(max_seconds)
        self.frame_size = target.size(width)
        self.store = video.FrameStore(self.frame_size.width(), self.frame_size.height(),
                                      folder=folder)
        self.grab_seconds = 0.0  # GUI time spent grabbing, for the cost
        self.grabs = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(max(1, round(1000 / self.fps)))
        self._timer.timeout.connect(self._tick)
        self._t0 = 0.0
        self._paint_until = 0.0  # until then, frames are painted from the page

    @property
    def recording(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._paint_until = self._t0 + SETTLE_SECONDS  # the Record dialog has just hidden
        self._timer.start()
        self._tick()

    def stop(self, reason: str = "") -> None:
        if not self._timer.isActive():
            return
        self._timer.stop()
        self.store.finish()
        self.stopped.emit(reason)

    def seconds(self) -> float:
        return len(self.store) / self.fps

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._t0
        due = min(int(elapsed * self.fps) + 1, round(self.max_seconds * self.fps))
        missing = due - len(self.store)
        if missing > 0:
            start = time.perf_counter()
            try:
                now = time.monotonic()
                if covered(self.target):
                    self._paint_until = now + SETTLE_SECONDS
                frame = grab_frame(self.target, self.frame_size, repaint=now < self._paint_until)
            except RuntimeError:  # the widget was deleted (its page closed)
                self.stop("the recorded view was closed")
                return
            self.grab_seconds += time.perf_counter() - start
            self.grabs += 1
            try:
                self.store.append(frame, repeat=missing)  # late tick: keep the real pace
            except video.RecordingFull as exc:
                self.stop(str(exc))
                return
            except OSError as exc:  # disk full
                self.stop(f"could not store frames: {exc}")
                return
            self.ticked.emit(len(self.store), self.seconds())
        if len(self.store) >= round(self.max_seconds * self.fps):
            self.stop(f"the time limit of {self.max_seconds:g} s was reached")


class RecordDialog(QDialog):
    """Record the current page or one plot: settings, Record / Stop, writing progress."""

    #: the files written
    written = Signal(list)

    def __init__(self, page_of: Callable[[], QWidget | None], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Record")
        self._page_of = page_of
        self.recorder: Recorder | None = None
        self._job: BackgroundJob | None = None
        self._targets: list[CaptureTarget] = []
        self.stop_button: QPushButton | None = None  # in the window's status bar while recording
        self._default_path = ""  # the name last offered (replaced when the page changes)

        form = QFormLayout()
        self.what = QComboBox()
        self.what.currentIndexChanged.connect(self._update_size)
        form.addRow("Capture", self.what)
        self.fps = QSpinBox()
        self.fps.setRange(1, MAX_FPS)
        self.fps.setValue(DEFAULT_FPS)
        self.fps.setSuffix(" frames/s")
        form.addRow("Frame rate", self.fps)
        self.width_box = QSpinBox()
        self.width_box.setRange(160, 1920)
        self.width_box.setSingleStep(80)
        self.width_box.setValue(DEFAULT_WIDTH)
        self.width_box.setSuffix(" px")
        self.width_box.valueChanged.connect(self._update_size)
        self.size_label = QLabel()
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(self.size_label, 1)
        form.addRow("Width", size_row)
        self.limit = QSpinBox()
        self.limit.setRange(1, 600)
        self.limit.setValue(DEFAULT_SECONDS)
        self.limit.setSuffix(" s")
        self.limit.setToolTip("The recording stops by itself after this long")
        form.addRow("At most", self.limit)
        self.gif = QCheckBox("GIF")
        self.gif.setChecked(True)
        self.mp4 = QCheckBox("MP4")
        self.mp4.setChecked(video.mp4_available())
        self.mp4.setEnabled(video.mp4_available())
        if not video.mp4_available():
            self.mp4.setToolTip("MP4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg)")
        formats = QHBoxLayout()
        formats.addWidget(self.gif)
        formats.addWidget(self.mp4)
        formats.addStretch(1)
        form.addRow("Formats", formats)
        self.path = QLineEdit()
        browse = QPushButton("…")
        browse.setFixedWidth(30)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form.addRow("Save as", path_row)

        self.record_button = QPushButton("● Record")
        self.record_button.clicked.connect(self.toggle)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel writing")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_writing)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.record_button)
        lay.addWidget(self.state)
        lay.addWidget(self.progress)
        lay.addWidget(self.cancel_button)
        self.refresh()

    # -- settings ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Offer the current page's targets (not while recording or writing)."""
        if self.busy:
            return
        page = self._page_of()
        previous = self.what.currentText()
        self._targets = capture_targets(page) if page is not None else []
        self.what.blockSignals(True)
        self.what.clear()
        for target in self._targets:
            self.what.addItem(target.title)
        index = self.what.findText(previous)
        self.what.setCurrentIndex(max(0, index))
        self.what.blockSignals(False)
        # a default name follows the page (one the user typed stays)
        if page is not None and self.path.text() in ("", self._default_path):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self._default_path = str(Path.home() / f"vigui-{getattr(page, 'page_id', 'page')}-{stamp}")
            self.path.setText(self._default_path)
        self._update_size()
        self.record_button.setEnabled(bool(self._targets))

    def target(self) -> CaptureTarget | None:
        i = self.what.currentIndex()
        return self._targets[i] if 0 <= i < len(self._targets) else None

    def formats(self) -> tuple[str, ...]:
        return tuple(f for f, box in (("gif", self.gif), ("mp4", self.mp4))
                     if box.isChecked() and box.isEnabled())

    def _update_size(self, *_) -> None:
        target = self.target()
        if target is not None:
            size = target.size(self.width_box.value())
            self.size_label.setText(f"× {size.height()} px")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the recording as", self.path.text(),
                                              "GIF / MP4 (*.gif *.mp4)")
        if path:
            self.path.setText(str(Path(path).with_suffix("")) if Path(path).suffix.lower()
                              in (".gif", ".mp4") else path)

    # -- record / stop ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return (self.recorder is not None and self.recorder.recording) or self._job is not None

    def toggle(self) -> None:
        if self.recorder is not None and self.recorder.recording:
            self.recorder.stop()
        else:
            self.start()

    def start(self) -> bool:
        target = self.target()
        if target is None or self._job is not None:
            return False
        self._formats = self.formats()  # the boxes are disabled while recording
        if not self._formats:
            self.state.setText("Choose GIF, MP4 or both.")
            return False
        folder = Path(self.path.text()).expanduser().parent
        if not folder.is_dir():
            self.state.setText(f"The folder {folder} does not exist.")
            return False
        try:
            self.recorder = Recorder(target, self.fps.value(), self.width_box.value(),
                                     self.limit.value(), parent=self)
        except (ValueError, OSError) as exc:
            self.state.setText(f"Cannot record: {exc}")
            return False
        # a lambda: connecting the bound method crashed Qt (segfault) on this PySide6
        self.recorder.ticked.connect(lambda frames, seconds: self._ticked(frames, seconds))
        self.recorder.stopped.connect(self._write)
        for box in (self.what, self.fps, self.width_box, self.limit, self.gif, self.mp4, self.path):
            box.setEnabled(False)
        self.record_button.setText("■ Stop")
        self._step_aside()
        self.recorder.start()
        return True

    def _ticked(self, frames: int, seconds: float) -> None:
        text = f"Recording… {seconds:.1f} s, {frames} frames"
        self.state.setText(text)
        if self.stop_button is not None:
            self.stop_button.setText(f"■ Stop recording ({seconds:.0f} s)")

    def _step_aside(self) -> None:
        """Off the page while recording: the dialog hides and the window's status bar
        offers Stop (the dialog comes back to show the writing)."""
        window = self.parentWidget()
        bar = window.statusBar() if hasattr(window, "statusBar") else None
        if bar is None:
            return  # no window to hold the Stop button: the dialog stays (off the page)
        if self.stop_button is None:
            self.stop_button = QPushButton("■ Stop recording")
            self.stop_button.setToolTip("End the recording and write the files (Ctrl+Shift+R)")
            self.stop_button.clicked.connect(self.toggle)
            bar.insertPermanentWidget(0, self.stop_button)
        self.stop_button.setVisible(True)
        self.hide()
        window.activateWindow()

    def _come_back(self) -> None:
        if self.stop_button is not None:
            self.stop_button.setVisible(False)
        if not self.isVisible() and self.parentWidget() is not None and self.parentWidget().isVisible():
            self.show()
            self.raise_()

    def _write(self, reason: str) -> None:
        """The recording stopped: encode the files in the background."""
        recorder = self.recorder
        store, fps = recorder.store, recorder.fps
        base, formats = Path(self.path.text()).expanduser(), self._formats
        self.record_button.setText("● Record")
        self.record_button.setEnabled(False)
        self._come_back()
        if reason:
            self.state.setText(f"Stopped: {reason}.")

        def work(report, cancelled):
            try:
                return video.encode(store, base, fps, formats, progress=report, cancel=cancelled)
            except video.EncodingCancelled:
                return None
            finally:
                store.discard()

        self.progress.setRange(0, max(1, len(store) * len(formats)))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        job = BackgroundJob(work, parent=self)
        self._job = job
        job.progress.connect(self._on_progress)
        job.done.connect(lambda paths: self._written(job, paths, None))
        job.failed.connect(lambda message: self._written(job, None, message))

    def _on_progress(self, args) -> None:
        done, total, what = args
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.state.setText(f"Writing {what}… frame {done} of {total}")

    def _written(self, job: BackgroundJob, paths, error) -> None:
        if job is not self._job:
            return
        self._job = None
        job.close()
        job.deleteLater()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        for box in (self.what, self.fps, self.width_box, self.limit, self.gif, self.path):
            box.setEnabled(True)
        self.mp4.setEnabled(video.mp4_available())
        self.record_button.setEnabled(True)
        if error is not None:
            self.state.setText(f"Could not write the recording: {error}")
        elif paths is None:
            self.state.setText("Writing cancelled; nothing was kept.")
        else:
            size = f"{self.recorder.frame_size.width()}×{self.recorder.frame_size.height()}"
            self.state.setText(f"Wrote {len(self.recorder.store)} frames ({size}) to "
                               + ", ".join(str(p) for p in paths))
            self.written.emit(paths)
            # A fresh default name, so the next recording does not overwrite this one.
            self.path.setText("")
            self.refresh()

    def cancel_writing(self) -> None:
        if self._job is not None:
            self._job.cancel()

    # -- closing ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop recording without writing, cancel writing, remove the frames (app closes)."""
        if self.recorder is not None and self.recorder.recording:
            self.recorder.stopped.disconnect()
            self.recorder.stop()
            self.recorder.store.discard()
        if self._job is not None:
            job, self._job = self._job, None
            job.close()
            job.deleteLater()

    def closeEvent(self, event) -> None:
        if self.recorder is not None and self.recorder.recording:
            self.recorder.stop()  # closing the dialog ends the recording; it is still written
        super().closeEvent(event)


class ShutdownOnClose(QObject):
    """Stops the dialog's recording and writing when the window closes."""

    def __init__(self, dialog: RecordDialog):
        super().__init__(dialog)
        self.dialog = dialog

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Close:
            self.dialog.shutdown()
        return False
