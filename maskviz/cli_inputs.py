"""What the commands that run a model on an image share: the ``--model`` source, or the bundled
default. ``reconstruct`` and ``explain`` both load through it, so a model argument means the same in both."""

from __future__ import annotations

import sys
from typing import Any


def load_cli_model(source: str | None, device: Any, norm_pix: bool | None = None) -> Any:  # LoadedModel
    """The model a command runs: ``source`` (any format, ``bundled:``, a catalogue name) or the
    bundled default; its notes and warnings go to stderr."""
    from maskviz.checkpoints import load_default_model, load_model

    if source:
        loaded = load_model(source, device=device, norm_pix=norm_pix)
    else:
        loaded = load_default_model(device)
        for note in loaded.notes if loaded.format == "builtin" else []:
            print(f"maskviz: note: {note}", file=sys.stderr)
    for warning in loaded.warnings:
        print(f"maskviz: warning: {warning}", file=sys.stderr)
    return loaded
