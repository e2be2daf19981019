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


def state_session(state: Any) -> dict[str, Any]:  # noqa: ANN401 - ViewerState
    """The parts of a ViewerState a restart restores: image, model, view, mask (on the view's patch
    grid), pattern, options."""
    o = state.options
    return {"image": state.image_source, "model": state.model_source, "device": o.device, "precision": o.precision,
            "unnormalize": o.unnormalize, "view": state.picture_view.name, "view_size": state.picture_view.size,
            "mask": state.patch_mask().astype(int).tolist(), "pattern": state.pattern_spec, "heatmap": o.heatmap,
            "threshold": state.threshold}


def apply_options(state: Any, session: dict[str, Any]) -> None:  # noqa: ANN401 - ViewerState
    """Put a session's options and view in the state; anything missing, odd or no longer possible is skipped.

    Before a model is in use the view is only chosen: its picture is made when the model and image
    arrive, and a view they cannot show falls back to ``model`` then, with a status-bar note."""
    from maskviz.device import resolve_device
    from maskviz.errors import MaskvizError
    from maskviz.whole.view import View

    try:
        if session.get("device"):
            state.set_option("device", resolve_device(session["device"]).type)
    except MaskvizError:
        pass  # the session's GPU is gone: stay on the default device
    if session.get("precision") in ("fp32", "bf16", "fp16") and state.options.device != "cpu":
        state.set_option("precision", session["precision"])
    if session.get("unnormalize") in ("true-patch", "visible"):
        state.set_option("unnormalize", session["unnormalize"])
    if session.get("heatmap") in ("pixel", "patch"):
        state.set_option("heatmap", session["heatmap"])
    if isinstance(session.get("threshold"), int | float):
        state.set_threshold(session["threshold"])
    size = session.get("view_size")
    try:
        if session.get("view") in ("tiles", "native"):
            state.set_picture_view(View(session["view"], size if isinstance(size, int) else None))
    except MaskvizError:
        pass  # a size this model and image cannot take (a ViewError): stay in the model view
