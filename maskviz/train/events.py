"""The one schema of ``metrics.jsonl``: written by the trainer, tailed by the GUI and scripts.

Each line is one JSON object, a :class:`TrainEvent` with ``None`` fields left out:

* ``{"event": "start", "step", "total_steps", "resumed", "time"}`` — a (re)start at ``step``;
* ``{"event": "step", "step", "loss", "lr", "images_per_s", "eta_s", "epoch", "time"}`` after every
  optimizer step (``step`` counts completed steps, from 1), plus ``val_loss`` and
  ``best_val_loss`` on steps that ran validation;
* ``{"event": "step", "step": 0, "val_loss", "best_val_loss", "time"}``: the starting model's
  validation, before the first step of a run that validates;
* ``{"event": "warning", "step", "message", "time"}``: something the user should see (a tiny
  validation split, validation that cannot run, a resume that had to rebuild its optimiser state);
* ``{"event": "end", "step", "reason", "message", "best_val_loss", "time"}`` with reason
  ``done``, ``stopped`` or ``error``.

Readers must survive a writer that is mid-line or was killed mid-line, so :func:`read_events`
only consumes complete lines and skips any that do not parse. A resumed run rewrites the file
without the steps it is about to redo; :class:`EventTail` notices and starts over.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

EVENT_KINDS = ("start", "step", "warning", "end")
END_REASONS = ("done", "stopped", "error")


@dataclass
class TrainEvent:
    """One line of ``metrics.jsonl`` (see the module docstring for which fields each kind has)."""

    event: str
    step: int
    time: float = field(default_factory=time.time)
    total_steps: int | None = None
    resumed: bool | None = None
    loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    lr: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    epoch: float | None = None
    reason: str | None = None
    message: str | None = None

    def to_json(self) -> str:
        """One line of JSON; NaN/inf become null because JSON has neither."""
        d = {k: _finite(v) for k, v in dataclasses.asdict(self).items()}
        return json.dumps({k: v for k, v in d.items() if v is not None}, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainEvent:
        """Unknown keys are ignored so older readers can tail newer writers."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def write_event(fh: TextIO, event: TrainEvent) -> None:
    """Append one event and flush, so a tailing reader sees it at once."""
    fh.write(event.to_json() + "\n")
    fh.flush()


def read_events(path: str | os.PathLike, from_offset: int = 0) -> tuple[list[TrainEvent], int]:
    """Events in the complete lines after byte ``from_offset``, and the offset to continue from.

    A partly written last line is left for the next call; lines that are not event JSON (a
    crash's torn line) are skipped. A missing file reads as no events.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(from_offset)
            data = fh.read()
    except FileNotFoundError:
        return [], from_offset
    end = data.rfind(b"\n") + 1
    return [e for line in data[:end].splitlines() if (e := parse_event_line(line))], from_offset + end


def parse_event_line(line: bytes) -> TrainEvent | None:
    """The event on one line, or None when the line is not one (torn, foreign or garbage)."""
    try:
        d = json.loads(line)
        return TrainEvent.from_dict(d) if isinstance(d, dict) and d.get("event") in EVENT_KINDS else None
    except (ValueError, TypeError):
        return None


class EventTail:
    """Follow a growing ``metrics.jsonl`` (the GUI polls this on a timer).

    :meth:`poll` returns ``(new_events, reset)``; ``reset`` is True when the file was replaced or
    shrank (a resume rewrote it) and the events are then the whole file again.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offset = 0
        self._identity: tuple[int, int] | None = None

    def poll(self) -> tuple[list[TrainEvent], bool]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], False
        identity = (st.st_dev, st.st_ino)
        reset = self._identity is not None and (identity != self._identity or st.st_size < self.offset)
        if reset:
            self.offset = 0
        self._identity = identity
        events, self.offset = read_events(self.path, self.offset)
        return events, reset
