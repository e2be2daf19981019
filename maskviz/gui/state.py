"""ViewerState: the one document every view of the viewer draws (napari's ``ViewerModel`` role).

It holds the image (and where it came from), the loaded model, the view of the image it works on
(``picture_view``: the model's input, or the whole picture in tiles or at its own resolution), the mask (a
:class:`~maskviz.painting.PaintModel` with its undo stack) and the mask's provenance, the display
options, the current result *tagged with the inputs it was computed from*, and how it is being
looked at (``view``: pointer, shown region, tool; see :mod:`maskviz.gui.view_state`). Views read it
and redraw on its signals; none keeps its own copy. The controller (:mod:`maskviz.gui.controller`)
turns its changes into worker jobs and writes the results back. Changes are validated before they
are applied: a setter that raises leaves the state as it was.

Signals
    ``imageChanged()``, ``modelChanged()`` (grid and mask may have changed too),
    ``geometryChanged()`` (the painting's size or patch size: new, empty history),
    ``maskChanged(bool final)`` (``False`` while a stroke is still being drawn),
    ``provenanceChanged()`` (see :meth:`mask_label`), ``optionsChanged(str name)``,
    ``resultChanged()``, ``baselineChanged()``, ``curveChanged()`` (the loss sweep, a :class:`Curve`),
    ``messageChanged(str)``, ``patternRequested(MaskSpec)`` (the pattern panel asks for a pattern:
    the controller makes its mask) and ``patternErrorChanged(str)`` (why it could not),
    ``pictureChanged(str note)`` (the view or its working picture; the note says why the view fell
    back to ``model``, or is empty), ``progressChanged()`` (how far a whole picture has streamed in).

Value types
    :class:`DisplayOptions` (unnormalize, heatmap, baseline, precision, device), :class:`Provenance`
    (spec, the mask it made, source), :class:`Inputs` (what a result was computed from),
    :class:`Curve` (the loss sweep so far); :func:`spec_label` names a spec ("random 75 %").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from maskviz import masks
from maskviz.errors import MaskError
from maskviz.gui.view_state import ViewState
from maskviz.masks import MaskSpec, PatternParam, parse_mask_spec
from maskviz.painting import PaintAtom, PaintModel
from maskviz.whole.view import View, ViewError

UNDO_LIMIT = 100
DEFAULT_SHAPE, DEFAULT_PATCH = (224, 224), 16
OPTION_NAMES = ("unnormalize", "heatmap", "baseline", "precision", "device")


@dataclass(frozen=True)
class DisplayOptions:
    """How results are computed and shown; every field is a plain string."""

    unnormalize: str = "true-patch"
    heatmap: str = "pixel"
    baseline: str = "none"
    precision: str = "fp32"
    device: str = "cpu"


@dataclass(frozen=True)
class Provenance:
    """Where the mask came from: a pattern spec and the patch mask it made (None: painted by hand)."""

    spec: MaskSpec | None = None
    mask: np.ndarray | None = field(default=None, compare=False)
    source: str = ""  # e.g. "file:/path/mask.png" for a loaded mask


@dataclass(frozen=True)
class Curve:
    """The loss-vs-ratio sweep for the current image, model and pattern family, as far as it got."""

    family: str = ""  # what the plot calls the family, e.g. "random" or "simmim (mask_patch=16)"
    spec: MaskSpec | None = None  # the family (ratio and seed left out): a clicked point adds both
    points: tuple[Any, ...] = ()  # maskviz.sweep.SweepPoint, one per ratio (the latest of each)
    total: int = 0  # ratios the sweep will visit
    seeds: tuple[int, ...] = ()
    status: str = ""  # "computing 3/9 ratios…", an error, or ""

    @property
    def complete(self) -> bool:
        return len(self.points) == self.total > 0 and all(len(p.losses) == len(self.seeds) for p in self.points)


@dataclass(frozen=True)
class Inputs:
    """What a result depends on. Two results with equal inputs are the same picture."""

    model: int  # id() of the torch module
    image: int  # id() of the fitted image
    mask: bytes
    grid: tuple[int, int]
    unnormalize: str
    precision: str
    view: str = "model"  # the view's label, e.g. "tiles 1024x768 px"

    def patch_mask(self) -> np.ndarray:
        return np.frombuffer(self.mask, dtype=bool).reshape(self.grid)


def spec_label(spec: MaskSpec) -> str:
    """``"random 75 %"``, ``"center 40 %"``, ``"grid:3"``, ``"complement of block 50 %"``: what the pattern
    panel and exports call a spec (a pattern with an amount parameter by that amount)."""
    amount = spec.amount
    text = f"{spec.name} {amount * 100:g} %" if amount is not None else str(replace(spec, invert=False))
    return f"complement of {text}" if spec.invert else text


def amount_note(provenance: Provenance) -> str:
    """``"hides 39.1 % (asked 40 %)"`` when the pattern's mask hides other than its amount asks ('' else)."""
    spec, mask = provenance.spec, provenance.mask
    if spec is None or mask is None or spec.amount is None:
        return ""
    asked = 1 - spec.amount if spec.invert else spec.amount
    actual = masks.mask_ratio(mask)
    return f"hides {actual * 100:.1f} % (asked {asked * 100:g} %)" if abs(actual - asked) > 0.0005 else ""


class _EditCommand(QUndoCommand):
    """One undo step: a paint atom (already applied when pushed) and the provenance on each side."""

    def __init__(self, state: ViewerState, atom: PaintAtom | None, text: str,
                 before: Provenance, after: Provenance) -> None:
        super().__init__(text)
        self._state, self._atom, self._before, self._after = state, atom, before, after

    def redo(self) -> None:
        self._state._apply(self._atom, True, self._after)

    def undo(self) -> None:
        self._state._apply(self._atom, False, self._before)


class ViewerState(QObject):
    """The viewer's document: image, model, mask + provenance, options, result. See the module doc."""

    imageChanged = Signal()
    modelChanged = Signal()
    geometryChanged = Signal()
    maskChanged = Signal(bool)
    provenanceChanged = Signal()
    optionsChanged = Signal(str)
    resultChanged = Signal()
    baselineChanged = Signal()
    curveChanged = Signal()
    messageChanged = Signal(str)
    patternRequested = Signal(object)
    patternErrorChanged = Signal(str)
    pictureChanged = Signal(str)
    progressChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image: Any = None  # PIL image as loaded
        self.image_source: str | None = None
        self.model_image: Any = None  # the image fitted to the model's input
        self.picture_view = View()  # "model", or "tiles" / "native" with a working size
        self.picture: Any = None  # the tiles/native view's maskviz.whole.ViewImage (None in the model view)
        self._picture_image: Any = None  # the image ``picture`` was made from
        self.progress: tuple[int, int] | None = None  # (done, total) tiles of a whole picture being computed
        self.progress_text = ""
        self.model: Any = None  # maskviz.checkpoints.LoadedModel
        self.model_source: str | None = None
        self.paint = PaintModel(DEFAULT_SHAPE, DEFAULT_PATCH)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.provenance = Provenance()
        self.options = DisplayOptions()
        self.result: Any = None  # maskviz.gui.worker.ReconOutcome
        self.result_inputs: Inputs | None = None
        self.baseline_result: Any = None  # maskviz.reconstruct.Reconstruction of the baseline fill
        self.baseline_status = ""  # "computing…" or an error while baseline_result is None
        self.curve = Curve()
        self.message = ""
        self.pattern_error = ""
        self._threshold = 0.5
        self.view = ViewState(self)
        self.view.set_shape(DEFAULT_SHAPE)

    # ------------------------------------------------------------------ image and model

    def set_image(self, image: Any, source: str | None, fitted: Any = None, picture: Any = None) -> None:
        """Use a loaded image; the painting survives when the model's input size is unchanged.

        ``fitted`` and ``picture``: the image fitted to the model in use and its picture in the view in
        use, made off the UI thread (see ``Controller.read_image``); without them they are made here."""
        self.image, self.image_source = image, None if source is None else str(source)
        self._refit(fitted, picture)
        self.imageChanged.emit()

    def set_model(self, loaded: Any, source: str | None, mask: np.ndarray | None = None,
                  provenance: Provenance | None = None) -> None:
        """Use a loaded model. ``mask`` (a patch mask for its grid, e.g. a restored session or the
        model's default pattern) replaces the painting when given; it is checked before anything changes."""
        model = loaded.model
        if mask is not None and tuple(np.shape(mask)) != tuple(model.grid_size):
            raise MaskError(f"A {np.shape(mask)} mask does not fit this model's {tuple(model.grid_size)} patch grid.")
        self.model, self.model_source = loaded, None if source is None else str(source)
        self._refit()
        if mask is not None and self.picture is None:  # a whole view's grid gets its pattern on pictureChanged
            self._replace_mask(mask, provenance or Provenance(), "Restore mask" if provenance is None else "Pattern")
        self.modelChanged.emit()

    def _refit(self, fitted: Any = None, picture: Any = None) -> None:
        """Fit the image to the model once per image and model, make the view's picture, and resize the
        painting if needed. A view the new image or model cannot take falls back to ``model``, saying why."""
        from maskviz.images import fit_to_model

        if self.model is None:
            return
        c = self.model.model.config
        if fitted is None and self.image is not None:
            fitted = fit_to_model(self.image, c.img_size)
        self.model_image = fitted
        note = ""
        try:
            picture = self._picture_for(self.picture_view) if picture is None else picture
        except ViewError as exc:
            note = f"{self.picture_view.name} view: {exc}; showing the model view"
            self.picture_view, picture = View(), None
        self._use_picture(picture, note, emit=bool(note) or picture is not None)

    @property
    def working_image(self) -> Any:
        """The picture the canvas shows and masks are painted on: the view's (tiles, native) or the fitted image."""
        return self.model_image if self.picture is None else self.picture.image

    def set_picture_view(self, view: View, picture: Any = None) -> None:
        """Work on the image in ``view``; a :class:`ViewError` (checked before anything changes) says why not.

        ``picture``: the view's ViewImage of the current image, prepared off the UI thread (resampling
        a photo takes up to a few hundred ms); without it the picture is made here."""
        if picture is not None and (picture.view != view or picture.source_size != self.image.size):
            raise ValueError(f"a picture for the {picture.label} view of a {picture.source_size} px image "
                             f"is not the {view.name} view of this image")
        self._use_picture(self._picture_for(view) if picture is None else picture, "", view=view)

    def _picture_for(self, view: View) -> Any:
        from maskviz.whole import prepare_view

        if view.name == "model" or self.model is None or self.image is None:
            return None
        old = self.picture
        if old is not None and old.view == view and old.patch_size == self.model.model.patch_size \
                and self._picture_image is self.image:
            from maskviz.whole import check_view

            check_view(self.model.model, self.image.size, view)  # another model: refuse as prepare_view would
            return old  # the same image and patch: the working picture is the same; no resampling
        return prepare_view(self.model.model, self.image, view)

    def _use_picture(self, picture: Any, note: str, emit: bool = True, view: View | None = None) -> None:
        c = self.model.model.config if self.model is not None else None
        if view is not None:
            self.picture_view = view
        self.picture = picture
        self._picture_image = None if picture is None else self.image  # what the picture was made from
        if picture is not None:
            self.set_geometry((picture.size[1], picture.size[0]), picture.patch_size)
        elif c is not None:
            self.set_geometry((c.img_size, c.img_size) if isinstance(c.img_size, int) else c.img_size, c.patch_size)
        if emit or view is not None:
            self.pictureChanged.emit(note)

    @property
    def view_label(self) -> str:
        """What figures call the view: ``model``, ``tiles 1024x768 px``, ``native 448 px``."""
        return "model" if self.picture is None else self.picture.label

    def set_progress(self, progress: tuple[int, int] | None, text: str = "") -> None:
        """How far a whole picture has streamed in (None: nothing running), and a line saying so."""
        if (progress, text) != (self.progress, self.progress_text):
            self.progress, self.progress_text = progress, text
            self.progressChanged.emit()

    def set_geometry(self, shape: tuple[int, int], patch_size: int) -> None:
        """Size the painting (the model's input size and patch). A new size starts an empty mask and
        history; a new patch size on the same image keeps the painted pixels."""
        shape, patch_size = (int(shape[0]), int(shape[1])), int(patch_size)
        if shape == self.paint.shape and patch_size == self.paint.patch_size:
            return
        keep = self.paint.mask if shape == self.paint.shape else None
        paint = PaintModel(shape, patch_size, keep)  # raises before anything changes
        self.abort_stroke()
        self.paint = paint
        self.undo_stack.clear()
        self._set_provenance(Provenance())
        self.view.set_shape(shape)
        self.geometryChanged.emit()
        self.maskChanged.emit(True)

    # ------------------------------------------------------------------ the mask

    @property
    def threshold(self) -> float:
        """Coverage (0..1) a patch needs to count as hidden; 0 means any painted pixel."""
        return self._threshold

    def set_threshold(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if value != self._threshold:
            self._threshold = value
            self.maskChanged.emit(True)

    def patch_mask(self) -> np.ndarray:
        """The ``(gh, gw)`` mask the model receives."""
        return self.paint.patch_mask(self._threshold)

    @property
    def pattern_spec(self) -> str | None:
        """The provenance's spec as text (None: painted by hand)."""
        return None if self.provenance.spec is None else str(self.provenance.spec)

    def mask_label(self) -> str:
        """``"random 75 %"`` while the mask is exactly the pattern's, ``"random 75 % + edits"`` after
        painting on it, ``"painted"`` when no pattern (or ``none``) made it (undo brings the earlier label back)."""
        p = self.provenance
        if p.spec is None and not p.source:
            return "painted"
        base = spec_label(p.spec) if p.spec is not None else p.source
        if p.mask is not None and not np.array_equal(p.mask, self.patch_mask()):
            return "painted" if p.spec is not None and p.spec.name == "none" else f"{base} + edits"
        return base

    def request_pattern(self, spec: MaskSpec | str) -> None:
        """Ask for a pattern (the pattern panel does): the controller makes its mask for the model
        (:meth:`apply_pattern`) or says why it cannot (:meth:`set_pattern_error`)."""
        self.patternRequested.emit(parse_mask_spec(spec) if isinstance(spec, str) else spec)

    def set_pattern_error(self, text: str) -> None:
        self.pattern_error = text
        self.patternErrorChanged.emit(text)

    def pattern_default(self, pattern: str, param: PatternParam) -> object:
        """A pattern parameter's default for this model: the model file's, else the grid's (SimMIM's
        cell size), else the registry's. What a spec that leaves the parameter out will use."""
        stored = self.model.mask_defaults().get(pattern, {}) if self.model is not None else {}
        if param.name in stored:
            return stored[param.name]
        return param.default_for(self.paint.grid, self.paint.patch_size)

    def apply_pattern(self, spec: MaskSpec, mask: np.ndarray, text: str | None = None) -> None:
        """Replace the painting with a pattern's patch mask, as one undo step that remembers the pattern."""
        self._replace_mask(mask, Provenance(spec, np.array(mask, dtype=bool)), text or f"Pattern {spec}")

    def restore_mask(self, mask: np.ndarray, provenance: Provenance) -> None:
        """Put back a mask saved earlier (a session's) with the provenance it had, as one undo step."""
        self._replace_mask(mask, provenance, "Restore mask")

    def set_patch_mask(self, mask: np.ndarray, text: str, source: str = "") -> None:
        """Replace the painting with a patch mask from elsewhere (a file: ``source`` names it)."""
        prov = Provenance(None, np.array(mask, dtype=bool), source) if source else Provenance()
        self._replace_mask(mask, prov, text)

    def _replace_mask(self, mask: np.ndarray, provenance: Provenance, text: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.paint.grid:
            raise MaskError(f"A {mask.shape} patch mask does not fit this model's {self.paint.grid} patch grid.")
        self.abort_stroke()
        before = self.provenance
        atom = self.paint.set_patch_mask(mask)
        if atom is None and before == provenance:
            return
        self.undo_stack.push(_EditCommand(self, atom, text, before, provenance))

    def push_edit(self, atom: PaintAtom | None, text: str) -> None:
        """Record an edit already applied to :attr:`paint` (a stroke, a shape, a fill) as one undo step."""
        if atom is not None:
            self.undo_stack.push(_EditCommand(self, atom, text, self.provenance, self.provenance))

    def stroke_changed(self) -> None:
        """The canvas painted part of a stroke into :attr:`paint` (not yet an undo step)."""
        self.maskChanged.emit(False)

    def abort_stroke(self) -> None:
        if self.paint.in_stroke:
            self.paint.abort_stroke()
            self.maskChanged.emit(True)

    def clear_mask(self) -> None:
        """Hide nothing: the mask is then the ``none`` pattern's (its label says so, not the old pattern's)."""
        self.abort_stroke()
        after = Provenance(parse_mask_spec("none"), np.zeros(self.paint.grid, dtype=bool))
        self._push_replacing(self.paint.clear(), "Clear mask", after)

    def invert_mask(self) -> None:
        """Swap hidden and visible: a pattern's mask becomes its complement's (edits stay edits)."""
        self.abort_stroke()
        p = self.provenance
        if p.spec is not None and p.mask is not None:
            after = Provenance(replace(p.spec, invert=not p.spec.invert), ~p.mask)
        elif p.mask is not None:
            after = Provenance(None, ~p.mask, p.source.removeprefix("complement of ") if
                               p.source.startswith("complement of ") else f"complement of {p.source}")
        else:
            after = p
        self._push_replacing(self.paint.invert(), "Invert mask", after)

    def _push_replacing(self, atom: PaintAtom | None, text: str, after: Provenance) -> None:
        if atom is not None or after != self.provenance:
            self.undo_stack.push(_EditCommand(self, atom, text, self.provenance, after))

    def _apply(self, atom: PaintAtom | None, forward: bool, provenance: Provenance) -> None:
        """Run by the undo stack: (re)apply or revert an atom and restore that side's provenance."""
        self.abort_stroke()  # an undo mid-drag would corrupt the stroke's merged atom
        if atom is not None:
            self.paint.apply(atom, forward)
        self._set_provenance(provenance)
        self.maskChanged.emit(True)

    def _set_provenance(self, provenance: Provenance) -> None:
        if provenance is not self.provenance:
            self.provenance = provenance
            self.provenanceChanged.emit()

    # ------------------------------------------------------------------ options

    def set_option(self, name: str, value: str) -> None:
        """Change one display option (see :class:`DisplayOptions`); emits only on a real change."""
        if name not in OPTION_NAMES:
            raise ValueError(f"unknown option {name!r}; options: {', '.join(OPTION_NAMES)}")
        if getattr(self.options, name) != value:
            self.options = replace(self.options, **{name: value})
            self.optionsChanged.emit(name)

    # ------------------------------------------------------------------ results

    def inputs(self) -> Inputs | None:
        """The inputs a result must have been computed from to be current (None: nothing to compute)."""
        if self.model is None or self.model_image is None:
            return None
        mask = self.patch_mask()
        return Inputs(id(self.model.model), id(self.working_image), mask.tobytes(), mask.shape,
                      self.options.unnormalize, self.options.precision, self.view_label)

    def result_is_current(self) -> bool:
        """Whether :attr:`result` was computed from exactly the image, model, mask and options now set."""
        return self.result is not None and self.result_inputs == self.inputs()

    def set_result(self, outcome: Any, inputs: Inputs | None) -> None:
        """Show a reconstruction (a ReconOutcome) computed from ``inputs``; None clears it."""
        self.result, self.result_inputs = outcome, inputs if outcome is not None else None
        self.resultChanged.emit()

    def set_baseline_result(self, result: Any, status: str = "") -> None:
        """The baseline fill for the current result (None: none yet; ``status`` says why)."""
        self.baseline_result, self.baseline_status = result, status
        self.baselineChanged.emit()

    def set_curve(self, curve: Curve) -> None:
        self.curve = curve
        self.curveChanged.emit()

    def set_message(self, text: str) -> None:
        if text != self.message:
            self.message = text
            self.messageChanged.emit(text)

    @property
    def hidden_fraction(self) -> float:
        return masks.mask_ratio(self.patch_mask())
