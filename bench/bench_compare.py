"""Benchmark: maskviz.compare against one reconstruct call per mask, measured in the same run.

    python bench/bench_compare.py [--threads 2] [--repeats 3] [--images 100] [--model mae_vit_base_patch16]

1. **Strategies**: 8 strategies × 3 seeds at an equal hidden count (``same_count``) on one 224 px
   image through ``compare`` (metrics only) against the same 24 masks in 24 ``reconstruct`` calls.
   The goal is a time ratio <= 0.8.
2. **Folder**: ``--images`` random 224 px PNGs on disk, 4 strategies × 1 seed, through
   ``compare`` (folder mode: loading, batching, statistics) against a loop that loads each image and
   calls ``reconstruct`` once per mask. Reported as images per second and their ratio.

Random weights (the speed does not depend on them); torch limited to ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from maskviz.compare import as_strategy, compare, plan_masks
from maskviz.images import load_image
from maskviz.models import create_model
from maskviz.reconstruct import reconstruct

STRATEGIES = ("random:0.75", "block:0.75", "simmim:0.75", "grid:2", "center:0.75", "stripes:h,4,3",
              "checkerboard:2", "half:left")
FOLDER_STRATEGIES = ("random:0.75", "block:0.5", "grid:2", "center:0.5")


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def strategies_bench(model, repeats: int) -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    seeds = [0, 1, 2]
    plans = plan_masks({"m": model}, [as_strategy(s) for s in STRATEGIES], seeds, same_count=True)
    masks = [p.masks["m"] for p in plans]
    distinct = len({m.tobytes() for m in masks})
    counts = {int(m.sum()) for m in masks}

    def together():
        return compare({"m": model}, image, STRATEGIES, seeds, same_count=True)

    def separately():
        return [reconstruct(model, image, [m]) for m in masks]

    t_cmp, t_ref = timed(together, repeats), timed(separately, repeats)
    print(f"strategies: {len(STRATEGIES)} × {len(seeds)} seeds = {len(masks)} masks ({distinct} distinct), "
          f"hidden counts {sorted(counts)}")
    print(f"  compare            {t_cmp * 1000:8.0f} ms")
    print(f"  24 reconstruct     {t_ref * 1000:8.0f} ms")
    print(f"  ratio              {t_cmp / t_ref:8.2f}  (goal <= 0.8)")


def folder_bench(model, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(count):
            path = Path(tmp) / f"img{i:03d}.png"
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(path)
            paths.append(path)
        plans = plan_masks({"m": model}, [as_strategy(s) for s in FOLDER_STRATEGIES], [0])
        masks = [p.masks["m"] for p in plans]

        def loop():
            for path in paths:
                image = load_image(path)
                for m in masks:
                    reconstruct(model, image, [m])

        compare({"m": model}, paths[:2], FOLDER_STRATEGIES)  # warm-up
        start = time.perf_counter()
        table = compare({"m": model}, paths, FOLDER_STRATEGIES)
        t_cmp = time.perf_counter() - start
        start = time.perf_counter()
        loop()
        t_ref = time.perf_counter() - start
    assert len(table.rows) == count * len(FOLDER_STRATEGIES)
    print(f"folder: {count} images of 224 px × {len(FOLDER_STRATEGIES)} masks")
    print(f"  compare            {count / t_cmp:8.2f} images/s  ({t_cmp:.1f} s)")
    print(f"  reconstruct loop   {count / t_ref:8.2f} images/s  ({t_ref:.1f} s)")
    print(f"  speed-up           {t_ref / t_cmp:8.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--model", default="mae_vit_base_patch16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model).eval()
    print(f"{args.model}, random weights, {args.threads} CPU threads, torch {torch.__version__}")
    strategies_bench(model, args.repeats)
    folder_bench(model, args.images)


if __name__ == "__main__":
    main()
