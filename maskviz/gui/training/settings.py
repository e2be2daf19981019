"""The training form's fields that a restart brings back (``train/*`` in the app's settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from maskviz.train.launch import TrainForm

KEPT = ("folder", "steps", "batch", "mask", "lr")


def save_form(settings: QSettings, form: TrainForm) -> None:
    for key in KEPT:
        settings.setValue(f"train/{key}", getattr(form, key))


def restored_form(settings: QSettings, form: TrainForm) -> tuple[dict[str, Any], str]:
    """The saved field values (a damaged one keeps the form's) and the saved folder when it still exists."""
    changes: dict[str, Any] = {}
    for key in ("steps", "batch"):
        try:
            changes[key] = max(1, int(settings.value(f"train/{key}", getattr(form, key))))
        except (TypeError, ValueError):
            pass
    for key in ("mask", "lr"):
        changes[key] = str(settings.value(f"train/{key}", "") or "")
    folder = str(settings.value("train/folder", "") or "")
    return changes, folder if folder and Path(folder).is_dir() else ""
