"""Plain functions on short-lived background threads, with their results delivered on the UI thread.

The model worker (:mod:`maskviz.gui.worker`) serialises *model* work in priority lanes; a folder scan
or a one-off comparison must not wait behind (or hold up) the viewer's reconstructions, so they run
here instead. Each call gets its own daemon thread (a scan of a huge folder must not keep the app
from quitting) and an id, so a caller can ignore results it no longer wants.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

from maskviz.errors import MaskvizError

log = logging.getLogger("maskviz.gui")


class Background(QObject):
    """Runs ``fn()`` off the UI thread; ``done(id, value)`` or ``failed(id, message)`` come back queued."""

    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self.latest = 0

    def run(self, fn: Callable[[], Any], name: str = "maskviz-background") -> int:
        """Start ``fn`` now; returns its id (the newest id is also kept in :attr:`latest`)."""
        task_id = self.latest = next(self._ids)
        threading.Thread(target=self._call, args=(task_id, fn), name=name, daemon=True).start()
        return task_id

    def _call(self, task_id: int, fn: Callable[[], Any]) -> None:
        try:
            value = fn()
        except MaskvizError as exc:
            self._emit(self.failed, task_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the log, not kill the thread silently
            log.exception("background task %d failed", task_id)
            self._emit(self.failed, task_id, f"internal error ({type(exc).__name__}: {exc}); "
                                             "details are in the log file")
        else:
            self._emit(self.done, task_id, value)

    @staticmethod
    def _emit(signal: SignalInstance, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiving widget was deleted while we worked: nobody wants the result
            pass
