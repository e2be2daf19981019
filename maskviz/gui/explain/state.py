"""ExplainState: what the Explain lens shows (method, target, layer, head, masks) and what came back.

The lens (:class:`~maskviz.explain.jobs.Lens`), whether the target follows the pointer, the newest
:class:`~maskviz.explain.jobs.LensOutcome` with the viewer inputs it was computed for, and how the
run stands (running, progress, status line). The view draws it; the explain controller fills it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from maskviz.explain.jobs import Lens


class ExplainState(QObject):
    """Lens settings, the shown outcome and the run; one signal per part."""

    lensChanged = Signal()  # method, target, layer, head, masks or follow
    outcomeChanged = Signal()
    runChanged = Signal()  # running, progress, status

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lens = Lens()
        self.follow = True  # the target follows the pointer where one forward answers every target
        self.outcome: Any = None  # maskviz.explain.jobs.LensOutcome
        self.outcome_key: Any = None  # the viewer inputs and lens it was computed for
        self.running = False
        self.done, self.total = 0, 0
        self.status = ""

    def set_lens(self, **changes: Any) -> None:
        """Change some of :class:`~maskviz.explain.jobs.Lens` (by field name); checked before it is applied."""
        lens = replace(self.lens, **changes)
        if lens != self.lens:
            self.lens = lens
            self.lensChanged.emit()

    def set_target(self, target: tuple[int, int] | None) -> None:
        self.set_lens(target=None if target is None else (int(target[0]), int(target[1])))

    def set_follow(self, on: bool) -> None:
        if bool(on) != self.follow:
            self.follow = bool(on)
            self.lensChanged.emit()

    def set_outcome(self, outcome: Any, key: Any = None) -> None:  # noqa: ANN401 - LensOutcome
        """Show ``outcome`` (computed for ``key``); None drops the shown map."""
        self.outcome, self.outcome_key = outcome, key if outcome is not None else None
        self.outcomeChanged.emit()

    def set_run(self, **values: Any) -> None:
        """Set ``running``, ``done``, ``total`` and/or ``status``."""
        for name, value in values.items():
            if name not in ("running", "done", "total", "status"):
                raise ValueError(f"unknown run field {name!r}")
            setattr(self, name, value)
        self.runChanged.emit()
