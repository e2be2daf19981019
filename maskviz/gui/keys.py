"""Tool keys wherever the focus is: a window-wide key router.

The canvas's single-key tools (B, E, M, L, F, [ and ], I…) used to work only while the canvas had
focus: after clicking a panel or a log they did nothing. The router, an application event filter,
sends a key typed anywhere in its window to the canvas, unless the focus is a text field (typing
stays typing). It also lets menu shortcuts win over read-only text (a selectable label or a log
would otherwise claim Ctrl+A and friends), except Copy.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget


def is_text_field(widget: QWidget | None) -> bool:
    """Where typed letters are text: line edits, spin boxes, editable combos and text editors."""
    if isinstance(widget, QLineEdit | QAbstractSpinBox):
        return True
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, QPlainTextEdit | QTextEdit):
        return not widget.isReadOnly()
    return False


class KeyRouter(QObject):
    """Sends keys typed in ``window`` (outside ``target`` and text fields) to ``handle(event) -> bool``."""

    def __init__(self, window: QWidget, target: QWidget, handle: Callable[[QKeyEvent], bool]) -> None:
        super().__init__(window)
        self._window, self._target, self._handle = window, target, handle
        QApplication.instance().installEventFilter(self)

    def remove(self) -> None:
        QApplication.instance().removeEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        focus = QApplication.focusWidget()
        if obj is not focus or focus is None or focus is self._target or is_text_field(focus):
            return False
        if focus.window() is not self._window:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            return not event.matches(QKeySequence.StandardKey.Copy)  # the shortcut map gets the key
        return self._handle(event)
