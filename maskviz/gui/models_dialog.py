"""File → Get models…: the catalogue with what is cached, and downloads that never block the window.

A download runs on its own thread (``DownloadThread``; it is I/O, not model work, so it does not
occupy the model worker) and reports to a non-modal progress dialog whose Cancel asks the thread
to stop between chunks; what was fetched stays in the cache and the next attempt resumes it.
When the files are there, the dialog hands the model's *name* to the window's ``open_model``, so
the model loads on the worker like any other and *Recent models* remembers it by name.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from maskviz.zoo.catalogue import ModelEntry, entries, find_entry, format_size

COLUMNS = (("name", "Name"), ("family", "Family"), ("input", "Input"), ("target", "Target"),
           ("size", "Size"), ("state", "State"), ("description", "Description"))
QUIT_WAIT_MS = 10_000  # a stalled connection times out later; quitting does not wait for that
PROGRESS_STEPS = 1000  # QProgressDialog counts in int: per-mille, not bytes (files reach several GB)


class DownloadThread(QThread):
    """Runs ``maskviz.zoo.store.download`` for one entry; Cancel = ``requestInterruption()``."""

    progressed = Signal(object, object, str)  # done bytes, total bytes or None, label (ints may exceed 2³¹)
    succeeded = Signal(str)  # the local path
    failed = Signal(str)  # a one-line message
    cancelled = Signal(str)

    def __init__(self, entry: ModelEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        QCoreApplication.instance().aboutToQuit.connect(self.stop)  # never destroyed while running

    def stop(self, timeout_ms: int = QUIT_WAIT_MS) -> None:
        """Ask the transfer to stop (it checks between chunks) and wait for it; the partial file stays."""
        self.requestInterruption()
        self.wait(timeout_ms)

    def run(self) -> None:
        from maskviz.checkpoints import load_model
        from maskviz.errors import MaskvizError
        from maskviz.zoo.store import DownloadCancelled, download

        try:
            path = download(self.entry, progress=self.progressed.emit, cancelled=self.isInterruptionRequested,
                            verify=load_model)
        except DownloadCancelled as exc:
            self.cancelled.emit(str(exc))
        except MaskvizError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a thread must report, not die silently
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(str(path))


class ModelsDialog(QDialog):
    """The catalogue; *Download and open* (or *Open* when cached) loads the chosen model by name."""

    def __init__(self, open_model: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get models")
        self.open_model = open_model
        self.thread: DownloadThread | None = None
        self.progress: QProgressDialog | None = None
        self.note = ""  # the outcome of the last download attempt, shown under the table
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._update_details)
        self.table.itemDoubleClicked.connect(lambda _item: self.get_selected())
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.get_button = QPushButton("Download and open", self)
        buttons.addButton(self.get_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.get_button.clicked.connect(self.get_selected)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        self.resize(980, 520)
        self.refresh()

    # ------------------------------------------------------------------ table

    def refresh(self) -> None:
        """Re-read the cache state (after a download, or files put there by hand)."""
        from maskviz.zoo.commands import catalogue_rows

        selected = self.selected_entry()
        rows = catalogue_rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (key, _) in enumerate(COLUMNS):
                item = QTableWidgetItem(row[key])
                item.setToolTip(f"{row['description']}\nlicence: {row['licence']}\nsource: {row['source']}")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        if selected is not None:
            self.select(selected.name)
        self._update_details()

    def select(self, name: str) -> None:
        names = list(entries())
        if name in names:
            self.table.selectRow(names.index(name))
            self.table.scrollToItem(self.table.item(names.index(name), 0))

    def selected_entry(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return find_entry(item.text()) if item is not None else None

    def _update_details(self) -> None:
        from maskviz.zoo.store import cached_path, can_download, manual_instructions

        entry = self.selected_entry()
        busy = self.thread is not None
        if entry is None:
            self.details.setText("Choose a model. Downloads go to the cache folder and open without network later.")
            self.get_button.setEnabled(False)
            return
        cached = cached_path(entry) is not None
        manual = not cached and not can_download(entry)  # Google Drive, unless a mirror has it
        self.get_button.setText("Open" if cached else "Download by hand (below)" if manual else "Download and open")
        self.get_button.setEnabled(not busy and (cached or not manual))
        text = f"{entry.description}. Licence: {entry.licence}. Source: {entry.where}."
        if manual:
            text += "\n" + manual_instructions(entry)
        self.details.setText(text + (f"\n{self.note}" if self.note else ""))

    # ------------------------------------------------------------------ download, then open

    def get_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or self.thread is not None:
            return
        self.note = ""
        self.get(entry)

    def get(self, entry: ModelEntry) -> None:
        """Open a cached model at once; otherwise download it on a thread, with a progress dialog."""
        from maskviz.zoo.store import cached_path

        if cached_path(entry) is not None:
            self._open(entry)
            return
        self.thread = DownloadThread(entry, self)
        self.thread.progressed.connect(self._on_progress)
        self.thread.succeeded.connect(lambda _path: self._open(entry))
        self.thread.failed.connect(self._on_failed)
        self.thread.cancelled.connect(self._on_cancelled)
        self.thread.finished.connect(self._on_thread_finished)
        self.progress = QProgressDialog(f"Downloading {entry.name}…", "Cancel", 0, PROGRESS_STEPS, self)
        self.progress.setWindowTitle("Downloading")
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(0)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self.cancel)
        self.progress.show()
        self._update_details()
        self.thread.start()

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.requestInterruption()
            if self.progress is not None:
                self.progress.setLabelText("Cancelling…")

    def _on_progress(self, done: int, total: int | None, label: str) -> None:
        if self.progress is None:
            return
        if total:
            self.progress.setValue(int(PROGRESS_STEPS * done / total))
            self.progress.setLabelText(f"{label}\n{format_size(done)} of {format_size(total)}")
        else:
            self.progress.setLabelText(f"{label}\n{format_size(done)}")

    def _open(self, entry: ModelEntry) -> None:
        self.refresh()
        self.open_model(entry.name)
        self.accept()

    def _on_failed(self, message: str) -> None:
        from PySide6.QtWidgets import QMessageBox

        self.note = message
        QMessageBox.warning(self, "Download failed", message)

    def _on_cancelled(self, message: str) -> None:
        self.note = message + "; choose it again to resume."

    def _on_thread_finished(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
        self.progress, self.thread = None, None
        self._update_details()

    def reject(self) -> None:
        """Closing the dialog stops a running download (it can be resumed later); the thread ends on
        its own at the next chunk, without making the window wait for it."""
        self.cancel()
        super().reject()
