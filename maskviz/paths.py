"""Where maskviz keeps files on the user's machine, one answer for the core, the CLI and the GUI.

Settings go in the config dir, training runs in the data dir, downloaded checkpoints in the cache dir
(XDG base directories on Linux, the platform's conventions elsewhere, via ``platformdirs``). Each has
an environment variable that wins, so tests, portable installs and second profiles can point it elsewhere.
Folders are created on demand by the callers that write into them, not here: asking where the cache is
must not create it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "maskviz"
CONFIG_ENV = "MASKVIZ_CONFIG_DIR"
RUNS_ENV = "MASKVIZ_RUNS"
CACHE_ENV = "MASKVIZ_CACHE"


def _override(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Settings, session and recent files (``$MASKVIZ_CONFIG_DIR``, else e.g. ``~/.config/maskviz``)."""
    return _override(CONFIG_ENV) or Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """User data that must survive (``~/.local/share/maskviz`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def runs_dir() -> Path:
    """Where new training runs go by default (``$MASKVIZ_RUNS``, else ``<data dir>/runs``)."""
    return _override(RUNS_ENV) or data_dir() / "runs"


def cache_dir() -> Path:
    """Downloads that can be fetched again (``$MASKVIZ_CACHE``, else ``~/.cache/maskviz``)."""
    return _override(CACHE_ENV) or Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
