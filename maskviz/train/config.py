"""What decides a training run: the user's recipe (:class:`TrainConfig`) and what follows from it (:class:`Plan`).

Both are plain dataclasses that round-trip through JSON, because ``RUN_DIR/config.json`` is the
single record a resumed run (or a curious user) reads back. ``None`` in a config means "use the
recipe's rule"; :func:`resolve` replaces every such field by a number, so a saved config needs no
further resolution and a resumed run cannot drift from the original one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from maskviz.errors import MaskvizError
from maskviz.masks import MaskSpec, parse_mask_spec
from maskviz.models.configs import CONFIG_CLASSES

AMP_MODES = ("none", "bf16", "fp16")
AUGMENTATIONS = ("mae", "strong")  # see maskviz.train.data.augment
def family_default_masks() -> dict[str, str]:
    """The mask spec each model family trains with by default (its config class's ``default_mask``)."""
    return {cls.family: cls.default_mask for cls in CONFIG_CLASSES.values()}


DEFAULT_MASKS = family_default_masks()  # the built-in families, for forms that show the default
WARMUP_FRACTION = 0.1  # official MAE: 40 warm-up epochs of 400
# Fine-tuning a pretrained model on a small folder (bench/bench_finetune_lr.py measured these): the
# pre-training rule gives ~1e-5 at batch 16, too small to move a trained model within a few hundred steps.
FINETUNE_LR = 1e-4
FINETUNE_WARMUP_FRACTION = 0.05
MIN_VAL_IMAGES = 4  # held out when the folder has at least 4x as many images
MIN_VAL_SAMPLES = 16  # losses per validation: fixed extra crops per image make up the rest
LR_RULES = {"given": "given", "blr": "blr × batch / 256 (pre-training rule)",
            "finetune": "fine-tune default for a pretrained model"}


class TrainError(MaskvizError):
    """A training run that cannot start or go on, explained in one line."""


@dataclass
class TrainConfig:
    """The training recipe, as a user gives it (CLI flags map 1:1 onto fields).

    Precedence when both are set: ``steps`` over ``epochs``, ``lr`` over ``blr``, ``warmup_steps``
    over ``warmup_epochs`` (the CLI does not let a user give both).
    """

    data: str
    model: str
    out: str
    steps: int | None = None
    epochs: float | None = None
    batch: int = 64
    accum: int = 1
    lr: float | None = None
    blr: float | None = None  # None: 1.5e-4 (DEFAULT_BLR) when the pre-training rule applies
    min_lr: float = 0.0
    weight_decay: float = 0.05
    warmup_steps: int | None = None
    warmup_epochs: float | None = None
    mask: str | None = None
    img_size: int | None = None
    norm_pix: bool | None = None
    val_split: float = 0.1
    synthetic: float = 0.0  # share of training samples replaced by procedural dead-leaves images
    augment: str = "mae"  # "mae" (official view) or "strong" (see maskviz.train.data.augment)
    workers: int = 0  # data-loading processes; 0 = one (GPU) or none (CPU)
    val_every: int | None = None  # None: default_val_every(steps)
    save_every: int | None = None  # None: default_save_every(steps)
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    command: str = ""
    # Filled by resolve(); None in runs saved before they existed (resume then keeps the old behaviour).
    lr_rule: str | None = None  # a key of LR_RULES: where the lr came from
    val_min: int | None = None  # MIN_VAL_IMAGES when the run started
    val_crops: int | None = None  # fixed crops per held-out image

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TrainError(f"unknown training options {', '.join(unknown)}")
        return cls(**d)

    def validate(self) -> None:
        """Reject impossible values before any file is touched."""
        _positive_int(self.batch, "--batch")
        _positive_int(self.accum, "--accum")
        for value, name in ((self.val_every, "--val-every"), (self.save_every, "--save-every")):
            if value is not None:
                _positive_int(value, name)
        _positive_int(self.log_every, "--log-every")
        if self.steps is None and self.epochs is None:
            raise TrainError("say how long to train: --steps N or --epochs E")
        if self.steps is not None:
            _positive_int(self.steps, "--steps")
        elif not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise TrainError(f"--epochs must be positive, got {self.epochs}")
        for value, name in ((self.lr, "--lr"), (self.blr, "--blr")):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise TrainError(f"{name} must be positive, got {value}")
        if not 0.0 <= self.val_split < 1.0:
            raise TrainError(f"--val-split is a fraction in [0, 1), got {self.val_split}")
        if not 0.0 <= self.synthetic <= 1.0:
            raise TrainError(f"--synthetic is a fraction in [0, 1], got {self.synthetic}")
        if self.augment not in AUGMENTATIONS:
            raise TrainError(f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TrainError(f"--seed must be a whole number of at least 0, got {self.seed!r}")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise TrainError(f"--workers must be a whole number of at least 0, got {self.workers!r}")
        if self.amp not in AMP_MODES:
            raise TrainError(f"--amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.mask is not None:
            parse_mask_mixture(self.mask)

    def describe_lr(self) -> str:
        """``1e-04 (fine-tune default for a pretrained model)``: the lr and where it came from."""
        rule = LR_RULES.get(self.lr_rule or "", "")
        return f"{self.lr:.3g}" + (f" ({rule})" if rule else "")


def parse_mask_mixture(text: str) -> list[MaskSpec]:
    """``--mask`` for training: one mask spec, or several joined by ``|`` (each sample draws one)."""
    specs = [parse_mask_spec(part.strip()) for part in text.split("|")]
    if len(specs) > 1 and any(s.name == "file" for s in specs):
        raise TrainError("a mask file cannot be part of a mixture (A|B)")
    return specs


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or value < 1:
        raise TrainError(f"{name} must be a whole number of at least 1, got {value!r}")


@dataclass
class Plan:
    """What the run learned at its start about the images, the machine and the model; fixed for its lifetime."""

    world_size: int
    effective_batch: int
    train_images: int
    val_images: int
    skipped_files: int
    images_fingerprint: str
    family: str
    model_config: dict[str, Any] = field(default_factory=dict)
    base_model: str = ""
    base_model_info: dict[str, Any] = field(default_factory=dict)  # provenance of a maskviz base checkpoint

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(**d)

    def epoch_at(self, step: int) -> float:
        """Passes over the training images after ``step`` optimizer steps."""
        return step * self.effective_batch / self.train_images


DEFAULT_BLR = 1.5e-4


def lr_rule(config: TrainConfig, pretrained: bool) -> str:
    """Which rule sets the lr: the user's --lr, the user's --blr, else fine-tune or pre-training default."""
    if config.lr is not None:
        return "given"
    return "finetune" if pretrained and config.blr is None else "blr"


def default_lr(config: TrainConfig, pretrained: bool, effective_batch: int) -> float:
    """The lr a run gets: --lr; a pretrained model's fine-tune default; else blr × effective batch / 256."""
    rule = lr_rule(config, pretrained)
    if rule == "given":
        return config.lr
    return FINETUNE_LR if rule == "finetune" else (config.blr or DEFAULT_BLR) * effective_batch / 256


def resolve(config: TrainConfig, *, train_images: int, val_images: int, world_size: int, family: str,
            pretrained: bool) -> TrainConfig:
    """Fill every ``None`` by the rules; idempotent, so resolving a saved config is a no-op.

    From scratch, the official MAE rules: lr = blr × effective batch / 256 (effective batch = batch ×
    accum × world size), warm-up 10 % of training. From a pretrained model, :data:`FINETUNE_LR` with a
    5 % warm-up unless --lr or --blr is given. Epochs become whole steps (rounded up); validation and
    saves follow :func:`default_val_every` and :func:`default_save_every` unless given.
    """
    effective = config.batch * config.accum * world_size
    steps = config.steps or max(1, math.ceil(config.epochs * train_images / effective))
    rule = config.lr_rule or lr_rule(config, pretrained)
    if config.warmup_steps is not None:
        warmup = config.warmup_steps
    elif config.warmup_epochs is not None:
        warmup = round(config.warmup_epochs * train_images / effective)
    else:
        warmup = round((FINETUNE_WARMUP_FRACTION if rule == "finetune" else WARMUP_FRACTION) * steps)
    val_min = MIN_VAL_IMAGES if config.val_min is None else config.val_min
    return dataclasses.replace(
        config,
        steps=steps,
        lr=default_lr(config, pretrained, effective),
        lr_rule=rule,
        warmup_steps=min(max(warmup, 0), steps),
        mask=config.mask or family_default_masks()[family],
        val_every=config.val_every or default_val_every(steps),
        save_every=config.save_every or default_save_every(steps),
        val_min=val_min,
        val_crops=config.val_crops or (val_crops_for(val_images, MIN_VAL_SAMPLES) if val_images else 1),
    )


def default_val_every(steps: int) -> int:
    """About ten validations per run, 5 to 100 steps apart: a short run still gets a curve, and no run
    validates (and may write a best checkpoint) every step, which made a 10-step ViT-B run 2.8x slower."""
    return min(100, max(5, math.ceil(steps / 10)))


def default_save_every(steps: int) -> int:
    """About ten saves per run, 10 to 500 steps apart, so a run killed before it could save loses little."""
    return min(500, max(10, math.ceil(steps / 10)))


def val_crops_for(val_images: int, min_samples: int) -> int:
    """Fixed crops per held-out image so that a tiny split still gives ``min_samples`` losses (at most 8)."""
    return max(1, min(8, math.ceil(min_samples / max(val_images, 1))))
