"""The GUI's Explain lens as a job (Qt-free): what the lens asks for, and what comes back to draw.

A :class:`Lens` is what the user picked (method, target patch, layer, head, number of masks); an
:class:`ExplainJob` adds the viewer's model, image and mask. :func:`explain_steps` is the job: a
generator that yields a :class:`~maskviz.explain.common.Step` after each forward and returns a
:class:`LensOutcome` (the core result, and the picture the lens shows: the last panel of the figure
``maskviz explain --out`` draws for the same inputs, so screen and export agree).

One forward answers many targets for attention, rollout and features: the outcome keeps it
(``base``), and a later job for the same viewer inputs that passes it back computes no forward, so the
target can follow the pointer. Gradient and occlusion run the model for each target.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskviz.explain.attention import AttentionCapture, iter_attention
from maskviz.explain.common import ExplainError, ExplainMap, Steps, check_target
from maskviz.explain.features import FeatureLens, iter_features
from maskviz.explain.gradient import iter_gradient
from maskviz.explain.occlusion import iter_occlusion
from maskviz.explain.spread import DEFAULT_MASKS, SpreadLens, iter_spread, spread_masks

#: What the lens offers, in the order its picker lists them.
METHODS = ("attention", "rollout", "gradient", "occlusion", "features", "spread")
#: Methods that explain one hidden target patch.
PER_TARGET = ("attention", "rollout", "gradient", "occlusion")
#: Methods whose one forward answers every target: the target may follow the pointer.
KEPT_FORWARD = ("attention", "rollout", "features")


@dataclass(frozen=True)
class Lens:
    """What the user asked to see. ``target`` is (row, col) on the model's patch grid; ``head`` None is the
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
    mask: np.ndarray
    lens: Lens
    spec: str | None = None  # the pattern that made the mask (spread draws K masks of it)
    seed: int | None = None
    defaults: Mapping[str, Mapping[str, Any]] | None = None  # the model file's mask defaults
    unnormalize: str = "true-patch"
    base: Any = None  # a kept forward for the same inputs and forward_key: reused, no forward

    def __post_init__(self) -> None:
        self.mask = np.array(self.mask, dtype=bool, copy=True)


@dataclass
class LensOutcome:
    """What a job gives back: the kept forward, the core result and the picture the lens shows."""

    lens: Lens
    base: Any  # AttentionCapture | FeatureLens | SpreadLens | ExplainMap
    result: ExplainMap | FeatureLens | SpreadLens | None  # None: a per-target method without a target yet
    similarity: ExplainMap | None
    original: np.ndarray  # the image as the model saw it, (H, W, 3) in [0, 1]
    panel: Any  # maskviz.figures.Panel: the figure's last panel
    picture: np.ndarray  # its pixels, (H, W, 3) uint8
    note: str = ""  # why there is no map (e.g. the pointer is on a visible patch)
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    layers: list[tuple[str, int]] = field(default_factory=list)  # attention: each layer's name and heads
    seconds: float = 0.0  # the forward's time (0 when a kept one answered)


def forward_steps(job: ExplainJob) -> Steps[Any]:
    """The forward(s) a lens needs, one step each; returns what :func:`answer` reads targets from."""
    lens, model = job.lens, job.model
    if lens.method in ("attention", "rollout"):
        return (yield from iter_attention(model, job.image, job.mask))
    if lens.method == "features":
        return (yield from iter_features(model, job.image, job.mask))
    if lens.method == "spread":
        if not job.spec:
            raise ExplainError("spread draws more masks of the mask's pattern, and this mask was painted: "
                               "pick a random pattern (random, block or simmim) first")
        masks = spread_masks(job.spec, model.grid_size, model.patch_size, lens.masks, job.seed, job.defaults)
        return (yield from iter_spread(model, job.image, masks, unnormalize=job.unnormalize))
    if lens.target is None:
        return None
    steps = iter_gradient if lens.method == "gradient" else iter_occlusion
    return (yield from steps(model, job.image, job.mask, lens.target))


def answer(base: Any, lens: Lens, mask: np.ndarray) -> tuple[Any, ExplainMap | None, str]:
    """The result for ``lens`` from a kept forward (no model call), the similarity map for features, and
    why a map is missing (a target on a visible patch, a layer that does not exist...)."""
    try:
        if isinstance(base, AttentionCapture):
            if lens.target is None:
                return None, None, ""
            target = check_target(mask, lens.target)
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
    from maskviz.reconstruct import prepare_input

    base, start = job.base, time.perf_counter()
    if base is None:
        base = yield from forward_steps(job)
    seconds = 0.0 if job.base is not None else time.perf_counter() - start
    result, similarity, note = answer(base, job.lens, job.mask)
    original = prepare_input(job.model, job.image)[0]
    panel = shown_panel(result, original, job.model.patch_size, similarity, job.mask, job.model.config.mean)
    layers = [(layer.name, layer.heads) for layer in base.path] if isinstance(base, AttentionCapture) else []
    return LensOutcome(job.lens, base, result, similarity, original, panel, panel_pixels(panel), note, job.mask,
                       layers, seconds)


def explain_outcome(job: ExplainJob) -> LensOutcome:
    """Run the lens job to the end (tests and scripts)."""
    from maskviz.explain.common import run

    return run(explain_steps(job))

