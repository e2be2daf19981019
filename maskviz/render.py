"""Former home of the renderer, kept so older imports keep working: everything lives in :mod:`maskviz.figures`."""

from maskviz.figures import COLORMAPS, MIN_PANEL_WIDTH, NAN_COLOR, colormap, render_panel

__all__ = ["COLORMAPS", "MIN_PANEL_WIDTH", "NAN_COLOR", "colormap", "render_panel"]
