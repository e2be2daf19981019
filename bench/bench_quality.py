"""Benchmark: how well models and non-learned baselines fill hidden patches of held-out photos.

    python bench/bench_quality.py                       # every bundled model + the baselines
    python bench/bench_quality.py --model run/model.safetensors --json quality.json
    python bench/bench_quality.py --size 64 --patch 8   # baselines only, when no model is given
    python bench/bench_quality.py --photos DIR --geometry 112/8 --geometry 224/16 --cv2

The held-out photos are the bundled samples no maskviz model is trained on (:data:`HELD_OUT`),
plus, with ``--photos DIR``, every image in DIR: ``resources/models/heldout_photos.py`` writes 11
photos from Debian's jigzo-data there, a package no training set uses (chosen before training).
From each, ``--crops`` square crops are cut at several scales (a fraction of the shorter side,
cycling through :data:`SCALES`) at seeded positions and resized to the model's input size, so a
crop shows anything from a close-up to the whole photo. Every method sees the same crops and the
same masks: 75 % MAE random masking and 50 % BEiT block masking, seeded per crop. The score is
PSNR over the hidden pixels in display space (what ``maskviz.reconstruct`` reports), averaged
over crops, ± its standard error; a second table gives each model minus each baseline crop by
crop (paired, so the photos' own difficulty cancels) and the quality goal of the bundled models.
``--cv2`` adds OpenCV's inpainting (Telea and Navier-Stokes) as baselines: a benchmark-only
dependency (``pip install -e ".[bench]"``). ``--geometry SIZE/PATCH`` (repeatable) runs the
baselines at geometries no model has, to see what a planned model must beat. Norm-pix models
are shown with ``--unnormalize visible`` statistics by default, because ``true-patch`` borrows
each hidden patch's true mean and variance, which no baseline gets. Everything is
deterministic: same arguments, same numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from maskviz.baselines import BASELINE_LABELS, BASELINES, baseline_reconstruction
from maskviz.bundled import HELD_OUT_SAMPLES, IMAGE_SUFFIXES, bundled_model_paths, sample_paths
from maskviz.checkpoints import LoadedModel, load_model
from maskviz.images import load_image
from maskviz.masks import block_mask, random_mask
from maskviz.reconstruct import UNNORMALIZE_MODES, compose_result, psnr_from_mse, reconstruct

#: Bundled samples kept out of every maskviz training set, so they measure generalisation.
HELD_OUT = HELD_OUT_SAMPLES
#: Crop side as a fraction of the photo's shorter side; crop j uses SCALES[j % len(SCALES)].
SCALES = (0.3, 0.45, 0.6, 0.8, 1.0)
#: (key, column title, mask generator) — the two masking regimes of the README table.
MASKINGS: tuple[tuple[str, str, Callable[[tuple[int, int], int], np.ndarray]], ...] = (
    ("random75", "random 75 %", lambda grid, seed: random_mask(grid, 0.75, seed=seed)),
    ("block50", "block 50 %", lambda grid, seed: block_mask(grid, 0.5, seed=seed)),
)
#: The bundled models' quality goal (issue 15): masked-region PSNR ahead of the best non-learned
#: fill by at least this many dB, per masking.
GOAL_DB = {"random75": 1.5, "block50": 1.0}
#: OpenCV's inpainting methods (benchmark-only baselines): key -> (label, cv2 flag name).
CV2_METHODS = {"cv2-telea": ("OpenCV inpaint (Telea)", "INPAINT_TELEA"),
               "cv2-ns": ("OpenCV inpaint (Navier-Stokes)", "INPAINT_NS")}
#: ``inpaintRadius`` of cv2.inpaint, in patches: the neighbourhood each hidden pixel is estimated
#: from. Measured on the held-out crops at 112 px / 8: radius 1, 3, 5, 9 px gave 18.4, 18.9,
#: 19.1, 19.2 dB (Telea, random 75 %), so a hole-sized radius, one patch, is OpenCV's best showing.
CV2_RADIUS_PER_PATCH = 1.0
#: A flat crop can be filled perfectly (infinite PSNR); 60 dB caps it so one crop cannot own the mean.
MSE_FLOOR = 1e-6


@dataclass(frozen=True)
class Crop:
    photo: str
    index: int
    seed: int
    image: np.ndarray  # size×size×3 uint8: what a model gets as a file, and baselines as /255


@dataclass
class Row:
    """One method at one input geometry: per-crop PSNR for each masking."""

    method: str
    kind: str  # "model" or "baseline"
    size: int
    patch: int
    psnr: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ data


def crop_seed(seed: int, photo_index: int, crop_index: int) -> int:
    """One 32-bit seed per crop, shared by its crop box and its masks."""
    return int(np.random.SeedSequence([seed, photo_index, crop_index]).generate_state(1)[0])


def crop_box(width: int, height: int, scale: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    side = max(1, round(scale * min(width, height)))
    left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    return left, top, left + side, top + side


def held_out_photos(folder: Path | None = None) -> dict[str, Path]:
    """The held-out bundled samples, then every image in ``folder`` (``heldout_photos.py``'s output)."""
    samples = sample_paths()
    missing = [p for p in HELD_OUT if p not in samples]
    if missing:
        raise SystemExit(f"bundled samples missing: {', '.join(missing)}")
    photos = {name: samples[name] for name in HELD_OUT}
    if folder is not None:
        if not folder.is_dir():
            raise SystemExit(f"--photos {folder}: no such folder (make it with resources/models/heldout_photos.py)")
        extra = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not extra:
            raise SystemExit(f"--photos {folder}: no images in it")
        photos.update({f"{folder.name}/{p.stem}": p for p in extra})
    return photos


def held_out_crops(size: int, per_photo: int, seed: int, photos: dict[str, Path]) -> list[Crop]:
    """The same crop boxes for every input size (boxes depend on the seed only)."""
    crops = []
    for i, (name, path) in enumerate(photos.items()):
        img = load_image(path)
        for j in range(per_photo):
            s = crop_seed(seed, i, j)
            box = crop_box(img.width, img.height, SCALES[j % len(SCALES)], np.random.default_rng(s))
            view = img.resize((size, size), Image.Resampling.BICUBIC, box=box)
            crops.append(Crop(name, j, s, np.asarray(view, dtype=np.uint8)))
    return crops


def crop_masks(crop: Crop, grid: tuple[int, int]) -> list[np.ndarray]:
    return [make(grid, crop.seed) for _, _, make in MASKINGS]


def capped_psnr(mse: float) -> float:
    return float(psnr_from_mse(max(mse, MSE_FLOOR)))


# ------------------------------------------------------------------------------------------ methods


def run_baseline(name: str, crops: list[Crop], size: int, patch: int) -> Row:
    row = Row(BASELINE_LABELS.get(name, name), "baseline", size, patch, {k: [] for k, _, _ in MASKINGS})
    grid = (size // patch, size // patch)
    for crop in crops:
        for (key, _, _), mask in zip(MASKINGS, crop_masks(crop, grid), strict=True):
            row.psnr[key].append(capped_psnr(baseline_reconstruction(name, crop.image, mask, patch).mse))
    return row


def cv2_inpaint(flag: str) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """A fill (as :data:`maskviz.baselines.BASELINES`) by ``cv2.inpaint`` with method ``flag``."""
    try:
        import cv2
    except ImportError:
        raise SystemExit("--cv2 needs OpenCV, a benchmark-only dependency: "
                         "pip install -e \".[bench]\"  (or: pip install opencv-python-headless)") from None

    def fill(image: np.ndarray, hidden: np.ndarray, patch: int) -> np.ndarray:
        holes = np.kron(hidden, np.ones((patch, patch), dtype=np.uint8)).astype(np.uint8)
        radius = max(1.0, CV2_RADIUS_PER_PATCH * patch)
        return cv2.inpaint(image, holes, radius, getattr(cv2, flag)).astype(np.float32) / 255.0

    return fill


def run_cv2(name: str, crops: list[Crop], size: int, patch: int, workers: int = 1) -> Row:
    """OpenCV's inpainting, measured exactly like the other baselines (same crops, masks, PSNR).

    A one-patch radius costs about 0.5 s a call at 224 px; OpenCV releases the GIL, so ``workers``
    threads fill crops side by side.
    """
    label, flag = CV2_METHODS[name]
    fill = cv2_inpaint(flag)
    row = Row(label, "baseline", size, patch, {k: [] for k, _, _ in MASKINGS})
    grid = (size // patch, size // patch)
    jobs = [(crop, key, mask) for crop in crops
            for (key, _, _), mask in zip(MASKINGS, crop_masks(crop, grid), strict=True)]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        fills = pool.map(lambda job: fill(job[0].image, job[2], patch), jobs)
        for (crop, key, mask), prediction in zip(jobs, fills, strict=True):
            shown = compose_result(crop.image.astype(np.float32) / 255.0, prediction, mask, patch,
                                   masked_colour=(0, 0, 0), patch_loss=np.zeros(grid, np.float32), loss=None,
                                   family=f"baseline:{name}")
            row.psnr[key].append(capped_psnr(shown.mse))
    return row


def run_model(path: Path, loaded: LoadedModel, crops: list[Crop], unnormalize: str) -> Row:
    """The crops are already model-sized, so ``reconstruct`` uses their pixels as they are."""
    model, c = loaded.model, loaded.config
    row = Row(f"{path.stem} ({c.family})", "model", c.img_size, c.patch_size, {k: [] for k, _, _ in MASKINGS})
    for crop in crops:
        results = reconstruct(model, crop.image, crop_masks(crop, c.grid_size), unnormalize=unnormalize)
        for (key, _, _), r in zip(MASKINGS, results, strict=True):
            row.psnr[key].append(capped_psnr(r.mse))
    return row


# ------------------------------------------------------------------------------------------ report


def mean_sem(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    sem = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, sem


def markdown_table(rows: list[Row], n_crops: int, photos: Sequence[str]) -> str:
    head = "| method | input | " + " | ".join(title for _, title, _ in MASKINGS) + " |"
    lines = [head, "|" + "---|" * (2 + len(MASKINGS))]
    for r in rows:
        cells = [f"{m:.2f} ± {s:.2f}" for m, s in (mean_sem(r.psnr[k]) for k, _, _ in MASKINGS)]
        lines.append(f"| {r.method} | {r.size} px / {r.patch} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"PSNR (dB) over the hidden pixels, mean ± standard error over {n_crops} crops "
                 f"({n_crops // len(photos)} per held-out photo: {', '.join(photos)}).")
    return "\n".join(lines)


def paired(model: Row, baseline: Row, key: str) -> tuple[float, float]:
    """Mean and standard error of the crop-by-crop PSNR difference model − baseline."""
    return mean_sem([a - c for a, c in zip(model.psnr[key], baseline.psnr[key], strict=True)])


def goal_margins(rows: list[Row]) -> dict[str, dict[str, tuple[float, float, str]]]:
    """Per model and masking: (mean, standard error) of model − the best baseline of its geometry
    (best by mean PSNR), and that baseline's name. Models without baselines are left out."""
    margins = {}
    for m in (r for r in rows if r.kind == "model"):
        bases = [b for b in rows if b.kind == "baseline" and (b.size, b.patch) == (m.size, m.patch)]
        if bases:
            best = {key: max(bases, key=lambda b, k=key: statistics.fmean(b.psnr[k])) for key, _, _ in MASKINGS}
            margins[m.method] = {key: (*paired(m, best[key], key), best[key].method) for key, _, _ in MASKINGS}
    return margins


def goal_table(rows: list[Row]) -> str:
    """Each model against the best baseline of its geometry, per masking: is :data:`GOAL_DB` met?"""
    lines = []
    for method, by_key in goal_margins(rows).items():
        cells = []
        for key, _, _ in MASKINGS:
            diff, sem, best = by_key[key]
            verdict = "met" if diff >= GOAL_DB[key] else f"missed by {GOAL_DB[key] - diff:.2f}"
            cells.append(f"{diff:+.2f} ± {sem:.2f} vs {best} (goal +{GOAL_DB[key]:.1f}: {verdict})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if not lines:
        return ""
    head = "| goal: model − best baseline (dB) | " + " | ".join(title for _, title, _ in MASKINGS) + " |"
    return "\n".join([head, "|" + "---|" * (1 + len(MASKINGS)), *lines])


def paired_table(rows: list[Row]) -> str:
    """Model minus best baseline, crop by crop: the question "does it beat interpolation?"."""
    models = [r for r in rows if r.kind == "model"]
    lines = []
    for m in models:
        bases = [b for b in rows if b.kind == "baseline" and (b.size, b.patch) == (m.size, m.patch)]
        for b in bases:
            cells = ["{:+.2f} ± {:.2f}".format(*paired(m, b, key)) for key, _, _ in MASKINGS]
            lines.append(f"| {m.method} − {b.method} | " + " | ".join(cells) + " |")
    if not lines:
        return ""
    head = "| paired difference (dB) | " + " | ".join(title for _, title, _ in MASKINGS) + " |"
    return "\n".join([head, "|" + "---|" * (1 + len(MASKINGS)), *lines])


def to_json(rows: list[Row], args: argparse.Namespace, n_crops: int, photos: Sequence[str]) -> dict:
    results = []
    for r in rows:
        masking = {}
        for key, _, _ in MASKINGS:
            mean, sem = mean_sem(r.psnr[key])
            masking[key] = {"mean": mean, "sem": sem, "n": len(r.psnr[key]), "psnr": r.psnr[key]}
        results.append({"method": r.method, "kind": r.kind, "size": r.size, "patch": r.patch, "masking": masking})
    settings = {"photos": list(photos), "cv2_radius_per_patch": CV2_RADIUS_PER_PATCH if args.cv2 else None,
                "crops_per_photo": args.crops, "crops": n_crops, "scales": list(SCALES),
                "seed": args.seed, "unnormalize": args.unnormalize, "mse_floor": MSE_FLOOR,
                "maskings": {key: title for key, title, _ in MASKINGS}}
    return {"settings": settings, "results": results}


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", type=Path, default=None,
                   help="checkpoint to measure (repeatable); default: every bundled model")
    p.add_argument("--size", type=int, default=None, help="input size for the baselines when no model sets it")
    p.add_argument("--patch", type=int, default=None, help="patch size for the baselines when no model sets it")
    p.add_argument("--geometry", action="append", default=[], metavar="SIZE/PATCH",
                   help="also run the baselines at this input size and patch (repeatable), e.g. 224/16")
    p.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated baseline names")
    p.add_argument("--cv2", action="store_true", help="add OpenCV inpainting (Telea, Navier-Stokes) as baselines")
    p.add_argument("--photos", type=Path, default=None,
                   help="folder of further held-out photos (resources/models/heldout_photos.py makes one)")
    p.add_argument("--crops", type=int, default=25, help="crops per held-out photo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unnormalize", choices=UNNORMALIZE_MODES, default="visible",
                   help="statistics for norm-pix MAE display (visible: honest, what baselines also get)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write every number (per crop too) here")
    return p.parse_args(argv)


def parse_geometry(text: str) -> tuple[int, int]:
    try:
        size, patch = (int(v) for v in text.split("/"))
    except ValueError:
        raise SystemExit(f"--geometry {text!r}: expected SIZE/PATCH, e.g. 224/16") from None
    return size, patch


def geometries(models: list[LoadedModel], args: argparse.Namespace) -> list[tuple[int, int]]:
    """Input sizes the baselines run at: each model's (so they see the model's crops), or --size/--patch,
    then every --geometry."""
    found = [(m.config.img_size, m.config.patch_size) for m in models]
    if args.size or args.patch or not (models or args.geometry):
        found = [(args.size or 64, args.patch or 8)]
    found += [parse_geometry(g) for g in args.geometry]
    for size, patch in found:
        if patch <= 0 or size % patch:
            raise SystemExit(f"input size {size} is not a multiple of patch {patch}")
    return list(dict.fromkeys(found))


def measure(args: argparse.Namespace) -> tuple[list[Row], dict[str, Path]]:
    """Every model and baseline on the held-out crops: the rows, and the photos they came from."""
    names = [n.strip() for n in args.baselines.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES and n not in CV2_METHODS]
    if unknown:
        known = ", ".join([*BASELINES, *CV2_METHODS])
        raise SystemExit(f"unknown baseline(s) {', '.join(unknown)}; choose from {known}")
    if args.cv2:
        cv2_inpaint("INPAINT_TELEA")  # says how to install OpenCV before any work is done
        names += [n for n in CV2_METHODS if n not in names]
    photos = held_out_photos(args.photos)
    paths = args.model if args.model is not None else list(bundled_model_paths().values())
    models = [load_model(path) for path in paths]
    rows: list[Row] = []
    crops_by_size: dict[int, list[Crop]] = {}

    def crops_for(size: int) -> list[Crop]:
        if size not in crops_by_size:
            crops_by_size[size] = held_out_crops(size, args.crops, args.seed, photos)
        return crops_by_size[size]

    for path, loaded in zip(paths, models, strict=True):
        print(f"model {path} ...", file=sys.stderr)
        rows.append(run_model(path, loaded, crops_for(loaded.config.img_size), args.unnormalize))
    for size, patch in geometries(models, args):
        for name in names:
            print(f"baseline {name} at {size} px / patch {patch} ...", file=sys.stderr)
            if name in CV2_METHODS:
                rows.append(run_cv2(name, crops_for(size), size, patch, workers=args.threads))
            else:
                rows.append(run_baseline(name, crops_for(size), size, patch))
    return rows, photos


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows, photos = measure(args)
    n_crops = len(photos) * args.crops
    print(markdown_table(rows, n_crops, list(photos)))
    for table in (paired_table(rows), goal_table(rows)):
        if table:
            print()
            print(table)
    if args.json:
        args.json.write_text(json.dumps(to_json(rows, args, n_crops, list(photos)), indent=1) + "\n")


if __name__ == "__main__":
    main()
