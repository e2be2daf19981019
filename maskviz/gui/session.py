"""Where the app keeps its state between runs: a config folder, a QSettings file and session.json.

Everything lives in one folder (``$MASKVIZ_CONFIG_DIR`` or the platform's app-config location) and
QSettings is opened as an INI file inside it rather than in the registry/plist, so a test or a
second profile only needs to point the variable elsewhere. The session file is plain JSON, written
atomically, and read forgivingly: a damaged or foreign file means "no session", never a crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from maskviz import paths
from maskviz.fileio import atomic_write

SESSION_VERSION = 1
RECENT_LIMIT = 10

log = logging.getLogger("maskviz.gui")


def config_dir() -> Path:
    """The config folder (created on demand); ``$MASKVIZ_CONFIG_DIR`` wins (see maskviz.paths)."""
    folder = paths.config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_settings(folder: Path) -> QSettings:
    return QSettings(str(folder / "maskviz.ini"), QSettings.Format.IniFormat)


def read_session(folder: Path) -> dict[str, Any]:
    """The last session, or {} when there is none or it cannot be read."""
    path = folder / "session.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable session file %s: %s", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != SESSION_VERSION:
        return {}
    return data


def write_session(folder: Path, data: dict[str, Any]) -> None:
    """Write atomically, so a crash while saving leaves the previous session intact."""
    text = json.dumps({"version": SESSION_VERSION, **data})
    atomic_write(folder / "session.json", lambda tmp: tmp.write_text(text, encoding="utf-8"), make_parents=True)


def remember(settings: QSettings, key: str, item: str, limit: int = RECENT_LIMIT) -> list[str]:
    """Move ``item`` to the front of a most-recent-first list kept in settings; returns the list."""
    items = [item] + [x for x in recent(settings, key) if x != item]
    settings.setValue(key, items[:limit])
    return items[:limit]


def recent(settings: QSettings, key: str) -> list[str]:
    value = settings.value(key, [])
    if isinstance(value, str):  # QSettings INI returns a lone string for a one-item list
        value = [value]
    return [str(v) for v in (value or [])]
