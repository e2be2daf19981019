"""ModelPanel: what model is loaded, where it runs, and the buttons to change it.

The details come verbatim from ``LoadedModel.summary()`` (the same dict ``maskviz info`` prints), so
the GUI and the CLI can never disagree about what a checkpoint is. Device, precision and the
norm-pix display are set through the controller and the state; the open buttons ask the window
(its file dialogs), and the controller loads off the UI thread.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from maskviz.device import PRECISIONS
from maskviz.gui.viewer.panels import UNNORMALIZE_LABELS

DETAILS_LINES = 9  # model, format, family, size, input, patch, target, source: all in view at 1024×700


def format_count(n: int) -> str:
    """``111.9 M`` parameters reads faster than ``111,907,840``."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


def source_text(source: str) -> str:
    """Where the model was read from: a shipped model as ``bundled:NAME`` (its path inside the install
    says nothing to the user, and would put this machine's folders into every screenshot), else the path."""
    from maskviz.bundled import MODEL_PREFIX
    from maskviz.model_names import model_name

    named = model_name(source) if source else None
    return f"{MODEL_PREFIX}{named.short}" if named is not None and named.origin == "bundled" else source


def details_html(summary: dict[str, Any], name: str = "") -> str:
    """The details box: the model's display name, one row per fact, then the load report's notes and
    ignored entries."""
    gh, gw = summary.get("grid", (0, 0))
    target = "per-patch normalised (norm-pix)" if summary.get("norm_pix") else "pixels"
    rows = [
        ("model", name or summary.get("description", "")),
        ("architecture", summary.get("description", "")),
        ("format", summary.get("format_label", "")),
        ("family", str(summary.get("family", "")).upper()),
        ("size", f"{format_count(int(summary.get('parameters', 0)))} parameters"),
        ("input", f"{summary.get('input_size')} px"),
        ("patch", f"{summary.get('patch_size')} px ({gh}×{gw} grid)"),
        ("target", target),
        ("source", source_text(summary.get("source", ""))),
    ]
    if summary.get("training"):
        rows.append(("trained", summary["training"]))
    out = ["<table cellspacing='2'>"]
    out += [f"<tr><td><b>{k}</b></td><td>{html.escape(str(v))}</td></tr>" for k, v in rows]
    out.append("</table>")
    for warning in summary.get("warnings", []):
        out.append(f"<p><b>warning:</b> {html.escape(str(warning))}</p>")
    for note in summary.get("notes", []):
        out.append(f"<p>note: {html.escape(str(note))}</p>")
    ignored = summary.get("ignored", [])
    if ignored:
        items = "".join(f"<li>{html.escape(str(i))}</li>" for i in ignored)
        out.append(f"<p>ignored when loading:</p><ul>{items}</ul>")
    return "".join(out)


class ModelPanel(QWidget):
    """Details, open buttons, recent models, device, precision and norm-pix display choice."""

    chooseRequested = Signal()  # the window opens the model picker

    def __init__(self, state: Any, controller: Any, devices: list[str],  # noqa: ANN401 - ViewerState, Controller
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.details = QLabel("no model loaded", self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # A long load report (ignored keys, provenance) scrolls instead of pushing the controls away.
        self.details_scroll = QScrollArea(self)
        self.details_scroll.setWidget(self.details)
        self.details_scroll.setWidgetResizable(True)
        self.details_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.details_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details_scroll.setMinimumHeight(DETAILS_LINES * self.details.fontMetrics().lineSpacing())
        self.status = QLabel("", self)
        self.choose_button = QPushButton("Choose model…", self, toolTip="Bundled, published, recent and "
                                                                        "fine-tuned models, or a file or folder")
        self.recent_button = QToolButton(self)
        self.recent_button.setText("Recent")
        self.recent_button.setMinimumWidth(90)  # room for the text and the menu arrow
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu("Recent models", self)
        self.recent_button.setMenu(self.recent_menu)
        self.device_box = QComboBox(self)
        self.device_box.addItems(devices)
        self.precision_box = QComboBox(self)
        self.precision_box.addItems(list(PRECISIONS))
        self.precision_box.setToolTip("bf16/fp16 run on GPUs only")
        self.unnormalize_box = QComboBox(self)
        for mode, label in UNNORMALIZE_LABELS.items():
            self.unnormalize_box.addItem(label, mode)
        self.unnormalize_box.setToolTip("How per-patch normalised (norm-pix) predictions are turned back into pixels")
        self.unnormalize_box.setEnabled(False)  # until a norm-pix model is loaded
        self._lay_out()
        self.choose_button.clicked.connect(self.chooseRequested)
        self.device_box.textActivated.connect(controller.set_device)
        self.precision_box.textActivated.connect(lambda p: state.set_option("precision", p))
        self.unnormalize_box.activated.connect(
            lambda _i: state.set_option("unnormalize", self.unnormalize_box.currentData()))
        state.modelChanged.connect(self._follow_model)
        state.optionsChanged.connect(self._follow_option)
        controller.loadingChanged.connect(self.set_loading)
        self.set_device(state.options.device)

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for w in (self.choose_button, self.recent_button):
            buttons.addWidget(w)
        form = QFormLayout()
        form.addRow("Device", self.device_box)
        form.addRow("Precision", self.precision_box)
        form.addRow("Norm-pix display", self.unnormalize_box)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.details_scroll, 1)
        layout.addLayout(form)

    def _follow_model(self) -> None:
        from maskviz.model_names import loaded_display_name

        loaded = self.state.model
        if loaded is not None:
            self.set_summary(loaded.summary(), loaded_display_name(loaded, self.state.model_source))

    def set_summary(self, summary: dict[str, Any], name: str = "") -> None:
        self.details.setText(details_html(summary, name))
        self.unnormalize_box.setEnabled(bool(summary.get("norm_pix")))

    def set_loading(self, text: str) -> None:
        """Show a load or move in progress; the device stays fixed meanwhile, because a move queued
        behind a load would move the old model and the new one would arrive on the old device."""
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.device_box.setEnabled(not text)

    def set_device(self, device: str) -> None:
        """Show the device in use; reduced precision is offered only off the CPU."""
        index = self.device_box.findText(device)
        if index >= 0:
            self.device_box.setCurrentIndex(index)
        on_cpu = device == "cpu"
        self.precision_box.setEnabled(not on_cpu)
        if on_cpu:
            self.precision_box.setCurrentText("fp32")

    def set_precision(self, precision: str) -> None:
        self.precision_box.setCurrentText(precision)

    def set_unnormalize(self, mode: str) -> None:
        index = self.unnormalize_box.findData(mode)
        if index >= 0:
            self.unnormalize_box.setCurrentIndex(index)

    def _follow_option(self, name: str) -> None:
        options = self.state.options
        {"device": lambda: self.set_device(options.device), "precision": lambda: self.set_precision(options.precision),
         "unnormalize": lambda: self.set_unnormalize(options.unnormalize)}.get(name, lambda: None)()

    def set_recent(self, paths: list[str]) -> None:
        """The window's recent-models list (its settings), each entry opening through the controller."""
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.controller.open_model(p))
        self.recent_button.setEnabled(bool(paths))
