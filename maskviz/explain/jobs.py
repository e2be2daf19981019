"""The GUI's Explain lens as a job (Qt-free): what the lens asks for, and what comes back to draw.

A :class:`Lens` is what the user picked (method, target patch, layer, head, number of masks); an
:class:`ExplainJob` adds the viewer's model, image and mask. :func:`explain_steps` is the job: a
generator that yields a :class:`~maskviz.explain.common.Step` after each forward and returns a
:class:`LensOutcome` (the core result, and the picture the lens shows: the last panel of the figure
``maskviz explain --out`` draws for the same inputs, so screen and export agree).

One forward answers many targets for attention, rollout and features: the outcome keeps it
(``base``), and a later job for the same viewer inputs that passes it back computes no forward, so the
target can follow the pointer. Gradient and occlusion run the model for each target. In the tiles
view an attention capture covers the tiles captured so far (:class:`~maskviz.explain.views.TiledCapture`):
a target in another tile runs that tile's forward (:attr:`ExplainJob.needs_forward`).

Every view works (:mod:`maskviz.explain.views`): ``picture`` is the viewer's tiles or native picture,
None for the model view (``image``, fitted to the model's input).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskviz.explain.attention import AttentionCapture
from maskviz.explain.common import ExplainError, ExplainMap, Steps, check_target
from maskviz.explain.features import FeatureLens
from maskviz.explain.spread import DEFAULT_MASKS, SpreadLens, spread_masks
from maskviz.explain.views import (
    TiledCapture,
    iter_view_attention,
    iter_view_features,
    iter_view_map,
    iter_view_spread,
    model_picture,
    whose,
)

#: What the lens offers, in the order its picker lists them.
METHODS = ("attention", "rollout", "gradient", "occlusion", "features", "spread")
#: Methods that explain one hidden target patch.
PER_TARGET = ("attention", "rollout", "gradient", "occlusion")
#: Methods whose one forward answers every target: the target may follow the pointer.
KEPT_FORWARD = ("attention", "rollout", "features")


@dataclass(frozen=True)
class Lens:
    """What the user asked to see. ``target`` is (row, col) on the view's patch grid; ``head`` None is the
    mean over heads; ``masks`` is spread's K."""

    method: str = "attention"
    target: tuple[int, int] | None = None
    layer: int = -1
    head: int | None = None
    masks: int = DEFAULT_MASKS

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ExplainError(f"unknown explain method {self.method!r}; methods: {', '.join(METHODS)}")

    @property
    def forward_key(self) -> tuple[Any, ...]:
        """What the forward depends on besides the viewer's inputs: equal keys share one ``base``."""
        if self.method in ("attention", "rollout"):
            return ("attention",)
        if self.method == "features":
            return ("features",)
        if self.method == "spread":
            return ("spread", self.masks)
        return (self.method, self.target)


@dataclass
class ExplainJob:
    """Everything one lens job needs; the mask is copied so later painting cannot change it."""

    model: Any  # MaskedImageModel
    image: Any  # the image fitted to the model (PIL)
    mask: np.ndarray  # on the view's grid
    lens: Lens
    spec: str | None = None  # the pattern that made the mask (spread draws K masks of it)
    seed: int | None = None
    defaults: Mapping[str, Mapping[str, Any]] | None = None  # the model file's mask defaults
    unnormalize: str = "true-patch"
    base: Any = None  # a kept forward for the same inputs and forward_key: reused, no forward
    picture: Any = None  # the tiles or native view's maskviz.whole.ViewImage; None: the model view of ``image``

    def __post_init__(self) -> None:
        self.mask = np.array(self.mask, dtype=bool, copy=True)

    def view_image(self) -> Any:  # noqa: ANN401 - a ViewImage
        """The picture the lens works on, in its view."""
        return self.picture if self.picture is not None else model_picture(self.model, self.image)

    @property
    def needs_forward(self) -> bool:
        """Whether the model must run: no kept forward, or (tiles) the target's tile is not in it yet."""
        if self.base is None:
            return True
        return isinstance(self.base, TiledCapture) and not self.base.covers(self.lens.target)


@dataclass
class LensOutcome:
    """What a job gives back: the kept forward, the core result and the picture the lens shows."""

    lens: Lens
    base: Any  # AttentionCapture | FeatureLens | SpreadLens | ExplainMap
    result: ExplainMap | FeatureLens | SpreadLens | None  # None: a per-target method without a target yet
    similarity: ExplainMap | None
    original: np.ndarray  # the view's picture as the model saw it, (H, W, 3) in [0, 1]
    panel: Any  # maskviz.figures.Panel: the figure's last panel
    picture: np.ndarray  # its pixels, (H, W, 3) uint8
    note: str = ""  # why there is no map (e.g. the pointer is on a visible patch)
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    layers: list[tuple[str, int]] = field(default_factory=list)  # attention: each layer's name and heads
    seconds: float = 0.0  # the forward's time (0 when a kept one answered)


def forward_steps(job: ExplainJob, vimg: Any = None) -> Steps[Any]:
    """The forward(s) a lens needs, one step each; returns what :func:`answer` reads targets from."""
    lens, model = job.lens, job.model
    vimg = vimg or job.view_image()
    if lens.method in ("attention", "rollout"):
        return (yield from iter_view_attention(model, vimg, job.mask, lens.target, kept=job.base))
    if lens.method == "features":
        return (yield from iter_view_features(model, vimg, job.mask))
    if lens.method == "spread":
        if not job.spec:
            raise ExplainError("spread draws more masks of the mask's pattern, and this mask was painted: "
                               "pick a random pattern (random, block or simmim) first")
        masks = spread_masks(job.spec, vimg.grid, vimg.patch_size, lens.masks, job.seed, job.defaults)
        return (yield from iter_view_spread(model, vimg, masks, unnormalize=job.unnormalize))
    if lens.target is None:
        return None
    return (yield from iter_view_map(model, vimg, job.mask, lens.method, lens.target))


def answer(base: Any, lens: Lens, mask: np.ndarray, grid_of: str = "model's") -> tuple[Any, ExplainMap | None, str]:
    """The result for ``lens`` from a kept forward (no model call), the similarity map for features, and
    why a map is missing (a target on a visible patch, a layer that does not exist...)."""
    try:
        if isinstance(base, (AttentionCapture, TiledCapture)):
            if lens.target is None:
                return None, None, ""
            target = check_target(mask, lens.target, grid_of)
            return (base.rollout_map(target) if lens.method == "rollout"
                    else base.layer_map(target, lens.layer, lens.head)), None, ""
        if isinstance(base, FeatureLens) and lens.target is not None:
            return base, base.similarity(lens.target), ""
    except ExplainError as exc:  # the lens says why and keeps the forward for the next target
        return (base if isinstance(base, FeatureLens) else None), None, str(exc)
    return base, None, ""


def explain_steps(job: ExplainJob) -> Steps[LensOutcome]:
    """The lens job: the forward (unless ``job.base`` is one for these inputs), then the answer and its picture."""
    from maskviz.explain.figure import shown_panel
    from maskviz.figures.sheet import panel_pixels

    base, start, vimg = job.base, time.perf_counter(), job.view_image()
    forward = job.needs_forward
    if forward:
        base = yield from forward_steps(job, vimg)
    seconds = time.perf_counter() - start if forward else 0.0
    result, similarity, note = answer(base, job.lens, job.mask, whose(vimg))
    original = vimg.original()
    panel = shown_panel(result, original, job.model.patch_size, similarity, job.mask, job.model.config.mean)
    captured = isinstance(base, (AttentionCapture, TiledCapture))
    layers = [(layer.name, layer.heads) for layer in base.path] if captured else []
    return LensOutcome(job.lens, base, result, similarity, original, panel, panel_pixels(panel), note, job.mask,
                       layers, seconds)


def explain_outcome(job: ExplainJob) -> LensOutcome:
    """Run the lens job to the end (tests and scripts)."""
    from maskviz.explain.common import run

    return run(explain_steps(job))

