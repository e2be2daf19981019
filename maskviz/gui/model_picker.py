"""The one model picker: wherever a model is chosen (File → Open model…, the model dock, Compare's
*Add model…*, the Train dock's base model).

It shows :func:`maskviz.model_choices.list_model_choices` (bundled models, the catalogue, recent
models, training runs with their final and best checkpoints) in one tree, a field that takes any
source as typed (``bundled:simmim_small``, ``mae-vit-base``, a path) and *File…* / *Folder…*
buttons. The chosen source goes to ``on_chosen(source)`` (the caller opens it: the viewer's
controller, the Compare state…); a catalogue model that is not here yet is downloaded first by the
Get-models download code (:class:`maskviz.gui.models_dialog.ModelsDialog`), and a source that cannot
be opened is explained under the field, with the picker left open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QFont, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from maskviz.model_choices import GROUPS, ModelChoice, check_source, list_model_choices

SOURCE_ROLE = Qt.ItemDataRole.UserRole
MODEL_FILTER = "Checkpoints (*.pth *.pt *.bin *.ckpt *.safetensors *.pkl *.tar);;All files (*)"


class ModelPicker(QDialog):
    """Bundled, catalogue, recent and training-run models, a typed source, or a file or folder.

    Non-modal; ``chosen(source)`` (and ``on_chosen(source)``) once a source can be opened, then it closes."""

    chosen = Signal(str)

    def __init__(self, on_chosen: Callable[[str], Any] | None = None, recent: Sequence[str] = (),
                 title: str = "Open model", action: str = "Open", runs_root: str | os.PathLike | None = None,
                 start_dir: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.on_chosen, self.start_dir = on_chosen, start_dir or str(Path.home())
        self.downloader: Any = None  # the Get-models dialog doing a download for this picker
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Model", "Details"])
        self.tree.setRootIsDecorated(True)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._choose_item(item))
        self.source_edit = QLineEdit(self, placeholderText="bundled:NAME, a catalogue name (mae-vit-base) or a path")
        self.source_edit.returnPressed.connect(self.accept_typed)
        self.note = QLabel("", self, wordWrap=True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.open_button = buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setDefault(True)
        self.file_button = QPushButton("File…", self)
        self.folder_button = QPushButton("Folder…", self)
        buttons.addButton(self.file_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.accept_typed)
        self.file_button.clicked.connect(self.ask_file)
        self.folder_button.clicked.connect(self.ask_folder)
        buttons.rejected.connect(self.reject)
        typed = QHBoxLayout()
        typed.addWidget(QLabel("Source", self))
        typed.addWidget(self.source_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(typed)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.fill(list_model_choices(recent, runs_root))
        self.resize(760, 460)

    # ------------------------------------------------------------------ the list

    def fill(self, choices: Sequence[ModelChoice]) -> None:
        self.tree.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        dim = QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        for group in GROUPS:
            members = [c for c in choices if c.group == group]
            if not members:
                continue
            top = QTreeWidgetItem(self.tree, [group, f"{len(members)}"])
            top.setFont(0, bold)
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            for choice in members:
                item = QTreeWidgetItem(top, [choice.name, choice.detail])
                item.setData(0, SOURCE_ROLE, choice.source)
                item.setToolTip(0, choice.source)
                item.setToolTip(1, choice.detail)
                if not choice.ready:
                    for column in (0, 1):
                        item.setForeground(column, dim)
            top.setExpanded(True)
        self.tree.resizeColumnToContents(0)

    def items(self) -> list[QTreeWidgetItem]:
        """Every model row (group rows left out), top to bottom."""
        root = self.tree.invisibleRootItem()
        return [root.child(g).child(i) for g in range(root.childCount()) for i in range(root.child(g).childCount())]

    def select_source(self, source: str) -> bool:
        item = next((i for i in self.items() if i.data(0, SOURCE_ROLE) == source), None)
        if item is not None:
            self.tree.setCurrentItem(item)
        return item is not None

    def _on_current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        source = item.data(0, SOURCE_ROLE) if item is not None else None
        if source:
            self.source_edit.setText(source)
            self.note.setText("")

    def _choose_item(self, item: QTreeWidgetItem) -> None:
        source = item.data(0, SOURCE_ROLE)
        if source:
            self.choose(source)

    # ------------------------------------------------------------------ choosing

    def accept_typed(self) -> None:
        self.choose(self.source_edit.text())

    def ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", self.start_dir, MODEL_FILTER)
        if path:
            self.choose(path)

    def ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder", self.start_dir)
        if path:
            self.choose(path)

    def choose(self, source: str) -> bool:
        """Hand ``source`` on if it can be opened (a catalogue model not here yet: after its download);
        else say why under the field. Returns whether it was taken (or its download started)."""
        from maskviz.sources import cached_path
        from maskviz.zoo.catalogue import find_entry

        source = source.strip()
        self.source_edit.setText(source)
        entry = find_entry(source)
        if entry is not None and cached_path(entry) is None and not os.path.lexists(source):
            return self.download(entry)
        error = check_source(source)
        if error:
            self.note.setText(error)
            return False
        self._finish(source)
        return True

    def download(self, entry: Any) -> bool:  # noqa: ANN401 - ModelEntry
        """Fetch a catalogue model with the Get-models download (progress, Cancel, resume), then choose it."""
        from maskviz.gui.models_dialog import ModelsDialog
        from maskviz.zoo.store import can_download, manual_instructions

        if not can_download(entry):
            self.note.setText(manual_instructions(entry))
            return False
        if self.downloader is not None and self.downloader.thread is not None:
            self.note.setText("a download is already running")
            return False
        self.note.setText(f"downloading {entry.name}…")
        self.downloader = ModelsDialog(self._finish, self)  # never shown: its progress dialog is
        self.downloader.get(entry)
        if self.downloader.thread is not None:  # else it was here after all, and is chosen already
            self.downloader.thread.failed.connect(self.note.setText)
            self.downloader.thread.cancelled.connect(self.note.setText)
        return True

    def _finish(self, source: str) -> None:
        self.chosen.emit(source)
        if self.on_chosen is not None:
            self.on_chosen(source)
        self.accept()
