"""The dataset chooser of the training pages, with its download row.

:class:`DatasetChooser` is a combo box of :data:`engine.data.KNOWN` labelled with
whether each dataset is bundled, found on disk or not downloaded, plus a row
(:attr:`DatasetChooser.row_below`; :class:`~vigui.widgets.param_form.ParamForm` puts it
under the chooser) that offers a Download button with progress and Cancel for a
missing one. Downloads run in a :class:`~vigui.worker.BackgroundJob`. The page hears:

* ``valueChanged(name)``: another dataset was chosen;
* ``message(text, error)``: something to tell the user (download failed, done, ...);
* ``downloaded(name)``: a dataset arrived (rebuild the run if it is the chosen one).

Before building a run, :meth:`DatasetChooser.require` raises a ValueError that says
what to do when the chosen dataset is missing.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from engine import data

from ..worker import BackgroundJob

__all__ = ["DatasetChooser", "DATASET_TITLES"]

DATASET_TITLES = {"digits": "Digits 8×8", **data.TITLES}


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name, name)


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
        self._job: BackgroundJob | None = None
        self.row_below = self._build_row()
        self.refresh()
        self.setValue(value)
        self.currentIndexChanged.connect(self._chosen)

    # -- value ----------------------------------------------------------------------------
    def value(self) -> str:
        return self.currentData()

    def setValue(self, name: str) -> None:
        index = self.findData(name)
        if index < 0:
            raise ValueError(f"dataset must be one of {', '.join(self.names)}, got {name!r}")
        self.setCurrentIndex(index)
        self._update_row()

    def _chosen(self, _index: int) -> None:
        self._update_row()
        self.valueChanged.emit(self.value())

    # -- availability -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-check which datasets are on disk and relabel the choices."""
        found = data.available()
        for i in range(self.count()):
            name = self.itemData(i)
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

    # -- the download row -----------------------------------------------------------------------
    def _build_row(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 4)
        lay.setSpacing(3)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { color: #8b4500; }")
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
        self.status.setStyleSheet("QLabel { color: #555; font-size: 8pt; }")
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
        """Cancel a download in progress and wait for its thread (the page closes)."""
        if self._job is not None:
            job, self._job = self._job, None
            job.close()
            job.deleteLater()
