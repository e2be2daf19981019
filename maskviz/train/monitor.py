"""What a run's events say: curves, progress, and one verdict on whether training helps unseen images.

Plain Python, shared by the panel (which redraws from a :class:`RunHistory` as events arrive), the
CLI's last line and scripts::

    from maskviz.train import read_events
    from maskviz.train.monitor import RunHistory
    history = RunHistory.from_events(read_events("runs/a/metrics.jsonl")[0])
    print(history.verdict().sentence())
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from maskviz.train.events import TrainEvent

EMA_SPAN = 20  # steps the smoothed train curve averages over
STALL_POINTS = 3  # validations without a new best before the verdict says so


def ema(values: list[float], span: int = EMA_SPAN) -> np.ndarray:
    """Exponential moving average (bias-corrected, so the first points are not pulled towards 0)."""
    alpha, out, acc, weight = 2.0 / (span + 1), np.empty(len(values)), 0.0, 0.0
    for i, v in enumerate(values):
        acc, weight = (1 - alpha) * acc + alpha * v, (1 - alpha) * weight + alpha
        out[i] = acc / weight
    return out


@dataclass(frozen=True)
class Verdict:
    """What the validation curve says (``text``, lower case, no full stop) and whether it is bad news."""

    text: str = ""
    bad: bool = False

    def sentence(self) -> str:
        """The text as a sentence: capitalised, with a full stop ('' when there is nothing to say)."""
        return f"{self.text[:1].upper()}{self.text[1:]}." if self.text else ""


def validation_verdict(val_steps: list[int], val_losses: list[float], steps: list[int],
                       losses: list[float]) -> Verdict:
    """What the validation curve says, in one sentence, and whether it is bad news.

    Against the starting model (step 0) when it was measured; "not improving" when the last
    :data:`STALL_POINTS` validations did not beat the best while the smoothed train loss kept falling.
    A best validation that is still the starting model's is said too: the run's best checkpoint is
    then the model it started from.
    """
    if not val_losses:
        return Verdict()
    base = val_losses[0] if val_steps[0] == 0 else None
    latest, best = val_losses[-1], min(val_losses)
    best_step = val_steps[val_losses.index(best)]
    if base is None:
        return Verdict(f"validation {latest:.4f} (best {best:.4f} at step {best_step})")
    if len(val_losses) == 1:
        return Verdict(f"validation of the starting model: {base:.4f}")
    change = 100 * (latest - base) / base
    text = f"validation {change:+.1f} % vs the starting model ({base:.4f} → {latest:.4f})"
    if best_step not in (0, val_steps[-1]):
        text += f" (best {100 * (best - base) / base:+.1f} % at step {best_step})"
    trained = [s for s in val_steps if s > 0]
    stalled = len(trained) >= STALL_POINTS and best_step < val_steps[-STALL_POINTS]
    train_falls = bool(losses) and _train_fell_since(best_step, steps, losses)
    start_best = "; the best checkpoint is the starting model (no validation beat it)" if best_step == 0 else ""
    if latest >= base and len(trained) >= STALL_POINTS:
        return Verdict(text + ": training is not helping unseen images of this folder" +
                       (" while the training loss falls (the model is fitting the training images)"
                        if train_falls else "") + "; the starting model is as good or better" + start_best, True)
    if stalled and train_falls:
        return Verdict(text + f": validation has not improved since step {best_step} while the training loss "
                              "falls (overfitting): more steps will not help" + start_best, True)
    if stalled:
        return Verdict(text + f": validation has stopped improving (best at step {best_step})" + start_best, True)
    return Verdict(text + start_best, bool(start_best))


def _train_fell_since(step: int, steps: list[int], losses: list[float]) -> bool:
    smooth = ema(losses)
    at = int(np.searchsorted(np.asarray(steps), step))
    return at < len(smooth) - 1 and smooth[-1] < 0.98 * smooth[min(at, len(smooth) - 1)]


@dataclass
class RunHistory:
    """A run's events folded into curves, progress, warnings and its ending.

    Steps a resume repeats replace the ones recorded before it (the file is rewritten without
    them, and a reader that missed that sees the step numbers go back).
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)  # EMA of ``losses``, kept up to date as steps arrive
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    total_steps: int = 0
    last: TrainEvent | None = None  # the newest step event
    warnings: list[str] = field(default_factory=list)
    end: TrainEvent | None = None  # the newest end event, unless a start came after it

    @classmethod
    def from_events(cls, events: Iterable[TrainEvent]) -> RunHistory:
        history = cls()
        history.add(events)
        return history

    def add(self, events: Iterable[TrainEvent]) -> None:
        for e in events:
            if e.event == "start":
                self.total_steps = e.total_steps or self.total_steps
                self.end = None
            elif e.event == "end":
                self.end = e
            elif e.event == "warning" and e.message and e.message not in self.warnings:
                self.warnings.append(e.message)
            elif e.event == "step":
                self._add_step(e)

    def _add_step(self, e: TrainEvent) -> None:
        if e.step <= max(self.steps[-1:] + self.val_steps[-1:], default=-1):
            self._truncate(e.step)
        if e.loss is not None:
            self.steps.append(e.step)
            self.losses.append(e.loss)
            self._smooth_last()
        if e.val_loss is not None:
            self.val_steps.append(e.step)
            self.val_losses.append(e.val_loss)
        self.last = e

    def _smooth_last(self) -> None:
        """One EMA update (the same numbers as :func:`ema` over the whole list, without redoing it)."""
        alpha, n = 2.0 / (EMA_SPAN + 1), len(self.losses)
        weight = 1 - (1 - alpha) ** n
        previous = self.smoothed[-1] * (1 - (1 - alpha) ** (n - 1)) if n > 1 else 0.0
        self.smoothed.append(((1 - alpha) * previous + alpha * self.losses[-1]) / weight)

    def _truncate(self, step: int) -> None:
        keep = sum(s < step for s in self.steps)
        del self.steps[keep:], self.losses[keep:], self.smoothed[keep:]
        keep = sum(s < step for s in self.val_steps)
        del self.val_steps[keep:], self.val_losses[keep:]

    @property
    def step(self) -> int:
        return self.last.step if self.last is not None else 0

    @property
    def smoothed_loss(self) -> float | None:
        return self.smoothed[-1] if self.smoothed else None

    @property
    def start_val(self) -> float | None:
        """The starting model's validation loss (step 0), when it was measured."""
        return self.val_losses[0] if self.val_steps[:1] == [0] else None

    @property
    def best_step(self) -> int | None:
        """The step of the lowest validation loss (0: the starting model); None without validation."""
        return self.val_steps[int(np.argmin(self.val_losses))] if self.val_losses else None

    def verdict(self) -> Verdict:
        return validation_verdict(self.val_steps, self.val_losses, self.steps, self.losses)


# ---------------------------------------------------------------------------------- text


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(event: TrainEvent | None, total: int, running: bool = True) -> str:
    """``step 120/1000 · 45.2 img/s · ETA 1:23`` beside the progress bar; speed and ETA only while running."""
    if event is None:
        return f"step 0/{total}" if total else ""
    if not running:
        return f"step {event.step}/{total or '?'}"
    speed = f" · {event.images_per_s:.1f} img/s" if event.images_per_s else ""
    return f"step {event.step}/{total or '?'}{speed} · ETA {format_duration(event.eta_s)}"


def training_text(name: str, history: RunHistory, verb: str = "Training") -> str:
    """``Training RUN: step 120/300 · loss 0.41 (smoothed) · validation -12.0 % vs the starting model``."""
    parts = [f"{verb} {name}: step {history.step}/{history.total_steps or '?'}"]
    if history.smoothed_loss is not None:
        parts.append(f"loss {history.smoothed_loss:.4f} (smoothed)")
    verdict = history.verdict().text
    if verdict:
        parts.append(verdict)
    elif history.step > 0 and not history.val_steps:
        parts.append("no validation yet")
    return " · ".join(parts)


def idle_text(has_model: bool, images: int | None, folder_typed: bool, steps: int) -> str:
    """What to do next when no run is shown: the panel's status line."""
    if not has_model:
        return "Waiting for the viewer's model."
    if images is None:
        return ("Looking for images…" if folder_typed
                else "Choose a folder of images, then press Start. The viewer stays usable while a run trains.")
    return f"Ready: {images} images, {steps} steps. Press Start; the viewer stays usable while the run trains."


def ending_text(reason: str, message: str, step: int, total: int) -> str:
    """How a run ended, for the panel's status line (the verdict follows it)."""
    where = f" at step {step}/{total}" if total else ""
    texts = {
        "done": f"Done: {total} steps. Open in viewer to compare with the base model.",
        "stopped": f"Stopped{where}. " + (f"{message[:1].upper()}{message[1:]}." if message and not step
                                          else "Resume continues from its last checkpoint."),
        "killed": f"Ended by force{where}: {message}",
        "error": f"The run failed{where}: {message}",
    }
    return texts.get(reason, f"{reason}{where}: {message}")
