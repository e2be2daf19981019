"""Which learning rate and warm-up make a short fine-tune of a pretrained model help unseen images?

Two folders: a new domain the bundled models never saw (rendered text pages, generated here with
PIL.ImageDraw: ``--pages`` for training, 20 more held out) and ordinary photos (the 9 bundled samples
that are not held out, evaluated on the 6 held-out samples of ``maskviz.bundled.HELD_OUT_SAMPLES``).
For each model x folder x (lr, warm-up) the real ``maskviz.train.train`` fine-tunes for ``--steps``
steps; the held-out loss (fixed crops and masks, ``ValSet`` with 4 crops per image) of the result is
compared with the starting model's, measured in the same run::

    nice -n 10 python bench/bench_finetune_lr.py                       # bundled MAE and SimMIM, 300 steps
    nice -n 10 python bench/bench_finetune_lr.py --models bundled:mae_small --lrs 1e-4 --steps 100

Prints one row per run: held-out loss before -> after and the change in % (negative = better).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from maskviz.bundled import HELD_OUT_SAMPLES, sample_paths
from maskviz.checkpoints import load_model
from maskviz.sources import model_path
from maskviz.train import TrainConfig, train
from maskviz.train.config import DEFAULT_BLR, DEFAULT_MASKS
from maskviz.train.data import MaskMaker, ValSet

WORDS = ("mask image model patch encoder decoder pixel learn train loss token vision transformer "
         "the of and a to in is for on with as by at from that this it be are was were").split()


def text_page(rng: np.random.Generator, size: int = 256) -> Image.Image:
    """A page of dark text lines on a light paper tone, with a random font size, margin and ink."""
    paper = tuple(int(v) for v in rng.integers(215, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 90, 3))
    img = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=float(rng.integers(9, 20)))
    y, margin = int(rng.integers(2, 20)), int(rng.integers(4, 24))
    while y < size - 8:
        line = " ".join(rng.choice(WORDS, size=12))
        draw.text((margin, y), line, fill=ink, font=font)
        y += int(font.size * rng.uniform(1.2, 1.8))
    return img


def make_pages(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        text_page(rng).save(folder / f"page{i:03d}.png")
    return folder


def photo_folders(root: Path) -> tuple[Path, Path]:
    """Training photos (bundled samples not held out) and evaluation photos (the held-out ones), as links."""
    train_dir, eval_dir = root / "photos", root / "photos_eval"
    for folder in (train_dir, eval_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for name, path in sample_paths().items():
        (eval_dir if name in HELD_OUT_SAMPLES else train_dir).joinpath(path.name).symlink_to(path)
    return train_dir, eval_dir


@torch.no_grad()
def held_out_loss(model: torch.nn.Module, folder: Path, mask: str) -> float:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
    valset = ValSet(files, 123, model.config, MaskMaker(mask, model.config), crops=4)
    model.eval()
    losses = [model.loss(x, model(x, m), m, reduce_batch=False) for x, m in valset.batches(32)]
    return float(torch.cat(losses).mean())


def fine_tune(model: str, data: Path, out: Path, steps: int, batch: int, lr: float | None,
              warmup: float) -> Path:
    config = TrainConfig(data=str(data), model=model, out=str(out), steps=steps, batch=batch, lr=lr,
                         warmup_steps=round(warmup * steps), val_split=0.0, save_every=steps, log_every=steps,
                         seed=0, device="cpu")
    return train(config).last_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["bundled:mae_small", "bundled:simmim_small"])
    ap.add_argument("--folders", nargs="+", default=["pages", "photos"])
    ap.add_argument("--lrs", nargs="+", default=["rule", "3e-5", "1e-4", "3e-4"],
                    help="learning rates; 'rule' = blr x batch / 256 (the pre-training rule)")
    ap.add_argument("--warmups", nargs="+", type=float, default=[0.05], help="warm-up as a fraction of steps")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="maskviz-ftlr-") as tmp:
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, root: Path) -> None:
    folders = {"pages": (make_pages(root / "pages", args.pages, 0), make_pages(root / "pages_eval", 20, 1))}
    folders["photos"] = photo_folders(root)
    print(f"{'model':22s} {'folder':7s} {'lr':>9s} {'warm-up':>7s} {'held-out before':>15s} {'after':>8s} "
          f"{'change':>8s} {'s':>5s}")
    for model_name in args.models:
        base = load_model(model_path(model_name)).model
        mask = DEFAULT_MASKS[base.config.family]
        for folder in args.folders:
            data, held_out = folders[folder]
            before = held_out_loss(base, held_out, mask)
            for lr_text in args.lrs:
                lr = DEFAULT_BLR * args.batch / 256 if lr_text == "rule" else float(lr_text)
                for warmup in args.warmups:
                    t0 = time.time()
                    out = root / "runs" / f"{model_name.replace(':', '_')}-{folder}-{lr_text}-{warmup}"
                    after = held_out_loss(load_model(fine_tune(model_name, data, out, args.steps, args.batch, lr,
                                                               warmup)).model, held_out, mask)
                    change = 100 * (after - before) / before if math.isfinite(after) else math.nan
                    print(f"{model_name:22s} {folder:7s} {lr:9.2e} {warmup:7.2f} {before:15.4f} {after:8.4f} "
                          f"{change:+7.1f}% {time.time() - t0:5.0f}", flush=True)


if __name__ == "__main__":
    main()
