"""Provenance that travels with a model file: paths reduced to what does not name the machine.

A model file is shared and shipped, so its metadata must not hold the absolute paths of the
machine it was trained on (its user name, its folders). Every absolute path in the provenance
(the data folder, the run folder, the base checkpoint, the paths inside the recorded command) is
written relative to the run folder when it lies inside it, otherwise as its last component (the
data folder's name, the base checkpoint's file name). The run folder's own ``config.json`` keeps
the full paths: a resume on the same machine needs them.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

# A POSIX absolute path inside a longer string (a command line, "maskviz checkpoint /a/b.safetensors");
# not the tail of a URL or of a relative path.
ABSOLUTE_PATH = re.compile(r"(?<![A-Za-z0-9:./_~-])/[^\s\"',|]+")


def portable_path(path: str, run_dir: Path | None = None) -> str:
    """``path`` relative to ``run_dir`` when inside it (the run folder itself: its name), else its name."""
    p = PurePosixPath(path)
    if run_dir is not None:
        try:
            inside = p.relative_to(PurePosixPath(run_dir))
        except ValueError:
            pass
        else:
            return inside.as_posix() if inside.parts else p.name
    return p.name or path


def portable_info(value: Any, run_dir: Path | None = None) -> Any:
    """``value`` (nested dicts, lists and strings) with every absolute path made portable."""
    if isinstance(value, dict):
        return {k: portable_info(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_info(v, run_dir) for v in value]
    if isinstance(value, str):
        return ABSOLUTE_PATH.sub(lambda m: portable_path(m.group(0), run_dir), value)
    return value
