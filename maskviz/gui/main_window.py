"""MainWindow: builds the views, docks and menus and wires them to one viewer state.

The document (image, model, mask and its provenance, options, result) lives in
:class:`~maskviz.gui.state.ViewerState`; :class:`~maskviz.gui.controller.Controller` turns its
changes into worker jobs and writes results back. Every view (canvas, pattern panel, result panels
and their hover readout, metrics line, model dock, loss curve) reads the state and redraws on its
signals. The window itself keeps no document state: it builds widgets, one method per menu (so a
new action is one line in the right method), routes tool keys to the canvas whatever has focus
(except a text field), shows errors, and saves and restores the session.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QScreen
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from maskviz.baselines import BASELINE_LABELS, BASELINES
from maskviz.bundled import MODEL_PREFIX, bundled_model_paths, default_sample, sample_paths
from maskviz.errors import MaskvizError
from maskviz.gui.canvas import MaskCanvas
from maskviz.gui.compare_view import CompareView
from maskviz.gui.controller import Controller
from maskviz.gui.file_actions import FileActionsMixin
from maskviz.gui.keys import KeyRouter
from maskviz.gui.loss_curve import LossCurve
from maskviz.gui.model_panel import ModelPanel
from maskviz.gui.panels import HEATMAP_MODES, UNNORMALIZE_LABELS, ResultPanels
from maskviz.gui.patterns import PatternPanel
from maskviz.gui.session import (
    apply_options,
    config_dir,
    open_settings,
    read_session,
    recent,
    remember,
    state_session,
    write_session,
)
from maskviz.gui.state import ViewerState
from maskviz.gui.status import BusyIndicator, MetricsLine
from maskviz.gui.toolbar import CanvasToolbar
from maskviz.gui.training import TrainingPanel, WorkerJobs

log = logging.getLogger("maskviz.gui")

BANNER_STYLE = ("QLabel { background: #fff3cd; color: #664d03; border: 1px solid #e0c36a; "
                "border-radius: 4px; padding: 6px; font-weight: bold; }")


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area: a tall form must not set the window's minimum height."""
    area = QScrollArea(widget.parentWidget())
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def first_window_size(screen: QScreen | None) -> QSize:
    """1400×900, or 95 % of the screen's free area where that is smaller (a first start on a laptop):
    without a saved geometry, a window manager need not shrink a window larger than the screen."""
    size = QSize(1400, 900)
    return size if screen is None else size.boundedTo(screen.availableGeometry().size() * 0.95)


class MainWindow(FileActionsMixin, QMainWindow):
    """Canvas + patterns (left), result panels (centre), model, loss-curve and training docks."""

    def __init__(self, config_folder: str | os.PathLike | None = None, device: str = "auto",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from maskviz.device import available_devices, resolve_device

        self.config_folder = Path(config_folder) if config_folder else config_dir()
        self.settings = open_settings(self.config_folder)
        self.state = ViewerState(self)
        self.state.set_option("device", resolve_device(device).type)
        self.controller = Controller(self.state, self)
        self._build_ui(available_devices())
        self._build_menus()
        self._connect()
        self.keys = KeyRouter(self, self.canvas, self.canvas.handle_key)
        self.setAcceptDrops(True)
        self.setWindowTitle("maskviz")
        self.resize(first_window_size(self.screen()))
        self._restore_layout()

    # ================================================================== construction

    def _build_ui(self, devices: list[str]) -> None:
        s = self.state
        self.banner = QLabel(self, styleSheet=BANNER_STYLE, wordWrap=True)
        self.banner.hide()
        self.canvas = MaskCanvas(s, self)
        self.patterns = PatternPanel(self)
        self.patterns.bind_state(s)
        self.panels = ResultPanels(s, self)
        self.panels.link_view(self.canvas.view_box)
        self.metrics = MetricsLine(s, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self, objectName="main-splitter")
        self.splitter.addWidget(self._left_column())
        self.splitter.addWidget(self.panels)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 2)
        for widget, stretch in ((self.banner, 0), (self.splitter, 1), (self.metrics, 0)):
            layout.addWidget(widget, stretch)
        self.setCentralWidget(central)
        self.model_panel = ModelPanel(devices, self)
        self.model_panel.bind_state(s, self.controller.loadingChanged)
        self.curve = LossCurve(s, self)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.model_dock = self._dock("Model", "model-dock", self.model_panel, right)
        self.curve_dock = self._dock("Loss vs mask ratio", "curve-dock", self.curve, right)
        self.resizeDocks([self.model_dock, self.curve_dock], [360, 360], Qt.Orientation.Horizontal)
        # Runs in maskviz.paths.runs_dir(); comparisons on the worker (WorkerJobs until Controller.run_job exists).
        self.training = TrainingPanel(s, WorkerJobs(self.worker, self), self.settings, parent=self)
        self.train_dock = self._dock("Train", "train-dock", scrolled(self.training), right)
        self.compare = CompareView(s, self.worker, self)
        self.compare_dock = self._dock("Compare", "compare-dock", scrolled(self.compare), right)
        self.tabifyDockWidget(self.curve_dock, self.train_dock)
        self.tabifyDockWidget(self.curve_dock, self.compare_dock)
        self.curve_dock.raise_()
        self.busy_indicator = BusyIndicator(self.statusBar(), lambda: self.worker.is_busy("load"),
                                            lambda: self.controller.busy)
        self.busy_label, self.busy_bar = self.busy_indicator.label, self.busy_indicator.bar

    def _left_column(self) -> QWidget:
        self.toolbar = CanvasToolbar(self.canvas, self)
        self.tool_box, self.brush_spin, self.threshold_spin = (self.toolbar.tool_box, self.toolbar.brush_spin,
                                                               self.toolbar.threshold_spin)
        column = QWidget(self)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.patterns)
        return column

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None,  # noqa: ANN001
                checkable: bool = False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _choices(self, menu, items, slot, current: str) -> dict[str, QAction]:  # noqa: ANN001
        """Exclusive checkable actions, one per (value, text); ``slot(value)`` when chosen."""
        group, actions = QActionGroup(self), {}
        for value, text in items:
            action = actions[value] = self._action(menu, text, lambda _=False, v=value: slot(v), checkable=True)
            action.setChecked(value == current)
            group.addAction(action)
        return actions

    # ================================================================== menus (one method each)

    def _build_menus(self) -> None:
        self._build_file_menu()
        self._build_edit_menu()
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
        self._action(file, "&Get models…", self.show_models_dialog)
        self.recent_menu = file.addMenu("&Recent models")
        self._action(file, "Bundled &default model", lambda: self.open_model(None))
        self.bundled_menu = file.addMenu("&Bundled models")
        for name in bundled_model_paths():
            self.bundled_menu.addAction(name, lambda n=name: self.open_model(f"{MODEL_PREFIX}{n}"))
        file.addSeparator()
        self._action(file, "&Save mask PNG…", self.save_mask_dialog, QKeySequence.StandardKey.Save)
        self._action(file, "&Load mask PNG…", self.load_mask_dialog, "Ctrl+Shift+L")
        self._action(file, "&Export panels…", self.export_panels_dialog, "Ctrl+E")
        self._action(file, "Export metrics &JSON…", self.export_metrics_dialog, "Ctrl+Shift+E")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self._update_recent()

    def _build_edit_menu(self) -> None:
        edit = self.edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self.state.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.state.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addActions([self.undo_action, self.redo_action])
        edit.addSeparator()
        self._action(edit, "&Clear mask", self.canvas.clear, "Ctrl+Backspace")
        self._action(edit, "&Invert mask", self.canvas.invert, "Ctrl+I")

    def _build_view_menu(self) -> None:
        view = self.view_menu = self.menuBar().addMenu("&View")
        self.grid_action = self._action(view, "Patch &grid", self._toggle_grid, "G", checkable=True)
        self.grid_action.setChecked(self.canvas.grid_visible)
        self.snap_action = self._action(view, "&Snap to patches (show what the model sees)", self._toggle_snap, "S",
                                        checkable=True)
        view.addSeparator()
        texts = {"pixel": "Error heatmap per &pixel", "patch": "Error heatmap per p&atch"}
        self.heatmap_actions = self._choices(view, [(m, texts[m]) for m in HEATMAP_MODES],
                                             lambda m: self.state.set_option("heatmap", m), self.state.options.heatmap)
        view.addSeparator()
        self.baseline_menu = view.addMenu("&Baseline")
        self.baseline_actions = self._choices(self.baseline_menu, [("none", "&none"), *BASELINE_LABELS.items()],
                                              self.set_baseline, "none")
        view.addSeparator()
        self._action(view, "&Reset zoom", self.reset_zoom, "Ctrl+0")
        view.addSeparator()
        self._action(view, "&Compare strategies and models", self.show_compare, "Ctrl+K")
        for dock in (self.model_dock, self.curve_dock, self.train_dock, self.compare_dock):
            view.addAction(dock.toggleViewAction())

    def _build_train_menu(self) -> None:
        train = self.train_menu = self.menuBar().addMenu("&Train")
        self._action(train, "Training &panel", self.show_training, "Ctrl+T")
        train.addSeparator()
        actions = self.training.actions_by_name
        train.addActions([actions[name] for name in ("start", "stop", "resume")])
        train.addSeparator()
        train.addActions([actions["open_run"], actions["open_result"]])

    def _connect(self) -> None:
        s, c = self.state, self.controller
        self.canvas.hovered.connect(self.panels.show_hover)
        self.toolbar.clamped.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.patterns.patternApplied.connect(lambda spec, _mask: self._apply_pattern(spec))
        self.curve.pointClicked.connect(c.apply_curve_point)
        self.panels.unnormalizeChanged.connect(self.set_unnormalize)
        self.model_panel.openFileRequested.connect(self.open_model_dialog)
        self.model_panel.openFolderRequested.connect(self.open_model_folder_dialog)
        self.model_panel.recentRequested.connect(self.open_model)
        self.model_panel.deviceChanged.connect(c.set_device)
        self.model_panel.precisionChanged.connect(lambda p: s.set_option("precision", p))
        self.model_panel.unnormalizeChanged.connect(self.set_unnormalize)
        s.optionsChanged.connect(self._on_option)
        s.modelChanged.connect(self._on_model)
        s.imageChanged.connect(self._update_title)
        c.error.connect(self.show_error)
        c.notice.connect(lambda text: self.statusBar().showMessage(text, 10000))
        c.busyChanged.connect(self.busy_indicator.update)
        self.training.controller.useModelRequested.connect(self.open_model)
        self.training.controller.message.connect(lambda text: self.statusBar().showMessage(text, 15000))

    def _apply_pattern(self, spec: str) -> None:
        error = self.controller.apply_spec(spec)
        if error:
            self.patterns.error_label.setText(error)

    # ================================================================== what the views need from the window

    def _on_option(self, name: str) -> None:
        options = self.state.options
        if name == "heatmap":
            self.heatmap_actions[options.heatmap].setChecked(True)
        elif name == "baseline":
            self.baseline_actions[options.baseline].setChecked(True)
        elif name == "unnormalize":
            self.panels.set_unnormalize(options.unnormalize)

    def show_models_dialog(self) -> None:
        """File → Get models…: the catalogue; the chosen model opens by name (Recent keeps the name)."""
        from maskviz.gui.models_dialog import ModelsDialog

        self.models_dialog = ModelsDialog(self.open_model, self)
        self.models_dialog.show()

    def _on_model(self) -> None:
        loaded = self.state.model
        builtin = loaded.format == "builtin"
        self.banner.setText("⚠ " + " ".join(loaded.notes) if builtin else "")
        self.banner.setVisible(builtin)
        self.panels.set_norm_pix(bool(loaded.config.norm_pix_loss))
        if self.state.model_source is not None:
            remember(self.settings, "recent_models", self.state.model_source)
            self._update_recent()
        self.statusBar().clearMessage()
        self._update_title()

    def _update_recent(self) -> None:
        paths = recent(self.settings, "recent_models")
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.open_model(p))
        self.recent_menu.setEnabled(bool(paths))
        self.model_panel.set_recent(paths)

    def _update_title(self) -> None:
        parts, source = ["maskviz"], self.state.image_source
        if source:
            parts.append(source.removeprefix("sample:") if source.startswith("sample:") else Path(source).name)
        if self.state.model is not None:
            parts.append(self.state.model.summary()["description"])
        self.setWindowTitle(" — ".join(parts))

    # ================================================================== commands (menus, docks, tests)

    def open_image(self, source: str | os.PathLike, quiet: bool = False) -> bool:
        return self.controller.open_image(source, quiet)

    def open_model(self, path: str | os.PathLike | None) -> int:
        return self.controller.open_model(path)

    def set_model(self, loaded: Any, source: str | None = None) -> None:
        self.controller.use_model(loaded, source)

    def set_baseline(self, name: str | None) -> None:
        """Show a non-learned fill (a name in ``BASELINES``; ``"none"`` or None hides it) beside the model's."""
        name = name or "none"
        if name != "none" and name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; baselines: none, {', '.join(BASELINES)}")
        self.state.set_option("baseline", name)
        self.baseline_actions[name].setChecked(True)

    def set_unnormalize(self, mode: str) -> None:
        if mode in UNNORMALIZE_LABELS:
            self.state.set_option("unnormalize", mode)

    def reset_zoom(self) -> None:
        self.panels.reset_view()

    def _toggle_grid(self, on: bool) -> None:
        self.canvas.grid_visible = on

    def _toggle_snap(self, on: bool) -> None:
        self.canvas.snap_to_patches = on

    def show_error(self, title: str, error: BaseException | str) -> None:
        """A plain dialog with the one-line reason; the state is left as it was."""
        log.info("%s: %s", title, error)
        QMessageBox.warning(self, title, f"{title}: {error}")

    # ================================================================== read-only views for tests and benchmarks

    worker = property(lambda self: self.controller.worker)
    loaded = property(lambda self: self.state.model)
    model_source = property(lambda self: self.state.model_source)
    image = property(lambda self: self.state.image)
    image_source = property(lambda self: self.state.image_source)
    model_image = property(lambda self: self.state.model_image)
    current = property(lambda self: self.state.result)
    baseline = property(lambda self: self.state.options.baseline)
    baseline_result = property(lambda self: self.state.baseline_result)
    pattern_spec = property(lambda self: self.state.pattern_spec)
    live = property(lambda self: self.controller.live)
    stale_dropped = property(lambda self: self.controller.stale_dropped)
    busy = property(lambda self: self.busy_indicator.visible)

    @property
    def device(self) -> Any:
        import torch

        return torch.device(self.state.options.device)

    @property
    def resultShown(self) -> Any:  # noqa: N802 - the signal's name
        return self.controller.resultShown

    # ================================================================== session

    def start(self, image: str | None = None, model: str | None = None, restore: bool = True) -> None:
        """Open what the command line names, else what the last session had, else the defaults.

        A bad path gives one dialog naming it; the app then opens what the session had (mask
        included), else the bundled sample. The model loads first, in the background."""
        session = read_session(self.config_folder) if restore else {}
        self._apply_session_options(session)
        if isinstance(session.get("mask"), list):
            try:
                self.controller.restore_mask(np.asarray(session["mask"], dtype=bool), session.get("pattern"))
            except ValueError:
                pass
        self.controller.open_model(model or session.get("model"), fallback=True)
        if image and self.open_image(image):
            self.controller.restore_mask(None, None)  # a new image starts from the pattern, not the old mask
            return
        for source, quiet in ((session.get("image"), True), (default_sample(), False)):
            if source and self.open_image(source, quiet=quiet):
                return

    def _apply_session_options(self, session: dict[str, Any]) -> None:
        apply_options(self.state, session)
        if isinstance(session.get("brush_size"), int | float):
            self.canvas.brush_size = session["brush_size"]
        self.toolbar.follow()

    def session_data(self) -> dict[str, Any]:
        """What a restart restores: image, model, mask (patch grid), its pattern and options."""
        return state_session(self.state) | {"brush_size": self.canvas.brush_size}

    def save_session(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.sync()
        if self.state.image_source is None:
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

    def show_compare(self) -> None:
        """Show and raise the Compare dock (strategies × models on this image or a folder, ratio sweeps)."""
        self.compare_dock.show()
        self.compare_dock.raise_()

    def show_training(self) -> None:
        """Show and raise the Train dock, giving it most of the column's height (it holds a form and curves)."""
        self.train_dock.show()
        self.train_dock.raise_()
        if not self.train_dock.isFloating() and not self.model_dock.isFloating():
            self.resizeDocks([self.model_dock, self.train_dock], [1, 3 * self.height()], Qt.Orientation.Vertical)

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
        training = self.training.controller
        if not training.running:
            return True
        if training.stopping:
            self.statusBar().showMessage("Still stopping the training run; the window closes once it has saved…")
            return False
        answer = self.ask_stop_training()
        if answer == "keep":
            training.detach()
            return True
        if answer == "stop":
            self.statusBar().showMessage("Stopping the training run; the window closes once it has saved…")
            training.stop(then=self.close)
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_close():
            event.ignore()
            return
        self.save_session()
        self.keys.remove()
        self.controller.shutdown()
        super().closeEvent(event)
