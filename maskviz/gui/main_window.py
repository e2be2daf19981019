"""MainWindow: builds the views, docks and menus and wires each to the state it draws.

The document (image, model, mask and its provenance, options, result, and how it is viewed) lives in
:class:`~maskviz.gui.state.ViewerState`; :class:`~maskviz.gui.controller.Controller` turns its
changes into worker jobs and writes results back, and lends the worker to the loss curve
(:class:`~maskviz.gui.viewer.curve_jobs.CurveJobs`), the baseline fill, the Compare dock
(:mod:`maskviz.gui.compare`), the Explain lens (:mod:`maskviz.gui.explain`) and the training panel's
before/after. Every view reads its state and redraws on its signals; no view calls another. The
window builds widgets, tells the background features whether their dock is on screen, shows errors,
and (in :mod:`~maskviz.gui.window_menus`, :mod:`~maskviz.gui.window_session` and
:mod:`~maskviz.gui.file_actions`) holds the menus, the session and the file actions. Tests and
benchmarks drive it through ``state`` and ``controller``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from maskviz.gui.compare.controller import CompareController
from maskviz.gui.compare.state import CompareState
from maskviz.gui.compare.view import CompareView
from maskviz.gui.controller import Controller
from maskviz.gui.dock_share import DockShare
from maskviz.gui.explain.controller import ExplainController
from maskviz.gui.explain.state import ExplainState
from maskviz.gui.explain.view import ExplainView
from maskviz.gui.file_actions import FileActionsMixin
from maskviz.gui.keys import KeyRouter
from maskviz.gui.session import config_dir, open_settings
from maskviz.gui.state import ViewerState
from maskviz.gui.training import TrainingPanel
from maskviz.gui.viewer.baseline_jobs import BaselineJobs
from maskviz.gui.viewer.canvas import MaskCanvas
from maskviz.gui.viewer.curve_jobs import CurveJobs
from maskviz.gui.viewer.loss_curve import LossCurve
from maskviz.gui.viewer.model_panel import ModelPanel
from maskviz.gui.viewer.panels import ResultPanels
from maskviz.gui.viewer.patterns import PatternPanel
from maskviz.gui.viewer.status import BusyIndicator, MetricsLine, ModelBanner
from maskviz.gui.viewer.toolbar import CanvasToolbar
from maskviz.gui.viewer.view_picker import TileProgress, ViewPicker
from maskviz.gui.viewer.whole_jobs import WholeJobs
from maskviz.gui.window_menus import MenusMixin
from maskviz.gui.window_session import SessionMixin
from maskviz.model_names import loaded_display_name

if TYPE_CHECKING:
    from maskviz.gui.model_picker import ModelPicker

log = logging.getLogger("maskviz.gui")


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area: a tall form must not set the window's minimum height. It
    scrolls vertically only: its fields wrap to the dock's width rather than run off to the right."""
    area = QScrollArea(widget.parentWidget())
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def first_window_size(screen: QScreen | None) -> QSize:
    """1400×900, or 95 % of the screen's free area where that is smaller (a first start on a laptop):
    without a saved geometry, a window manager need not shrink a window larger than the screen."""
    size = QSize(1400, 900)
    return size if screen is None else size.boundedTo(screen.availableGeometry().size() * 0.95)


class MainWindow(SessionMixin, MenusMixin, FileActionsMixin, QMainWindow):
    """Canvas + patterns (left), result panels (centre), model, loss-curve, Compare and training docks."""

    def __init__(self, config_folder: str | os.PathLike | None = None, device: str = "auto",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from maskviz.device import available_devices, resolve_device

        self.config_folder = Path(config_folder) if config_folder else config_dir()
        self.settings = open_settings(self.config_folder)
        self.state = ViewerState(self)
        self.state.set_option("device", resolve_device(device).type)
        self.controller = Controller(self.state, self)
        self.baseline_jobs = BaselineJobs(self.state, self.controller, self)
        self.curve_jobs = CurveJobs(self.state, self.controller, self)
        self.whole_jobs = WholeJobs(self.state, self.controller, self)
        self.compare_state = CompareState(self)
        self.compare_controller = CompareController(self.compare_state, self.state, self.controller, self)
        self.explain_state = ExplainState(self)
        self.explain_controller = ExplainController(self.explain_state, self.state, self.controller, self)
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
        s, c = self.state, self.controller
        self.banner = ModelBanner(s, self)
        self.canvas = MaskCanvas(s, self)
        self.patterns = PatternPanel(s, self)
        self.panels = ResultPanels(s, self)
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
        self.model_panel = ModelPanel(s, c, devices, self)
        self.curve = LossCurve(s, self)
        self.training = TrainingPanel(s, c, self.settings, parent=self)  # runs in maskviz.paths.runs_dir()
        self.compare = CompareView(self.compare_state, self.compare_controller, self, choose_model=self.choose_model)
        self.explain = ExplainView(self.explain_state, self.explain_controller, self.state, self)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.model_dock = self._dock("Model", "model-dock", self.model_panel, right)
        self.curve_dock = self._dock("Loss vs mask ratio", "curve-dock", self.curve, right)
        self.resizeDocks([self.model_dock, self.curve_dock], [360, 360], Qt.Orientation.Horizontal)
        self.train_dock = self._dock("Train", "train-dock", scrolled(self.training), right)
        self.compare_dock = self._dock("Compare", "compare-dock", scrolled(self.compare), right)
        self.tabifyDockWidget(self.curve_dock, self.train_dock)
        self.explain_dock = self._dock("Explain", "explain-dock", scrolled(self.explain), right)
        self.tabifyDockWidget(self.curve_dock, self.compare_dock)
        self.tabifyDockWidget(self.curve_dock, self.explain_dock)
        self.curve_dock.raise_()
        self.dock_share = DockShare(self, self.model_dock, self.settings, then=self.balance_columns)
        self.busy_indicator = BusyIndicator(self.statusBar(), c)
        self.tile_progress = TileProgress(s, self.whole_jobs, self)
        self.statusBar().addPermanentWidget(self.tile_progress)

    def balance_columns(self) -> None:
        """Share the centre's width between the canvas and the panels by what each can use at this height
        (both are square pictures limited by their height), so neither has empty margins the other needs."""
        sizes = self.splitter.sizes()
        canvas, panels = self.canvas.height(), self.panels.natural_width()
        if len(sizes) != 2 or min(sizes) == 0 or canvas <= 0 or panels <= 0:
            return  # a collapsed column stays collapsed
        total = sum(sizes)
        left = round(total * canvas / (canvas + panels))
        self.splitter.setSizes([left, total - left])

    def _left_column(self) -> QWidget:
        self.toolbar = CanvasToolbar(self.state, self)
        self.view_picker = ViewPicker(self.state, self.whole_jobs, self)
        column = QWidget(self)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view_picker)
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

    def _connect(self) -> None:
        s, c = self.state, self.controller
        # Off screen (closed, or a tab behind another) a dock's feature computes nothing.
        self.curve_dock.visibilityChanged.connect(self.curve_jobs.set_shown)
        self.compare_dock.visibilityChanged.connect(self.compare_controller.set_shown)
        self.explain_dock.visibilityChanged.connect(self.explain_controller.set_shown)
        self.curve_jobs.set_shown(False)
        self.toolbar.clamped.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.curve.pointClicked.connect(self.curve_jobs.apply_point)
        self.model_panel.chooseRequested.connect(self.open_model_picker)
        s.modelChanged.connect(self._on_model)
        s.imageChanged.connect(self._update_title)
        c.error.connect(self.show_error)
        # queued: a note made while a model is put in use (a view that fell back) outlives the model's clearMessage
        c.notice.connect(lambda text: self.statusBar().showMessage(text, 10000), Qt.ConnectionType.QueuedConnection)
        training = self.training.controller
        self.train_dock.visibilityChanged.connect(training.set_shown)
        training.set_shown(False)
        training.useModelRequested.connect(c.open_model)
        training.message.connect(lambda text: self.statusBar().showMessage(text, 15000))

    # ================================================================== window chrome that follows the state

    def _on_model(self) -> None:
        if self.state.model_source is not None:
            self.remember_model(self.state.model_source)
        self.statusBar().clearMessage()
        self._update_title()

    def _update_title(self) -> None:
        parts, source = ["maskviz"], self.state.image_source
        if source:
            parts.append(source.removeprefix("sample:") if source.startswith("sample:") else Path(source).name)
        if self.state.model is not None:
            parts.append(loaded_display_name(self.state.model, self.state.model_source))
        self.setWindowTitle(" — ".join(parts))

    def show_error(self, title: str, error: BaseException | str) -> None:
        """A plain dialog with the one-line reason; the state is left as it was."""
        log.info("%s: %s", title, error)
        QMessageBox.warning(self, title, f"{title}: {error}")

    def choose_model(self, on_chosen: Callable[[str], Any], title: str = "Open model",
                     action: str = "Open") -> ModelPicker:
        """The model picker (bundled, catalogue, recent, training runs, a file or folder); the chosen
        source goes to ``on_chosen``. The one way every dock chooses a model."""
        from maskviz.gui.model_picker import ModelPicker
        from maskviz.gui.session import recent

        self.model_picker = ModelPicker(on_chosen, recent(self.settings, "recent_models"), title, action,
                                        start_dir=self._last_dir(), parent=self)
        self.model_picker.show()
        return self.model_picker

    def open_model_picker(self) -> None:
        """File → Open model…: the picker, opening the choice in the viewer."""
        self.choose_model(self.controller.open_model)

    def show_models_dialog(self) -> None:
        """File → Get models…: the catalogue; the chosen model opens by name (Recent keeps the name)."""
        from maskviz.gui.models_dialog import ModelsDialog

        self.models_dialog = ModelsDialog(self.controller.open_model, self)
        self.models_dialog.show()

    def show_compare(self) -> None:
        """Show and raise the Compare dock (strategies × models on this image or a folder, ratio sweeps)."""
        self._show_tall(self.compare_dock)

    def show_explain(self) -> None:
        """Show and raise the Explain dock (which visible patches a hidden patch's reconstruction used)."""
        self._show_tall(self.explain_dock)

    def show_training(self) -> None:
        """Show and raise the Train dock."""
        self._show_tall(self.train_dock)

    def _show_tall(self, dock: QDockWidget) -> None:
        """Show and raise ``dock``, giving it most of the column's height (it holds a form and results);
        the model details keep their minimum."""
        dock.show()
        dock.raise_()
        if not dock.isFloating() and not self.model_dock.isFloating():
            self.resizeDocks([self.model_dock, dock], [1, 3 * self.height()], Qt.Orientation.Vertical)
