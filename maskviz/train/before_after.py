"""Base model vs fine-tuned model on the viewer's image and mask: did training help *this* picture?

:func:`comparison_steps` is a generator that does one piece of model work per step (load the
fine-tuned checkpoint, one forward of each model), so a scheduler can put a reconstruction the user
is waiting for between them. When the viewer already holds the run's starting model it is used as
is (no second copy in memory); otherwise the starting model is rebuilt from the run's saved recipe
(the same weights the run began with, even for a model trained from scratch, because the recipe's
seed fixed them). The final model is compared by default: a best checkpoint picked by a handful of
held-out images is offered, not imposed.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskviz.errors import MaskvizError
from maskviz.masks import parse_mask_spec
from maskviz.train.config import TrainConfig
from maskviz.train.rundir import RunDir, TrainError
from maskviz.train.runs import CHECKPOINT_KINDS, model_name, result_checkpoint


@dataclass
class ViewerContext:
    """What the viewer shows now: its model (a LoadedModel or None) and where it came from, the image,
    the patch mask and the display option. The mask is a copy: painting on must not change it."""

    loaded: Any
    source: str | None
    image: Image.Image
    mask: np.ndarray
    unnormalize: str = "true-patch"
    view: str = "model"  # the viewer's view: a tiles or native mask lies on the whole picture's grid


@dataclass
class Comparison:
    """The two reconstructions and what they came from."""

    base: Any  # maskviz.reconstruct.Reconstruction
    tuned: Any
    base_label: str
    tuned_label: str
    checkpoint: Path
    note: str = ""


def comparison_steps(run_dir: str | Path, context: ViewerContext,
                     which: str = "last") -> Generator[str, None, Comparison]:
    """Reconstruct the viewer's image and mask with the run's starting model and its final (or best)
    checkpoint; yields after each load or forward (what it just did), returns the :class:`Comparison`."""
    from maskviz.checkpoints import load_model
    from maskviz.reconstruct import reconstruct

    run = RunDir(run_dir)
    config, plan = run.read()
    checkpoint = result_checkpoint(run, which)
    if checkpoint is None:
        raise TrainError(f"{run.path} has no checkpoint yet: it saves one when it stops, ends or validates")
    if viewer_holds_base(context, config):
        base, base_name = context.loaded.model, model_name(context.source, context.loaded)
    else:
        from maskviz.train.loop import build_model

        base, base_name = build_model(config)[0].eval(), _recorded_base_name(config, plan.base_model)
        yield "built the starting model"
    tuned_loaded = load_model(checkpoint, device=next(base.parameters()).device)
    yield "loaded the fine-tuned model"
    mask, note = _mask_for(context.mask, tuned_loaded.model, config.mask, context.view)
    base_result = reconstruct(base, context.image, [mask], context.unnormalize)[0]
    yield "reconstructed with the starting model"
    tuned_result = reconstruct(tuned_loaded.model, context.image, [mask], context.unnormalize)[0]
    steps = tuned_loaded.info.get("steps")
    kind = CHECKPOINT_KINDS["best" if checkpoint == run.best else "last"]
    tuned_label = f"fine-tuned, {kind}" + (f" (step {steps})" if isinstance(steps, int) else "")
    if checkpoint == run.best and steps == 0:
        tuned_label = f"{kind} = the starting model (step 0)"
        note = ((note + ". ") if note else "") + ("no validation of the trained model beat the starting model, "
                                                  "so its best checkpoint is the starting model itself")
    return Comparison(base_result, tuned_result, f"base: {base_name}", tuned_label, checkpoint, note)


def viewer_holds_base(context: ViewerContext, config: TrainConfig) -> bool:
    """Whether the viewer's model is the run's starting model, loaded the same way (then it is shared).

    A built-in random model never is: a run from scratch draws its own weights from its seed."""
    from maskviz.sources import model_path

    loaded = context.loaded
    if loaded is None or loaded.format == "builtin":
        return False
    if config.norm_pix is not None and config.norm_pix != loaded.config.norm_pix_loss:
        return False
    try:
        return model_path(config.model).resolve() == Path(loaded.source).resolve()
    except (OSError, MaskvizError):  # e.g. a catalogue model no longer in the cache: rebuild from the recipe
        return False


def _recorded_base_name(config: TrainConfig, base_model: str) -> str:
    """The starting model's display name: from the run's --model (a path or a typed name), else what the
    plan recorded (the built-in architecture)."""
    from maskviz.model_names import display_name

    return display_name(config.model) if config.model else base_model


def _mask_for(mask: np.ndarray | None, model: Any, spec: str | None, view: str = "model") -> tuple[np.ndarray, str]:
    """The viewer's mask when it is the model view's, fits the model's grid and hides something, else
    the run's (first) mask spec with seed 0, said so. (Before/after works on the model's input.)"""
    grid = tuple(model.grid_size)
    fits = view == "model" and mask is not None and tuple(mask.shape) == grid
    if fits and mask.any():
        return mask, ""
    spec = (spec or "random:0.75").split("|")[0]
    generated = parse_mask_spec(spec).generate(grid, model.patch_size, seed=0)
    if view != "model":
        why = f"is on the {view} view's grid, and before/after shows the model's input"
    else:
        why = "hides nothing" if fits else f"does not fit this model's {grid[0]}×{grid[1]} grid"
    return generated, f"the viewer's mask {why}: showing {spec}"
