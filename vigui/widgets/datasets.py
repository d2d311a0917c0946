"""The dataset chooser of the training pages, with its download row.

:class:`DatasetChooser` is a combo box of :data:`engine.data.datasets.KNOWN` labelled with
whether each dataset is bundled, found on disk or not downloaded, plus a row
(:attr:`DatasetChooser.row_below`; :class:`~vigui.widgets.param_form.ParamForm` puts it
under the chooser) that offers a Download button with progress and Cancel for a
missing one. Downloads run in a :class:`~vigui.run.worker.BackgroundJob`. The page hears:

* ``valueChanged(name)``: another dataset was chosen;
* ``message(text, error)``: something to tell the user (download failed, done, ...);
* ``downloaded(name)``: a dataset arrived (rebuild the run if it is the chosen one).

Before building a run, :meth:`DatasetChooser.require` raises a ValueError that says
what to do when the chosen dataset is missing.

The last entry, "Open a folder…", takes the user's own images: a folder of PNG/JPEG
files in one sub-folder per label (``engine.data.datasets``'s ``folder:<path>``), or a folder of
the four IDX files (``idx:<path>``). The folder is read once in the background to check
it (a bad image is refused with a message naming it, and the previous choice stays);
it then appears in the list under its name.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.data import datasets as data
from vigui.run.worker import BackgroundJob
from vigui.widgets import styles

__all__ = ["DatasetChooser", "DATASET_TITLES"]

DATASET_TITLES = {"digits": "Digits 8×8", **data.TITLES}


OPEN_FOLDER = "\0open-folder"  # the item data of "Open a folder…"
OWN_PREFIXES = ("folder:", "idx:")


def dataset_title(name: str) -> str:
    if name.startswith(OWN_PREFIXES):
        kind, _, path = name.partition(":")
        return f"{Path(path).name or path} ({'images' if kind == 'folder' else 'IDX'})"
    return DATASET_TITLES.get(name, name)


def folder_dataset_name(folder: str) -> str:
    """``idx:<folder>`` if it holds the four IDX files, else ``folder:<folder>``."""
    path = Path(folder).expanduser().resolve()
    return f"idx:{path}" if data._idx_files(path) is not None else f"folder:{path}"


class DatasetChooser(QComboBox):
    """Which dataset to train on, and the download of a missing one."""

    valueChanged = Signal(str)
    message = Signal(str, bool)  # (text, is_error)
    downloaded = Signal(str)

    def __init__(self, value: str = "digits", names: tuple[str, ...] = data.KNOWN, parent=None):
        super().__init__(parent)
        self.names = tuple(names)
        for name in self.names:
            self.addItem(dataset_title(name), name)
        self.addItem("Open a folder…", OPEN_FOLDER)
        self.setItemData(self.count() - 1, "Your own images: PNG/JPEG in one sub-folder per "
                         "label (grey, resized to 28×28), or a folder of IDX files",
                         Qt.ToolTipRole)
        self._previous = 0
        self._job: BackgroundJob | None = None
        self._reading: BackgroundJob | None = None
        self.row_below = self._build_row()
        self.refresh()
        self.setValue(value)
        self.currentIndexChanged.connect(self._chosen)

    # -- value ----------------------------------------------------------------------------
    def value(self) -> str:
        return self.currentData()

    def setValue(self, name: str) -> None:
        index = self.findData(name)
        if index < 0 and isinstance(name, str) and name.startswith(OWN_PREFIXES):
            folder = Path(name.partition(":")[2])
            if not folder.is_dir():  # a remembered folder that has gone: the default instead
                raise ValueError(f"dataset folder {folder} does not exist")
            index = self._add_own(name)
        if index < 0 or name == OPEN_FOLDER:
            raise ValueError(f"dataset must be one of {', '.join(self.names)}, "
                             f"'folder:<path>' or 'idx:<path>', got {name!r}")
        self.setCurrentIndex(index)
        self._update_row()

    def _add_own(self, name: str) -> int:
        """Add a folder dataset just above "Open a folder…"; its index."""
        index = self.count() - 1
        self.insertItem(index, dataset_title(name), name)
        self.setItemData(index, name.partition(":")[2], Qt.ToolTipRole)
        return index

    def _chosen(self, index: int) -> None:
        if self.itemData(index) == OPEN_FOLDER:
            with _Blocked(self):
                self.setCurrentIndex(self._previous)  # until the folder proves readable
            self.choose_folder()
            return
        self._previous = index
        self._update_row()
        self.valueChanged.emit(self.value())

    # -- the user's own folder ------------------------------------------------------------------
    def choose_folder(self, folder: str | None = None) -> None:
        """Ask for a folder (or use ``folder``), read it in the background, then choose it;
        a bad folder is refused with ``message`` naming the file."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(
                self, "Open a folder of images (one sub-folder per label) or IDX files")
            if not folder:
                return
        if self._reading is not None:
            return
        name = folder_dataset_name(folder)

        def work(report, cancelled):
            ds = data.load(name)  # DatasetError names the bad file; cached for the run
            return f"{len(ds.train_x) + len(ds.test_x):,} images of {ds.shape[0]}×{ds.shape[1]}, " \
                   f"{len(ds.classes)} classes"

        job = BackgroundJob(work, parent=self)
        self._reading = job
        job.done.connect(lambda summary: self._folder_read(job, name, summary, None))
        job.failed.connect(lambda msg: self._folder_read(job, name, None, msg))
        self.setEnabled(False)
        self.message.emit(f"Reading {name.partition(':')[2]}…", False)

    @property
    def reading(self) -> bool:
        return self._reading is not None

    def _folder_read(self, job: BackgroundJob, name: str, summary, error) -> None:
        if job is not self._reading:
            return
        self._reading = None
        job.close()
        job.deleteLater()
        self.setEnabled(True)
        if error is not None:
            self.message.emit(f"Could not use this folder; nothing was changed.\n{error}", True)
            return
        index = self.findData(name)
        if index < 0:
            index = self._add_own(name)
        if index == self.currentIndex():
            self.valueChanged.emit(name)  # read again (files changed): a new run
        else:
            self.setCurrentIndex(index)  # -> valueChanged: the page starts a new run
        self.message.emit(f"Using {name.partition(':')[2]}: {summary}.", False)

    # -- availability -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-check which datasets are on disk and relabel the choices."""
        found = data.available()
        for i in range(self.count()):
            name = self.itemData(i)
            if name not in found:  # the user's folders and "Open a folder…"
                continue
            where = found.get(name)
            state = "bundled" if where == "bundled" else ("found" if where else "not downloaded")
            self.setItemText(i, f"{dataset_title(name)} ({state})")
        self._update_row()

    def missing(self, name: str | None = None) -> bool:
        name = name or self.value()
        return name in data.KNOWN and data.available().get(name) is None

    def require(self, name: str | None = None) -> None:
        """ValueError with what to do if ``name`` (default: the chosen one) is missing."""
        name = name or self.value()
        if self.missing(name):
            raise ValueError(f"{dataset_title(name)} is not on this computer. Press Download "
                             "under the dataset chooser, or pick another dataset.")
        if name.startswith(OWN_PREFIXES) and not Path(name.partition(":")[2]).is_dir():
            raise ValueError(f"the dataset folder {name.partition(':')[2]} no longer exists; "
                             "pick another dataset")

    # -- the download row -----------------------------------------------------------------------
    def _build_row(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(3)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(styles.WARNING)
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Fetch the four IDX files (about 30 MB) into "
                                        f"{data.cache_dir()}")
        self.download_button.clicked.connect(lambda: self.start_download())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.setVisible(False)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(styles.NOTE)
        self.status.setVisible(False)
        lay.addWidget(self.note)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        return box

    @property
    def downloading(self) -> bool:
        return self._job is not None

    def _update_row(self) -> None:
        name = self.value()
        if name is None:
            return
        missing = self.missing(name)
        self.row_below.setVisible(missing or self.downloading)
        self.note.setText(f"{dataset_title(name)} is not on this computer. Download it "
                          f"(about 30 MB) or pick another dataset.")
        self.note.setVisible(missing and not self.downloading)
        self.download_button.setEnabled(not self.downloading)

    def start_download(self, name: str | None = None) -> None:
        """Fetch ``name`` (default: the chosen dataset) into the cache, in the background."""
        name = name or self.value()
        if self._job is not None or name not in data.KNOWN or name == "digits":
            return

        def work(report, cancelled):
            try:
                folder = data.fetch(name, progress=lambda done, total, f: report(done, total, f),
                                    cancel=cancelled)
            except data.DownloadCancelled:
                return ("cancelled", "")
            except (OSError, ValueError) as exc:  # DownloadError, no network, disk full
                return ("error", str(exc) or type(exc).__name__)
            return ("ok", str(folder))

        job = BackgroundJob(work, parent=self)
        self._job = job
        job.progress.connect(self._on_progress)
        job.done.connect(lambda result: self._on_done(job, name, result))
        job.failed.connect(lambda msg: self._on_done(job, name, ("error", msg)))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(f"Connecting to download {dataset_title(name)}…")
        self.status.setVisible(True)
        self.cancel_button.setVisible(True)
        self._update_row()

    def cancel_download(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, args) -> None:
        done, total, filename = args
        names = [f + ".gz" for f in data.IDX_FILES.values()]
        index = names.index(filename) if filename in names else 0
        fraction = done / total if total else 0.0
        self.progress.setValue(int(1000 * (index + fraction) / len(names)))
        size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        self.status.setText(f"{filename}: {size} (file {index + 1} of {len(names)})")

    def _on_done(self, job: BackgroundJob, name: str, result) -> None:
        if job is not self._job:
            return
        self._job = None
        job.close()
        job.deleteLater()
        kind, detail = result
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.status.setVisible(False)
        self.refresh()
        title = dataset_title(name)
        if kind == "ok":
            self.downloaded.emit(name)  # first: a page may rebuild its run (and clear messages)
            self.message.emit(f"Downloaded {title} to {detail}.", False)
        elif kind == "cancelled":
            self.message.emit(f"Download of {title} cancelled; nothing was kept.", False)
        else:
            self.message.emit(
                f"Could not download {title}. Is this computer offline?\n{detail}\n\n"
                f"Without a connection, copy the four IDX files "
                f"({', '.join(data.IDX_FILES.values())}, each optionally .gz) into "
                f"{data.cache_dir() / name} or a folder named by $VIGUI_DATA_DIR, then choose "
                "the dataset again.", True)

    def close_jobs(self) -> None:
        """Cancel a download or folder read in progress and wait for its thread (the page
        closes)."""
        for attr in ("_job", "_reading"):
            job = getattr(self, attr)
            if job is not None:
                setattr(self, attr, None)
                job.close()
                job.deleteLater()


class _Blocked:
    """``with _Blocked(widget):`` its signals are held."""

    def __init__(self, widget):
        self.widget = widget

    def __enter__(self):
        self._was = self.widget.blockSignals(True)

    def __exit__(self, *exc):
        self.widget.blockSignals(self._was)
