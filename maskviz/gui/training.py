"""TrainingPanel: fine-tune (or pre-train) the viewer's model on a folder of images, and watch it learn.

The panel is a form and a monitor; the work happens elsewhere so the window never waits:

* the folder is scanned (and up to :data:`THUMBNAILS` thumbnails made) on a background thread;
* training is a separate ``maskviz train`` process run by :class:`~maskviz.gui.train_process.TrainProcess`,
  followed through ``metrics.jsonl`` (curves, progress, ETA, images/s) and its output file (the log tab);
* "Open in viewer" reconstructs the viewer's image and mask with the base and the fine-tuned model
  on a background thread (:mod:`maskviz.gui.train_compare`).

"Current run" is the run in the curves (the last one started, one picked in the *Runs* list or opened
with *Open run…*, or one found still training when the panel opens: its lock names a live process, and
the panel follows it again); Stop, Resume and Open in viewer act on it. The *Run folder* field is where
the next Start creates a run (in :func:`maskviz.paths.runs_dir`), and shows the run being resumed.
"""

from __future__ import annotations

import html
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from maskviz.errors import MaskvizError
from maskviz.gui.background import Background
from maskviz.gui.train_compare import ComparisonView, ViewerContext, compare_run, result_checkpoint, to_pixmap
from maskviz.gui.train_process import TrainProcess, TrainRequest, running_elsewhere
from maskviz.paths import runs_dir
from maskviz.train import RunDir, TrainError, TrainEvent, read_events
from maskviz.train.config import (
    AMP_MODES,
    AUGMENTATIONS,
    DEFAULT_BLR,
    DEFAULT_MASKS,
    FINETUNE_LR,
    LR_RULES,
    parse_mask_mixture,
)
from maskviz.train.data import scan_images
from maskviz.train.rundir import new_run_folder

THUMBNAILS = 12
THUMB_PX = 48
LOG_LINES = 2000
TRAIN_PEN = pg.mkPen((31, 119, 180), width=2)
RAW_BRUSH = pg.mkBrush(31, 119, 180, 60)
VAL_PEN = pg.mkPen((230, 110, 20), width=2)
START_PEN = pg.mkPen((136, 136, 136), width=1, style=Qt.PenStyle.DashLine)
EMA_SPAN = 20  # steps the smoothed train curve averages over
STALL_POINTS = 3  # validations without a new best before the panel says so
ERROR_STYLE = "color: #b00020;"
WARN_STYLE = "color: #a04000;"
GOOD_STYLE = "color: #1b5e20;"
DEFAULTS = {"steps": 1000, "batch": 32}


# ---------------------------------------------------------------------------------- the folder


@dataclass
class FolderSummary:
    """What a scan found: counts for the label, a few thumbnails for the strip."""

    root: Path
    found: int
    unreadable: int
    others: int
    thumbnails: list[np.ndarray] = field(default_factory=list)

    def text(self) -> str:
        parts = [f"{self.found} image{'s' * (self.found != 1)} found"]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable (skipped)")
        if self.others:
            parts.append(f"{self.others} other file{'s' * (self.others != 1)} ignored")
        return " · ".join(parts)


def summarize_folder(root: str | Path, count: int = THUMBNAILS, size: int = THUMB_PX) -> FolderSummary:
    """Scan like the trainer does (same counts, same errors) and thumbnail an even spread of the images."""
    folder = scan_images(root)
    n, k = len(folder.files), min(count, len(folder.files))
    picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})
    thumbs = [t for i in picks if (t := thumbnail(folder.files[i], size)) is not None]
    return FolderSummary(folder.root, n, folder.skipped, folder.other_files, thumbs)


def thumbnail(path: Path, size: int = THUMB_PX) -> np.ndarray | None:
    """A small RGB array; ``draft`` lets JPEG decode at reduced size, so big photos cost little."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            img.thumbnail((size, size))
            return np.asarray(img.convert("RGB"))
    except Exception:  # noqa: BLE001 - a thumbnail that fails is left out of the strip, nothing more
        return None


# ---------------------------------------------------------------------------------- text


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(event: TrainEvent | None, total: int, running: bool = True) -> str:
    """``step 120/1000 · 45.2 img/s · ETA 1:23`` beside the progress bar; speed and ETA only while running."""
    if event is None:
        return f"step 0/{total}" if total else ""
    if not running:
        return f"step {event.step}/{total or '?'}"
    speed = f" · {event.images_per_s:.1f} img/s" if event.images_per_s else ""
    return f"step {event.step}/{total or '?'}{speed} · ETA {format_duration(event.eta_s)}"


def run_summary(run: RunDir) -> tuple[str, str]:
    """``(state, text)`` of a run for the Runs list: running (lock held), done, stopped, failed or unfinished."""
    events = read_events(run.metrics)[0]
    steps = max((e.step for e in events if e.event == "step"), default=0)
    ends = [e for e in events if e.event in ("start", "end")]
    if running_elsewhere(run):
        state = "running"
    elif ends and ends[-1].event == "end":
        state = {"error": "failed"}.get(ends[-1].reason, ends[-1].reason)
    else:
        state = "unfinished" if events else "new"
    total = next((e.total_steps for e in reversed(events) if e.event == "start" and e.total_steps), 0)
    return state, f"{run.path.name} — {state}, step {steps}/{total or '?'}"


def list_runs(root: Path, limit: int = 50) -> list[RunDir]:
    """Run folders under ``root``, newest first."""
    try:
        folders = [p for p in root.iterdir() if (p / "config.json").is_file()]
    except OSError:
        return []
    return [RunDir(p) for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)[:limit]]


def lr_hint(loaded: Any, batch: int) -> tuple[str, str]:
    """The lr a blank LR field gives, and where it comes from (the trainer's rule, see train.config.resolve)."""
    if loaded is not None and loaded.format != "builtin":
        return f"{FINETUNE_LR:g}", LR_RULES["finetune"]
    return f"{DEFAULT_BLR * batch / 256:.3g}", f"{DEFAULT_BLR:g} × batch / 256, the pre-training rule (from scratch)"


def model_argument(loaded: Any) -> str:
    """What ``--model`` gets: the checkpoint path, or the architecture of the built-in random model."""
    source = str(loaded.source)
    return source.removeprefix("builtin:") if loaded.format == "builtin" else source


def base_model_html(loaded: Any) -> str:
    summary = loaded.summary()
    description = html.escape(summary["description"])
    if loaded.format == "builtin":
        arch = html.escape(model_argument(loaded))
        return (f"{description}<br><i>The viewer's built-in model has random weights: training starts from "
                f"scratch on the {arch} architecture.</i>")
    return f"{description}<br>from <code>{html.escape(Path(loaded.source).name)}</code>"


def ending_text(reason: str, message: str, step: int, total: int) -> str:
    where = f" at step {step}/{total}" if total else ""
    texts = {
        "done": f"Done: {total} steps. Open in viewer to compare with the base model.",
        "stopped": f"Stopped{where}. " + (f"{message[:1].upper()}{message[1:]}." if message and not step
                                          else "Resume continues from its last checkpoint."),
        "killed": f"Ended by force{where}: {message}",
        "error": f"The run failed{where}: {message}",
    }
    return texts.get(reason, f"{reason}{where}: {message}")


# ---------------------------------------------------------------------------------- curves


def ema(values: list[float], span: int = EMA_SPAN) -> np.ndarray:
    """Exponential moving average (bias-corrected, so the first points are not pulled towards 0)."""
    alpha, out, acc, weight = 2.0 / (span + 1), np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        acc, weight = (1 - alpha) * acc + alpha * v, (1 - alpha) * weight + alpha
        out[i] = acc / weight
    return out


def validation_verdict(val_steps: list[int], val_losses: list[float], steps: list[int],
                       losses: list[float]) -> tuple[str, bool]:
    """What the validation curve says, in one sentence, and whether it is bad news.

    Against the starting model (step 0) when it was measured; "not improving" when the last
    :data:`STALL_POINTS` validations did not beat the best while the smoothed train loss kept falling.
    """
    if not val_losses:
        return "", False
    base = val_losses[0] if val_steps[0] == 0 else None
    latest, best = val_losses[-1], min(val_losses)
    best_step = val_steps[val_losses.index(best)]
    if base is None:
        return f"validation {latest:.4f} (best {best:.4f} at step {best_step})", False
    if len(val_losses) == 1:
        return f"validation of the starting model: {base:.4f}", False
    change = 100 * (latest - base) / base
    text = f"validation {change:+.1f} % vs the starting model"
    if best_step not in (0, val_steps[-1]):
        text += f" (best {100 * (best - base) / base:+.1f} % at step {best_step})"
    trained = [s for s in val_steps if s > 0]
    stalled = len(trained) >= STALL_POINTS and best_step < val_steps[-STALL_POINTS]
    train_falls = bool(losses) and _train_fell_since(best_step, steps, losses)
    if latest >= base and len(trained) >= STALL_POINTS:
        return (text + ": training is not helping unseen images of this folder" +
                (" while the training loss falls (the model is fitting the training images)" if train_falls else "")
                + "; the starting model is as good or better"), True
    if stalled and train_falls:
        return text + f": validation has not improved since step {best_step} while the training loss falls " \
                      "(overfitting): more steps will not help", True
    if stalled:
        return text + f": validation has stopped improving (best at step {best_step})", True
    return text, False


def _train_fell_since(step: int, steps: list[int], losses: list[float]) -> bool:
    smooth = ema(losses)
    at = int(np.searchsorted(np.asarray(steps), step))
    return at < len(smooth) - 1 and smooth[-1] < 0.98 * smooth[min(at, len(smooth) - 1)]


class TrainCurves(QWidget):
    """Train loss (EMA line over faint raw dots) and validation points against step; log scale on demand."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.plot_widget = pg.PlotWidget(self, background="w")
        self.plot_widget.setMinimumHeight(110)  # a short dock scrolls its form rather than hide the curves
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # "loss (x0.001)" reads worse than 0.3
        self.raw_item = plot.plot([], [], pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                  symbolBrush=RAW_BRUSH, name="train loss (each step)")
        self.train_item = plot.plot([], [], pen=TRAIN_PEN, name="train loss (smoothed)")
        self.train_item.setClipToView(True)
        self.val_item = plot.plot([], [], pen=VAL_PEN, symbol="o", symbolSize=7, symbolBrush=(230, 110, 20),
                                  symbolPen=None, name="val loss")
        self.start_line = pg.InfiniteLine(angle=0, pen=START_PEN, movable=False)
        self.start_line.hide()
        plot.addItem(self.start_line)
        self.log_box = QCheckBox("log scale", self)
        self.log_box.setToolTip("Show the loss axis on a log scale (small late changes become visible)")
        self.log_box.toggled.connect(self._set_log)
        # A caption, not a legend: a legend box sits on top of the newest points.
        caption = QLabel("<span style='color:#1f77b4'>━</span> train (dots: each step) · "
                         "<span style='color:#e66e14'>●</span> validation · "
                         "<span style='color:#888'>┄</span> starting model", self)
        caption.setWordWrap(True)  # a narrow dock wraps the caption instead of clipping the plot
        caption.setToolTip("Train loss smoothed over ~20 steps (EMA); validation on the held-out images with "
                           "fixed crops and masks, from the starting model (step 0) on")
        row = QHBoxLayout()
        row.addWidget(caption, 1)
        row.addWidget(self.log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(row)

    def _set_log(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self._redraw()

    def clear(self) -> None:
        for values in (self.steps, self.losses, self.val_steps, self.val_losses):
            values.clear()
        self._redraw()

    def add(self, events: list[TrainEvent]) -> None:
        """Append the step events' losses (a resumed run's repeated steps replace the old ones)."""
        for e in events:
            if e.event != "step":
                continue
            last = max(self.steps[-1:] + self.val_steps[-1:], default=-1)
            if e.step <= last:
                self._truncate(e.step)
            if e.loss is not None:
                self.steps.append(e.step)
                self.losses.append(e.loss)
            if e.val_loss is not None:
                self.val_steps.append(e.step)
                self.val_losses.append(e.val_loss)
        self._redraw()

    def _truncate(self, step: int) -> None:
        keep = sum(s < step for s in self.steps)
        del self.steps[keep:], self.losses[keep:]
        keep = sum(s < step for s in self.val_steps)
        del self.val_steps[keep:], self.val_losses[keep:]

    def verdict_text(self) -> tuple[str, bool]:
        return validation_verdict(self.val_steps, self.val_losses, self.steps, self.losses)

    def _redraw(self) -> None:
        xs = np.asarray(self.steps, float)
        self.raw_item.setData(xs, np.asarray(self.losses, float))
        self.train_item.setData(xs, ema(self.losses))
        self.val_item.setData(np.asarray(self.val_steps, float), np.asarray(self.val_losses, float))
        has_start = bool(self.val_steps) and self.val_steps[0] == 0
        if has_start:
            self.start_line.setValue(math.log10(self.val_losses[0]) if self.log_box.isChecked()
                                     else self.val_losses[0])
        self.start_line.setVisible(has_start)


# ---------------------------------------------------------------------------------- the panel


class TrainingPanel(QWidget):
    """Form, Start/Stop/Resume/Open run/Open in viewer, progress, curves, log and comparison."""

    useModelRequested = Signal(str)  # a checkpoint the viewer should open
    message = Signal(str)  # a one-line note for the window's status bar

    def __init__(self, runs_root: str | Path | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_root = Path(runs_root) if runs_root is not None else runs_dir()
        self.settings = settings
        self.process = TrainProcess(self)
        self.background = Background(self)
        self.compare_runner: Any = self.background  # the window puts comparisons on its model worker's lane
        self.viewer_context: Callable[[], ViewerContext | None] = lambda: None  # set by the window
        self.base: Any = None  # LoadedModel the next run starts from
        self.folder: FolderSummary | None = None
        self.folder_error = ""
        self.run_dir: RunDir | None = None
        self.last_reason = ""
        self.total_steps = 0
        self.last_step: TrainEvent | None = None
        self.warnings: list[str] = []
        self._scan_id = self._compare_id = 0
        self._build()
        self._connect()
        self._restore_settings()
        self.new_run_folder()
        self.refresh_runs()
        self.follow_live_run()
        self._update_buttons()
        self._set_status(self.idle_status())

    # ============================================================== construction

    def _build(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        self.buttons: dict[str, QPushButton] = {}
        for name, text, slot in (("start", "Start", self.start), ("stop", "Stop", self.stop),
                                 ("resume", "Resume", self.resume), ("open_run", "Open run…", self.open_run_dialog),
                                 ("open_result", "Open in viewer", self.open_result)):
            action = QAction(text, self)
            action.triggered.connect(lambda _=False, s=slot: s())
            button = QPushButton(text, self)
            button.clicked.connect(action.trigger)
            self.actions_by_name[name], self.buttons[name] = action, button
        self.buttons["start"].setToolTip("Launch 'maskviz train' as a separate process")
        self.buttons["stop"].setToolTip("Stop after the current step and save (forced after a timeout)")
        self.buttons["resume"].setToolTip("Continue the current run exactly where it stopped")
        self.buttons["open_run"].setToolTip("Show an earlier run's curves, to resume it or open its result")
        self.buttons["open_result"].setToolTip("Compare the base and the fine-tuned model on the viewer's "
                                               "image and mask")
        self._build_form()
        self._build_monitor()
        self._lay_out()

    def _build_form(self) -> None:
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("folder of training images (searched recursively)")
        self.folder_button = QPushButton("Choose…", self)
        self.folder_info = QLabel("choose a folder of images", self)
        self.folder_info.setWordWrap(True)
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
        self.thumb_labels: list[QLabel] = []
        self.thumbs.hide()
        self.base_label = QLabel("no model loaded in the viewer", self)
        self.base_label.setWordWrap(True)
        self.base_label.setTextFormat(Qt.TextFormat.RichText)
        self.run_edit = QLineEdit(self)
        self.run_edit.setToolTip("Where the next Start creates its run: config, metrics, log and checkpoints")
        self.run_button = QPushButton("…", self)
        self.run_button.setMaximumWidth(32)
        self.steps_spin = QSpinBox(self, minimum=1, maximum=10_000_000, value=DEFAULTS["steps"], singleStep=100)
        self.batch_spin = QSpinBox(self, minimum=1, maximum=4096, value=DEFAULTS["batch"])
        self.batch_spin.setToolTip("Images per step; if training runs out of memory, make this smaller")
        self.mask_edit = QLineEdit(self)
        self.mask_edit.setToolTip("Mask spec used for training, e.g. random:0.75 or block:0.5; blank = the "
                                  "family's default")
        self.lr_edit = QLineEdit(self)
        self.lr_origin = QLabel("", self)
        self.lr_origin.setWordWrap(True)
        self.runs_combo = QComboBox(self)
        self.runs_combo.setToolTip(f"Runs in {self.runs_root}: pick one to see its curves, resume it or open "
                                   "its result (a run still going is followed live)")
        self._build_advanced()
        self._update_placeholders()

    def _build_advanced(self) -> None:
        """Options most runs leave alone, folded away, with the command line the form amounts to."""
        self.advanced_button = QToolButton(self)
        self.advanced_button.setText("Advanced options")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced = QWidget(self)
        self.augment_combo = QComboBox(self.advanced)
        self.augment_combo.addItems(AUGMENTATIONS)
        self.augment_combo.setToolTip("mae = official crop + mirror; strong = wider crops, flips, quarter turns, "
                                      "shuffled colours (small folders)")
        self.workers_spin = QSpinBox(self.advanced, minimum=0, maximum=64)
        self.workers_spin.setToolTip("Data-loading processes (0 = none on a CPU, one thread on a GPU)")
        self.amp_combo = QComboBox(self.advanced)
        self.amp_combo.addItems(AMP_MODES)
        self.amp_combo.setToolTip("Mixed precision (CUDA only)")
        self.device_combo = QComboBox(self.advanced)
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.cli_view = QLabel("", self.advanced)
        self.cli_view.setWordWrap(True)
        self.cli_view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cli_view.setStyleSheet("font-family: monospace;")
        form = QFormLayout(self.advanced)
        form.setContentsMargins(12, 0, 0, 0)
        form.addRow("Augment", self._row(self.augment_combo, QLabel("Workers", self), self.workers_spin))
        form.addRow("AMP", self._row(self.amp_combo, QLabel("Device", self), self.device_combo))
        mixtures = QLabel("Mask mixtures: join specs with | in Mask (e.g. random:0.4|block:0.5|simmim:0.6, "
                          "SimMIM only); each image draws one", self.advanced)
        mixtures.setWordWrap(True)
        form.addRow("", mixtures)
        form.addRow("Command", self.cli_view)
        self.advanced.hide()

    def _build_monitor(self) -> None:
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.speed_label = QLabel("", self)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label = QLabel("", self)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(WARN_STYLE)
        self.warning_label.hide()
        self.curves = TrainCurves(self)
        self.crash_label = QLabel("", self)
        self.crash_label.setWordWrap(True)
        self.crash_label.setStyleSheet(ERROR_STYLE)
        self.crash_label.hide()
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.compare = ComparisonView(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.curves, "Curves")
        log_page = QWidget(self)
        log_layout = QVBoxLayout(log_page)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(self.crash_label)
        log_layout.addWidget(self.log_view, 1)
        self.tabs.addTab(log_page, "Log")
        compare_page = QScrollArea(self)  # two rows of pictures must not set the dock's minimum height
        compare_page.setWidgetResizable(True)
        compare_page.setFrameShape(QFrame.Shape.NoFrame)
        compare_page.setWidget(self.compare)
        self.tabs.addTab(compare_page, "Compare")

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Images", self._row(self.folder_edit, self.folder_button))
        form.addRow("", self.folder_info)
        form.addRow("", self.thumbs)
        form.addRow("Base model", self.base_label)
        form.addRow("Runs", self.runs_combo)
        form.addRow("Run folder", self._row(self.run_edit, self.run_button))
        form.addRow("Steps", self._row(self.steps_spin, QLabel("Batch", self), self.batch_spin))
        form.addRow("Mask", self._row(self.mask_edit, QLabel("LR", self), self.lr_edit))
        form.addRow("", self.lr_origin)
        form.addRow(self.advanced_button)
        form.addRow(self.advanced)
        buttons = QGridLayout()
        for i, name in enumerate(("start", "stop", "resume", "open_run", "open_result")):
            buttons.addWidget(self.buttons[name], i // 3, i % 3, 1, 1 + (name == "open_result"))
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.speed_label)
        form_page = QWidget(self)
        form_page.setLayout(form)
        form_scroll = QScrollArea(self)  # a short dock scrolls the form and keeps room for the curves
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form_scroll.setWidget(form_page)
        form_scroll.setMinimumHeight(80)
        layout = QVBoxLayout(self)
        layout.addWidget(form_scroll, 1)
        layout.addLayout(buttons)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.warning_label)
        layout.addWidget(self.tabs, 2)

    def _row(self, *widgets: QWidget) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            layout.addWidget(w, 0 if isinstance(w, QLabel | QPushButton) else 1)
        return row

    def _connect(self) -> None:
        self.folder_button.clicked.connect(self.choose_folder_dialog)
        self.folder_edit.editingFinished.connect(lambda: self.set_folder(self.folder_edit.text()))
        self.run_button.clicked.connect(self.choose_run_folder_dialog)
        self.batch_spin.valueChanged.connect(self._update_placeholders)
        self.advanced_button.toggled.connect(self._show_advanced)
        for edit in (self.folder_edit, self.run_edit, self.mask_edit):
            edit.textChanged.connect(self._update_command)
        self.lr_edit.textChanged.connect(self._update_lr_origin)
        for spin in (self.steps_spin, self.batch_spin, self.workers_spin):
            spin.valueChanged.connect(self._update_command)
        for combo in (self.augment_combo, self.amp_combo, self.device_combo):
            combo.currentTextChanged.connect(self._update_command)
        self.runs_combo.activated.connect(lambda _i: self._open_listed_run())
        self.compare.checkpointChosen.connect(lambda which: self.open_result(which))
        self.process.eventsArrived.connect(self._on_events)
        self.process.outputArrived.connect(self._on_output)
        self.process.finished.connect(self._on_finished)
        self.process.stateChanged.connect(lambda _s: self._update_buttons())
        self.background.done.connect(self._on_background_done)
        self.background.failed.connect(self._on_background_failed)
        self.compare.useRequested.connect(self.useModelRequested)

    # ============================================================== inputs

    def set_base_model(self, loaded: Any) -> None:
        """The viewer's model is what the next run starts from."""
        self.base = loaded
        self.base_label.setText(base_model_html(loaded))
        self._update_placeholders()
        self._update_buttons()
        if self.run_dir is None:
            self._set_status(self.idle_status())

    def _update_placeholders(self) -> None:
        family = self.base.config.family if self.base is not None else "mae"
        self.mask_edit.setPlaceholderText(DEFAULT_MASKS.get(family, "random:0.75"))
        value, origin = lr_hint(self.base, self.batch_spin.value())
        self.lr_edit.setPlaceholderText(value)
        self.lr_edit.setToolTip(f"Learning rate; blank = {value} ({origin})")
        self._update_lr_origin()

    def _update_lr_origin(self) -> None:
        typed = self.lr_edit.text().strip()
        value, origin = lr_hint(self.base, self.batch_spin.value())
        self.lr_origin.setText(f"<small>lr {typed}: typed here</small>" if typed
                               else f"<small>lr {value}: {html.escape(origin)}</small>")
        self._update_command()

    def _show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _update_command(self) -> None:
        """The ``maskviz train`` command the form amounts to (what Start runs)."""
        if not hasattr(self, "cli_view"):
            return
        try:
            request = self._request()
        except MaskvizError as exc:
            self.cli_view.setText(f"({exc})")
            return
        self.cli_view.setText(shlex.join(["maskviz", "train", *request.arguments()]))

    def choose_folder_dialog(self) -> None:
        if path := QFileDialog.getExistingDirectory(self, "Folder of training images", self.folder_edit.text()):
            self.set_folder(path)

    def set_folder(self, path: str) -> None:
        """Scan the folder in the background; Start waits for the count."""
        path = path.strip()
        self.folder_edit.setText(path)
        if self.folder is not None and path and Path(path).expanduser() == self.folder.root:
            return
        self.folder, self.folder_error = None, ""
        self._clear_thumbnails()
        if not path:
            self._folder_note("choose a folder of images")
            return
        self._folder_note("looking for images…")
        self._scan_id = self.background.run(lambda: summarize_folder(path), "maskviz-scan")
        self._update_buttons()

    def _folder_note(self, text: str, error: bool = False) -> None:
        self.folder_info.setText(text)
        self.folder_info.setStyleSheet(ERROR_STYLE if error else "")

    def _show_folder(self, summary: FolderSummary) -> None:
        self.folder = summary
        self._folder_note(summary.text())
        for array in summary.thumbnails:
            label = QLabel(self.thumbs.widget())
            label.setPixmap(to_pixmap(array, THUMB_PX))
            label.setFixedSize(THUMB_PX, THUMB_PX)
            self.thumb_row.insertWidget(len(self.thumb_labels), label)
            self.thumb_labels.append(label)
        self.thumbs.setVisible(bool(summary.thumbnails))

    def _clear_thumbnails(self) -> None:
        for label in self.thumb_labels:
            label.deleteLater()
        self.thumb_labels.clear()
        self.thumbs.hide()

    def choose_run_folder_dialog(self) -> None:
        start = str(Path(self.run_edit.text()).parent) if self.run_edit.text() else str(self.runs_root)
        if path := QFileDialog.getExistingDirectory(self, "Folder for the new run", start):
            self.run_edit.setText(path)

    def new_run_folder(self) -> None:
        """A fresh ``<runs>/<timestamp>`` name for the next Start."""
        self.run_edit.setText(str(new_run_folder(self.runs_root)))

    def request_from_form(self) -> TrainRequest:
        """The form as a TrainRequest, or a TrainError that says what to fix."""
        if self.process.running:
            raise TrainError("a training run is already going: stop it first")
        self._check_folder()
        if self.base is None:
            raise TrainError("no model is loaded in the viewer yet")
        mask = self.mask_edit.text().strip() or None
        if mask is not None:
            parse_mask_mixture(mask)  # the same check as maskviz train's
        out = Path(self.run_edit.text().strip() or self.runs_root / time.strftime("%Y%m%d-%H%M%S")).expanduser()
        if RunDir(out).config.exists():
            raise TrainError(f"{out} already holds a training run: open it with Open run… to resume it, "
                             "or choose another run folder")
        if out.exists() and not out.is_dir():
            raise TrainError(f"the run folder {out} is a file")
        return self._request()

    def _request(self) -> TrainRequest:
        """The form as it stands (placeholders where the folder or model is still missing)."""
        folder = str(self.folder.root) if self.folder is not None else self.folder_edit.text().strip() or "FOLDER"
        model = model_argument(self.base) if self.base is not None else "MODEL"
        out = Path(self.run_edit.text().strip() or self.runs_root).expanduser()
        mask = self.mask_edit.text().strip() or None
        return TrainRequest(folder, model, str(out.absolute()), self.steps_spin.value(), self.batch_spin.value(),
                            mask, self._learning_rate(), self.augment_combo.currentText(), self.workers_spin.value(),
                            self.amp_combo.currentText(), self.device_combo.currentText())

    def _check_folder(self) -> None:
        typed = self.folder_edit.text().strip()
        if self.folder is not None and typed and Path(typed).expanduser() != self.folder.root:
            self.set_folder(typed)  # typed but not confirmed: look at it first
        if self.folder_error:
            raise TrainError(self.folder_error)
        if self.folder is None:
            raise TrainError("still looking for images in the folder: try again in a moment" if typed
                             else "choose a folder of training images first")

    def _learning_rate(self) -> float | None:
        text = self.lr_edit.text().strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (value > 0 and math.isfinite(value)):
            raise TrainError(f"the learning rate must be a positive number such as 1.5e-4 (or blank for the "
                             f"default), not {text!r}")
        return value

    # ============================================================== commands

    def start(self) -> bool:
        """Start a new run from the form; False (and a plain message) when something needs fixing."""
        try:
            request = self.request_from_form()
            self.process.start(request)
        except MaskvizError as exc:
            self._refuse("Cannot start training", exc)
            return False
        self._save_settings()
        self._begin(RunDir(request.out), "Starting… (loading PyTorch takes a few seconds)")
        return True

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Graceful stop: the run saves after its current step (forced after a timeout)."""
        if not self.process.running:
            if then is not None:
                then()
            return
        self.process.stop(then)
        self._set_status("Stopping after the current step…")

    def resume(self) -> bool:
        """Continue the current run where its last checkpoint left it."""
        run = self.run_dir
        try:
            if run is None:
                raise TrainError("no run to resume: start one, or open an earlier one with Open run…")
            run.read()
            if self.last_reason == "done":
                raise TrainError(f"{run.path.name} already finished all its steps")
            if pid := running_elsewhere(run):
                raise TrainError(f"{run.path.name} is still training in process {pid}; it is followed here "
                                 "once opened, stop it first to resume it from here")
            self.process.resume(run.path)
        except MaskvizError as exc:
            self._refuse("Cannot resume", exc)
            return False
        self.run_edit.setText(str(run.path))  # the field names the run being written
        self._begin(run, f"Resuming {run.path.name}…")
        return True

    def detach(self) -> int:
        """Let the run go on after the app quits (its files keep recording it); returns its pid."""
        pid = self.process.detach()
        if pid:
            self._set_status(f"Left running in the background (process {pid}); open its run folder later.")
        return pid

    @property
    def running(self) -> bool:
        return self.process.running

    def open_run_dialog(self) -> None:
        if path := QFileDialog.getExistingDirectory(self, "Open a training run", str(self.runs_root)):
            self.open_run(path)

    def open_run(self, path: str | Path) -> bool:
        """Show an existing run (curves, state) so it can be resumed or opened in the viewer; a run
        still being written by another process is followed live."""
        if self.process.running:
            self._refuse("Cannot open a run", "a training run is going: stop it first")
            return False
        run = RunDir(path)
        try:
            config, _plan = run.read()
        except MaskvizError as exc:
            self._refuse("Cannot open the run", exc)
            return False
        if pid := running_elsewhere(run):
            self._follow(run, pid)
            return True
        events = read_events(run.metrics)[0]
        self.run_dir, self.total_steps, self.last_step = run, config.steps or 0, None
        ends = [e for e in events if e.event in ("start", "end")]
        ended = bool(ends) and ends[-1].event == "end"
        self.last_reason = ends[-1].reason if ended else ""
        self._reset_monitor()
        self._on_events(events, False)
        verdict = self.curves.verdict_text()[0]
        self._set_status(f"Run {run.path.name}: " + (ending_text(self.last_reason, ends[-1].message or "",
                                                                 ends[-1].step, self.total_steps)
                                                     if ended else "no end recorded (it was killed or crashed); "
                                                     "Resume continues from its last checkpoint.")
                         + (f" {verdict[:1].upper()}{verdict[1:]}." if verdict else ""))
        self._update_buttons()
        return True

    def follow_live_run(self) -> bool:
        """Pick up a run still training (its lock names a live process here), e.g. after a restart."""
        for run in list_runs(self.runs_root):
            if pid := running_elsewhere(run):
                self._follow(run, pid)
                return True
        return False

    def _follow(self, run: RunDir, pid: int) -> None:
        self.run_edit.setText(str(run.path))  # the field names the run being written
        self._begin(run, f"Following {run.path.name}, still training in process {pid}…")
        self.process.attach(run.path, pid)

    def refresh_runs(self) -> None:
        """The Runs list, newest first."""
        self.runs_combo.clear()
        runs = list_runs(self.runs_root)
        self.runs_combo.addItem(f"{len(runs)} run{'s' * (len(runs) != 1)} in {self.runs_root}" if runs
                                else f"no runs yet in {self.runs_root}", "")
        for run in runs:
            self.runs_combo.addItem(run_summary(run)[1], str(run.path))

    def _open_listed_run(self) -> None:
        if path := self.runs_combo.currentData():
            self.open_run(path)

    def open_result(self, which: str = "last") -> bool:
        """Compare the current run's final (or best) model with its base on the viewer's image and mask
        (off the UI thread)."""
        run = self.run_dir
        try:
            if run is None or result_checkpoint(run, which) is None:
                raise TrainError("the run has no checkpoint yet: it saves one when it validates, stops or ends")
            context = self.viewer_context()
            if context is None:
                raise TrainError("open an image in the viewer first")
        except MaskvizError as exc:
            self._refuse("Cannot open the result", exc)
            return False
        self.compare.hint.setText("Reconstructing with the base and the fine-tuned model…")
        self.tabs.setCurrentIndex(2)
        path = run.path
        self.compare.which.setCurrentIndex(max(0, self.compare.which.findData(which)))
        self._compare_id = self.compare_runner.run(lambda: compare_run(path, context, which), "maskviz-compare")
        return True

    # ============================================================== following a run

    def _begin(self, run: RunDir, status: str) -> None:
        self.run_dir, self.last_reason, self.total_steps, self.last_step = run, "", 0, None
        self._reset_monitor()
        self.log_view.clear()
        self.refresh_runs()
        self.crash_label.hide()
        self.tabs.setCurrentWidget(self.curves)
        self._set_status(status)
        self._update_buttons()

    def _reset_monitor(self) -> None:
        self.curves.clear()
        self.warnings.clear()
        self.warning_label.hide()
        self.progress.setRange(0, max(self.total_steps, 1))
        self.progress.setValue(0)
        self.speed_label.setText("")

    def _on_events(self, events: list[TrainEvent], reset: bool) -> None:
        if reset:
            self.curves.clear()
        self.curves.add(events)
        for e in events:
            if e.event == "start" and e.total_steps:
                self.total_steps = e.total_steps
                self.progress.setRange(0, e.total_steps)
            if e.event in ("start", "step"):
                self.progress.setValue(e.step)
            if e.event == "step":
                self.last_step = e
            if e.event == "warning" and e.message and e.message not in self.warnings:
                self.warnings.append(e.message)
        self.warning_label.setText("\n".join(f"⚠ {w}" for w in self.warnings))
        self.warning_label.setVisible(bool(self.warnings))
        self.speed_label.setText(progress_text(self.last_step, self.total_steps, self.process.running))
        if self.process.running and self.process.state == "running" and self.last_step is not None:
            self._set_status(self.training_status(), warn=self.curves.verdict_text()[1])
        self._update_buttons()

    def training_status(self) -> str:
        """``Training RUN: step 120/300 · loss 0.41 (smoothed) · validation -12.0 % vs the starting model``."""
        curves, step = self.curves, self.last_step.step if self.last_step else 0
        parts = [f"Training {self.run_dir.path.name}: step {step}/{self.total_steps or '?'}"]
        if curves.losses:
            parts.append(f"loss {ema(curves.losses)[-1]:.4f} (smoothed)")
        verdict = curves.verdict_text()[0]
        if verdict:
            parts.append(verdict)
        elif step > 0 and not curves.val_steps:
            parts.append("no validation yet")
        return " · ".join(parts)

    def idle_status(self) -> str:
        """What to do next, from what the form holds (the run, when one is shown, speaks for itself)."""
        if self.base is None:
            return "Waiting for the viewer's model."
        if self.folder is None:
            return ("Looking for images…" if self.folder_edit.text().strip()
                    else "Choose a folder of images, then press Start. The viewer stays usable while a run trains.")
        return (f"Ready: {self.folder.found} images, {self.steps_spin.value()} steps. Press Start; the viewer "
                "stays usable while the run trains.")

    def _on_output(self, lines: list[str]) -> None:
        self.log_view.appendPlainText("\n".join(lines))
        self._follow_log_end()

    def _follow_log_end(self) -> None:
        """Keep the newest line in view, from its start."""
        self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())
        self.log_view.horizontalScrollBar().setValue(0)

    def _on_finished(self, reason: str, exit_code: int, message: str) -> None:
        self.last_reason = reason
        if self.run_dir is not None and Path(self.run_edit.text()).expanduser() == self.run_dir.path:
            self.new_run_folder()  # the next Start must not collide with this run
        step = self.last_step.step if self.last_step is not None else 0
        text = ending_text(reason, message, step, self.total_steps)
        verdict = self.curves.verdict_text()[0]
        if verdict and reason != "error":
            text += f" {verdict[:1].upper()}{verdict[1:]}."
        self.speed_label.setText(progress_text(self.last_step, self.total_steps, running=False))
        self.refresh_runs()
        bad = self.curves.verdict_text()[1]
        self._set_status(text, error=reason == "error", good=reason == "done" and not bad, warn=bad)
        if reason == "error":
            self._show_crash(message)
        self.message.emit(f"Training: {text}")
        self._update_buttons()

    def _show_crash(self, message: str) -> None:
        """The plain error above the log tail; the log comes from train.log when the child said nothing."""
        if not self.log_view.toPlainText().strip() and self.run_dir is not None:
            try:
                lines = self.run_dir.log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
            except OSError:
                lines = []
            self.log_view.setPlainText("\n".join(lines) or "(the run wrote no log)")
            self._follow_log_end()
        self.crash_label.setText(message)
        self.crash_label.show()
        self.tabs.setCurrentIndex(1)

    def use_compare_runner(self, runner: Any) -> None:  # noqa: ANN401 - a Background look-alike
        """Run comparisons (two models' forwards) on ``runner``: the viewer's worker lane, so torch is
        used by one thread at a time. Its ids are its own, so its results have their own handlers."""
        self.compare_runner = runner
        runner.done.connect(lambda i, v: i == self._compare_id and self._on_background_done(i, v, compare=True))
        runner.failed.connect(lambda i, m: i == self._compare_id and self._on_background_failed(i, m, compare=True))

    def _on_background_done(self, task_id: int, value: Any, compare: bool = False) -> None:
        if not compare and task_id == self._scan_id:
            self._show_folder(value)
            if self.run_dir is None:
                self._set_status(self.idle_status())
        elif task_id == self._compare_id and compare == (self.compare_runner is not self.background):
            self.compare.show_comparison(value)
            self.tabs.setCurrentIndex(2)
        self._update_buttons()

    def _on_background_failed(self, task_id: int, message: str, compare: bool = False) -> None:
        if not compare and task_id == self._scan_id:
            self.folder_error = message
            self._folder_note(message, error=True)
        elif task_id == self._compare_id and compare == (self.compare_runner is not self.background):
            self.compare.hint.setText(f"Could not compare: {message}")
            self._refuse("Cannot open the result", message)
        self._update_buttons()

    # ============================================================== state and messages

    def _update_buttons(self) -> None:
        running = self.process.running
        run_known = self.run_dir is not None and self.run_dir.config.exists()
        states = {
            "start": not running and self.folder is not None and self.base is not None,
            "stop": running and self.process.state != "stopping",
            "resume": not running and run_known and self.last_reason != "done",
            "open_run": not running,
            "open_result": self.run_dir is not None and result_checkpoint(self.run_dir) is not None,
        }
        for name, on in states.items():
            self.actions_by_name[name].setEnabled(on)
            self.buttons[name].setEnabled(on)
        for w in (self.folder_edit, self.folder_button, self.run_edit, self.run_button, self.steps_spin,
                  self.batch_spin, self.mask_edit, self.lr_edit, self.advanced, self.runs_combo):
            w.setEnabled(not running)

    def _set_status(self, text: str, error: bool = False, good: bool = False, warn: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else WARN_STYLE if warn else GOOD_STYLE if good else "")

    def _refuse(self, title: str, error: BaseException | str) -> None:
        """A user action that cannot go ahead: a plain dialog, the form left as it was."""
        self._set_status(f"{title}: {error}", error=True)
        QMessageBox.warning(self, title, f"{title}: {error}")

    # ============================================================== settings

    def _save_settings(self) -> None:
        if self.settings is None:
            return
        for key, value in (("folder", self.folder_edit.text()), ("steps", self.steps_spin.value()),
                           ("batch", self.batch_spin.value()), ("mask", self.mask_edit.text()),
                           ("lr", self.lr_edit.text())):
            self.settings.setValue(f"train/{key}", value)

    def _restore_settings(self) -> None:
        if self.settings is None:
            return
        for key, spin in (("steps", self.steps_spin), ("batch", self.batch_spin)):
            try:
                spin.setValue(int(self.settings.value(f"train/{key}", spin.value())))
            except (TypeError, ValueError):
                pass
        self.mask_edit.setText(str(self.settings.value("train/mask", "") or ""))
        self.lr_edit.setText(str(self.settings.value("train/lr", "") or ""))
        folder = str(self.settings.value("train/folder", "") or "")
        if folder and Path(folder).is_dir():
            self.set_folder(folder)
