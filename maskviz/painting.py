"""The painting model behind the mask canvas: a pixel mask plus undoable edits, in pure numpy.

The user paints at image resolution (what they see); the model receives a patch mask, obtained by
quantising the pixel mask with a coverage threshold (:meth:`PaintModel.patch_mask`). Keeping the
model Qt-free (napari's Labels layer is the precedent) lets tests drive strokes without a display.

Coordinates are image pixels, ``x`` = column and ``y`` = row; pixel ``(row, col)`` covers the square
``[col, col+1) × [row, row+1)``, which is how pyqtgraph's ``ImageItem`` lays pixels out. Every edit
applies at once and returns a :class:`PaintAtom` (or None when nothing changed) that the caller
keeps for undo; a brush stroke is many segments but :meth:`PaintModel.end_stroke` merges them into
one atom, so one drag is one undo step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from maskviz import masks
from maskviz.errors import MaskError

Point = tuple[float, float]


@dataclass(frozen=True, eq=False)
class PaintAtom:
    """One undo step: the values of a bounding box before and after an edit.

    Storing only the changed box keeps history memory proportional to the edited area
    (napari's ``_MaskedPaintAtom``), not to the image.
    """

    top: int
    left: int
    old: np.ndarray
    new: np.ndarray

    @property
    def key(self) -> tuple[slice, slice]:
        h, w = self.old.shape
        return slice(self.top, self.top + h), slice(self.left, self.left + w)

    @property
    def nbytes(self) -> int:
        return self.old.nbytes + self.new.nbytes


@dataclass
class _Stroke:
    last: tuple[int, int]
    radius: float
    value: bool
    atoms: list[PaintAtom] = field(default_factory=list)


def brush_radius(size: int) -> float:
    """napari's brush radius: ``floor(size/2) + 0.5``, so the disc is odd-wide and pixel-centred."""
    return math.floor(size / 2) + 0.5


def _pixel(point: Point) -> tuple[int, int]:
    """The pixel ``(x, y)`` that contains a continuous image point."""
    return math.floor(point[0]), math.floor(point[1])


class PaintModel:
    """A boolean pixel mask (True = hidden) at the model's input size, edited undoably."""

    def __init__(self, shape: tuple[int, int], patch_size: int, mask: np.ndarray | None = None) -> None:
        h, w = (int(v) for v in shape)
        p = int(patch_size)
        if p < 1 or h < p or w < p or h % p or w % p:
            raise MaskError(f"A {w}×{h} image cannot be split into {p}-pixel patches.")
        self.patch_size = p
        self._mask = np.zeros((h, w), dtype=bool) if mask is None else np.array(mask, dtype=bool)
        if self._mask.shape != (h, w):
            raise MaskError(f"A {self._mask.shape[1]}×{self._mask.shape[0]} mask does not fit a {w}×{h} image.")
        self._patches: tuple[float, np.ndarray] | None = None  # the last patch_mask(), until the pixels change
        self._stroke: _Stroke | None = None

    # ------------------------------------------------------------------ state

    @property
    def mask(self) -> np.ndarray:
        """The pixel mask, read-only: edits must go through the model so they can be undone."""
        view = self._mask.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> tuple[int, int]:
        return self._mask.shape

    @property
    def grid(self) -> tuple[int, int]:
        h, w = self._mask.shape
        return h // self.patch_size, w // self.patch_size

    def patch_mask(self, threshold: float = 0.5) -> np.ndarray:
        """What the model receives: a patch is hidden when at least ``threshold`` of it is painted.

        Kept until the pixels change: every view asks for it after each edit, and on a whole photo
        (thousands of pixels per patch row) recounting it each time cost a UI redraw ~25 ms."""
        if self._patches is None or self._patches[0] != threshold:
            self._patches = (threshold, masks.from_pixel_mask(self._mask, self.patch_size, threshold))
        return self._patches[1].copy()

    def describe(self, threshold: float = 0.5) -> str:
        """The readout, counted on the patch mask because that is what the model sees."""
        return masks.describe(self.patch_mask(threshold))

    def apply(self, atom: PaintAtom, forward: bool = True) -> None:
        """Redo (``forward``) or undo an atom; idempotent, so re-applying a fresh edit is harmless."""
        self._mask[atom.key] = atom.new if forward else atom.old
        self._patches = None

    # ------------------------------------------------------------------ strokes

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, point: Point, size: int, value: bool = True) -> PaintAtom | None:
        """Start a brush (``value=True``) or eraser stroke and stamp its first disc."""
        if self._stroke is not None:
            self.end_stroke()
        start = _pixel(point)
        self._stroke = _Stroke(start, brush_radius(size), bool(value))
        return self._stroke_segment(start)

    def stroke_to(self, point: Point) -> PaintAtom | None:
        """Paint the segment from the previous stroke point, so fast drags leave no gaps."""
        if self._stroke is None:
            return None
        return self._stroke_segment(_pixel(point))

    def end_stroke(self) -> PaintAtom | None:
        """Finish the stroke and return its segments merged into one undo atom."""
        stroke, self._stroke = self._stroke, None
        return self._merge(stroke.atoms) if stroke else None

    def abort_stroke(self) -> None:
        """Revert the stroke in progress (Esc mid-drag)."""
        stroke, self._stroke = self._stroke, None
        for atom in reversed(stroke.atoms if stroke else []):
            self.apply(atom, forward=False)

    def _stroke_segment(self, end: tuple[int, int]) -> PaintAtom | None:
        stroke = self._stroke
        atom = self._write(*_capsule(self.shape, stroke.last, end, stroke.radius), stroke.value)
        stroke.last = end
        if atom is not None:
            stroke.atoms.append(atom)
        return atom

    def paint_segment(self, p0: Point, p1: Point, size: int, value: bool = True) -> PaintAtom | None:
        """Stamp the brush disc along the line ``p0 → p1`` (one undo step on its own)."""
        return self._write(*_capsule(self.shape, _pixel(p0), _pixel(p1), brush_radius(size)), value)

    # ------------------------------------------------------------------ shapes

    def fill_rect(self, p0: Point, p1: Point, value: bool = True) -> PaintAtom | None:
        """Fill the pixels between two corner pixels, both included (what a rubber band shows)."""
        (x0, y0), (x1, y1) = _pixel(p0), _pixel(p1)
        h, w = self.shape
        top, bottom = max(min(y0, y1), 0), min(max(y0, y1) + 1, h)
        left, right = max(min(x0, x1), 0), min(max(x0, x1) + 1, w)
        hit = np.ones((max(bottom - top, 0), max(right - left, 0)), dtype=bool)
        return self._write(top, left, hit, value)

    def fill_polygon(self, vertices: Sequence[Point], value: bool = True) -> PaintAtom | None:
        """Fill pixels whose centres lie inside the polygon, by the even-odd rule.

        Even-odd (also Qt's default fill and ``skimage.draw.polygon``'s) is the one to explain:
        a self-crossing outline leaves holes where it overlaps itself.
        """
        if len(vertices) < 3:
            return None
        return self._write(*_polygon(self.shape, np.asarray(vertices, dtype=float)), value)

    def flood_fill(self, point: Point, value: bool | None = None) -> PaintAtom | None:
        """Set the 4-connected region of equal value around ``point``; ``value=None`` flips it."""
        x, y = _pixel(point)
        h, w = self.shape
        if not (0 <= x < w and 0 <= y < h):
            return None
        region = _flood_region(self._mask, y, x)
        fill = not self._mask[y, x] if value is None else bool(value)
        return self._write(0, 0, region, fill)

    # ------------------------------------------------------------------ whole-mask edits

    def clear(self) -> PaintAtom | None:
        return self.set_pixel_mask(np.zeros(self.shape, dtype=bool))

    def invert(self) -> PaintAtom | None:
        return self.set_pixel_mask(~self._mask)

    def set_patch_mask(self, mask: np.ndarray) -> PaintAtom | None:
        """Replace the painting with a patch mask (e.g. a generated pattern), upsampled to pixels."""
        shape = np.shape(mask)
        if shape != self.grid:
            raise MaskError(f"A {shape} patch mask does not fit this image's {self.grid} patch grid.")
        return self.set_pixel_mask(masks.to_pixel_mask(mask, self.patch_size))

    def set_pixel_mask(self, mask: np.ndarray) -> PaintAtom | None:
        pixels = np.asarray(mask, dtype=bool)
        if pixels.shape != self.shape:
            raise MaskError(f"A {pixels.shape[1]}×{pixels.shape[0]} mask does not fit this "
                            f"{self.shape[1]}×{self.shape[0]} image.")
        return self._write(0, 0, np.ones(self.shape, dtype=bool), pixels)

    # ------------------------------------------------------------------ atoms

    def _write(self, top: int, left: int, hit: np.ndarray, value: bool | np.ndarray) -> PaintAtom | None:
        """Set ``hit`` pixels of the box at (top, left) to ``value``; record only what changed."""
        h, w = hit.shape
        region = self._mask[top:top + h, left:left + w]
        old = region.copy()
        np.copyto(region, value, where=hit)
        self._patches = None
        return _trimmed(top, left, old, region.copy())

    def _merge(self, atoms: list[PaintAtom]) -> PaintAtom | None:
        """One atom equivalent to applying ``atoms`` in order (they must be the latest edits)."""
        if not atoms:
            return None
        top = min(a.top for a in atoms)
        left = min(a.left for a in atoms)
        bottom = max(a.top + a.old.shape[0] for a in atoms)
        right = max(a.left + a.old.shape[1] for a in atoms)
        new = self._mask[top:bottom, left:right].copy()
        old = new.copy()
        for a in reversed(atoms):
            h, w = a.old.shape
            old[a.top - top:a.top - top + h, a.left - left:a.left - left + w] = a.old
        return _trimmed(top, left, old, new)


# ---------------------------------------------------------------------- geometry helpers


def _trimmed(top: int, left: int, old: np.ndarray, new: np.ndarray) -> PaintAtom | None:
    """Shrink an atom to the rows and columns that actually changed; None when none did."""
    changed = old != new
    if not changed.any():
        return None
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return PaintAtom(top + int(rows[0]), left + int(cols[0]), old[box].copy(), new[box].copy())


def _box(shape: tuple[int, int], ys: Sequence[float], xs: Sequence[float]) -> tuple[int, int, int, int]:
    """Integer box ``(top, bottom, left, right)`` covering the given extents, clipped to the image."""
    h, w = shape
    top, bottom = max(math.floor(min(ys)), 0), min(math.ceil(max(ys)) + 1, h)
    left, right = max(math.floor(min(xs)), 0), min(math.ceil(max(xs)) + 1, w)
    return top, max(bottom, top), left, max(right, left)


def _capsule(shape: tuple[int, int], p0: tuple[int, int], p1: tuple[int, int],
             radius: float) -> tuple[int, int, np.ndarray]:
    """Pixels within ``radius`` of the segment p0→p1: a disc swept along the line, gap-free."""
    (x0, y0), (x1, y1) = p0, p1
    top, bottom, left, right = _box(shape, (min(y0, y1) - radius, max(y0, y1) + radius),
                                    (min(x0, x1) - radius, max(x0, x1) + radius))
    yy, xx = np.ogrid[top:bottom, left:right]
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / length2, 0, 1) if length2 else 0.0
    ex, ey = x0 + t * dx - xx, y0 + t * dy - yy
    return top, left, ex * ex + ey * ey <= radius * radius


def _polygon(shape: tuple[int, int], v: np.ndarray) -> tuple[int, int, np.ndarray]:
    """Even-odd inside test of pixel centres, one vectorised pass per edge."""
    top, bottom, left, right = _box(shape, v[:, 1], v[:, 0])
    cy = np.arange(top, bottom)[:, None] + 0.5
    cx = np.arange(left, right)[None, :] + 0.5
    inside = np.zeros((bottom - top, right - left), dtype=bool)
    for (xa, ya), (xb, yb) in zip(v, np.roll(v, -1, axis=0), strict=True):
        if ya == yb:
            continue  # a horizontal edge never crosses a scanline through pixel centres
        crosses = (ya > cy) != (yb > cy)
        x_cross = xa + (cy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (cx < x_cross)
    return top, left, inside


def _flood_region(mask: np.ndarray, row: int, col: int) -> np.ndarray:
    """4-connected region of ``mask[row, col]``'s value, by scanline fill (one Python step per run)."""
    same = mask == mask[row, col]
    region = np.zeros_like(mask)
    h, w = mask.shape
    seeds = [(row, col)]
    while seeds:
        r, c = seeds.pop()
        if region[r, c]:
            continue
        blocked = ~same[r]
        left_stop = np.flatnonzero(blocked[:c])
        right_stop = np.flatnonzero(blocked[c:])
        lo = int(left_stop[-1]) + 1 if left_stop.size else 0
        hi = c + int(right_stop[0]) if right_stop.size else w
        region[r, lo:hi] = True
        for nr in (r - 1, r + 1):
            if 0 <= nr < h:
                open_ = same[nr, lo:hi] & ~region[nr, lo:hi]
                starts = np.flatnonzero(open_ & ~np.concatenate(([False], open_[:-1])))
                seeds.extend((nr, lo + int(s)) for s in starts)
    return region
