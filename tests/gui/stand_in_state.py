"""A stand-in for issue 9's ``ViewerState`` with only the API the Compare view reads.

The Compare tests use the real ``maskviz.gui.state.ViewerState`` when it exists and this otherwise;
both are driven through the same calls (``set_image``, ``set_model``, ``set_patch_mask``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from maskviz.images import fit_to_model


class StandInState(QObject):
    imageChanged = Signal()
    modelChanged = Signal()
    maskChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image: Any = None
        self.image_source: str | None = None
        self.model_image: Any = None
        self.model: Any = None
        self.model_source: str | None = None
        self.options = SimpleNamespace(unnormalize="true-patch", heatmap="pixel")
        self._mask = np.zeros((1, 1), dtype=bool)
        self._label = "painted"

    def set_image(self, image: Any, source: str | None) -> None:
        self.image, self.image_source = image, source
        self._refit()
        self.imageChanged.emit()

    def set_model(self, loaded: Any, source: str | None) -> None:
        self.model, self.model_source = loaded, source
        self._mask = np.zeros(loaded.model.grid_size, dtype=bool)
        self._refit()
        self.modelChanged.emit()

    def _refit(self) -> None:
        if self.model is not None and self.image is not None:
            self.model_image = fit_to_model(self.image, self.model.config.img_size)

    def patch_mask(self) -> np.ndarray:
        return self._mask.copy()

    def mask_label(self) -> str:
        return self._label

    def set_patch_mask(self, mask: np.ndarray, text: str, source: str = "") -> None:
        self._mask, self._label = np.asarray(mask, dtype=bool).copy(), "painted"
        self.maskChanged.emit(True)
