"""Runs, folders and models as the training panel and the CLI name them (plain Python, no Qt).

* earlier runs: :func:`list_runs`, :func:`run_summary`, :func:`running_elsewhere` (a live process
  holding a run's lock), :func:`result_checkpoint` and :func:`run_checkpoint_note` (which checkpoint
  of a run was opened, and why);
* the folder to train on: :func:`summarize_folder` (the trainer's own scan, plus a few thumbnails);
* the model to start from: :func:`model_name` (the display name, with the step for a run's
  checkpoint: ``20240101-1200 final (training run), step 10``), :func:`model_argument`
  (what ``--model`` gets) and :func:`lr_hint` (the lr a blank field gives).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskviz.train.config import DEFAULT_BLR, FINETUNE_LR, LR_RULES
from maskviz.train.events import read_events
from maskviz.train.rundir import RunDir, live_holder, this_host

THUMBNAILS = 12
THUMB_PX = 48
CHECKPOINT_KINDS = {"last": "final", "best": "best validation"}


# ---------------------------------------------------------------------------------- runs


def list_runs(root: Path, limit: int = 50) -> list[RunDir]:
    """Run folders under ``root``, newest first."""
    try:
        folders = [p for p in root.iterdir() if (p / "config.json").is_file()]
    except OSError:
        return []
    return [RunDir(p) for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)[:limit]]


def running_elsewhere(run: RunDir) -> int:
    """The pid of a live process on this machine writing ``run`` (holding its lock), else 0: a run to follow."""
    holder = live_holder(run)
    return holder["pid"] if holder is not None and holder.get("host") == this_host() else 0


def run_summary(run: RunDir) -> tuple[str, str]:
    """``(state, text)`` of a run for the Runs list: running (lock held), done, stopped, failed or unfinished."""
    events = read_events(run.metrics)[0]
    steps = max((e.step for e in events if e.event == "step"), default=0)
    ends = [e for e in events if e.event in ("start", "end")]
    if running_elsewhere(run):
        state = "running"
    elif ends and ends[-1].event == "end":
        state = {"error": "failed"}.get(ends[-1].reason, ends[-1].reason)
    else:
        state = "unfinished" if events else "new"
    total = next((e.total_steps for e in reversed(events) if e.event == "start" and e.total_steps), 0)
    return state, f"{run.path.name} — {state}, step {steps}/{total or '?'}"


def result_checkpoint(run: RunDir, which: str = "last") -> Path | None:
    """The run's final (``last``) or ``best`` checkpoint, falling back to the other; None before the first save."""
    order = (run.best, run.last) if which == "best" else (run.last, run.best)
    return next((p for p in order if p.exists()), None)


def run_checkpoint_note(run: RunDir, opened: Path, info: dict[str, Any]) -> str:
    """Which checkpoint of ``run`` was opened and why, from that checkpoint's own record (``info``).

    The run folder opens its best checkpoint; when no validation of the trained model beat the
    starting model's, that checkpoint *is* the starting model, and the note says so.
    """
    name, total = run.path.name, info.get("total_steps")
    steps = info.get("steps")
    of = f" of {total}" if isinstance(total, int) else ""
    if Path(opened).name != run.best.name:
        why = "the run has no best checkpoint (it did not validate)" if not run.best.exists() else "as asked"
        return f"run {name}: opened {_rel(run, opened)}, the final model (step {steps}{of}): {why}"
    if steps == 0:
        final = f" (step {_steps_of(run.last)})" if run.last.exists() else ""
        return (f"run {name}: opened {_rel(run, opened)}, which is the starting model (step 0): no validation "
                f"of the trained model beat it; the trained weights are in {_rel(run, run.last)}{final}")
    loss = info.get("best_val_loss")
    value = f"{loss:.4f} " if isinstance(loss, float) else ""
    return (f"run {name}: opened {_rel(run, opened)}, the lowest validation loss ({value}at step {steps}{of}); "
            f"the final model is {_rel(run, run.last)}")


def _rel(run: RunDir, path: Path) -> str:
    try:
        return Path(path).relative_to(run.path).as_posix()
    except ValueError:
        return str(path)


def _steps_of(checkpoint: Path) -> str:
    """The step a maskviz checkpoint records, or '?'."""
    steps = checkpoint_info(checkpoint).get("steps")
    return str(steps) if isinstance(steps, int) else "?"


def checkpoint_info(path: Path) -> dict[str, Any]:
    """The ``info`` record of a maskviz checkpoint, read from the file's header alone ({} when unreadable)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            info = json.loads((fh.metadata() or {}).get("info", "{}"))
    except Exception:  # noqa: BLE001 - any unreadable header means "nothing recorded"
        return {}
    return info if isinstance(info, dict) else {}


# ---------------------------------------------------------------------------------- the folder


@dataclass
class FolderSummary:
    """What a scan found: counts for the label, a few thumbnails for the strip."""

    root: Path
    found: int
    unreadable: int
    others: int
    thumbnails: list[np.ndarray] = field(default_factory=list)

    def text(self) -> str:
        parts = [f"{self.found} image{'s' * (self.found != 1)} found"]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable (skipped)")
        if self.others:
            parts.append(f"{self.others} other file{'s' * (self.others != 1)} ignored")
        return " · ".join(parts)


def summarize_folder(root: str | Path, count: int = THUMBNAILS, size: int = THUMB_PX) -> FolderSummary:
    """Scan like the trainer does (same counts, same errors) and thumbnail an even spread of the images."""
    from maskviz.train.data import scan_images

    folder = scan_images(root)
    n, k = len(folder.files), min(count, len(folder.files))
    picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})
    thumbs = [t for i in picks if (t := thumbnail(folder.files[i], size)) is not None]
    return FolderSummary(folder.root, n, folder.skipped, folder.other_files, thumbs)


def thumbnail(path: Path, size: int = THUMB_PX) -> np.ndarray | None:
    """A small RGB array; ``draft`` lets JPEG decode at reduced size, so big photos cost little."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            img.thumbnail((size, size))
            return np.asarray(img.convert("RGB"))
    except Exception:  # noqa: BLE001 - a thumbnail that fails is left out of the strip, nothing more
        return None


# ---------------------------------------------------------------------------------- the model


def model_name(source: str | None, loaded: Any) -> str:  # noqa: ANN401 - LoadedModel
    """How the panel names the model a run starts from: its display name (:mod:`maskviz.model_names`:
    the one naming used by titles, columns and figures) plus, for a run's checkpoint, the step it was
    saved at. A name the user typed (catalogue, bundled) is kept; a run folder is named by the
    checkpoint it opened (its best)."""
    from maskviz.model_names import loaded_display_name

    typed = source if source and not os.path.lexists(Path(source).expanduser()) else None
    name = loaded_display_name(loaded, typed)
    steps = (loaded.info or {}).get("steps") if loaded is not None else None
    return f"{name}, step {steps}" if name.endswith("(training run)") and isinstance(steps, int) else name


def model_argument(loaded: Any, source: str | None = None) -> str:
    """What ``--model`` gets: a catalogue or bundled name as opened, the checkpoint's absolute path (the
    trainer runs in its run folder), or the architecture of the built-in random model."""
    if loaded.format == "builtin":
        return str(loaded.source).removeprefix("builtin:")
    if source and not os.path.lexists(Path(source).expanduser()):
        return source
    return str(Path(loaded.source).expanduser().absolute())


def lr_hint(loaded: Any, batch: int) -> tuple[str, str]:
    """The lr a blank LR field gives, and where it comes from (the trainer's rule, see train.config.resolve)."""
    if loaded is not None and loaded.format != "builtin":
        return f"{FINETUNE_LR:g}", LR_RULES["finetune"]
    return f"{DEFAULT_BLR * batch / 256:.3g}", f"{DEFAULT_BLR:g} × batch / 256, the pre-training rule (from scratch)"
