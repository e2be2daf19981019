"""Training throughput: ``maskviz.train`` against a plain loop written like the official ``engine_pretrain.py``.

Both sides train the same architecture on the same image folder, with the same batch,
augmentation (RandomResizedCrop 0.2-1 bicubic + flip), optimizer (AdamW, betas 0.9/0.95, timm
weight-decay groups) and per-iteration lr schedule. maskviz runs its real ``train()`` (metrics
file, logging, seeded data and masks included) and is timed from its own step events; the plain
loop uses torchvision's ImageFolder + DataLoader and random masking by argsort of noise, as
there. The two run interleaved, step by step, so a busy neighbour on a shared machine slows both.

    python bench/bench_train.py                                  # ViT-B/16 and the tiny config, batch 8
    python bench/bench_train.py --models mae_vit_tiny_test --timed 100 --repeats 3

Prints images/s of both (batch / median step time over the timed steps, which shrugs off a
neighbour's burst on a shared machine) and their ratio (maskviz / plain; the goal is >= 1.0).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.optim import param_groups_weight_decay
from torchvision import datasets, transforms

from maskviz.models import create_model, get_config
from maskviz.train import TrainConfig, read_events, train

# name -> (warm-up steps, timed steps) by default: few for ViT-B on a CPU, many for the tiny model.
DEFAULT_STEPS = {"mae_vit_base_patch16": (3, 5), "mae_vit_tiny_test": (20, 100)}


def make_folder(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """Smooth random colour images in ImageFolder layout (``train/<class>/<file>``)."""
    folder = root / "train" / "all"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        f, phase = rng.uniform(1, 8, size=(3, 2)), rng.uniform(0, 6, size=3)
        arr = np.stack([np.sin(6 * (f[c, 0] * xx + f[c, 1] * yy) + phase[c]) for c in range(3)], axis=-1)
        Image.fromarray(((arr + 1) * 127.5).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root / "train"


def random_mask(batch: int, num_patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Official MAE masking: keep the patches with the smallest noise."""
    keep = int(num_patches * (1 - ratio))
    noise = torch.rand(batch, num_patches, generator=generator)
    ids = torch.argsort(noise, dim=1)
    mask = torch.ones(batch, num_patches, dtype=torch.bool)
    mask.scatter_(1, ids[:, :keep], False)
    return mask


def plain_lr(it: int, total: int, warmup: int, peak: float) -> float:
    if it < warmup:
        return peak * it / warmup
    return peak * 0.5 * (1.0 + math.cos(math.pi * (it - warmup) / max(1, total - warmup)))


def plain_steps(name: str, data: Path, batch: int, total: int, workers: int) -> Iterator[float]:
    """An engine_pretrain-style loop, one step per ``next()``; yields each step's seconds (data included)."""
    cfg = get_config(name)
    bicubic = transforms.InterpolationMode.BICUBIC
    transform = transforms.Compose([
        transforms.RandomResizedCrop(cfg.img_size, scale=(0.2, 1.0), interpolation=bicubic),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=cfg.mean, std=cfg.std),
    ])
    dataset = datasets.ImageFolder(str(data), transform=transform)
    loader = torch.utils.data.DataLoader(dataset, sampler=torch.utils.data.RandomSampler(dataset),
                                         batch_size=batch, num_workers=workers, drop_last=True)
    torch.manual_seed(0)
    model = create_model(cfg).train()
    optimizer = torch.optim.AdamW(param_groups_weight_decay(model, 0.05), lr=1e-4, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    it, start = 0, time.perf_counter()
    while True:
        for samples, _ in loader:
            for group in optimizer.param_groups:
                group["lr"] = plain_lr(it, total, max(1, total // 10), 1e-4)
            mask = random_mask(samples.shape[0], cfg.num_patches, 0.75, gen)
            loss = model.loss(samples, model(samples, mask), mask)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise SystemExit(f"loss is {loss_value}, stopping")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            it += 1
            yield time.perf_counter() - start
            start = time.perf_counter()


def bench_pair(name: str, data: Path, out: Path, batch: int, warm: int, timed: int,
               workers: int) -> tuple[list[float], list[float]]:
    """Seconds of the timed steps of maskviz's ``train()`` and of the plain loop, run interleaved.

    The plain loop's step k runs inside maskviz's stop poll after maskviz's step k, so a busy
    neighbour slows both alike; maskviz's step k is its event interval minus that plain step.
    """
    total = warm + timed
    plain, plain_seconds = plain_steps(name, data, batch, total, workers), []

    def run_plain_step() -> bool:
        plain_seconds.append(next(plain))
        return False

    config = TrainConfig(data=str(data), model=name, out=str(out), steps=total, batch=batch, lr=1e-4,
                         val_split=0.0, save_every=10**9, log_every=10**9, device="cpu")
    train(config, stop=run_plain_step)
    times = {e.step: e.time for e in read_events(out / "metrics.jsonl")[0] if e.event == "step"}
    ours = [times[k] - times[k - 1] - plain_seconds[k - 1] for k in range(warm + 1, total + 1)]
    return ours, plain_seconds[warm:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_STEPS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, help="warm-up steps (default per model)")
    parser.add_argument("--timed", type=int, help="timed steps (default per model)")
    parser.add_argument("--repeats", type=int, default=1, help="measure N times (steps pooled)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, batch {args.batch}, "
          f"load average {os.getloadavg()[0]:.2f} (other processes make every number noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_folder(Path(tmp) / "images", n=32, size=256)
        for name in args.models:
            warm, timed = DEFAULT_STEPS.get(name, (5, 20))
            warm, timed = args.warmup or warm, args.timed or timed
            ours, plain = [], []
            for r in range(args.repeats):
                o, p = bench_pair(name, data, Path(tmp) / f"run-{name}-{r}", args.batch, warm, timed, args.workers)
                ours, plain = ours + o, plain + p
            ours, plain = args.batch / float(np.median(ours)), args.batch / float(np.median(plain))
            print(f"{name:24s} {warm} warm-up + {timed} timed steps: maskviz {ours:8.2f} img/s   "
                  f"plain loop {plain:8.2f} img/s   ratio {ours / plain:.3f}x", flush=True)


if __name__ == "__main__":
    main()
