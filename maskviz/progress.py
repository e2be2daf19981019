"""One progress line on a text stream, for every long CLI command (downloads, comparisons).

On a terminal the line is redrawn in place, at most ten times a second; into a log file or a pipe
it is written as a plain line every few seconds instead, so the log stays readable. Qt-free and
torch-free: ``maskviz models download`` uses it before torch is imported.
"""

from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 30


def bar(done: float, total: float, width: int = BAR_WIDTH) -> str:
    """``[#########---------------------]`` for ``done`` of ``total``."""
    filled = min(width, max(0, round(width * done / total))) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class ProgressLine:
    """Shows the newest status text; :meth:`end` closes the line (before other output or at the end)."""

    def __init__(self, stream: TextIO, redraw_s: float = 0.1, log_every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = redraw_s if self.tty else log_every_s
        self._last = float("-inf")
        self._open = False  # a redrawn line is on screen without its newline

    def show(self, text: str, final: bool = False) -> None:
        """Draw ``text`` unless the last draw was too recent; ``final`` always draws and closes the line."""
        now = time.monotonic()
        if now - self._last < self.interval and not final:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + text)
            self._open = True
        else:
            self.stream.write(text + "\n")
        if final:
            self.end()
        self.stream.flush()

    def end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
