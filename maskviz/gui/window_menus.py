"""The main window's menus, one method per menu (a new action is one line in the right method).

A mixin of :class:`maskviz.gui.main_window.MainWindow`. Actions call the controller or change the
viewer state; checkable actions follow the state (a key that toggles the grid checks its menu entry).
The recent-models list is the window's (its settings), shown in the File menu and the model dock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from maskviz.baselines import BASELINE_LABELS
from maskviz.bundled import MODEL_PREFIX, bundled_model_paths, sample_paths
from maskviz.gui.session import recent, remember
from maskviz.gui.viewer.panels import HEATMAP_MODES


class MenusMixin:
    """Needs from the window: ``state``, ``controller``, ``canvas``, ``training``, ``settings``, the docks,
    ``model_panel`` and the file-action, compare and training commands."""

    def _action(self, menu: Any, text: str, slot: Callable[..., Any],  # noqa: ANN401 - QMenu
                shortcut: QKeySequence | str | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _choices(self, menu: Any, items: Iterable[tuple[str, str]], slot: Callable[[str], Any],  # noqa: ANN401
                 current: str) -> dict[str, QAction]:
        """Exclusive checkable actions, one per (value, text); ``slot(value)`` when chosen."""
        group, actions = QActionGroup(self), {}
        for value, text in items:
            action = actions[value] = self._action(menu, text, lambda _=False, v=value: slot(v), checkable=True)
            action.setChecked(value == current)
            group.addAction(action)
        return actions

    def _build_menus(self) -> None:
        self._build_file_menu()
        self._build_edit_menu()
        self._build_view_menu()
        self._build_train_menu()
        self.state.optionsChanged.connect(self._follow_option)
        self.state.view.toolChanged.connect(self._follow_view)

    def _build_file_menu(self) -> None:
        c = self.controller
        file = self.file_menu = self.menuBar().addMenu("&File")
        self._action(file, "&Open image…", self.open_image_dialog, QKeySequence.StandardKey.Open)
        samples = file.addMenu("&Samples")
        for name in sample_paths():
            samples.addAction(name, lambda n=name: c.read_image(f"sample:{n}"))
        file.addSeparator()
        self._action(file, "Open &model…", self.open_model_picker, "Ctrl+Shift+O")
        self._action(file, "&Get models…", self.show_models_dialog)
        self.recent_menu = file.addMenu("&Recent models")
        self._action(file, "Bundled &default model", lambda: c.open_model(None))
        self.bundled_menu = file.addMenu("&Bundled models")
        for name in bundled_model_paths():
            self.bundled_menu.addAction(name, lambda n=name: c.open_model(f"{MODEL_PREFIX}{n}"))
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
        s, v = self.state, self.state.view
        view = self.view_menu = self.menuBar().addMenu("&View")
        self.grid_action = self._action(view, "Patch &grid", v.set_grid_visible, "G", checkable=True)
        self.snap_action = self._action(view, "&Snap to patches (show what the model sees)", v.set_snap, "S",
                                        checkable=True)
        view.addSeparator()
        texts = {"pixel": "Error heatmap per &pixel", "patch": "Error heatmap per p&atch"}
        self.heatmap_actions = self._choices(view, [(m, texts[m]) for m in HEATMAP_MODES],
                                             lambda m: s.set_option("heatmap", m), s.options.heatmap)
        view.addSeparator()
        self.baseline_menu = view.addMenu("&Baseline")
        self.baseline_actions = self._choices(self.baseline_menu, [("none", "&none"), *BASELINE_LABELS.items()],
                                              lambda name: s.set_option("baseline", name), "none")
        view.addSeparator()
        self._action(view, "&Reset zoom", v.reset_region, "Ctrl+0")
        view.addSeparator()
        self._action(view, "&Compare strategies and models", self.show_compare, "Ctrl+K")
        self._action(view, "E&xplain a hidden patch", self.show_explain, "Ctrl+L")
        for dock in (self.model_dock, self.curve_dock, self.train_dock, self.compare_dock, self.explain_dock):
            view.addAction(dock.toggleViewAction())
        self._follow_view()

    def _build_train_menu(self) -> None:
        train = self.train_menu = self.menuBar().addMenu("&Train")
        self._action(train, "Training &panel", self.show_training, "Ctrl+T")
        train.addSeparator()
        actions = self.training.actions_by_name
        train.addActions([actions[name] for name in ("start", "stop", "resume")])
        train.addSeparator()
        train.addActions([actions["open_run"], actions["open_result"]])

    def _follow_option(self, name: str) -> None:
        options = self.state.options
        if name == "heatmap":
            self.heatmap_actions[options.heatmap].setChecked(True)
        elif name == "baseline" and options.baseline in self.baseline_actions:
            self.baseline_actions[options.baseline].setChecked(True)

    def _follow_view(self) -> None:
        self.grid_action.setChecked(self.state.view.grid_visible)
        self.snap_action.setChecked(self.state.view.snap)

    def remember_model(self, source: str) -> None:
        """Put a model first in the recent list (File menu and model dock)."""
        remember(self.settings, "recent_models", source)
        self._update_recent()

    def _update_recent(self) -> None:
        paths = recent(self.settings, "recent_models")
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.controller.open_model(p))
        self.recent_menu.setEnabled(bool(paths))
        self.model_panel.set_recent(paths)

