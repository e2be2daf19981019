"""What the commands that run a model on an image share: the ``--model`` source (or the bundled
default) and the check that two output paths are not one file. ``reconstruct`` and ``explain`` use
these, so a model argument means the same in both."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from maskviz.errors import MaskvizError


def load_cli_model(source: str | None, device: Any, norm_pix: bool | None = None) -> Any:  # LoadedModel
    """The model a command runs: ``source`` (any format, ``bundled:``, a catalogue name) or the
    bundled default; its notes and warnings go to stderr."""
    from maskviz.bundled import load_default_model
    from maskviz.checkpoints import load_model

    if source:
        loaded = load_model(source, device=device, norm_pix=norm_pix)
    else:
        loaded = load_default_model(device)
        for note in loaded.notes if loaded.format == "builtin" else []:
            print(f"maskviz: note: {note}", file=sys.stderr)
    for warning in loaded.warnings:
        print(f"maskviz: warning: {warning}", file=sys.stderr)
    return loaded


def model_label(loaded: Any) -> str:
    """How figures name a loaded model: its architecture name, else the file's name."""
    return loaded.config.name or Path(loaded.source).name


def check_outputs(out: Path | None, json_path: Path | None) -> None:
    """Refuse, before any work, a metrics file that would overwrite the panel (same file by any name)."""
    from maskviz.fileio import same_file

    if out is not None and json_path is not None and same_file(out, json_path):
        raise MaskvizError(f"--json and --out name the same file ({json_path}); give two different paths")
