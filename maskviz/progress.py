"""One progress line on a text stream for every long CLI command (downloads, comparisons), drawn by tqdm.

On a terminal tqdm redraws the line in place, at most ten times a second. Into a log file or a pipe
its carriage returns would pile up into one endless line, so there the same text (tqdm's own
``format_meter``: percentage, bar, counts, elapsed, time left, rate) is written as a plain line every
few seconds, and always once at the end. Qt-free and torch-free: ``maskviz models download`` uses it
before torch is imported; tqdm itself is imported when a line is made, not with the CLI.
"""

from __future__ import annotations

import time
from typing import TextIO


class ProgressLine:
    """Progress of ``total`` units (None: unknown) labelled ``label``; :meth:`close` ends the line.

    ``update(done)`` takes the count so far, not an increment: the callers report absolute numbers.
    """

    def __init__(self, stream: TextIO, total: float | None = None, label: str = "", unit: str = "it",
                 unit_scale: bool = False, redraw_s: float = 0.1, log_every_s: float = 5.0) -> None:
        self.stream, self.total, self.label = stream, total, label
        self.unit, self.unit_scale = unit, unit_scale
        self.redraw_s, self.log_every_s = redraw_s, log_every_s
        self.done: float | None = None  # nothing is shown before the first update
        self.closed = False
        self._start = time.monotonic()
        self._logged_at: float | None = None  # when the last plain line was written
        self._logged_done: float | None = None
        self._bar = None  # the terminal's tqdm, made at the first update

    def update(self, done: float, total: float | None = None) -> None:
        """Show ``done`` (of ``total``, when it became known since)."""
        if self.closed:
            return
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.reset(total=total)
        self.done = done
        if self.stream.isatty():
            bar = self._bar or self._terminal_bar()
            bar.update(done - bar.n)
        elif self._logged_at is None or time.monotonic() - self._logged_at >= self.log_every_s:
            self._log()

    def write(self, text: str) -> None:
        """A line of its own (a warning, a skipped input) without breaking the progress line."""
        if self._bar is not None and not self.closed:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.done is not None and self._logged_done != self.done:
            self._log()

    def _terminal_bar(self):  # noqa: ANN202 - a tqdm
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, desc=self.label or None, file=self.stream, unit=self.unit,
                         unit_scale=self.unit_scale, unit_divisor=1000, mininterval=self.redraw_s,
                         dynamic_ncols=True, leave=True)
        return self._bar

    def text(self) -> str:
        """The line as it stands: tqdm's format, with a plain-ASCII bar."""
        from tqdm import tqdm

        return tqdm.format_meter(self.done, self.total, time.monotonic() - self._start, prefix=self.label,
                                 unit=self.unit, unit_scale=self.unit_scale, unit_divisor=1000, ascii=True)

    def _log(self) -> None:
        self._logged_at, self._logged_done = time.monotonic(), self.done
        self.stream.write(self.text() + "\n")
        self.stream.flush()
