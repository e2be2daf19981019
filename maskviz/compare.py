"""Compare masking strategies, mask ratios and models on one image or a folder: one table of results.

``compare(models, images, strategies, seeds)`` returns a :class:`CompareTable` with one
:class:`CompareRow` per model × image × strategy × seed (the family's loss, MSE, PSNR, hidden count
and, on request, the pictures). The CLI, the GUI and the tests all use it.

* **Pixels first.** A strategy's mask is made once, on the *reference* grid (the first model's), and
  turned into a pixel mask over the model input's square. Every model gets that pixel mask mapped to
  its own patch grid by coverage (a patch is hidden when at least half of it is), so a 16 px MAE, a
  14 px MAE, an 8 px model and SimMIM's 32 px cells all hide the same region. Where the mapping
  changes the hidden fraction, the row says so in ``note``.
* **Same count.** ``same_count`` makes every strategy hide the same number of reference patches
  (the first strategy's, or a given number; sweep points keep their ratio): patterns with a hidden
  amount (:data:`maskviz.masks.AMOUNT`) are regenerated at that amount, then random single patches
  are hidden or revealed to hit the count exactly.
* **Sweeps.** :func:`sweep_strategies` runs the points of :mod:`maskviz.sweep` (one definition of a
  sweep for Compare and the loss curve); :func:`sweep_curves` gives :class:`maskviz.sweep.Curve`.
* **Batched.** Each model × image runs all its distinct masks in one :func:`maskviz.reconstruct`
  call (MAE masks grouped by visible count, SimMIM in one batch); identical masks (a fixed pattern
  under several seeds) are computed once.
* **Streaming.** :func:`iter_compare` yields after every model × image, so the GUI shows partial
  results and a caller can stop between steps (Ctrl-C in the CLI keeps what is done).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from maskviz.errors import MaskError, MaskvizError
from maskviz.images import load_image
from maskviz.masks import MaskSpec, parse_mask_spec, to_pixel_mask, with_hidden_count
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import Reconstruction, reconstruct
from maskviz.sweep import Curve, Stat, plain, sweep_family, sweep_points, t95  # noqa: F401 - Stat, t95 kept here

#: A patch is hidden when at least this fraction of its pixels is hidden.
COVERAGE = 0.5
#: A mapped mask whose hidden fraction differs from the pixel mask's by more than this gets a note.
FRACTION_TOLERANCE = 0.01
Pictures = bool | Literal["first"]


# ------------------------------------------------------------------------------------------ strategies


@dataclass(frozen=True)
class Strategy:
    """One way of masking: a mask spec, or a fixed pixel mask (e.g. the one painted in the viewer).

    ``pixels`` is a bool ``H×W`` array over the model input's square (any resolution). ``sweep`` and
    ``ratio`` are set for the points of a ratio sweep: the family's label and the nominal ratio.
    """

    label: str
    spec: MaskSpec | None = None
    pixels: np.ndarray | None = field(default=None, compare=False, repr=False)
    sweep: str = ""
    ratio: float | None = None

    @property
    def seeded(self) -> bool:
        return self.spec is not None and self.spec.pattern.seeded


def as_strategy(item: str | MaskSpec | Strategy) -> Strategy:
    """A spec string, parsed spec or strategy as a :class:`Strategy` (specs are checked here)."""
    if isinstance(item, Strategy):
        return item
    spec = parse_mask_spec(item) if isinstance(item, str) else item
    return Strategy(str(spec), spec, ratio=_nominal_ratio(spec))


def painted_strategy(mask: np.ndarray, patch_size: int, label: str = "painted") -> Strategy:
    """The viewer's patch mask as a fixed pixel mask, so other models see the same region."""
    return Strategy(label, pixels=to_pixel_mask(mask, patch_size))


def _nominal_ratio(spec: MaskSpec) -> float | None:
    return spec.amount


def sweep_strategies(specs: Iterable[str | MaskSpec], ratios: Sequence[float]) -> list[Strategy]:
    """Every spec at every amount: the points of a loss-against-amount sweep (:mod:`maskviz.sweep`)."""
    out = []
    for item in specs:
        family = sweep_family(item)
        for ratio, point in sweep_points(family, ratios):
            out.append(Strategy(str(point), point, sweep=str(family), ratio=ratio))
    return out


def parse_ratios(text: str) -> list[float]:
    """``0.1:0.9:0.1`` (start:stop:step, stop included) or ``0.25,0.5,0.75`` as a list of ratios."""
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            ratios = [round(start + i * step, 10) for i in range(count)]
        else:
            ratios = [float(v) for v in text.split(",")]
    except ValueError:
        raise MaskError(f"Bad ratio list {text!r}: expected START:STOP:STEP such as 0.1:0.9:0.1, "
                        "or a list such as 0.25,0.5,0.75.") from None
    if not ratios or any(not 0 <= r <= 1 for r in ratios):
        raise MaskError(f"Ratios in {text!r} must lie between 0 and 1.")
    return ratios


# ------------------------------------------------------------------------------------------ pixel masks


def reference_mask(strategy: Strategy, model: MaskedImageModel, seed: int | None) -> np.ndarray:
    """The strategy's patch mask on ``model``'s grid (the reference grid every model maps from)."""
    if strategy.spec is not None:
        return strategy.spec.generate(model.grid_size, model.patch_size, seed=seed)
    assert strategy.pixels is not None
    return map_to_grid(strategy.pixels, model.grid_size)


def equal_count_mask(strategy: Strategy, model: MaskedImageModel, seed: int | None, target: int) -> np.ndarray:
    """The strategy's reference mask hiding exactly ``target`` patches (for fair comparisons).

    A pattern with a ratio is first made at ``target / N`` so it keeps its character; the last few
    patches are then hidden or revealed at random (seeded).
    """
    spec = strategy.spec
    n = model.grid_size[0] * model.grid_size[1]
    if spec is not None and spec.pattern.amount_param is not None:
        ratio = 1 - target / n if spec.invert else target / n  # "~" hides the complement
        strategy = replace(strategy, spec=spec.with_amount(ratio))
    return with_hidden_count(reference_mask(strategy, model, seed), target, seed)


def map_to_grid(pixels: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A pixel mask (True = hidden) mapped to a patch grid by coverage (hidden when >= COVERAGE).

    The pixel mask spans the same square as the grid at any resolution; the box filter weighs
    pixels that straddle a patch edge by the part inside, so non-integer ratios (16 → 14 px) work.
    """
    gh, gw = grid
    h, w = pixels.shape
    if h % gh == 0 and w % gw == 0:  # exact blocks: a plain mean (no resampling rounding)
        coverage = pixels.reshape(gh, h // gh, gw, w // gw).mean(axis=(1, 3))
    else:
        img = Image.fromarray(np.asarray(pixels, dtype=np.float32), mode="F")
        coverage = np.asarray(img.resize((gw, gh), Image.Resampling.BOX), dtype=np.float64)
    return coverage >= COVERAGE - 1e-6


def mapping_note(model_label: str, mask: np.ndarray, pixel_fraction: float, patch_size: int) -> str:
    """Say when mapping to a model's grid changed how much is hidden."""
    fraction = float(mask.mean())
    if abs(fraction - pixel_fraction) <= FRACTION_TOLERANCE:
        return ""
    return (f"{model_label}: its {patch_size} px patches hide {fraction:.1%} where the mask hides "
            f"{pixel_fraction:.1%} of the pixels")


@dataclass(frozen=True)
class PlannedMask:
    """One strategy × seed: the pixel mask and each model's patch mask."""

    strategy: Strategy
    seed: int | None
    pixel_fraction: float
    masks: dict[str, np.ndarray]
    notes: dict[str, str]
    adjusted: int  # patches hidden (+) or revealed (-) on the reference grid by same_count


def plan_masks(models: Mapping[str, MaskedImageModel], strategies: Sequence[Strategy],
               seeds: Sequence[int | None], same_count: bool | int = False) -> list[PlannedMask]:
    """Make every strategy × seed mask once and map it to each model (masks do not depend on the image)."""
    ref = next(iter(models.values()))
    target = _target_count(strategies, ref, seeds, same_count)
    plans = []
    for strategy in strategies:
        for seed in seeds:
            natural = reference_mask(strategy, ref, seed)
            fixed = target is None or bool(strategy.sweep)  # a sweep point's count is its ratio
            mask = natural if fixed else equal_count_mask(strategy, ref, seed, target)
            pixels = to_pixel_mask(mask, ref.patch_size)
            fraction = float(mask.mean())
            masks, notes = {}, {}
            for label, model in models.items():
                masks[label] = mask if model is ref else map_to_grid(pixels, model.grid_size)
                notes[label] = mapping_note(label, masks[label], fraction, model.patch_size)
            plans.append(PlannedMask(strategy, seed, fraction, masks, notes, int(mask.sum() - natural.sum())))
    return plans


def _target_count(strategies: Sequence[Strategy], ref: MaskedImageModel, seeds: Sequence[int | None],
                  same_count: bool | int) -> int | None:
    if same_count is False or same_count is None:
        return None
    n = ref.grid_size[0] * ref.grid_size[1]
    if same_count is True:
        first = next((s for s in strategies if not s.sweep), strategies[0])
        return int(reference_mask(first, ref, seeds[0]).sum())
    if not 0 <= int(same_count) <= n:
        raise MaskError(f"--same-count {same_count} is outside 0..{n} (the reference grid's patches).")
    return int(same_count)


# ------------------------------------------------------------------------------------------ results


@dataclass
class CompareRow:
    """The numbers for one model × image × strategy × seed (and the pictures when asked for)."""

    model: str
    image: str
    strategy: str
    seed: int | None
    family: str
    loss_name: str
    loss: float | None
    mse: float | None
    psnr: float | None
    hidden: int
    total: int
    pixel_fraction: float
    sweep: str = ""
    ratio: float | None = None
    adjusted: int = 0
    note: str = ""
    view: str = ""  # how the image reached the model: "model", "tiles 1024x768 px", ...
    mask: np.ndarray | None = field(default=None, repr=False)
    result: Reconstruction | None = field(default=None, repr=False)

    @property
    def hidden_fraction(self) -> float:
        return self.hidden / self.total

    def record(self) -> dict[str, Any]:
        """The row as plain values: one line of metrics.csv, one entry of summary.json."""
        return {name: plain(getattr(self, name)) for name in CSV_FIELDS}


#: The columns of metrics.csv, in order.
CSV_FIELDS = ("model", "image", "strategy", "seed", "sweep", "ratio", "family", "loss_name", "loss", "mse",
              "psnr", "hidden", "total", "hidden_fraction", "pixel_fraction", "adjusted", "note", "view")


@dataclass
class CompareTable:
    """All rows of a comparison and what it covered; ``complete`` is False when it was stopped."""

    models: list[str]
    images: list[str]
    strategies: list[Strategy]
    seeds: list[int | None]
    same_count: bool | int = False
    rows: list[CompareRow] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image, why)
    complete: bool = False
    view: str = "model"  # the view asked for ("tiles", "tiles 1024 px"); each row names its own size

    @property
    def notes(self) -> list[str]:
        """Distinct mapping notes, in order."""
        return list(dict.fromkeys(r.note for r in self.rows if r.note))

    @property
    def is_sweep(self) -> bool:
        return any(s.sweep for s in self.strategies)

    def select(self, **where: Any) -> list[CompareRow]:
        """Rows whose attributes equal the given values, e.g. ``select(model="mae", seed=0)``."""
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in where.items())]

    def summaries(self) -> list[Summary]:
        """Per model × strategy statistics of the plain rows (sweep points have their own curves)."""
        return summarize([r for r in self.rows if not r.sweep])


@dataclass(frozen=True)
class Progress:
    """One finished model × image: its rows, and how far the comparison is."""

    done: int
    total: int
    rows: list[CompareRow]
    image: str
    model: str
    error: str = ""  # the image could not be read: it is skipped


# ------------------------------------------------------------------------------------------ running

ImageInput = str | os.PathLike | Image.Image | np.ndarray


def image_entries(images: Mapping[str, ImageInput] | Sequence[ImageInput] | ImageInput) -> list[tuple[str, ImageInput]]:
    """Label every image: a path by its file name (parent folder added when names repeat)."""
    if isinstance(images, Mapping):
        return list(images.items())
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        images = [images]
    items = list(images)
    labels = [os.path.basename(os.fspath(i)) if isinstance(i, (str, os.PathLike)) else f"image {n + 1}"
              for n, i in enumerate(items)]
    if len(set(labels)) < len(labels):
        labels = [os.fspath(i) if isinstance(i, (str, os.PathLike)) else label
                  for i, label in zip(items, labels, strict=True)]
    if len(items) == 1 and not isinstance(items[0], (str, os.PathLike)):
        labels = ["image"]
    return list(zip(labels, items, strict=True))


def model_label(source: str | os.PathLike) -> str:
    """A model source's column name: its display name (``simmim_small (bundled)``, ``mae_a (file)``, ``RUN best
    (training run)``), as the app names it in every column, title and figure (:mod:`maskviz.model_names`)."""
    from maskviz.model_names import display_name

    return display_name(source)


def image_label(source: str | os.PathLike | None) -> str:
    """A short name for an image source: ``sample:NAME`` → NAME, a path → its file name."""
    if source is None:
        return "image"
    text = os.fspath(source)
    return text.removeprefix("sample:") if text.startswith("sample:") else Path(text).name


def folder_images(path: str | os.PathLike) -> dict[str, ImageInput]:
    """A folder's image files (recursively, by relative path) or a single image, labelled.

    Only headers are read here; an image that fails to decode later is skipped with its reason.
    """
    from maskviz.train.data import scan_images

    root = Path(os.fspath(path)).expanduser()
    if not root.is_dir():  # one image: read it now, so a bad path is an error rather than a skip
        return {image_label(path): load_image(path)}
    return {f.relative_to(root).as_posix(): f for f in scan_images(root).files}


def iter_compare(
    models: Mapping[str, MaskedImageModel],
    images: Mapping[str, ImageInput] | Sequence[ImageInput] | ImageInput,
    strategies: Sequence[str | MaskSpec | Strategy],
    seeds: Sequence[int | None] = (0,),
    *,
    same_count: bool | int = False,
    with_pictures: Pictures = False,
    unnormalize: str = "true-patch",
    precision: str = "fp32",
    table: CompareTable | None = None,
    view: Any = None,
) -> Iterator[Progress]:
    """Run the comparison one model × image at a time, adding rows to ``table`` and yielding progress.

    Stop iterating to cancel: the table keeps every finished step. ``with_pictures`` keeps each
    row's :class:`Reconstruction` (``"first"``: for the first readable image only, which is what a
    grid shows; a folder's pictures would not fit in memory). ``view`` (a
    :class:`maskviz.whole.View` or its name): in ``tiles`` and ``native`` the masks are made on each
    image's whole-picture grid (the first model's), so they are planned per image; an image the view
    cannot take is skipped with the reason.
    """
    from maskviz.whole.reconstruct import as_view

    view = as_view(view)

    if not models:
        raise MaskvizError("compare needs at least one model")
    planned = [as_strategy(s) for s in strategies]
    if not planned:
        raise MaskError("compare needs at least one mask strategy")
    entries = image_entries(images)
    seeds = list(seeds) or [0]
    if table is None:
        table = new_table(models, entries, planned, seeds, same_count)
    table.strategies = planned
    table.view = view_text(view)
    plans = plan_masks(models, planned, seeds, same_count) if view.name == "model" else []
    total, done = len(entries) * len(models), 0
    pictured = False  # "first" means the first image that could be read
    for name, source in entries:
        try:
            image = source if isinstance(source, (Image.Image, np.ndarray)) else load_image(source)
        except MaskvizError as exc:
            table.skipped.append((name, str(exc)))
            done += len(models)
            yield Progress(done, total, [], name, "", error=str(exc))
            continue
        try:
            pictures = view_pictures(models, image, view)
        except MaskvizError as exc:
            table.skipped.append((name, str(exc)))
            done += len(models)
            yield Progress(done, total, [], name, "", error=str(exc))
            continue
        if pictures:
            plans = plan_masks({k: on_grid(v) for k, v in pictures.items()}, planned, seeds, same_count)
        keep = with_pictures is True or (with_pictures == "first" and not pictured)
        pictured = True
        for model_label, model in models.items():
            rows = run_one(model_label, model, name, image, plans, keep, unnormalize, precision,
                           pictures.get(model_label))
            table.rows.extend(rows)
            done += 1
            yield Progress(done, total, rows, name, model_label)
    table.complete = True


@dataclass(frozen=True)
class _OnGrid:
    """What mask planning reads of a model (its grid and patch), for a whole-picture grid."""

    grid_size: tuple[int, int]
    patch_size: int


def on_grid(picture: Any) -> _OnGrid:
    """A view's picture as mask planning sees a model: its whole-picture grid and patch."""
    return _OnGrid(picture.grid, picture.patch_size)


def view_pictures(models: Mapping[str, MaskedImageModel], image: Image.Image | np.ndarray, view: Any) -> dict:
    """Each model's picture in the tiles/native view (none for the model view)."""
    if view.name == "model":
        return {}
    from maskviz.whole import prepare_view

    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return {label: prepare_view(model, picture, view) for label, model in models.items()}


def view_text(view: Any) -> str:
    return view.name if view.size is None else f"{view.name} {view.size} px"


def new_table(models: Mapping[str, MaskedImageModel], entries: Sequence[tuple[str, Any]],
              strategies: Sequence[Strategy], seeds: Sequence[int | None], same_count: bool | int) -> CompareTable:
    return CompareTable(list(models), [label for label, _ in entries], list(strategies), list(seeds), same_count)


def compare(
    models: Mapping[str, MaskedImageModel],
    images: Mapping[str, ImageInput] | Sequence[ImageInput] | ImageInput,
    strategies: Sequence[str | MaskSpec | Strategy],
    seeds: Sequence[int | None] = (0,),
    *,
    same_count: bool | int = False,
    with_pictures: Pictures = False,
    unnormalize: str = "true-patch",
    precision: str = "fp32",
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CompareTable:
    """The whole comparison as one table (see the module docstring); stops early when ``cancelled()``."""
    planned = [as_strategy(s) for s in strategies]
    table = new_table(models, image_entries(images), planned, list(seeds) or [0], same_count)
    steps = iter_compare(models, images, planned, seeds, same_count=same_count, with_pictures=with_pictures,
                         unnormalize=unnormalize, precision=precision, table=table)
    for step in steps:
        if progress is not None:
            progress(step)
        if cancelled is not None and cancelled():
            steps.close()
            break
    return table


def run_one(model_label: str, model: MaskedImageModel, image_label: str, image: Image.Image | np.ndarray,
            plans: Sequence[PlannedMask], keep_pictures: bool, unnormalize: str = "true-patch",
            precision: str = "fp32", picture: Any = None) -> list[CompareRow]:
    """Every planned mask on one model and image, in one batched reconstruct call (duplicates once);
    ``picture``: the image's :class:`maskviz.whole.ViewImage` in the tiles or native view."""
    unique: dict[bytes, int] = {}
    masks = []
    for plan in plans:
        key = plan.masks[model_label].tobytes()
        if key not in unique:
            unique[key] = len(masks)
            masks.append(plan.masks[model_label])
    if picture is None:
        results = reconstruct(model, image, masks, unnormalize, precision)
        view = "model"
    else:
        from maskviz.whole import reconstruct_view

        results = [r.whole for r in reconstruct_view(model, picture, masks, unnormalize, precision)]
        view = picture.label
    rows = []
    for plan in plans:
        r = results[unique[plan.masks[model_label].tobytes()]]
        rows.append(CompareRow(
            model=model_label, image=image_label, strategy=plan.strategy.label, seed=plan.seed,
            family=model.family, loss_name=r.loss_name, loss=r.loss, mse=r.mse, psnr=r.psnr,
            hidden=r.masked_patches, total=r.total_patches, pixel_fraction=plan.pixel_fraction,
            sweep=plan.strategy.sweep, ratio=plan.strategy.ratio, adjusted=plan.adjusted,
            note=plan.notes[model_label], view=view, mask=plan.masks[model_label],
            result=r if keep_pictures else None,
        ))
    return rows


# ------------------------------------------------------------------------------------------ statistics

@dataclass(frozen=True)
class Summary:
    """One model × strategy over all images and seeds.

    With one image, the spread is over seeds; with a folder, each image's seeds are averaged first
    and the spread (and 95 % interval) is over images, which is what "on my data" asks about.
    """

    model: str
    strategy: str
    sweep: str
    ratio: float | None
    family: str
    loss_name: str
    loss: Stat
    mse: Stat
    psnr: Stat
    hidden_fraction: float
    images: int
    distinct_masks: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "strategy": self.strategy, "sweep": self.sweep, "ratio": self.ratio,
            "family": self.family, "loss_name": self.loss_name, "loss": self.loss.to_dict(),
            "mse": self.mse.to_dict(), "psnr": self.psnr.to_dict(), "hidden_fraction": plain(self.hidden_fraction),
            "images": self.images, "distinct_masks": self.distinct_masks, "notes": list(self.notes),
        }


def summarize(rows: Sequence[CompareRow]) -> list[Summary]:
    """One :class:`Summary` per model × strategy, in the order rows first name them."""
    groups: dict[tuple[str, str], list[CompareRow]] = {}
    for r in rows:
        groups.setdefault((r.model, r.strategy), []).append(r)
    return [_summary(g) for g in groups.values()]


def _summary(rows: list[CompareRow]) -> Summary:
    by_image: dict[str, list[CompareRow]] = {}
    for r in rows:
        by_image.setdefault(r.image, []).append(r)
    per_seed = len(by_image) == 1

    def stat(metric: str) -> Stat:
        if per_seed:
            return Stat.of(getattr(r, metric) for r in rows)
        return Stat.of(_finite_mean(getattr(r, metric) for r in group) for group in by_image.values())

    first = rows[0]
    return Summary(
        model=first.model, strategy=first.strategy, sweep=first.sweep, ratio=first.ratio, family=first.family,
        loss_name=first.loss_name, loss=stat("loss"), mse=stat("mse"), psnr=stat("psnr"),
        hidden_fraction=float(np.mean([r.hidden_fraction for r in rows])), images=len(by_image),
        distinct_masks=len({r.mask.tobytes() for r in rows if r.mask is not None and r.image == first.image}),
        notes=tuple(dict.fromkeys(r.note for r in rows if r.note)),
    )


def _finite_mean(values: Iterable[float | None]) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def sweep_curves(rows: Sequence[CompareRow]) -> list[Curve]:
    """The sweep's lines, one :class:`maskviz.sweep.Curve` per model × family, its points the
    :class:`Summary` of each amount (rows without a sweep family are left out)."""
    lines: dict[tuple[str, str], list[Summary]] = {}
    for s in summarize([r for r in rows if r.sweep]):
        lines.setdefault((s.model, s.sweep), []).append(s)
    return [Curve(family=sweep, spec=parse_mask_spec(sweep),
                  points=tuple(sorted(pts, key=lambda p: p.ratio or 0.0)), total=len(pts), model=model,
                  loss_name=pts[0].loss_name)
            for (model, sweep), pts in lines.items()]
