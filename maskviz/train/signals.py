"""Ctrl-C / SIGTERM ask a run to stop after the current step instead of killing it mid-write.

Kept out of :func:`maskviz.train.train` (a library must not grab signals); the CLI wraps the
call in :func:`stop_on_signals` and passes the flag as ``stop``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StopFlag:
    """Callable "should we stop?"; remembers which signal asked (for the exit code)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[StopFlag]:
    """The first signal sets the flag; a second Ctrl-C interrupts at once (KeyboardInterrupt)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, _frame: object) -> None:
        if flag.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.signum = signum

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
