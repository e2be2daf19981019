"""The main window's session: what it opens at start, what it saves, and how it closes.

A mixin of :class:`maskviz.gui.main_window.MainWindow`. Closing saves the layout and the session
first, then stops the worker: the running job stops at its next module call (one transformer
block), and the window never waits on a checkpoint being read (the worker thread is a daemon).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox

from maskviz.bundled import default_sample
from maskviz.errors import MaskvizError
from maskviz.gui.session import apply_options, read_session, state_session, write_session

log = logging.getLogger("maskviz.gui")


class SessionMixin:
    """Needs from the window: ``state``, ``controller``, ``settings``, ``config_folder``, ``splitter``,
    ``training``, ``keys``, the docks and ``statusBar``."""

    def start(self, image: str | None = None, model: str | None = None, restore: bool = True) -> None:
        """Open what the command line names, else what the last session had, else the defaults.

        A bad path gives one dialog naming it; the app then opens what the session had (mask
        included: its model, then the bundled one; its image, then the bundled sample). The model
        loads first, in the background. The session's view (tiles or native, at its working size)
        is chosen at once and shown when the model arrives, with the mask on that view's grid;
        a view the model or image can no longer show falls back to ``model`` with a status-bar note.
        A command-line image keeps the view too (it is how the user works, not a property of the
        old image) but starts from the pattern, made for its grid."""
        session = read_session(self.config_folder) if restore else {}
        self._apply_session_options(session)
        if isinstance(session.get("mask"), list):
            try:
                self.controller.restore_mask(np.asarray(session["mask"], dtype=bool), session.get("pattern"))
            except ValueError:
                pass
        last = session.get("model") if isinstance(session.get("model"), str) else None
        first = model or last
        fallbacks = [m for m in dict.fromkeys((last, None)) if m != first]  # the session's model, then the default
        self.controller.open_model(first, fallback=fallbacks)
        if image and self.controller.open_image(image):
            self.controller.restore_mask(None, None)  # a new image starts from the pattern, not the old mask
            return
        for source, quiet in ((session.get("image"), True), (default_sample(), False)):
            if source and self.controller.open_image(source, quiet=quiet):
                return

    def _apply_session_options(self, session: dict[str, Any]) -> None:
        apply_options(self.state, session)
        if isinstance(session.get("brush_size"), int | float):
            self.state.view.set_brush_size(session["brush_size"])

    def session_data(self) -> dict[str, Any]:
        """What a restart restores: image, model, view, mask (the view's patch grid), its pattern and options."""
        return state_session(self.state) | {"brush_size": self.state.view.brush_size}

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

