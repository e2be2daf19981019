"""MainWindow: paint a mask on the left, see what the model makes of it on the right.

The window is wiring only. Pictures and numbers come from the core (``reconstruct``, ``loss_sweep``,
``render_panel``, ``write_json``); model work goes through :class:`ModelWorker`, so the UI thread
never runs a forward pass or loads a checkpoint.

Live policy: a reconstruction is requested on every stroke end, pattern, undo/redo, image or model
change. While a stroke is in progress the window also requests one per mouse move, but only when
the last measured reconstruction took under :data:`LIVE_SECONDS` (a small model): the worker keeps at
most one request running and one pending, newer replacing older, so a slow model can never build
a backlog, and a large model (ViT-B takes ~250 ms on a laptop CPU) updates once per stroke instead
of lagging behind the brush. A request whose patch mask (and image, model, options) equals the
newest one is not sent again, so brushing inside already-hidden patches costs nothing, and the
background loss sweep is held while a stroke is drawn so the stroke's result does not queue behind it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from maskviz import masks
from maskviz.baselines import BASELINE_LABELS, BASELINES, baseline_reconstruction
from maskviz.bundled import MODEL_PREFIX, bundled_model_paths, default_sample, load_default_model, sample_paths
from maskviz.errors import MaskvizError
from maskviz.gui.background import Background
from maskviz.gui.canvas import TOOLS, MaskCanvas
from maskviz.gui.file_actions import FileActionsMixin
from maskviz.gui.garbage import collect_on_gui_thread
from maskviz.gui.loss_curve import LossCurve
from maskviz.gui.model_panel import ModelPanel
from maskviz.gui.panels import UNNORMALIZE_LABELS, ResultPanels
from maskviz.gui.patterns import PatternPanel
from maskviz.gui.session import config_dir, open_settings, read_session, recent, remember, write_session
from maskviz.gui.train_compare import ViewerContext
from maskviz.gui.training import TrainingPanel
from maskviz.gui.worker import ModelWorker, ReconOutcome, ReconRequest
from maskviz.images import fit_to_model, load_image

log = logging.getLogger("maskviz.gui")

LIVE_SECONDS = 0.05  # reconstruct during strokes only when the model answers faster than this
CURVE_DELAY_MS = 300  # let a burst of changes settle before starting a background sweep
BUSY_DELAY_MS = 150  # a busy indicator that flashes for every fast update is noise
BANNER_STYLE = ("QLabel { background: #fff3cd; color: #664d03; border: 1px solid #e0c36a; "
                "border-radius: 4px; padding: 6px; font-weight: bold; }")


def baseline_text(model, baseline, name: str) -> str:  # noqa: ANN001 - Reconstructions
    """``"model 20.70 dB · harmonic 21.62 dB"``: the PSNRs over the hidden pixels, side by side."""
    def db(r) -> str:  # noqa: ANN001
        return "∞" if r.psnr == float("inf") else f"{r.psnr:.2f} dB"
    if model.psnr is None or baseline.psnr is None:
        return ""
    return f"model {db(model)} · {name} {db(baseline)}"


def metrics_text(outcome: ReconOutcome | None, device: str, precision: str) -> str:
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


class MainWindow(FileActionsMixin, QMainWindow):
    """Canvas + patterns (left), result panels (centre), model and loss-curve docks."""

    resultShown = Signal(int)  # id of the reconstruction now on screen
    modelReady = Signal(object)  # the LoadedModel now in use

    def __init__(self, config_folder: str | os.PathLike | None = None, device: str = "auto",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from maskviz.device import available_devices, resolve_device

        self.config_folder = Path(config_folder) if config_folder else config_dir()
        self.settings = open_settings(self.config_folder)
        self.device = resolve_device(device)
        self.precision, self.unnormalize = "fp32", "true-patch"
        self.loaded: Any = None  # LoadedModel
        self.model_source: str | None = None  # checkpoint path; None = the bundled/built-in default
        self.image = None
        self.model_image = None  # self.image fitted to the model's input: what every request sends
        self.image_source: str | None = None
        self.current: ReconOutcome | None = None
        self.last_seconds: float | None = None
        self.stale_dropped = 0
        self.pattern_spec: str | None = None
        self._mask_label = "painted"
        self._applying = False
        self._restore_mask: np.ndarray | None = None
        self._last_key: tuple | None = None
        self._curve_key: tuple | None = None
        self._error_shown = ""
        self._models_seen = 0
        self._load_sources: dict[int, str | None] = {}
        self._suspended = False  # set_model changes several inputs; submit once at the end
        collect_on_gui_thread()  # before any worker thread starts: Qt objects must die on this thread
        self.worker = ModelWorker(self)
        self.baseline = "none"  # a name in maskviz.baselines.BASELINES, shown beside the model's result
        self.baseline_result = None  # its Reconstruction for the result on screen (None: none yet)
        self._baseline_job: tuple[str, Any] | None = None  # (name, model result) being filled in the background
        self._baseline_runner = Background(self)
        self._build_ui(available_devices())
        self._build_menus()
        self._connect()
        self.setAcceptDrops(True)
        self.setWindowTitle("maskviz")
        self.resize(1400, 900)
        self._restore_layout()

    # ================================================================== construction

    def _build_ui(self, devices: list[str]) -> None:
        self.banner = QLabel(self)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.canvas = MaskCanvas(self)
        self.patterns = PatternPanel(self)
        self.panels = ResultPanels(self)
        self.panels.link_view(self.canvas.view_box)
        self.metrics = QLabel("no reconstruction yet", self)
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("main-splitter")
        splitter.addWidget(self._left_column())
        splitter.addWidget(self.panels)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        self.splitter = splitter
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 2)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.metrics)
        self.setCentralWidget(central)
        self.model_panel = ModelPanel(devices, self)
        self.model_panel.set_device(self.device.type)
        self.curve = LossCurve(self)
        self.model_dock = self._dock("Model", "model-dock", self.model_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.curve_dock = self._dock("Loss vs mask ratio", "curve-dock", self.curve,
                                     Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.model_dock, self.curve_dock], [360, 360], Qt.Orientation.Horizontal)
        self.training = TrainingPanel(None, self.settings, self)  # runs in maskviz.paths.runs_dir()
        self.train_dock = self._dock("Train", "train-dock", self.training, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.curve_dock, self.train_dock)
        self.curve_dock.raise_()
        self._build_status_bar()

    def _left_column(self) -> QWidget:
        self.tool_box = QComboBox(self)
        self.tool_box.addItems(list(TOOLS))
        self.tool_box.setToolTip("B brush · E eraser · M rectangle · L polygon · F fill")
        self.brush_spin = QSpinBox(self, minimum=1, maximum=512, value=self.canvas.brush_size, suffix=" px")
        self.brush_spin.setToolTip("Brush size ([ and ])")
        self.threshold_spin = QDoubleSpinBox(self, minimum=0.0, maximum=100.0, decimals=0, singleStep=5,
                                             suffix=" %", value=self.canvas.threshold * 100)
        self.threshold_spin.setToolTip("A patch counts as hidden when at least this much of it is painted")
        tools = QHBoxLayout()
        for label, widget in (("Tool", self.tool_box), ("Size", self.brush_spin), ("Coverage", self.threshold_spin)):
            tools.addWidget(QLabel(label, self))
            tools.addWidget(widget)
        tools.addStretch(1)
        column = QWidget(self)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.patterns)
        return column

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.busy_label = QLabel("", self)
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)  # indeterminate: a torch forward reports no progress
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.hide()
        self.busy_label.hide()
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.busy_bar)
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(self._show_busy)
        self._curve_timer = QTimer(self, singleShot=True, interval=CURVE_DELAY_MS)
        self._curve_timer.timeout.connect(self._start_curve)

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        self._build_file_menu()
        edit = self.edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self.canvas.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.canvas.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        self._action(edit, "&Clear mask", self.canvas.clear, "Ctrl+Backspace")
        self._action(edit, "&Invert mask", self.canvas.invert, "Ctrl+I")
        self._build_view_menu()
        self._build_train_menu()

    def _build_file_menu(self) -> None:
        file = self.file_menu = self.menuBar().addMenu("&File")
        self._action(file, "&Open image…", self.open_image_dialog, QKeySequence.StandardKey.Open)
        samples = file.addMenu("&Samples")
        for name in sample_paths():
            samples.addAction(name, lambda n=name: self.open_image(f"sample:{n}"))
        file.addSeparator()
        self._action(file, "Open &model file…", self.open_model_dialog, "Ctrl+Shift+O")
        self._action(file, "Open model &folder…", self.open_model_folder_dialog)
        self.recent_menu = file.addMenu("&Recent models")
        self._action(file, "Bundled &default model", lambda: self.open_model(None))
        bundled = self.bundled_menu = file.addMenu("&Bundled models")
        for name in bundled_model_paths():
            bundled.addAction(name, lambda n=name: self.open_model(f"{MODEL_PREFIX}{n}"))
        file.addSeparator()
        self._action(file, "&Save mask PNG…", self.save_mask_dialog, QKeySequence.StandardKey.Save)
        self._action(file, "&Load mask PNG…", self.load_mask_dialog, "Ctrl+Shift+L")
        self._action(file, "&Export panels PNG…", self.export_panels_dialog, "Ctrl+E")
        self._action(file, "Export metrics &JSON…", self.export_metrics_dialog, "Ctrl+Shift+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self._update_recent()

    def _build_view_menu(self) -> None:
        view = self.view_menu = self.menuBar().addMenu("&View")
        self.grid_action = self._action(view, "Patch &grid", self._toggle_grid, "G")
        self.grid_action.setCheckable(True)
        self.grid_action.setChecked(self.canvas.grid_visible)
        self.snap_action = self._action(view, "&Snap to patches (show what the model sees)", self._toggle_snap, "S")
        self.snap_action.setCheckable(True)
        view.addSeparator()
        group = QActionGroup(self)
        self.heatmap_actions = {}
        for mode, text in (("pixel", "Error heatmap per &pixel"), ("patch", "Error heatmap per p&atch")):
            action = self._action(view, text, lambda _=False, m=mode: self.panels.set_heatmap_mode(m))
            action.setCheckable(True)
            action.setChecked(mode == self.panels.heatmap_mode)
            group.addAction(action)
            self.heatmap_actions[mode] = action
        view.addSeparator()
        baselines = self.baseline_menu = view.addMenu("&Baseline")
        group = QActionGroup(self)
        self.baseline_actions = {}
        for name, text in (("none", "&none"), *BASELINE_LABELS.items()):
            action = self._action(baselines, text, lambda _=False, n=name: self.set_baseline(n))
            action.setCheckable(True)
            action.setChecked(name == self.baseline)
            group.addAction(action)
            self.baseline_actions[name] = action
        view.addSeparator()
        self._action(view, "&Reset zoom", self.reset_zoom, "Ctrl+0")
        view.addSeparator()
        view.addAction(self.model_dock.toggleViewAction())
        view.addAction(self.curve_dock.toggleViewAction())
        view.addAction(self.train_dock.toggleViewAction())

    def _build_train_menu(self) -> None:
        train = self.train_menu = self.menuBar().addMenu("&Train")
        self._action(train, "Training &panel", self.show_training, "Ctrl+T")
        train.addSeparator()
        actions = self.training.actions_by_name
        train.addActions([actions[name] for name in ("start", "stop", "resume")])
        train.addSeparator()
        train.addActions([actions["open_run"], actions["open_result"]])

    def _connect(self) -> None:
        self.canvas.maskChanged.connect(self._on_mask_changed)
        self.canvas.hovered.connect(self.panels.show_hover)
        self.canvas.toolChanged.connect(self.tool_box.setCurrentText)
        self.canvas.brushSizeChanged.connect(self.brush_spin.setValue)
        self.tool_box.textActivated.connect(lambda t: setattr(self.canvas, "tool", t))
        self.brush_spin.valueChanged.connect(lambda v: setattr(self.canvas, "brush_size", v))
        self.threshold_spin.valueChanged.connect(lambda v: setattr(self.canvas, "threshold", v / 100))
        self.patterns.patternApplied.connect(self._on_pattern)
        self.panels.unnormalizeChanged.connect(self.set_unnormalize)
        self.panels.heatmapModeChanged.connect(lambda m: self.heatmap_actions[m].setChecked(True))
        self.model_panel.openFileRequested.connect(self.open_model_dialog)
        self.model_panel.openFolderRequested.connect(self.open_model_folder_dialog)
        self.model_panel.recentRequested.connect(self.open_model)
        self.model_panel.deviceChanged.connect(self.set_device)
        self.model_panel.precisionChanged.connect(self.set_precision)
        self.model_panel.unnormalizeChanged.connect(self.set_unnormalize)
        self.worker.reconstructed.connect(self._on_reconstructed)
        self.worker.modelLoaded.connect(self._on_model_loaded)
        self.worker.curveStep.connect(self._on_curve_step)
        self.worker.curveDone.connect(self._on_curve_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.busyChanged.connect(self._on_busy_changed)
        self._baseline_runner.done.connect(self._on_baseline_done)
        self._baseline_runner.failed.connect(self._on_baseline_failed)
        self.modelReady.connect(self.training.set_base_model)
        self.training.useModelRequested.connect(self.open_model)
        self.training.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.training.viewer_context = self.training_context

    # ================================================================== starting

    def start(self, image: str | None = None, model: str | None = None, restore: bool = True) -> None:
        """Open what the command line names, else what the last session had, else the defaults."""
        session = read_session(self.config_folder) if restore else {}
        self._apply_session_options(session)
        if image is None and isinstance(session.get("mask"), list):
            self._restore_mask = np.asarray(session["mask"], dtype=bool)
        # The model loads in the background first, so it is ready even while an image error dialog waits.
        self.open_model(model or session.get("model"))
        source = image or session.get("image") or default_sample()
        if not self.open_image(source, quiet=image is None) and source != default_sample():
            self.open_image(default_sample())

    def _apply_session_options(self, session: dict[str, Any]) -> None:
        from maskviz.device import resolve_device

        try:
            if session.get("device"):
                self.device = resolve_device(session["device"])
        except MaskvizError:
            pass  # the session's GPU is gone: stay on the default device
        self.model_panel.set_device(self.device.type)
        if session.get("precision") in ("fp32", "bf16", "fp16") and self.device.type != "cpu":
            self.precision = session["precision"]
            self.model_panel.set_precision(self.precision)
        if session.get("unnormalize") in UNNORMALIZE_LABELS:
            self.set_unnormalize(session["unnormalize"])
        if session.get("heatmap") in self.heatmap_actions:
            self.panels.set_heatmap_mode(session["heatmap"])
        if session.get("pattern"):
            try:
                self.patterns.set_spec(session["pattern"])
                self.pattern_spec = session["pattern"]
            except MaskvizError:
                pass
        for key, attr in (("threshold", "threshold"), ("brush_size", "brush_size")):
            if isinstance(session.get(key), int | float):
                setattr(self.canvas, attr, session[key])
        self.threshold_spin.setValue(self.canvas.threshold * 100)
        self.brush_spin.setValue(self.canvas.brush_size)

    # ================================================================== images

    def open_image(self, source: str | os.PathLike, quiet: bool = False) -> bool:
        """Load an image (path or ``sample:NAME``); on failure keep the current one and say why."""
        try:
            image = load_image(source)
        except MaskvizError as exc:
            if quiet:
                self.statusBar().showMessage(f"Could not reopen the last image: {exc}", 10000)
            else:
                self.show_error("Could not open the image", exc)
            return False
        self.image, self.image_source = image, str(source)
        self._last_key = self._curve_key = None
        self.panels.clear_levels()
        self._show_image()
        self._update_title()
        self.request_reconstruction()
        self.schedule_curve()
        return True

    def _show_image(self) -> None:
        """The image as the model sees it (resized and cropped), so canvas pixels are model pixels."""
        if self.image is None or self.loaded is None:
            return
        c = self.loaded.model.config
        # Fitted once per image and model: a 24 MP photo would otherwise be resized on every
        # request and push even the small model out of live updates.
        self.model_image = fit_to_model(self.image, c.img_size)
        self.canvas.set_image(np.asarray(self.model_image, dtype=np.uint8), c.patch_size)

    # ================================================================== models

    def open_model(self, path: str | os.PathLike | None) -> int:
        """Load a checkpoint (None = bundled default) on the worker; returns the task id."""
        from maskviz.checkpoints import load_model

        device, source = self.device, None if path is None else str(path)

        def load() -> tuple[Any, str | None]:
            loaded = load_default_model(device) if source is None else load_model(source, device=device)
            return loaded, source

        name = "the default model" if source is None else Path(source).name
        self.model_panel.set_loading(f"loading {name}…")
        self.statusBar().showMessage(f"Loading {name}…")
        task_id = self.worker.load_model(load)
        self._load_sources[task_id] = source
        return task_id

    def set_model(self, loaded: Any, source: str | None = None) -> None:
        """Use a loaded model (the worker's result, or a test's); the painted mask survives if it fits."""
        self.loaded, self.model_source = loaded, source
        summary = loaded.summary()
        self.model_panel.set_summary(summary)
        self.model_panel.set_loading("")
        self.statusBar().clearMessage()
        builtin = loaded.format == "builtin"
        self.banner.setText("⚠ " + " ".join(loaded.notes) if builtin else "")
        self.banner.setVisible(builtin)
        self.panels.set_norm_pix(bool(summary["norm_pix"]))
        self.panels.clear_levels()
        model = loaded.model
        self.patterns.set_grid(model.grid_size, model.patch_size)
        if source is not None:
            remember(self.settings, "recent_models", source)
            self._update_recent()
        self.last_seconds = None  # measure the new model before painting live
        self._last_key = self._curve_key = None
        grid_before = self.canvas.patch_mask().shape
        self._suspended = True
        try:
            self._show_image()
            self._restore_or_regenerate_mask(grid_before)
        finally:
            self._suspended = False
        self._models_seen += 1
        self._update_title()
        self.request_reconstruction()
        self.schedule_curve()
        self.modelReady.emit(loaded)

    def _restore_or_regenerate_mask(self, grid_before: tuple[int, int]) -> None:
        grid = tuple(self.loaded.model.grid_size)
        restore, self._restore_mask = self._restore_mask, None
        if restore is not None and restore.shape == grid:
            self._set_mask(restore, self.pattern_spec or "painted", "Restore mask")
        elif grid != grid_before or self._models_seen == 0:
            self.patterns.apply()  # a new grid empties the canvas: show the chosen pattern instead

    def set_device(self, name: str) -> None:
        """Move the model to another device (on the worker, it may take a moment)."""
        from maskviz.device import resolve_device

        try:
            device = resolve_device(name)
        except MaskvizError as exc:
            self.show_error("Cannot use that device", exc)
            self.model_panel.set_device(self.device.type)
            return
        if device == self.device:
            return
        self.device = device
        if device.type == "cpu":
            self.precision = "fp32"
        self.model_panel.set_device(device.type)
        if self.loaded is not None:
            loaded, source = self.loaded, self.model_source

            def move() -> tuple[Any, str | None]:
                loaded.model.to(device)
                return loaded, source

            self.model_panel.set_loading(f"moving the model to {device.type}…")
            self.worker.load_model(move)

    def set_precision(self, precision: str) -> None:
        self.precision = precision
        self.request_reconstruction()
        self.schedule_curve()

    def set_unnormalize(self, mode: str) -> None:
        """How norm-pix predictions are shown; both controls show the same value."""
        if mode not in UNNORMALIZE_LABELS:
            return
        self.unnormalize = mode
        self.panels.set_unnormalize(mode)
        self.model_panel.set_unnormalize(mode)
        self.request_reconstruction()

    def _on_model_loaded(self, task_id: int, value: tuple[Any, str | None]) -> None:
        if task_id != self.worker.latest_id("load"):
            return  # the user has asked for another model since
        loaded, source = value
        self.set_model(loaded, source)

    def _update_recent(self) -> None:
        paths = recent(self.settings, "recent_models")
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.open_model(p))
        self.recent_menu.setEnabled(bool(paths))
        self.model_panel.set_recent(paths)

    # ================================================================== masks and reconstruction

    @property
    def live(self) -> bool:
        """Whether strokes update the panels while the button is still down (fast models only)."""
        return self.last_seconds is not None and self.last_seconds < LIVE_SECONDS

    def _on_mask_changed(self, final: bool) -> None:
        if not self._applying:
            self._mask_label = "painted"
        if not final:
            self.worker.hold("curve")  # the stroke's result must not wait behind a background sweep step
        if final or self.live:
            self.request_reconstruction()
        if final:
            self.worker.hold("curve", False)

    def _on_pattern(self, spec: str, mask: np.ndarray) -> None:
        self.pattern_spec = spec
        self._set_mask(mask, spec, f"Pattern {spec}")
        self.schedule_curve()

    def _set_mask(self, mask: np.ndarray, label: str, undo_text: str) -> None:
        self._applying = True
        try:
            self.canvas.set_patch_mask(mask, undo_text)
        except MaskvizError as exc:  # a mask for another patch grid: keep the painting, say why
            self.show_error("Could not use that mask", exc)
            return
        finally:
            self._applying = False
        self._mask_label = label
        self.request_reconstruction()

    def request_reconstruction(self) -> int:
        """Submit the current image, mask and options; the newest request wins. Returns its id (0: none)."""
        if self.loaded is None or self.model_image is None or self._suspended:
            return 0
        mask = self.canvas.patch_mask()
        model = self.loaded.model
        if mask.shape != tuple(model.grid_size):
            return 0  # the canvas has not been resized for this model yet
        key = (id(model), id(self.model_image), mask.tobytes(), self.unnormalize, self.precision)
        if key == self._last_key and self.worker.latest_id("recon"):
            return self.worker.latest_id("recon")  # same input as the newest request: nothing to redo
        self._last_key = key
        return self.worker.submit(ReconRequest(model, self.model_image, mask, self.unnormalize, self.precision))

    def _on_reconstructed(self, task_id: int, outcome: ReconOutcome) -> None:
        if task_id != self.worker.latest_id("recon"):
            self.stale_dropped += 1  # superseded while it ran: showing it would flash an old mask
            return
        self.current = outcome
        self.last_seconds = outcome.seconds
        r = outcome.result
        self.panels.show_result(r, task_id)
        self._update_baseline()
        self._show_metrics()
        self.curve.set_marker(masks.mask_ratio(r.mask), r.loss)
        self._error_shown = ""
        self.resultShown.emit(task_id)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if task_id != self.worker.latest_id(lane):
            return
        if lane == "load":
            self.model_panel.set_loading("")
            self.statusBar().clearMessage()
            self.show_error("Could not open the model", message)
            if self.loaded is None and self._load_sources.get(task_id) is not None:
                self.open_model(None)  # start-up with a broken checkpoint: fall back to the default
        elif lane == "recon":
            self.metrics.setText(f"reconstruction failed: {message}")
            if message != self._error_shown:  # one dialog per problem, not one per mouse move
                self._error_shown = message
                self.show_error("Could not reconstruct", message)
        else:
            self.curve.set_status(f"loss curve failed: {message}")

    def _show_metrics(self) -> None:
        text = metrics_text(self.current, self.device.type, self.precision)
        if self.current is not None and self.baseline_result is not None:
            compared = baseline_text(self.current.result, self.baseline_result, self.baseline)
            text = f"{text} · {compared}" if compared else text
        self.metrics.setText(text)

    # ================================================================== baselines

    def set_baseline(self, name: str | None) -> None:
        """Show a non-learned fill (a name in ``BASELINES``; ``"none"`` or None hides it) beside the model's."""
        name = name or "none"
        if name != "none" and name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; baselines: none, {', '.join(BASELINES)}")
        self.baseline_actions[name].setChecked(True)
        if name == self.baseline:
            return
        self.baseline, self.baseline_result = name, None
        self.panels.set_baseline_visible(name != "none")
        self._update_baseline()
        self._show_metrics()

    def _baseline_matches(self, result: Any) -> bool:
        """Whether the baseline on screen was filled for ``result``'s image and mask (it depends on nothing else)."""
        b = self.baseline_result
        return (b is not None and result is not None and b.family == f"baseline:{self.baseline}"
                and np.array_equal(b.mask, result.mask) and np.array_equal(b.original, result.original))

    def _update_baseline(self) -> None:
        """Fill the baseline panel for the result on screen. Off the UI thread (harmonic at 224 px takes a
        while), one fill at a time: a result shown meanwhile is filled when the running one ends."""
        r = self.panels.result
        if self.baseline == "none" or r is None or self._baseline_matches(r):
            return
        # What is on screen was filled for an older mask (or another fill): never show it beside a newer result.
        self.baseline_result = None
        self.panels.show_baseline(None, f"baseline: {BASELINE_LABELS[self.baseline]} (computing…)")
        if self._baseline_job is not None:
            return  # _on_baseline_done starts the newest
        name, original, mask = self.baseline, r.original, r.mask
        patch = original.shape[0] // mask.shape[0]
        self._baseline_job = (name, r)
        self._baseline_runner.run(lambda: baseline_reconstruction(name, original, mask, patch),
                                  name="maskviz-baseline")

    def _on_baseline_done(self, _task_id: int, value: Any) -> None:
        name, source = self._baseline_job or ("", None)
        self._baseline_job = None
        if name == self.baseline and source is self.panels.result:
            self.baseline_result = value
            self.panels.show_baseline(value, BASELINE_LABELS[name])
            self._show_metrics()
        else:
            self._update_baseline()  # the mask or the choice changed while it ran

    def _on_baseline_failed(self, _task_id: int, message: str) -> None:
        name, source = self._baseline_job or ("", None)
        self._baseline_job = None
        if name == self.baseline and source is self.panels.result:
            self.panels.show_baseline(None, f"baseline failed: {message}")
        else:
            self._update_baseline()

    # ================================================================== loss curve

    def schedule_curve(self) -> None:
        """Recompute the loss curve soon (debounced); unchanged inputs keep the current curve."""
        self._curve_timer.start()

    def _start_curve(self) -> None:
        from maskviz.sweep import DEFAULT_RATIOS, DEFAULT_SEEDS, loss_sweep, sweep_label, sweep_spec

        if self.loaded is None or self.model_image is None:
            return
        family = sweep_spec(self.pattern_spec)
        key = (id(self.loaded.model), id(self.model_image), str(family), self.precision)
        if key == self._curve_key:
            return
        self._curve_key = key
        self.curve.reset(sweep_label(family), len(DEFAULT_SEEDS), len(DEFAULT_RATIOS))
        if self.current is not None:
            r = self.current.result
            self.curve.set_marker(masks.mask_ratio(r.mask), r.loss)
        self.worker.submit_curve(loss_sweep(self.loaded.model, self.model_image, family, precision=self.precision))

    def _on_curve_step(self, task_id: int, point: Any) -> None:
        if task_id == self.worker.latest_id("curve"):
            self.curve.add_point(point)

    def _on_curve_done(self, task_id: int) -> None:
        if task_id == self.worker.latest_id("curve"):
            self.curve.finish()

    # ================================================================== busy indicator

    def _on_busy_changed(self, lane: str, busy: bool) -> None:
        if lane == "curve":
            return
        if self.worker.is_busy("recon") or self.worker.is_busy("load"):
            if not self._busy_timer.isActive() and not self.busy_bar.isVisible():
                self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy_bar.hide()
            self.busy_label.hide()

    def _show_busy(self) -> None:
        loading = self.worker.is_busy("load")
        if not (loading or self.worker.is_busy("recon")):
            return
        self.busy_label.setText("loading model…" if loading else "reconstructing…")
        self.busy_label.show()
        self.busy_bar.show()

    @property
    def busy(self) -> bool:
        """Whether the busy indicator is on screen."""
        return self.busy_bar.isVisible()

    # ================================================================== view

    def _toggle_grid(self, on: bool) -> None:
        self.canvas.grid_visible = on

    def _toggle_snap(self, on: bool) -> None:
        self.canvas.snap_to_patches = on

    def reset_zoom(self) -> None:
        self.canvas.reset_view()
        self.panels.reset_view()

    def _update_title(self) -> None:
        parts = ["maskviz"]
        if self.image_source:
            parts.append(self.image_source.removeprefix("sample:") if self.image_source.startswith("sample:")
                         else Path(self.image_source).name)
        if self.loaded is not None:
            parts.append(self.loaded.summary()["description"])
        self.setWindowTitle(" — ".join(parts))

    # ================================================================== errors

    def show_error(self, title: str, error: BaseException | str) -> None:
        """A plain dialog with the MaskvizError sentence; the app state is left as it was."""
        log.info("%s: %s", title, error)
        QMessageBox.warning(self, title, f"{title}: {error}")

    # ================================================================== session

    def session_data(self) -> dict[str, Any]:
        """What a restart restores: image, model, mask (patch grid), pattern and options."""
        return {
            "image": self.image_source,
            "model": self.model_source,
            "device": self.device.type,
            "precision": self.precision,
            "unnormalize": self.unnormalize,
            "mask": self.canvas.patch_mask().astype(int).tolist(),
            "pattern": self.pattern_spec,
            "heatmap": self.panels.heatmap_mode,
            "threshold": self.canvas.threshold,
            "brush_size": self.canvas.brush_size,
        }

    def save_session(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.sync()
        if self.image_source is None:
            return
        try:
            write_session(self.config_folder, self.session_data())
        except MaskvizError as exc:  # a full disk must not stop the app from closing
            log.warning("could not save the session: %s", exc)

    def showEvent(self, event) -> None:  # noqa: ANN001 - QShowEvent
        """First show without a saved layout: canvas 2/5, panels 3/5 (size hints would squeeze the panels)."""
        super().showEvent(event)
        if not self._layout_restored and not getattr(self, "_sized", False):
            self._sized = True
            width = max(self.splitter.width(), 600)
            self.splitter.setSizes([width * 2 // 5, width - width * 2 // 5])

    def _restore_layout(self) -> None:
        self._layout_restored = False
        for key, restore in (("geometry", self.restoreGeometry), ("state", self.restoreState),
                             ("splitter", self.splitter.restoreState)):
            value = self.settings.value(key)
            if isinstance(value, QByteArray | bytes):
                self._layout_restored = bool(restore(value)) or self._layout_restored

    # ================================================================== training

    def show_training(self) -> None:
        """Show and raise the Train dock, giving it most of the column's height (it holds a form and curves)."""
        self.train_dock.show()
        self.train_dock.raise_()
        if not self.train_dock.isFloating() and not self.model_dock.isFloating():
            self.resizeDocks([self.model_dock, self.train_dock], [1, 3 * self.height()], Qt.Orientation.Vertical)

    def training_context(self) -> ViewerContext | None:
        """What "Open in viewer" compares on: the image, mask and model on screen now."""
        if self.image is None:
            return None
        return ViewerContext(self.loaded, self.image, self.canvas.patch_mask(), self.unnormalize)

    def ask_stop_training(self) -> str:
        """``"stop"``, ``"keep"`` (running in the background) or ``"cancel"``; tests replace this method."""
        box = QMessageBox(QMessageBox.Icon.Question, "Stop the training run?",
                          "A training run is still going. Stop it (it saves its last step first), leave it "
                          "running in the background, or keep the window open?", parent=self)
        stop = box.addButton("Stop", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep running in background", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "stop" if clicked == stop else "keep" if clicked == keep else "cancel"

    def _may_close(self) -> bool:
        """With a run going: stop it and close once it has saved, leave it running, or stay open."""
        if not self.training.running:
            return True
        if self.training.process.state == "stopping":
            self.statusBar().showMessage("Still stopping the training run; the window closes once it has saved…")
            return False
        answer = self.ask_stop_training()
        if answer == "keep":
            self.training.detach()
            return True
        if answer == "stop":
            self.statusBar().showMessage("Stopping the training run; the window closes once it has saved…")
            self.training.stop(then=self.close)
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_close():
            event.ignore()
            return
        self.save_session()
        self.worker.shutdown()
        super().closeEvent(event)
