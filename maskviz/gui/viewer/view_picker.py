"""The row above the canvas that picks the view of the image, and (in the status bar) how far its
picture is, with Cancel.

``model`` fits the image to the model's input (a centre crop); ``tiles`` works on the whole picture
(its own size or a working size) in model-sized tiles; ``native`` runs the whole picture as one
sequence. The row follows the state (``picture_view``, ``progress``); a choice goes to
:meth:`~maskviz.gui.viewer.whole_jobs.WholeJobs.set_view`, which refuses, with the reason, a size the
view cannot take (the row then shows the view still in use).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.whole_jobs import WholeJobs

VIEWS = (
    ("model", "model input", "The image fitted to the model's input (a centre crop), as the model was trained"),
    ("tiles", "whole · tiles", "The whole picture on one patch grid, reconstructed in model-sized tiles; the last "
                               "tile of a row or column is shifted back to end at the edge (no padding)"),
    ("native", "whole · native", "The whole picture as one longer token sequence (position embeddings made for "
                                 "its grid); refused when the memory estimate does not fit"),
)
SIZES = (None, 512, 768, 1024, 1536, 2048)  # the working picture's long side; None: the image's own size


class ViewPicker(QWidget):
    """View and working size; they write through :class:`WholeJobs` and follow the state."""

    def __init__(self, state: ViewerState, jobs: WholeJobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.jobs = state, jobs
        self.view_box = QComboBox(self)
        for name, text, tip in VIEWS:
            self.view_box.addItem(text, name)
            self.view_box.setItemData(self.view_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.size_box = QComboBox(self)
        for size in SIZES:
            self.size_box.addItem("own size" if size is None else f"{size} px", size)
        self.size_box.setToolTip("The whole picture's long side (the short side to whole patches)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("View", self), self.view_box, self.size_box):
            row.addWidget(widget)
        row.addStretch(1)
        self.view_box.activated.connect(self._choose)
        self.size_box.activated.connect(self._choose)
        state.pictureChanged.connect(self._follow)
        state.progressChanged.connect(self._follow)  # a picture that never came: back to the view in use
        self._follow()

    def _choose(self, *_args: object) -> None:
        if not self.jobs.set_view(self.view_box.currentData(), self.size_box.currentData()):
            self._follow()  # refused: show the view still in use

    def _follow(self, *_args: object) -> None:
        if self.jobs.preparing:
            return  # the choice stands while its picture is made
        view = self.state.picture_view
        self.view_box.setCurrentIndex(self.view_box.findData(view.name))
        if view.name != "model":
            self.size_box.setCurrentIndex(max(0, self.size_box.findData(view.size)))
        self.size_box.setEnabled(view.name != "model")
        picture = self.state.picture
        tip = "the model's input" if picture is None else picture.label + (f" ({picture.note})" if picture.note else "")
        self.view_box.setToolTip(tip)


class TileProgress(QWidget):
    """Tiles done of all, and Cancel, while a whole picture is computed (for the status bar: showing
    and hiding there never moves the canvas or the panels). The metrics line says it in words."""

    def __init__(self, state: ViewerState, jobs: WholeJobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(130)
        self.bar.setFormat("%v/%m tiles")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.cancel_button.setToolTip("Stop computing tiles; finished tiles are kept for the next run")
        self.cancel_button.clicked.connect(lambda: jobs.cancel())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        state.progressChanged.connect(self._show)
        self._show()

    def _show(self) -> None:
        progress = self.state.progress
        if progress is not None:
            self.bar.setRange(0, progress[1])
            self.bar.setValue(progress[0])
        self.bar.setVisible(progress is not None and progress[1] > 1)  # one forward (native): no count
        self.setVisible(progress is not None)
