"""The run folder: its layout, the resumable training state and the two logs.

::

    RUN_DIR/config.json                     resolved TrainConfig + Plan (what --resume reads)
    RUN_DIR/metrics.jsonl                   one TrainEvent per line (maskviz.train.events)
    RUN_DIR/train.log                       the same story for people
    RUN_DIR/checkpoints/last.safetensors    maskviz model file (save_model), latest weights
    RUN_DIR/checkpoints/best.safetensors    lowest validation loss so far (when validating)
    RUN_DIR/checkpoints/train_state.pt      weights + optimizer + scaler + step, for --resume

Every file except the two append-only logs is written to a temporary name and renamed, so a
crash or a full disk leaves the previous version intact. The state holds only tensors, numbers,
strings, lists and dicts, and is read back with ``torch.load(weights_only=True)``; it carries its
own copy of the weights so it can never disagree with ``last.safetensors`` about the step.
"""

from __future__ import annotations

import contextlib
import errno
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import torch

from maskviz.errors import CheckpointError, MaskvizError
from maskviz.fileio import atomic_write
from maskviz.models.base import config_from_dict
from maskviz.train.config import Plan, TrainConfig, TrainError
from maskviz.train.events import TrainEvent, parse_event_line, write_event

RUN_FORMAT = "maskviz-train-run"
RUN_VERSION = 1


def disk_full_error(exc: BaseException, what: str) -> TrainError | None:
    """A plain TrainError when ``exc`` (or what it wraps) is ENOSPC, else None."""
    for e in (exc, exc.__cause__):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return TrainError(f"disk full while writing {what}: free some space (the previous checkpoint is intact)")
    return None


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
        self.write_atomic(self.state, lambda tmp: torch.save(state, tmp))

    def load_state(self) -> dict[str, Any] | None:
        """The saved training state, or None when the run stopped before its first save."""
        if not self.state.exists():
            return None
        try:
            return torch.load(self.state, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise TrainError(f"cannot read {self.state}: {exc}") from None

    def trim_metrics(self, step: int) -> None:
        """Drop events after ``step`` (a crash ran past the last save) and torn lines before appending."""
        if not self.metrics.exists():
            return
        lines = self.metrics.read_bytes().splitlines(keepends=True)
        keep = [ln for ln in lines
                if ln.endswith(b"\n") and (e := parse_event_line(ln)) is not None and e.step <= step]
        if len(keep) != len(lines):
            self.write_atomic(self.metrics, lambda tmp: tmp.write_bytes(b"".join(keep)))


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
