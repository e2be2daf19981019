"""File menu actions of the main window: dialogs, mask PNGs, exports, drag and drop.

A mixin of :class:`maskviz.gui.main_window.MainWindow`, kept apart so the window module stays about
wiring. The actions read and change the viewer state (``self.state``) and open through the controller;
every one calls a core function (``save_mask_png``, ``load_mask_png``, and :mod:`maskviz.export`, which
``maskviz reconstruct --out/--json`` calls too) and turns a ``MaskvizError`` into a plain dialog through
``show_error``; the state is untouched when an action fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from maskviz import masks
from maskviz.errors import MaskvizError

MODEL_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".pkl", ".tar"}
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif);;All files (*)"
FIGURE_FILTER = "PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"


class FileActionsMixin:
    """Needs from the window: ``state``, ``controller``, ``settings``, ``panels`` (the heatmap as shown),
    ``metrics`` (the numbers as shown), ``show_error`` and ``statusBar``."""

    # ================================================================== files: dialogs

    def _ask_open(self, title: str, filters: str) -> str:
        """A file chosen to open ('' if cancelled); its folder is where the next dialog starts."""
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_dir(), filters)
        if path:
            self._remember_dir(path)
        return path

    def _ask_save(self, title: str, name: str, filters: str) -> str:
        """A file chosen to save ('' if cancelled); its folder is where the next dialog starts."""
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self._last_dir()) / name), filters)
        if path:
            self._remember_dir(path)
        return path

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        self.settings.setValue("last_dir", str(Path(path).parent))

    def open_image_dialog(self) -> None:
        if path := self._ask_open("Open image", IMAGE_FILTER):
            self.controller.read_image(path)

    def save_mask_dialog(self) -> None:
        if path := self._ask_save("Save mask", "mask.png", "PNG images (*.png)"):
            self.save_mask(path)

    def load_mask_dialog(self) -> None:
        if path := self._ask_open("Load mask", "PNG images (*.png);;All files (*)"):
            self.load_mask(path)

    def export_panels_dialog(self) -> None:
        if path := self._ask_save("Export panels", "maskviz-panels.png", FIGURE_FILTER):
            self.export_panels(path)

    def export_metrics_dialog(self) -> None:
        if path := self._ask_save("Export metrics", "maskviz-metrics.json", "JSON (*.json)"):
            self.export_metrics_json(path)

    # ================================================================== files: actions

    def save_mask(self, path: str | os.PathLike) -> bool:
        """Write the patch mask the model sees, at image resolution (255 = hidden)."""
        try:
            masks.save_mask_png(self.state.patch_mask(), path, patch_size=self.state.paint.patch_size)
        except MaskvizError as exc:
            self.show_error("Could not save the mask", exc)
            return False
        self.statusBar().showMessage(f"Saved mask to {path}", 5000)
        return True

    def load_mask(self, path: str | os.PathLike) -> bool:
        """Read a mask PNG (grid or image resolution) as one undoable edit."""
        s = self.state
        if s.model is None:
            return False
        try:
            mask = masks.load_mask_png(path, s.paint.grid, s.paint.patch_size, s.threshold)
            s.set_patch_mask(mask, f"Load mask {Path(path).name}", source=f"file:{Path(path).name}")
        except MaskvizError as exc:
            self.show_error("Could not load the mask", f"{path}: {exc}")
            return False
        return True

    def export_panels(self, path: str | os.PathLike) -> bool:
        """The panels as one figure (PNG, SVG or PDF by the suffix), as ``maskviz reconstruct --out`` draws
        them for the same inputs; with the baseline column when the viewer shows a baseline."""
        from maskviz import export
        from maskviz.baselines import BASELINE_LABELS

        s = self.state
        if s.result is None or s.model is None or s.result.partial:
            self.show_error("Nothing to export", "no reconstruction has finished yet")
            return False
        shown = s.options.baseline != "none" and s.baseline_result is not None
        baseline = (BASELINE_LABELS.get(s.options.baseline, s.options.baseline), s.baseline_result) if shown else None
        try:
            name = export.model_name(s.model, s.model_source)
            export.write_reconstruction_figure([s.result.result], [self._mask_text()], path, name,
                                               export.image_name(s.image_source),
                                               heat=s.options.heatmap, view=s.result.view, baseline=baseline)
        except MaskvizError as exc:
            self.show_error("Could not export the panels", exc)
            return False
        self.statusBar().showMessage(f"Exported panels to {path}", 5000)
        return True

    def export_metrics_json(self, path: str | os.PathLike) -> bool:
        """The metrics as JSON, in the same layout as ``maskviz reconstruct --json``."""
        from maskviz import export

        s = self.state
        if s.result is None or s.model is None or s.result.partial:
            self.show_error("Nothing to export", "no reconstruction has finished yet")
            return False
        try:
            export.write_metrics_json([s.result.view_result or s.result.result], [self._mask_text()], s.model.summary(),
                                      s.options.device, s.result.seconds, path)
        except MaskvizError as exc:
            self.show_error("Could not export the metrics", exc)
            return False
        self.statusBar().showMessage(f"Exported metrics to {path}", 5000)
        return True

    def _mask_text(self) -> str:
        """The pattern's spec while the mask is exactly the pattern's, else what the mask line says."""
        label = self.state.mask_label()
        spec = self.state.pattern_spec
        return spec if spec and not label.endswith("+ edits") and label != "painted" else label

    # ================================================================== drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """An image file opens as the image; a checkpoint file or folder as the model."""
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.open_path(paths[0])

    def open_path(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix.lower() in MODEL_SUFFIXES:
            self.controller.open_model(path)
        else:
            self.controller.read_image(path)
