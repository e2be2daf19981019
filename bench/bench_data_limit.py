"""Benchmark: is training data the limit? A model's loss on crops of its training photos vs held-out photos.

    python bench/bench_data_limit.py --data .traindata [--photos .heldout] [--model M ...] [--crops 6]
    python bench/bench_data_limit.py --data .traindata --photos .heldout --seen PKG,PKG --unseen PKG,PKG

A model that has memorised its few training photos reconstructs their crops much better than
crops of photos it never saw: then more (or more varied) photos should help more than more steps.
A small gap means the model is limited by its size or its training time instead. Both sets are cut
and masked exactly as ``bench_quality.py`` does (same scales, seeded positions, random 75 % and
block 50 %); the numbers are the family's own training loss over the hidden patches (MSE for
MAE, L1 for SimMIM, on normalised pixels), the display-space PSNR, and the PSNR margin over
harmonic interpolation on the same crops and masks (paired), mean ± standard error. The two sets
differ in difficulty, which moves loss and PSNR alike; the margin over interpolation cancels most
of that, so a margin much larger on the training photos is the sign of memorisation.
The training photos are the ``photo/`` part of ``--data`` (abstract art and textures left out),
at most ``--max-photos`` of them, chosen evenly by name; ``--seen`` limits them to the packages a
model was trained on (``get_training_data.sh`` has grown since today's bundled models were made).
``--unseen PKGS`` adds a third set, photos of those packages, which the model never saw: with it,
held-out vs unseen tells how much of the gap is the held-out photos' own difficulty.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq  # noqa: E402 - a sibling script, not a package

from maskviz.bundled import IMAGE_SUFFIXES, bundled_model_paths  # noqa: E402
from maskviz.checkpoints import load_model  # noqa: E402
from maskviz.reconstruct import reconstruct  # noqa: E402


def training_photos(data: Path, limit: int, packages: list[str] | None = None) -> dict[str, Path]:
    """At most ``limit`` photos of ``data/photo`` (only ``packages`` when given), evenly by name."""
    folders = [data / "photo" / p for p in packages] if packages else [data / "photo"]
    files = sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        where = ", ".join(str(f) for f in folders)
        raise SystemExit(f"no photos under {where} (make them with resources/models/get_training_data.sh)")
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)]
    return {str(p.relative_to(data)): p for p in dict.fromkeys(picked)}


def packages(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def losses(model, crops: list[bq.Crop]) -> dict[str, list[float]]:  # noqa: ANN001 - a MaskedImageModel
    out: dict[str, list[float]] = {"loss": [], "psnr": []}
    for crop in crops:
        for r in reconstruct(model, crop.image, bq.crop_masks(crop, model.grid_size), unnormalize="visible"):
            out["loss"].append(float(r.loss))
            out["psnr"].append(bq.capped_psnr(r.mse))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder made by get_training_data.sh")
    ap.add_argument("--photos", type=Path, default=None, help="further held-out photos (heldout_photos.py)")
    ap.add_argument("--model", action="append", type=Path, help="default: every bundled model")
    ap.add_argument("--crops", type=int, default=6, help="crops per photo")
    ap.add_argument("--max-photos", type=int, default=40)
    ap.add_argument("--seen", default=None, help="comma-separated packages the model trained on (default: all)")
    ap.add_argument("--unseen", default=None, help="comma-separated packages of photos it never saw (a third set)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = {"train": training_photos(args.data, args.max_photos, packages(args.seen)),
            "held out": bq.held_out_photos(args.photos)}
    if args.unseen:
        sets["unseen"] = training_photos(args.data, args.max_photos, packages(args.unseen))
    print("photos: " + ", ".join(f"{name} {len(photos)}" for name, photos in sets.items())
          + f"; {args.crops} crops each, masks random 75 % and block 50 %")
    print("| model | set | loss | PSNR (dB) | model − harmonic (dB) |\n|---|---|---|---|---|")
    for path in args.model or list(bundled_model_paths().values()):
        loaded = load_model(path)
        found = {}
        for name, photos in sets.items():
            crops = bq.held_out_crops(loaded.config.img_size, args.crops, args.seed, photos)
            found[name] = losses(loaded.model, crops)
            c = loaded.config
            fill = bq.run_baseline("harmonic", crops, c.img_size, c.patch_size)
            # losses() walks crops then maskings; the baseline's rows are by masking: reorder to pair them.
            harmonic = [fill.psnr[key][i] for i in range(len(crops)) for key, _, _ in bq.MASKINGS]
            found[name]["margin"] = [a - b for a, b in zip(found[name]["psnr"], harmonic, strict=True)]
            cells = ["{:.4f} ± {:.4f}".format(*bq.mean_sem(found[name]["loss"])),
                     "{:.2f} ± {:.2f}".format(*bq.mean_sem(found[name]["psnr"])),
                     "{:+.2f} ± {:.2f}".format(*bq.mean_sem(found[name]["margin"]))]
            print(f"| {path.stem} | {name} | " + " | ".join(cells) + " |")
        for other in [name for name in found if name != "train"]:
            ratio = np.mean(found[other]["loss"]) / np.mean(found["train"]["loss"])
            print(f"| {path.stem} | {other} / train | {ratio:.2f}× | "
                  f"{np.mean(found[other]['psnr']) - np.mean(found['train']['psnr']):+.2f} | "
                  f"{np.mean(found[other]['margin']) - np.mean(found['train']['margin']):+.2f} |")


if __name__ == "__main__":
    main()
