"""DockShare: the right dock column keeps a share of the window's width as the window is resized.

A QMainWindow gives every pixel a resized window gains or loses to the central widget, so a dock
column set for a laptop stays that wide on a large screen (its fields clipped, the panels with empty
margins around them). Here the column follows the window by a fraction: the default, or the one the
user set by dragging the separator (kept in the settings), never narrower than :data:`MIN_WIDTH`
and never leaving the centre less than :data:`MIN_CENTRAL`. Once the column is placed, ``then`` is
called (the window shares the centre out between the canvas and the panels).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow

DEFAULT_SHARE = 0.3
MIN_WIDTH = 350  # the docks' forms fit without clipping from here (tests/gui/test_layout.py)
MIN_CENTRAL = 560  # canvas and panels
KEY = "dock-share"


class DockShare(QObject):
    """Keeps ``dock``'s column at a share of ``window``'s width; a separator drag sets a new share."""

    def __init__(self, window: QMainWindow, dock: QDockWidget, settings: QSettings,
                 then: Callable[[], object] = lambda: None) -> None:
        super().__init__(window)
        self._then = QTimer(self, singleShot=True, interval=0)
        self._then.timeout.connect(then)
        self.window, self.dock, self.settings = window, dock, settings
        try:
            share = float(settings.value(KEY, DEFAULT_SHARE))
        except (TypeError, ValueError):
            share = DEFAULT_SHARE
        self.share = min(0.6, max(0.15, share))
        self._applied_width = -1  # the window width the column was last set for
        self._target = -1
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.apply)
        window.installEventFilter(self)
        dock.installEventFilter(self)

    def width_for(self, window_width: int) -> int:
        """The column's width in a window ``window_width`` wide."""
        room = max(MIN_WIDTH, window_width - MIN_CENTRAL)
        return min(room, max(MIN_WIDTH, round(self.share * window_width)))

    def apply(self) -> None:
        self._then.start()  # after the centre has its new width
        if self.dock.isFloating() or not self.dock.isVisible():
            return
        width = self.window.width()
        self._target = self.width_for(width)
        self._applied_width = width
        self.window.resizeDocks([self.dock], [self._target], Qt.Orientation.Horizontal)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            if obj is self.window and event.size() != event.oldSize():
                self._timer.start()  # after the window's layout has placed the docks for the new size
            elif obj is self.dock and self._user_moved(event.size().width()):
                self.share = self.dock.width() / max(1, self.window.width())
                self._target = self.dock.width()
                self.settings.setValue(KEY, self.share)
        return super().eventFilter(obj, event)

    def _user_moved(self, width: int) -> bool:
        """A column width change while the window kept its width: the separator was dragged."""
        return (not self._timer.isActive() and self.window.width() == self._applied_width
                and not self.dock.isFloating() and abs(width - self._target) > 4)
