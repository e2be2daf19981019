"""Arrays as pixmaps for the Train dock (thumbnails, the before/after rows)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_pixmap(rgb: np.ndarray, width: int) -> QPixmap:
    """A float [0, 1] or uint8 RGB array as a pixmap ``width`` px wide (blocky when enlarged: patches stay crisp)."""
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    mode = Qt.TransformationMode.FastTransformation if w < width else Qt.TransformationMode.SmoothTransformation
    return QPixmap.fromImage(image).scaledToWidth(width, mode)
