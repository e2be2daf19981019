"""The metrics line under the panels, the model banner and the busy indicator: small views of the state.

The metrics line names the result's numbers only while they belong to the mask, model and options on
screen; a message from the controller (a failed reconstruction, a status note) takes its place. It is
not focusable, so clicking it never steals the keys that tools and menu shortcuts use.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from maskviz.gui.state import ViewerState

BUSY_DELAY_MS = 150  # a busy indicator that flashes for every fast update is noise


def baseline_text(model, baseline, name: str) -> str:  # noqa: ANN001 - Reconstructions
    """``"model 20.70 dB · harmonic 21.62 dB"``: the PSNRs over the hidden pixels, side by side."""
    def db(r) -> str:  # noqa: ANN001
        return "∞" if r.psnr == float("inf") else f"{r.psnr:.2f} dB"
    if model.psnr is None or baseline.psnr is None:
        return ""
    return f"model {db(model)} · {name} {db(baseline)}"


def metrics_text(outcome, device: str, precision: str) -> str:  # noqa: ANN001 - ReconOutcome | None
    """The metrics line under the panels; 'no masked patches' instead of a NaN loss."""
    if outcome is None:
        return "no reconstruction yet"
    r = outcome.result
    hidden, total = r.masked_patches, r.total_patches
    counts = f"{total - hidden} visible / {hidden} masked of {total} patches"
    timing = f"{outcome.seconds * 1000:.0f} ms on {device} {precision}"
    if r.loss is None:
        return f"no masked patches: nothing to reconstruct · {counts} · {timing}"
    psnr = "∞" if r.psnr == float("inf") else f"{r.psnr:.2f} dB"
    return (f"masked-region loss {r.loss:.4f} (model's own) · MSE {r.mse:.5f} · PSNR {psnr} · "
            f"{counts} · {timing}")


class MetricsLine(QLabel):
    """One line: the state's result in numbers (with the baseline's beside it), or the state's message."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__("no reconstruction yet", parent)
        self.state = state
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # selectable, but never the keyboard's target
        # A long line must not set the window's minimum width (it made it 1128 px, wider than 1024×700):
        # it wraps instead, in a height fixed at two lines so that wrapping never moves the panels.
        self.setWordWrap(True)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 2 + 4)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        for signal in (state.resultChanged, state.baselineChanged, state.messageChanged, state.modelChanged,
                       state.progressChanged):
            signal.connect(self.refresh)

    def refresh(self, *_args: object) -> None:
        s = self.state
        if s.message:
            self.setText(s.message)
            self.setToolTip(s.message)
            return
        if s.result is not None and s.result.partial:  # a whole picture streaming in: numbers come at the end
            self.setText(s.progress_text)
            self.setToolTip(s.progress_text)
            return
        text = metrics_text(s.result, s.options.device, s.options.precision)
        if s.result is not None and s.result.view != "model":
            text = f"{text} · {s.result.view}"
        if s.result is not None and s.baseline_result is not None:
            compared = baseline_text(s.result.result, s.baseline_result, s.options.baseline)
            text = f"{text} · {compared}" if compared else text
        self.setText(text)
        self.setToolTip(text)


class ModelBanner(QLabel):
    """A yellow line over the panels while the model is the built-in one with random weights."""

    STYLE = ("QLabel { background: #fff3cd; color: #664d03; border: 1px solid #e0c36a; "
             "border-radius: 4px; padding: 6px; font-weight: bold; }")

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent, styleSheet=self.STYLE, wordWrap=True)
        self.state = state
        self.hide()
        state.modelChanged.connect(self.refresh)

    def refresh(self) -> None:
        loaded = self.state.model
        builtin = loaded is not None and loaded.format == "builtin"
        self.setText("⚠ " + " ".join(loaded.notes) if builtin else "")
        self.setVisible(builtin)


class BusyIndicator:
    """'loading model…' / 'reconstructing…' with a spinner in the status bar, after a short delay."""

    def __init__(self, status_bar: QStatusBar, controller: Any) -> None:  # noqa: ANN401 - Controller
        self._is_loading = lambda: controller.loading
        self._is_busy = lambda: controller.busy
        controller.busyChanged.connect(self.update)
        self.label = QLabel("", status_bar)
        self.bar = QProgressBar(status_bar)
        self.bar.setRange(0, 0)  # indeterminate: a torch forward reports no progress
        self.bar.setMaximumWidth(120)
        for w in (self.label, self.bar):
            w.hide()
            status_bar.addPermanentWidget(w)
        self._timer = QTimer(status_bar, singleShot=True, interval=BUSY_DELAY_MS)
        self._timer.timeout.connect(self._show)

    def update(self, busy: bool) -> None:
        if busy:
            if not self._timer.isActive() and not self.bar.isVisible():
                self._timer.start()
        else:
            self._timer.stop()
            self.bar.hide()
            self.label.hide()

    def _show(self) -> None:
        if not self._is_busy():
            return
        self.label.setText("loading model…" if self._is_loading() else "reconstructing…")
        self.label.show()
        self.bar.show()

    @property
    def visible(self) -> bool:
        return self.bar.isVisible()
