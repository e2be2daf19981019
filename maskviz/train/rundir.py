"""The run folder: its layout, the resumable training state and the two logs.

::

    RUN_DIR/config.json                     resolved TrainConfig + Plan (what --resume reads)
    RUN_DIR/metrics.jsonl                   one TrainEvent per line (maskviz.train.events)
    RUN_DIR/train.log                       the same story for people
    RUN_DIR/checkpoints/last.safetensors    maskviz model file (save_model), latest weights
    RUN_DIR/checkpoints/best.safetensors    lowest validation loss so far (when validating)
    RUN_DIR/checkpoints/train_state.pt      weights + optimizer + scaler + step, for --resume
    RUN_DIR/run.lock                        pid + host of the process writing the run (empty when none)
    RUN_DIR/metrics.replaced.jsonl          events a resume replaced (the steps it redoes), kept

Every file except the two append-only logs is written to a temporary name and renamed, so a
crash or a full disk leaves the previous version intact. The state holds only tensors, numbers,
strings, lists and dicts, and is read back with ``torch.load(weights_only=True)``; it carries its
own copy of the weights so it can never disagree with ``last.safetensors`` about the step.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import torch

try:
    import fcntl
except ImportError:  # Windows: RunLock falls back to checking the holder's pid
    fcntl = None

from maskviz.errors import CheckpointError, MaskvizError
from maskviz.fileio import atomic_write
from maskviz.models.base import config_from_dict
from maskviz.paths import runs_dir
from maskviz.train.config import Plan, TrainConfig, TrainError
from maskviz.train.events import TrainEvent, parse_event_line, write_event

RUN_FORMAT = "maskviz-train-run"
RUN_VERSION = 1


# What a full disk looks like from the writers that do not raise OSError: safetensors wraps Rust's
# io::Error ("... Os { code: 28, kind: StorageFull ... }"), PyTorch's zip writer only says its stream
# failed ("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598", "file write failed").
_SAFETENSORS_FULL = re.compile(r"os error (28|122)\b|code: (28|122)\b|StorageFull|QuotaExceeded|No space left")
_TORCH_WRITER_FAILED = ("inline_container.cc", "file write failed")
LOW_SPACE = 256 << 20  # a torch writer failure with less free space than this is a full disk


def new_run_folder(root: Path | None = None) -> Path:
    """A fresh ``<runs dir>/<YYYYmmdd-HHMMSS>`` path (``-2``, ``-3``... when taken), not yet created."""
    root = root if root is not None else runs_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = root / stamp, 2
    while path.exists():
        path, n = root / f"{stamp}-{n}", n + 1
    return path


def disk_full_error(exc: BaseException, what: str) -> TrainError | None:
    """A plain "disk full while writing ..." TrainError when ``exc`` (or what it wraps) is a full disk, else None."""
    for e in (exc, exc.__cause__, exc.__context__):
        if e is not None and _is_disk_full(e, what):
            return TrainError(f"disk full while writing {what}: free some space (the previous checkpoint is intact)")
    return None


def _is_disk_full(e: BaseException, what: str) -> bool:
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(e)
    if type(e).__name__ == "SafetensorError":
        return bool(_SAFETENSORS_FULL.search(text))
    if isinstance(e, RuntimeError) and any(marker in text for marker in _TORCH_WRITER_FAILED):
        return free_space(Path(what)) < LOW_SPACE  # the writer gives no reason: ask the file system
    return False


def free_space(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing folder); 0 when unknown."""
    for folder in (path, *path.parents):
        with contextlib.suppress(OSError):
            if folder.is_dir():
                return shutil.disk_usage(folder).free
    return 0


@contextlib.contextmanager
def disk_errors_explained(what: str) -> Iterator[None]:
    """Re-raise a full disk (raw, or wrapped by ``atomic_write``) as a one-line TrainError."""
    try:
        yield
    except (OSError, CheckpointError) as exc:
        err = disk_full_error(exc, what)
        if err is None:
            raise
        raise err from exc


class RunDir:
    """Paths of one run folder and the atomic reads and writes of its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.log = self.path / "train.log"
        self.checkpoints = self.path / "checkpoints"
        self.last = self.checkpoints / "last.safetensors"
        self.best = self.checkpoints / "best.safetensors"
        self.state = self.checkpoints / "train_state.pt"
        self.lock = self.path / "run.lock"
        self.replaced = self.path / "metrics.replaced.jsonl"

    def check_new(self) -> None:
        if self.config.exists():
            raise TrainError(f"{self.path} already holds a training run: continue it with --resume {self.path} "
                             "or choose another --out")
        if self.path.exists() and not self.path.is_dir():
            raise TrainError(f"--out {self.path} is a file, not a folder")

    def create(self, config: TrainConfig, plan: Plan) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        doc = {"format": RUN_FORMAT, "version": RUN_VERSION, "config": config.to_dict(), "plan": plan.to_dict()}
        self.write_atomic(self.config, lambda tmp: tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8"))

    def read(self) -> tuple[TrainConfig, Plan]:
        """The saved config and plan; a plain error when the folder is not a maskviz run."""
        not_run = TrainError(f"{self.path} is not a maskviz training run (no readable config.json from "
                             "'maskviz train')")
        try:
            doc = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise not_run from None
        if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
            raise not_run
        version = doc.get("version", 0)
        if not isinstance(version, int):
            raise TrainError(f"{self.config} is damaged: version {version!r} is not a number")
        if version > RUN_VERSION:
            raise TrainError(f"{self.path} was written by a newer maskviz; update to resume it")
        try:  # a hand-edited file gets the checks a command line gets, and the model config its own
            config, plan = TrainConfig.from_dict(doc["config"]), Plan.from_dict(doc["plan"])
            config.validate()
            if plan.model_config:
                config_from_dict(plan.model_config)
        except (KeyError, TypeError, ValueError, MaskvizError) as exc:
            raise TrainError(f"{self.config} is damaged: {exc}") from None
        return config, plan

    def write_atomic(self, path: Path, write: Any) -> None:
        with disk_errors_explained(str(path)):
            atomic_write(path, write, error=CheckpointError, make_parents=True)

    def save_state(self, state: dict[str, Any]) -> None:
        self.write_atomic(self.state, lambda tmp: _torch_save(state, tmp))

    def load_state(self) -> dict[str, Any] | None:
        """The saved training state, or None when the run stopped before its first save."""
        if not self.state.exists():
            return None
        try:
            state = torch.load(self.state, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise TrainError(f"cannot read {self.state}: {exc}") from None
        if not isinstance(state, dict) or not {"step", "model", "optimizer"} <= set(state):
            raise TrainError(f"cannot read {self.state}: it is not a maskviz training state")
        return state

    def recorded_step(self) -> int:
        """The highest step ``metrics.jsonl`` records (0 when none): what a fresh start would throw away."""
        lines = self.metrics.read_bytes().splitlines() if self.metrics.exists() else []
        events = [parse_event_line(ln) for ln in lines]
        return max((e.step for e in events if e is not None and e.event == "step"), default=0)

    def trim_metrics(self, step: int) -> int:
        """Move events after ``step`` (the steps a resume redoes) and torn lines to ``metrics.replaced.jsonl``.

        Nothing is deleted: the replaced lines are appended there first. Returns how many events moved.
        """
        if not self.metrics.exists():
            return 0
        lines = self.metrics.read_bytes().splitlines(keepends=True)
        keep = [ln for ln in lines
                if ln.endswith(b"\n") and (e := parse_event_line(ln)) is not None and e.step <= step]
        if len(keep) == len(lines):
            return 0
        kept = set(map(id, keep))
        moved = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in lines if id(ln) not in kept]
        with disk_errors_explained(str(self.replaced)), open(self.replaced, "ab") as fh:
            fh.write(b"".join(moved))
            fh.flush()
            os.fsync(fh.fileno())
        self.write_atomic(self.metrics, lambda tmp: tmp.write_bytes(b"".join(keep)))
        return len(moved)


def _torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through a Python file, so a full disk surfaces as OSError(ENOSPC), not a bare RuntimeError."""
    with open(path, "wb") as fh:
        torch.save(obj, fh)


# ---------------------------------------------------------------------------------- the lock


def this_host() -> str:
    return socket.gethostname() or "localhost"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def read_lock(run: RunDir) -> dict[str, Any] | None:
    """Who holds the run's lock, as the lock file says (``pid``, ``host``, ``since``); None when nobody."""
    try:
        doc = json.loads(run.lock.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def live_holder(run: RunDir) -> dict[str, Any] | None:
    """The lock's holder when it is a live process (on another host: assumed alive), else None."""
    holder = read_lock(run)
    if holder is None:
        return None
    if holder.get("host") == this_host() and not pid_alive(holder["pid"]):
        return None
    return holder


def describe_holder(holder: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(holder.get("since", 0)))
    return f"process {holder['pid']} on {holder.get('host', '?')} (since {since})"


class RunLock:
    """One writer per run folder: an OS lock on ``run.lock`` that names its holder (pid + host).

    The OS lock (``flock``) is released by the kernel when its process dies however it dies, so a
    stale lock is simply taken over; where ``fcntl`` is missing (Windows) the pid is checked instead.
    """

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None  # the dead holder whose lock was taken over

    def acquire(self) -> None:
        try:
            self.run.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.run.lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise TrainError(f"cannot use the run folder {self.run.path}: {exc.strerror or exc}") from None
        previous = read_lock(self.run)
        if not _try_lock(fd, self.run):
            os.close(fd)
            holder = read_lock(self.run)
            who = describe_holder(holder) if holder else "another process"
            raise TrainError(f"{self.run.path} is being written by {who}; stop that run first "
                             f"(or wait for it to end)")
        self._fd = fd
        if previous is not None:
            self.took_over = previous
        me = {"pid": os.getpid(), "host": this_host(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # empty = nobody holds it
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(fd: int, run: RunDir) -> bool:
    if fcntl is None:
        return live_holder(run) is None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class Reporter:
    """Where a run tells its story: metrics.jsonl, train.log, and optionally two streams.

    Only the main process writes; the others get a Reporter with ``run=None`` that drops everything.
    A lock keeps lines whole when the data thread reports a skipped image.
    """

    def __init__(self, run: RunDir | None, echo: TextIO | None = None, jsonl: TextIO | None = None) -> None:
        self.run, self.echo, self.jsonl = run, echo, jsonl
        self._metrics = self._log = None
        self._lock = threading.Lock()
        if run is not None:
            run.path.mkdir(parents=True, exist_ok=True)
            self._metrics = open(run.metrics, "a", encoding="utf-8")  # open for the whole run
            self._log = open(run.log, "a", encoding="utf-8")

    def event(self, event: TrainEvent) -> None:
        if self._metrics is None:
            return
        with self._lock, disk_errors_explained(str(self.run.metrics)):
            write_event(self._metrics, event)
        if self.jsonl is not None:
            write_event(self.jsonl, event)

    def warn(self, step: int, message: str) -> None:
        """Something the user should know (shown in the panel): a warning event and a log line."""
        self.event(TrainEvent("warning", step, message=message))
        self.log(f"warning: {message}")

    def log(self, message: str) -> None:
        if self._log is None:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {message}"
        with self._lock, disk_errors_explained(str(self.run.log)):
            self._log.write(line + "\n")
            self._log.flush()
        if self.echo is not None:
            print(line, file=self.echo, flush=True)

    def close(self) -> None:
        for fh in (self._metrics, self._log):
            if fh is not None:
                fh.close()
