"""Launching ``maskviz train`` as a child process and reading how it went (plain Python, no Qt).

The panel's runner (:mod:`maskviz.gui.training.process`) starts the child with
:meth:`TrainRequest.arguments` and :func:`child_environment`, lowers its priority with
:func:`lower_priority`, follows its output file with :class:`TextTail` and decides how it ended
with :func:`judge_ending`. Scripts can do the same with :mod:`subprocess`.

Cadence: the request passes no ``--val-every`` / ``--save-every``, so a run from the panel
validates and saves exactly like the same command typed in a terminal (see
:func:`maskviz.train.config.default_val_every`).
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskviz.train.config import TrainError, parse_mask_mixture
from maskviz.train.events import TrainEvent
from maskviz.train.rundir import RunDir, new_run_folder
from maskviz.train.runs import model_argument

TAIL_LINES = 300
MAX_READ = 1 << 20  # read at most the newest MiB of output per poll
OUTPUT_NAME = "gui-output.log"
ERROR_PREFIXES = ("maskviz: error: ", "maskviz: internal error: ")
ABRUPT_END = ("the training process ended abruptly{code}; if the machine ran out of memory, try a smaller "
              "batch. The log below shows how far it got")
# How much lower the trainer's scheduling priority is than the app's: the app's UI thread and its
# model worker take a core whenever they need one, and the trainer keeps every core they leave idle.
CHILD_NICENESS = 10


@dataclass
class TrainRequest:
    """What the training form asks for; ``mask``/``lr`` None = the trainer's defaults."""

    data: str
    model: str
    out: str
    steps: int
    batch: int
    mask: str | None = None
    lr: float | None = None
    augment: str = "mae"
    workers: int = 0
    amp: str = "none"
    device: str = "auto"

    def arguments(self) -> list[str]:
        """``maskviz train`` flags; ``--flag=value`` so a value starting with '-' cannot pose as a flag."""
        args = [f"--data={self.data}", f"--model={self.model}", f"--out={self.out}", f"--steps={self.steps}",
                f"--batch={self.batch}"]
        if self.mask:
            args.append(f"--mask={self.mask}")
        if self.lr is not None:
            args.append(f"--lr={self.lr!r}")
        for name, value, default in (("augment", self.augment, "mae"), ("workers", self.workers, 0),
                                     ("amp", self.amp, "none"), ("device", self.device, "auto")):
            if value != default:
                args.append(f"--{name}={value}")
        return args


@dataclass(frozen=True)
class TrainForm:
    """The panel's form as typed (text fields as text): what :func:`form_request` turns into a request."""

    folder: str = ""
    out: str = ""
    steps: int = 1000
    batch: int = 32
    mask: str = ""
    lr: str = ""
    augment: str = "mae"
    workers: int = 0
    amp: str = "none"
    device: str = "auto"


def form_request(form: TrainForm, folder: Path | None, base: Any, base_source: str | None,  # noqa: ANN401
                 runs_root: Path) -> TrainRequest:
    """The form as a request: ``folder`` is the scanned folder, ``base`` the LoadedModel to start from
    (``FOLDER``/``MODEL`` stand in while either is missing). A bad learning rate raises TrainError."""
    data = str(folder) if folder is not None else form.folder.strip() or "FOLDER"
    model = model_argument(base, base_source) if base is not None else "MODEL"
    out = Path(form.out.strip() or runs_root).expanduser()
    return TrainRequest(data, model, str(out.absolute()), form.steps, form.batch, form.mask.strip() or None,
                        parse_learning_rate(form.lr), form.augment, form.workers, form.amp, form.device)


def check_new_run(form: TrainForm, runs_root: Path) -> None:
    """What ``maskviz train`` would refuse in the form's mask and run folder, as a TrainError, before launching."""
    if form.mask.strip():
        parse_mask_mixture(form.mask.strip())
    out = Path(form.out.strip() or new_run_folder(runs_root)).expanduser()
    if RunDir(out).config.exists():
        raise TrainError(f"{out} already holds a training run: open it with Open run… to resume it, "
                         "or choose another run folder")
    if out.exists() and not out.is_dir():
        raise TrainError(f"the run folder {out} is a file")


def parse_learning_rate(text: str) -> float | None:
    """The LR field: blank = the trainer's default; otherwise a positive number, or a TrainError."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise TrainError(f"the learning rate must be a positive number such as 1.5e-4 (or blank for the "
                         f"default), not {text!r}")
    return value


def resume_arguments(run_dir: str | os.PathLike) -> list[str]:
    return [f"--resume={Path(run_dir)}"]


def child_environment(base: dict[str, str]) -> dict[str, str]:
    """The child's environment: unbuffered UTF-8 output, and :func:`trainer_threads` torch threads unless
    ``OMP_NUM_THREADS`` is set already (a user's choice is kept)."""
    env = dict(base)
    env.setdefault("OMP_NUM_THREADS", str(trainer_threads()))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def trainer_threads(cpus: int | None = None, load: float | None = None) -> int:
    """Torch threads for a run started from the app: the cores that nothing keeps busy when it starts
    (the 1-minute load average), at least one.

    On an idle machine that is every core, as the same command gets in a terminal. On a busy one fewer
    threads train faster, because each operation waits until all of its threads have been scheduled:
    ``bench/bench_train_panel.py`` on 2 cores at a load of ~12 trained 13x faster with one thread than
    with two (tiny model) and 1.5x faster (ViT-B/16).
    """
    cpus = cpus or os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows: no load average
            load = 0.0
    return max(1, cpus - int(load))


def lower_priority(pid: int, niceness: int = CHILD_NICENESS) -> None:
    """Run ``pid`` (a child just started, before it has threads) ``niceness`` steps below this process.

    Where threads compete one by one (macOS, Linux without autogroup) this keeps the trainer's
    threads from taking a core from the app's UI or worker. With Linux's autogroup scheduling
    (most desktops) a child in its own session is its own group, which the kernel weighs equally
    against the app's: the app gets half the machine whenever it computes, whatever this value;
    the group's own niceness is left alone, so the trainer is not starved by other programs either.
    Windows has no niceness: the child keeps normal priority.
    """
    if pid <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness))
    except OSError:
        pass  # gone already, or not ours to change: it runs at normal priority


# ---------------------------------------------------------------------------------- following output


class TextTail:
    """The newest lines of a growing text file, read incrementally and kept in a bounded buffer."""

    def __init__(self, path: str | os.PathLike, limit: int = TAIL_LINES, from_end: bool = True) -> None:
        self.path = Path(path)
        self.lines: deque[str] = deque(maxlen=limit)
        self._partial = b""
        self.offset = self._size() if from_end else 0

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def poll(self) -> list[str]:
        """Complete lines written since the last call (a half-written line waits for its end)."""
        size = self._size()
        if size < self.offset:  # truncated or replaced: start over
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return []
        start = max(self.offset, size - MAX_READ)
        try:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                data = fh.read(size - start)
        except OSError:
            return []
        self.offset = start + len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        return self._keep(complete)

    def flush(self) -> list[str]:
        """The unfinished last line too (the writer has exited)."""
        rest, self._partial = self._partial, b""
        return self._keep([rest]) if rest.strip() else []

    def _keep(self, raw: list[bytes]) -> list[str]:
        lines = [line.decode("utf-8", errors="replace").rstrip("\r") for line in raw]
        self.lines.extend(lines)
        return lines


def error_line(lines: list[str] | deque[str]) -> str:
    """The CLI's last ``maskviz: error: ...`` sentence (prefix removed), or ''."""
    for line in reversed(lines):
        for prefix in ERROR_PREFIXES:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
    return ""


@dataclass(frozen=True)
class Ending:
    """How a child process ended, as far as its events and exit tell."""

    reason: str  # "done", "stopped", "killed" or "error"
    exit_code: int
    message: str


def judge_ending(end: TrainEvent | None, exit_code: int, crashed: bool, stop_requested: bool, killed: bool,
                 lines: list[str] | deque[str], stop_timeout_s: float) -> Ending:
    """The run's own ``end`` event wins; without one the exit code and our own requests decide."""
    plain = error_line(lines)
    if end is not None and end.reason in ("done", "stopped", "error"):
        message = end.message or (plain if end.reason == "error" else "")
        return Ending(end.reason, exit_code, message or ("training failed" if end.reason == "error" else ""))
    if killed:
        return Ending("killed", exit_code, f"the run did not stop within {stop_timeout_s:g} s and was ended; "
                                           "Resume repeats the steps since its last checkpoint")
    if stop_requested:
        return Ending("stopped", exit_code, "stopped before training began")
    if exit_code == 0 and not crashed:
        return Ending("done", exit_code, "")
    if plain:
        return Ending("error", exit_code, plain)
    return Ending("error", exit_code, ABRUPT_END.format(code="" if crashed else f" (exit code {exit_code})"))
