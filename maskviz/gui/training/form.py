"""The training form: images, base model, run folder, steps, batch, mask, lr and the advanced options.

A view of :class:`~maskviz.gui.training.state.TrainingState`: every edit goes into ``state.form``
(or to the controller: a folder to scan), and the widgets redraw from the state's signals. The
advanced options fold away and show the ``maskviz train`` command the form amounts to.
"""

from __future__ import annotations

import html
import shlex
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from maskviz.errors import MaskvizError
from maskviz.gui.training.controller import TrainingController
from maskviz.gui.training.pixmaps import to_pixmap
from maskviz.gui.training.run_list import RunList
from maskviz.gui.training.state import TrainingState
from maskviz.train.config import AMP_MODES, AUGMENTATIONS, DEFAULT_MASKS
from maskviz.train.runs import THUMB_PX, lr_hint, model_argument, model_name

ERROR_STYLE = "color: #b00020;"
DEVICES = ("auto", "cpu", "cuda", "mps")


def row(parent: QWidget, *widgets: QWidget) -> QWidget:
    """Widgets side by side; labels and buttons keep their size, fields share the rest."""
    box = QWidget(parent)
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w, 0 if isinstance(w, QLabel | QPushButton) else 1)
    return box


def base_model_html(loaded, source: str | None) -> str:  # noqa: ANN001 - LoadedModel
    """The model a run starts from, named readably (never a snapshot hash), with its description."""
    description = html.escape(loaded.summary()["description"])
    if loaded.format == "builtin":
        arch = html.escape(model_argument(loaded))
        return (f"{description}<br><i>The viewer's built-in model has random weights: training starts from "
                f"scratch on the {arch} architecture.</i>")
    return f"<b>{html.escape(model_name(source, loaded))}</b><br>{description}"


class TrainForm(QWidget):
    """What the next Start asks for. Disabled while a run is going."""

    def __init__(self, state: TrainingState, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.thumb_labels: list[QLabel] = []
        self._build()
        self._lay_out()
        self._connect()
        for name in ("folder", "out", "steps", "batch", "mask", "lr", "augment", "workers", "amp", "device"):
            self._draw_field(name)
        self._draw_folder()
        self._draw_base()
        self._draw_enabled()

    # ------------------------------------------------------------------ construction

    def _build(self) -> None:
        self.folder_edit = QLineEdit(self, placeholderText="folder of training images (searched recursively)")
        self.folder_button = QPushButton("Choose…", self)
        self.folder_info = QLabel(self, wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.thumbs = QScrollArea(self)
        self.thumbs.setWidgetResizable(True)
        self.thumbs.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thumbs.setFrameShape(QFrame.Shape.NoFrame)
        strip = QWidget(self.thumbs)
        self.thumb_row = QHBoxLayout(strip)
        self.thumb_row.setContentsMargins(0, 0, 0, 0)
        self.thumb_row.setSpacing(3)
        self.thumb_row.addStretch(1)
        self.thumbs.setWidget(strip)
        self.thumbs.setFixedHeight(THUMB_PX + self.thumbs.horizontalScrollBar().sizeHint().height() + 4)
        self.base_label = QLabel("no model loaded in the viewer", self, wordWrap=True)
        self.base_label.setTextFormat(Qt.TextFormat.RichText)
        self.runs = RunList(self.state, self.controller, self)
        self.run_edit = QLineEdit(self)
        self.run_edit.setToolTip("Where the next Start creates its run: config, metrics, log and checkpoints")
        self.run_button = QPushButton("…", self, maximumWidth=32)
        self.steps_spin = QSpinBox(self, minimum=1, maximum=10_000_000, singleStep=100)
        self.batch_spin = QSpinBox(self, minimum=1, maximum=4096)
        self.batch_spin.setToolTip("Images per step; if training runs out of memory, make this smaller")
        self.mask_edit = QLineEdit(self)
        self.mask_edit.setToolTip("Mask spec used for training, e.g. random:0.75 or block:0.5; blank = the "
                                  "family's default")
        self.lr_edit = QLineEdit(self)
        self.lr_origin = QLabel(self, wordWrap=True)
        self._build_advanced()

    def _build_advanced(self) -> None:
        """Options most runs leave alone, folded away, with the command line the form amounts to."""
        self.advanced_button = QToolButton(self, text="Advanced options", checkable=True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced = QWidget(self)
        self.augment_combo = QComboBox(self.advanced)
        self.augment_combo.addItems(AUGMENTATIONS)
        self.augment_combo.setToolTip("mae = official crop + mirror; strong = wider crops, flips, quarter turns, "
                                      "shuffled colours (small folders)")
        self.workers_spin = QSpinBox(self.advanced, minimum=0, maximum=64)
        self.workers_spin.setToolTip("Data-loading processes (0 = none on a CPU, one on a GPU)")
        self.amp_combo = QComboBox(self.advanced)
        self.amp_combo.addItems(AMP_MODES)
        self.amp_combo.setToolTip("Mixed precision (CUDA only)")
        self.device_combo = QComboBox(self.advanced)
        self.device_combo.addItems(DEVICES)
        self.cli_view = QLabel(self.advanced, wordWrap=True, styleSheet="font-family: monospace;")
        self.cli_view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout(self.advanced)
        form.setContentsMargins(12, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Augment", row(self, self.augment_combo, QLabel("Workers", self), self.workers_spin))
        form.addRow("AMP", row(self, self.amp_combo, QLabel("Device", self), self.device_combo))
        mixtures = QLabel("Mask mixtures: join specs with | in Mask (e.g. random:0.4|block:0.5|simmim:0.6, "
                          "SimMIM only); each image draws one", self.advanced, wordWrap=True)
        form.addRow("", mixtures)
        form.addRow("Command", self.cli_view)
        self.advanced.hide()

    def _lay_out(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        form = self.form_layout = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)  # a tall dock leaves the room below the form, rows keep their height
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow dock wraps rather than clips
        form.addRow("Images", row(self, self.folder_edit, self.folder_button))
        form.addRow("", self.folder_info)
        form.addRow("", self.thumbs)
        form.addRow("Base model", self.base_label)
        form.addRow("Runs", self.runs)
        form.addRow("Run folder", row(self, self.run_edit, self.run_button))
        form.addRow("Steps", row(self, self.steps_spin, QLabel("Batch", self), self.batch_spin))
        form.addRow("Mask", row(self, self.mask_edit, QLabel("LR", self), self.lr_edit))
        form.addRow("", self.lr_origin)
        form.addRow(self.advanced_button)
        form.addRow(self.advanced)

    def _connect(self) -> None:
        s, c = self.state, self.controller
        self.folder_button.clicked.connect(self.choose_folder_dialog)
        self.folder_edit.textEdited.connect(lambda text: s.update_form(folder=text))
        self.folder_edit.editingFinished.connect(lambda: c.set_folder(self.folder_edit.text()))
        self.run_button.clicked.connect(self.choose_run_folder_dialog)
        self.run_edit.textEdited.connect(lambda text: s.update_form(out=text))
        self.mask_edit.textEdited.connect(lambda text: s.update_form(mask=text))
        self.lr_edit.textEdited.connect(lambda text: s.update_form(lr=text))
        self.steps_spin.valueChanged.connect(lambda v: s.update_form(steps=v))
        self.batch_spin.valueChanged.connect(lambda v: s.update_form(batch=v))
        self.workers_spin.valueChanged.connect(lambda v: s.update_form(workers=v))
        self.augment_combo.currentTextChanged.connect(lambda v: s.update_form(augment=v))
        self.amp_combo.currentTextChanged.connect(lambda v: s.update_form(amp=v))
        self.device_combo.currentTextChanged.connect(lambda v: s.update_form(device=v))
        self.advanced_button.toggled.connect(self._show_advanced)
        s.formChanged.connect(self._draw_field)
        s.folderChanged.connect(self._draw_folder)
        s.baseChanged.connect(self._draw_base)
        s.phaseChanged.connect(self._draw_enabled)
        s.runChanged.connect(self._draw_enabled)

    # ------------------------------------------------------------------ drawing the state

    def _draw_field(self, name: str) -> None:
        form = self.state.form
        value = getattr(form, name)
        widget = {"folder": self.folder_edit, "out": self.run_edit, "mask": self.mask_edit, "lr": self.lr_edit,
                  "steps": self.steps_spin, "batch": self.batch_spin, "workers": self.workers_spin,
                  "augment": self.augment_combo, "amp": self.amp_combo, "device": self.device_combo}[name]
        if isinstance(widget, QLineEdit) and widget.text() != value:
            widget.setText(value)
        elif isinstance(widget, QSpinBox) and widget.value() != value:
            widget.setValue(value)
        elif isinstance(widget, QComboBox) and widget.currentText() != value:
            widget.setCurrentText(value)
        if name in ("batch", "lr"):
            self._draw_lr()
        self._draw_command()

    def _draw_folder(self) -> None:
        s = self.state
        self.folder_info.setText(s.folder_note)
        self.folder_info.setStyleSheet(ERROR_STYLE if s.folder_error else "")
        for label in self.thumb_labels:
            label.deleteLater()
        self.thumb_labels = []
        for array in s.folder.thumbnails if s.folder is not None else []:
            label = QLabel(self.thumbs.widget())
            label.setPixmap(to_pixmap(array, THUMB_PX))
            label.setFixedSize(THUMB_PX, THUMB_PX)
            self.thumb_row.insertWidget(len(self.thumb_labels), label)
            self.thumb_labels.append(label)
        self.form_layout.setRowVisible(self.thumbs, bool(self.thumb_labels))  # no empty row when there are none
        self._draw_command()

    def _draw_base(self) -> None:
        s = self.state
        if s.base is not None:
            self.base_label.setText(base_model_html(s.base, s.base_source))
        family = s.base.config.family if s.base is not None else "mae"
        self.mask_edit.setPlaceholderText(DEFAULT_MASKS.get(family, "random:0.75"))
        self._draw_lr()
        self._draw_command()

    def _draw_lr(self) -> None:
        typed = self.state.form.lr.strip()
        value, origin = lr_hint(self.state.base, self.state.form.batch)
        self.lr_edit.setPlaceholderText(value)
        self.lr_edit.setToolTip(f"Learning rate; blank = {value} ({origin})")
        self.lr_origin.setText(f"<small>lr {html.escape(typed)}: typed here</small>" if typed
                               else f"<small>lr {value}: {html.escape(origin)}</small>")

    def _draw_command(self) -> None:
        """The ``maskviz train`` command the form amounts to (what Start runs)."""
        try:
            request = self.controller.request()
        except MaskvizError as exc:
            self.cli_view.setText(f"({exc})")
            return
        self.cli_view.setText(shlex.join(["maskviz", "train", *request.arguments()]))

    def _draw_enabled(self) -> None:
        live = self.state.live
        for w in (self.folder_edit, self.folder_button, self.run_edit, self.run_button, self.steps_spin,
                  self.batch_spin, self.mask_edit, self.lr_edit, self.advanced, self.runs):
            w.setEnabled(not live)

    def _show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    # ------------------------------------------------------------------ dialogs

    def choose_folder_dialog(self) -> None:
        if path := QFileDialog.getExistingDirectory(self, "Folder of training images", self.state.form.folder):
            self.controller.set_folder(path)

    def choose_run_folder_dialog(self) -> None:
        out = self.state.form.out
        start = str(Path(out).parent) if out else str(self.state.runs_root)
        if path := QFileDialog.getExistingDirectory(self, "Folder for the new run", start):
            self.state.update_form(out=path)
