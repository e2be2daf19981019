"""The loss curve's work: :func:`maskviz.sweep.loss_sweep` on the ``curve`` lane, into ``state.curve``.

A sweep is started (after :data:`CURVE_DELAY_MS`, so a burst of changes runs once) when the image,
the model, the pattern family or the precision changes, and only while the curve is on screen
(:meth:`CurveJobs.set_shown`, from the dock's visibility); unchanged inputs keep the curve. Each
step is one forward. A click on a point applies that ratio and seed through the pattern request.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, QTimer

from maskviz.gui.controller import Controller
from maskviz.gui.state import Curve, ViewerState  # the GUI's sweep type; one import to switch to the core's
from maskviz.masks import MaskSpec

LANE = "curve"
CURVE_DELAY_MS = 300


class CurveJobs(QObject):
    """Inputs changed → one sweep job (when shown); its points → ``state.set_curve``."""

    def __init__(self, state: ViewerState, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.shown = True
        self.task_id = 0
        self._key: tuple | None = None
        self._timer = QTimer(self, singleShot=True, interval=CURVE_DELAY_MS)
        self._timer.timeout.connect(self._start)
        for signal in (state.imageChanged, state.modelChanged, state.provenanceChanged):
            signal.connect(self.schedule)
        state.optionsChanged.connect(lambda name: name == "precision" and self.schedule())
        controller.jobStep.connect(self._on_step)
        controller.jobDone.connect(self._on_done)
        controller.jobFailed.connect(self._on_failed)

    @property
    def pending(self) -> bool:
        """A sweep is about to be checked for (the debounce is running)."""
        return self._timer.isActive()

    def set_shown(self, shown: bool) -> None:
        """The curve is on screen (or not): off screen, its sweep starts no step; shown, it catches up."""
        self.shown = shown
        self.controller.set_lane_shown(LANE, shown)
        if shown:
            self.schedule()

    def schedule(self) -> None:
        """Recompute the curve soon (debounced); unchanged inputs keep the current curve."""
        self._timer.start()

    def _start(self) -> None:
        from maskviz.sweep import DEFAULT_RATIOS, DEFAULT_SEEDS, loss_sweep, sweep_label, sweep_spec

        s = self.state
        if s.model is None or s.model_image is None or not self.shown:
            return
        family = sweep_spec(s.provenance.spec or self.controller.default_spec)
        key = (id(s.model.model), id(s.model_image), str(family), s.options.precision)
        if key == self._key and self.task_id:
            return
        self._key = key
        total = len(DEFAULT_RATIOS)
        s.set_curve(Curve(sweep_label(family), family, (), total, DEFAULT_SEEDS, f"computing 0/{total} ratios…"))
        model, image, precision, defaults = s.model.model, s.model_image, s.options.precision, s.model.mask_defaults()
        self.task_id = self.controller.run_job(
            LANE, lambda: loss_sweep(model, image, family, precision=precision, defaults=defaults))

    def _on_step(self, lane: str, task_id: int, point: object) -> None:
        if lane != LANE or task_id != self.task_id:
            return
        c = self.state.curve
        points = tuple(p for p in c.points if p.ratio != point.ratio) + (point,)
        status = f"computing: {len(points)}/{max(c.total, len(points))} ratios…"
        self.state.set_curve(replace(c, points=points, status=status))

    def _on_done(self, lane: str, task_id: int, _value: object) -> None:
        if lane == LANE and task_id == self.task_id:
            c = self.state.curve
            self.state.set_curve(replace(c, status="" if c.points else "no points: nothing could be hidden"))

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == LANE and task_id == self.task_id:
            self.task_id, self._key = 0, None  # not finished: the next check starts it again
            if not message.startswith("stopped"):
                self.state.set_curve(replace(self.state.curve, status=f"loss curve failed: {message}"))

    def apply_point(self, ratio: float, seed: int) -> None:
        """A click on the curve: the curve's pattern family at that ratio and seed."""
        from maskviz.sweep import with_ratio

        family = self.state.curve.spec
        if family is None:
            return
        params = with_ratio(family, ratio).params
        pattern = family.pattern
        values = [params.get(p.name, p.default) for p in pattern.params]
        while len(values) > 1 and values[-1] == pattern.params[len(values) - 1].default:
            values.pop()  # the canonical form the pattern panel writes: positional, trailing defaults left out
        self.state.request_pattern(MaskSpec(family.name, tuple(values), (("seed", int(seed)),)))
