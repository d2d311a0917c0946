"""Save / Open / Load-weights buttons for a page that trains a model.

The buttons ask for a file and emit its path; the page does the work through its
runner (the model lives where the run is)::

    files = ModelFileButtons("VAE model", default_name="vae.pt")
    files.save_requested.connect(self.save_model)       # path chosen in a Save dialog
    files.open_requested.connect(self.open_model)       # resume a saved run
    files.weights_requested.connect(self.load_weights)  # weights into the current model
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGridLayout, QPushButton, QWidget

__all__ = ["ModelFileButtons", "FILE_FILTER"]

FILE_FILTER = "vigui checkpoints (*.pt *.ckpt);;All files (*)"


class ModelFileButtons(QWidget):
    """"Save model…", "Open model…" and "Load weights into this model…"."""

    save_requested = Signal(str)
    open_requested = Signal(str)
    weights_requested = Signal(str)

    def __init__(self, what: str = "model", default_name: str = "model.pt",
                 file_filter: str = FILE_FILTER, weights: bool = True, parent=None):
        super().__init__(parent)
        self.what, self.default_name, self.file_filter = what, default_name, file_filter
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 6, 0, 0)
        grid.setSpacing(4)
        self.save = QPushButton("Save model…")
        self.save.setToolTip("Write the weights, optimizer state, settings and history to a file")
        self.save.clicked.connect(self._ask_save)
        self.open = QPushButton("Open model…")
        self.open.setToolTip("Resume a saved run: its settings, weights and history replace "
                             "the current ones (which stay if the file cannot be used)")
        self.open.clicked.connect(lambda: self._ask_open(self.open_requested, f"Open {what}"))
        self.weights = QPushButton("Load weights into this model…")
        self.weights.setToolTip("Keep these settings and history, take a saved model's "
                                "weights (same architecture and data shape)")
        self.weights.clicked.connect(lambda: self._ask_open(self.weights_requested,
                                                            "Load weights"))
        grid.addWidget(self.save, 0, 0)
        grid.addWidget(self.open, 0, 1)
        grid.addWidget(self.weights, 1, 0, 1, 2)
        self.weights.setVisible(weights)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Save {self.what}", self.default_name,
                                              self.file_filter)
        if path:
            self.save_requested.emit(path)

    def _ask_open(self, signal, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", self.file_filter)
        if path:
            signal.emit(path)
