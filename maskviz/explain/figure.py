"""The figures of an explanation, drawn by the one renderer (:mod:`maskviz.figures`): ``maskviz explain
--out`` and the GUI's export write the same picture for the same inputs.

Every figure is titled with its inputs (model, image, mask spec, seed, view) and says what a value is:

* a per-target map (gradient, occlusion, attention, rollout): the masked input with the target boxed,
  then the map over it with its own colour bar; grey where the method defines no value;
* features: the masked input, the encoder tokens' first three principal components as RGB, and the
  cosine similarity to a chosen token when one was asked for;
* spread: the current masked input, the mean reconstruction over the K masks and the per-pixel spread
  with its colour bar; grey where a pixel was hidden by fewer than two masks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskviz.explain.common import ExplainMap
from maskviz.explain.features import FeatureLens
from maskviz.explain.spread import SpreadLens
from maskviz.figures import NAN_COLOR, Heat, Inputs, Marker, Panel, Row, Sheet, nice_ceiling, write_figure
from maskviz.masks import to_pixel_mask
from maskviz.models.configs import IMAGENET_MEAN

#: Where a picture has nothing to show (no token, never hidden): the renderer's "no data" grey.
NO_DATA = tuple(c / 255 for c in NAN_COLOR)
#: How strongly a map covers the masked input under it.
MAP_ALPHA = 0.75

#: Panel titles and colour-bar units, short enough for a 192 px panel (the footer says the rest).
TITLES = {"gradient": "gradient", "occlusion": "occlusion", "attention": "attention", "rollout": "attention rollout",
          "similarity": "similarity to the token"}
BAR_UNITS = {"gradient": "‖∂ loss / ∂ input‖", "occlusion": "RMS change of prediction", "attention": "attention weight",
             "rollout": "share of the rollout", "similarity": "cosine similarity"}


def masked_input(original: np.ndarray, mask: np.ndarray, patch: int,
                 colour: Sequence[float] = IMAGENET_MEAN) -> np.ndarray:
    """Hidden patches in ``colour`` (the model's normalisation mean), as the reconstruction panels show them."""
    pixels = to_pixel_mask(mask, patch)[..., None]
    return np.where(pixels, np.asarray(colour, dtype=np.float32), original).astype(np.float32)


def patch_values(values: np.ndarray, patch: int) -> np.ndarray:
    """A per-patch map at pixel resolution."""
    return np.repeat(np.repeat(values, patch, axis=0), patch, axis=1)


def target_marker(target: tuple[int, int], patch: int) -> Marker:
    """A box around the target patch (unlabelled: a label would cover the neighbours' values)."""
    row, col = target
    return Marker(x=col * patch, y=row * patch, width=patch, height=patch)


def map_panel(m: ExplainMap, under: np.ndarray, patch: int, title: str) -> Panel:
    """A per-patch map over ``under`` with its colour bar and the target boxed."""
    values = m.values
    finite = values[np.isfinite(values)]
    if m.method == "similarity":
        vmin, vmax = -1.0, 1.0
    else:
        vmin, vmax = 0.0, nice_ceiling(float(finite.max())) if finite.size else 1.0
    heat = Heat(patch_values(values, patch), vmin, vmax, "inferno", unit=BAR_UNITS.get(m.method, ""), alpha=MAP_ALPHA)
    return Panel(under, heat=heat, title=title, markers=[target_marker(m.target, patch)], colorbar=True, grid=patch)


def _map_title(m: ExplainMap) -> str:
    p = m.params
    if m.method == "attention":
        head = "mean of heads" if p.get("head") == "mean" else f"head {p['head']}"
        return f"attention · layer {p['layer']} · {head}"
    return TITLES.get(m.method, m.method)


def _map_footer(m: ExplainMap) -> str:
    notes = [f"value: {m.unit}; cyan box: the target patch"]
    if "where" in m.params:  # the tiles view: the target's reconstruction used only its tile
        notes.append(f"computed on {m.params['where']}, the model input whose result shows the target")
    if np.isnan(m.values).any():
        outside = " and outside the tile" if "where" in m.params else ""
        notes.append(f"grey: no value (hidden patches the method does not define{outside})")
    if m.method == "rollout":
        notes.append(f"{m.params['visible_share']:.1%} of the rollout reached visible patches; shown renormalised")
    if m.method == "attention":
        cls = m.params["cls"]
        notes.append(f"layer {m.params['layer']} is {m.params['layer_name']}"
                     + ("" if cls is None else f"; class token: {cls:.3f}"))
        if m.params.get("patches_per_token", 1) > 1:
            notes.append(f"each token covers {m.params['patches_per_token']} patches")
    return "\n".join(notes)


def explain_sheet(result: ExplainMap | FeatureLens | SpreadLens, original: np.ndarray, patch: int, inputs: Inputs,
                  similarity: ExplainMap | None = None, masked_colour: Sequence[float] = IMAGENET_MEAN) -> Sheet:
    """The figure of one result; ``original`` is the image as the model saw it (H×W×3 in [0, 1])."""
    masked = masked_input(original, result.mask, patch, masked_colour)
    first = Panel(masked, title="masked input", grid=patch)
    if isinstance(result, ExplainMap):
        first.markers = [target_marker(result.target, patch)]
        blocks = [first, map_panel(result, masked, patch, _map_title(result))]
        footer, what = _map_footer(result), f"{result.method} for patch ({result.target[0]}, {result.target[1]})"
    elif isinstance(result, FeatureLens):
        rgb = patch_values(result.rgb, patch)
        rgb = np.where(np.isnan(rgb), np.asarray(NO_DATA), rgb)
        shares = ", ".join(f"{v:.0%}" for v in result.explained)
        blocks = [first, Panel(rgb, title="encoder tokens: PCA as RGB", grid=patch)]
        if similarity is not None:
            blocks.append(map_panel(similarity, masked, patch, TITLES["similarity"]))
        footer = (f"{len(result.tokens)} encoder tokens; principal components 1-3 (red, green, blue) explain {shares} "
                  "of their variance\ngrey: no token (MAE's encoder sees only visible patches)")
        if similarity is not None:
            footer += "; cyan box: the token compared with all others"
        what = "features"
    else:
        mean = np.where(np.isnan(result.mean), np.asarray(NO_DATA), result.mean)
        finite = result.std[np.isfinite(result.std)]
        heat = Heat(result.std, 0.0, nice_ceiling(float(finite.max())) if finite.size else 1.0, "inferno",
                    unit="std over masks (0-1)")
        blocks = [first, Panel(mean, title=f"mean of {result.k} reconstructions", grid=patch),
                  Panel(heat=heat, title="spread where hidden", grid=patch, colorbar=True)]
        never = int(result.never_hidden.sum())
        footer = (f"{result.k} masks of {inputs.mask}, seeds {inputs.seed or 0}…{(inputs.seed or 0) + result.k - 1} "
                  "(the first is the current mask); each pixel over the masks that hid it\n"
                  f"grey: hidden by fewer than 2 masks ({never} patch{'es' * (never != 1)} never hidden)")
        what = f"spread over {result.k} masks"
    return Sheet([Row(blocks)], title=f"{inputs.describe()} · {what}", footer=footer)


def shown_panel(result: ExplainMap | FeatureLens | SpreadLens | None, original: np.ndarray, patch: int,
                similarity: ExplainMap | None = None, mask: np.ndarray | None = None,
                masked_colour: Sequence[float] = IMAGENET_MEAN) -> Panel:
    """The panel the GUI's Explain lens shows: the figure's last one (the map over the masked input with the
    target boxed, the similarity or PCA colours, the spread), so screen and export agree. With no result yet,
    the masked input of ``mask``."""
    if result is None:
        return Panel(masked_input(original, mask, patch, masked_colour), title="masked input", grid=patch)
    return explain_sheet(result, original, patch, Inputs(), similarity, masked_colour).rows[0].blocks[-1]


def write_explain_figure(result: ExplainMap | FeatureLens | SpreadLens, path: str | os.PathLike,
                         original: np.ndarray, patch: int, inputs: Inputs, similarity: ExplainMap | None = None,
                         masked_colour: Sequence[float] = IMAGENET_MEAN) -> Path:
    """Draw and write (PNG, SVG or PDF by the suffix) the figure of ``result``."""
    return write_figure(explain_sheet(result, original, patch, inputs, similarity, masked_colour), path)
