"""CompareState: what the Compare dock compares, and what came back.

The settings (mask specs, seeds, sweep ratios, same count, folder, the models added to the
viewer's), the models loaded for it (kept here, on the UI thread, so removing one releases it),
the newest :class:`~maskviz.compare_jobs.Snapshot` of the run and how the run stands (running,
status line, the time a run would take). The view draws it; the compare controller fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from maskviz.model_names import display_name

DEFAULT_SPECS = "random:0.75 block:0.5 grid:2 center:0.25"
DEFAULT_RATIOS = "0.1:0.9:0.1"


@dataclass(frozen=True)
class CompareSettings:
    """The controls' values; specs and ratios as typed (checked when a run starts)."""

    specs: str = DEFAULT_SPECS
    seeds: int = 3
    ratios: str = DEFAULT_RATIOS
    same_count: bool = False
    show_all: bool = False


class CompareState(QObject):
    """Settings, added models, folder, the run's snapshot and status; one signal per part."""

    settingsChanged = Signal()  # settings or folder
    modelsChanged = Signal()
    snapshotChanged = Signal()
    runChanged = Signal()  # running, status, estimate

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = CompareSettings()
        self.folder: str | None = None
        self.models: dict[str, str] = {}  # label → checkpoint source, compared beside the viewer's model
        self.loaded: dict[tuple[str, str], Any] = {}  # (source, device) → LoadedModel, loaded by a run
        self.snapshot: Any = None  # maskviz.compare_jobs.Snapshot
        self.running = False
        self.status = ""
        self.estimate: float | None = None  # seconds a run of the current settings would take
        self.automatic = True  # runs follow the viewer by themselves (short tables only)

    def set_settings(self, **changes: Any) -> None:
        """Change some of :class:`CompareSettings` (by field name)."""
        settings = replace(self.settings, **changes)
        if settings != self.settings:
            self.settings = settings
            self.settingsChanged.emit()

    def set_folder(self, folder: str | None) -> None:
        """Folder mode (every image in it, recursively) or, with None, the viewer's image."""
        folder = None if folder is None else str(folder)
        if folder != self.folder:
            self.folder = folder
            self.settingsChanged.emit()

    def add_model(self, source: str) -> str:
        """Compare another checkpoint too (loaded by the next run); returns its label."""
        label = display_name(source)
        while label in self.models:
            label += "'"
        self.models[label] = str(source)
        self.modelsChanged.emit()
        return label

    def remove_model(self, label: str) -> None:
        """Stop comparing a model; its loaded copy is let go (unless another label names the same file)."""
        source = self.models.pop(label, None)
        if source is None:
            return
        if source not in self.models.values():
            self.loaded = {key: m for key, m in self.loaded.items() if key[0] != source}
        self.modelsChanged.emit()

    def keep_loaded(self, source: str, device: str, loaded: Any) -> None:  # noqa: ANN401 - LoadedModel
        if source in self.models.values():
            self.loaded[(source, device)] = loaded

    def set_snapshot(self, snapshot: Any) -> None:  # noqa: ANN401 - Snapshot
        self.snapshot = snapshot
        self.snapshotChanged.emit()

    def set_run(self, **values: Any) -> None:
        """Set ``running``, ``status``, ``estimate`` and/or ``automatic``."""
        for name, value in values.items():
            if name not in ("running", "status", "estimate", "automatic"):
                raise ValueError(f"unknown run field {name!r}")
            setattr(self, name, value)
        self.runChanged.emit()
