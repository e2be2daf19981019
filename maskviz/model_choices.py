"""Every model the user can choose, in one list: what the model picker shows, torch-free and Qt-free.

:func:`list_model_choices` gathers, in this order: the bundled models, recently opened models, the
training runs in the data dir with their final and best checkpoints and the validation figures the
run recorded (``metrics.jsonl``), and the published catalogue (downloaded entries first, then the
downloadable ones).
Each :class:`ModelChoice` carries the source that :func:`maskviz.checkpoints.load_model` and the
app's ``open_model`` take, and its name from :func:`maskviz.model_names.display_name`.
:func:`check_source` says why a typed source cannot be opened (``''`` when it can).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from maskviz import bundled
from maskviz.bundled import MODEL_PREFIX
from maskviz.errors import MaskvizError
from maskviz.model_names import display_name
from maskviz.paths import runs_dir
from maskviz.sources import cached_path, mirror_setting, model_path
from maskviz.train.events import TrainEvent, read_events
from maskviz.zoo.catalogue import ModelEntry, entries, format_size

GROUPS = ("Bundled", "Recent", "Training runs", "Catalogue")  # the user's own before the long catalogue
RUN_LIMIT = 20


@dataclass(frozen=True)
class ModelChoice:
    """One row of the picker. ``ready``: it can be opened now (False: a catalogue entry to download
    first, or a recent file that is gone); ``entry``: the catalogue name, for the download."""

    group: str
    source: str
    name: str
    detail: str
    ready: bool = True
    entry: str = ""


def list_model_choices(recent: Sequence[str] = (), runs_root: str | os.PathLike | None = None,
                       run_limit: int = RUN_LIMIT) -> list[ModelChoice]:
    """Bundled, recent, training-run and catalogue choices (see the module doc). Reads only local files."""
    root = Path(runs_root) if runs_root is not None else runs_dir()
    return [*bundled_choices(), *recent_choices(recent), *run_choices(root, run_limit), *catalogue_choices()]


def bundled_choices() -> list[ModelChoice]:
    return [ModelChoice("Bundled", f"{MODEL_PREFIX}{name}", display_name(f"{MODEL_PREFIX}{name}"),
                        "ships with maskviz") for name in bundled.bundled_model_paths()]


def catalogue_choices() -> list[ModelChoice]:
    choices = [_catalogue_choice(e) for e in entries().values() if e.source != "bundled"]
    return sorted(choices, key=lambda c: not c.ready)  # downloaded first, else in catalogue order


def _catalogue_choice(entry: ModelEntry) -> ModelChoice:
    here = cached_path(entry) is not None
    size = format_size(entry.size_bytes, entry.size_exact)
    how = ("downloaded" if here else f"download {size}" if entry.source != "manual" or mirror_setting()
           else f"Google Drive, {size}: download by hand")
    detail = f"{entry.family_name}, {entry.input_size} px, {entry.target} · {how}"
    return ModelChoice("Catalogue", entry.name, display_name(entry.name), detail, ready=here, entry=entry.name)


def recent_choices(recent: Sequence[str]) -> list[ModelChoice]:
    out = []
    for source in recent:
        try:
            here = model_path(source).exists()
        except MaskvizError:
            here = False
        out.append(ModelChoice("Recent", source, display_name(source), source if here else f"{source} (not found)",
                               ready=here))
    return out


def run_choices(root: Path, limit: int = RUN_LIMIT) -> list[ModelChoice]:
    """The final and best checkpoint of each run under ``root``, newest run first."""
    try:
        folders = [p for p in root.iterdir() if (p / "config.json").is_file()]
    except OSError:
        return []
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [choice for folder in folders[:limit] for choice in _run_choices(folder)]


def _run_choices(folder: Path) -> list[ModelChoice]:
    events = read_events(folder / "metrics.jsonl")[0]
    facts = RunFacts.of(events)
    out = []
    for stem, text in (("last", facts.final_text()), ("best", facts.best_text())):
        checkpoint = folder / "checkpoints" / f"{stem}.safetensors"
        if checkpoint.is_file():
            out.append(ModelChoice("Training runs", str(checkpoint), display_name(checkpoint), text))
    return out


@dataclass(frozen=True)
class RunFacts:
    """What a run's events say about its checkpoints: steps, the starting model's validation loss,
    the last validation and the best one (with its step)."""

    step: int = 0
    total: int = 0
    state: str = ""
    start_val: float | None = None
    last_val: tuple[int, float] | None = None
    best_val: tuple[int, float] | None = None

    @classmethod
    def of(cls, events: Sequence[TrainEvent]) -> RunFacts:
        vals = [(e.step, e.val_loss) for e in events
                if e.event == "step" and e.val_loss is not None and math.isfinite(e.val_loss)]
        total = next((e.total_steps for e in reversed(events) if e.event == "start" and e.total_steps), 0)
        end = next((e for e in reversed(events) if e.event in ("start", "end")), None)
        state = (end.reason or "") if end is not None and end.event == "end" else "unfinished" if events else ""
        return cls(step=max((e.step for e in events if e.event == "step"), default=0), total=total or 0,
                   state={"error": "failed"}.get(state, state),
                   start_val=next((v for s, v in vals if s == 0), None),
                   last_val=vals[-1] if vals else None,
                   best_val=min(vals, key=lambda sv: (sv[1], sv[0])) if vals else None)

    def final_text(self) -> str:
        """``final · step 30/30, done · val 0.2938 (start 0.2653)``."""
        text = f"final · step {self.step}/{self.total or '?'}" + (f", {self.state}" if self.state else "")
        if self.last_val is not None:
            text += f" · val {self.last_val[1]:.4f}" + ("" if self.last_val[0] == self.step
                                                       else f" at step {self.last_val[0]}")
        return text + self._start()

    def best_text(self) -> str:
        """``best · val 0.2653 at step 0: the starting model``."""
        if self.best_val is None:
            return "best · no validation recorded"
        step, value = self.best_val
        where = "the starting model" if step == 0 else f"step {step}"
        return f"best · val {value:.4f} at {where}" + ("" if step == 0 else self._start())

    def _start(self) -> str:
        return "" if self.start_val is None else f" (start {self.start_val:.4f})"


def check_source(text: str) -> str:
    """Why a typed model source cannot be opened ('' when it can): an unknown bundled name, a catalogue
    model not downloaded yet, a path that does not exist."""
    text = text.strip()
    if not text:
        return "type bundled:NAME, a catalogue name or a path"
    try:
        path = model_path(text)
    except MaskvizError as exc:
        return str(exc)
    return "" if path.exists() else f"not found: {path}"
