"""Benchmark: maskviz.compare against one reconstruct call per mask, measured in the same run.

    python bench/bench_compare.py [--threads 2] [--repeats 3] [--images 100] [--model mae_vit_base_patch16]

1. **Strategies**: 8 strategies × 3 seeds at an equal hidden count (``same_count``) on one 224 px
   image through ``compare`` (metrics only) against the same 24 masks in 24 ``reconstruct`` calls.
   The goal is a time ratio <= 0.8.
2. **Folder**: ``--images`` random 224 px PNGs on disk, 4 strategies × 1 seed, through
   ``compare`` (folder mode: loading, batching, statistics) against a loop that loads each image and
   calls ``reconstruct`` once per mask. Reported as images per second and their ratio.
3. **GUI** (``--gui-images``, 0 skips it): the Compare view runs a folder comparison (the 4
   strategies plus the viewer's mask, 2 seeds, a 3-ratio sweep) on the worker thread while a 5 ms
   timer measures the UI event loop's longest stall (goal <= 50 ms), on Qt's offscreen platform.
   The view reads issue 9's ``ViewerState`` when it exists, else the tests' stand-in.

Random weights (the speed does not depend on them); torch limited to ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
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
        paths = _write_images(Path(tmp), count)
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


def _write_images(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def gui_bench(model, count: int, threads: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "bench"), str(root / "tests" / "gui")]
    from bench_gui import StallMeter, wait_until
    from PySide6.QtWidgets import QApplication

    from maskviz.checkpoints import LoadedModel
    from maskviz.gui.compare.controller import CompareController
    from maskviz.gui.compare.state import CompareState
    from maskviz.gui.compare.view import CompareView
    from maskviz.gui.controller import Controller
    from maskviz.gui.state import ViewerState

    app = QApplication.instance() or QApplication([])
    handled: list[float] = []  # UI-thread time of each redraw (table or plots, grid picture)
    draw = CompareView._draw

    def timed_draw(self) -> None:  # noqa: ANN001
        t0 = time.perf_counter()
        draw(self)
        handled.append((time.perf_counter() - t0) * 1000)

    CompareView._draw = timed_draw
    state = ViewerState()
    controller = Controller(state)
    state.set_model(LoadedModel(model, "random weights", "builtin"), None)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_images(Path(tmp), count)
        state.set_image(Image.open(paths[0]).convert("RGB"), str(paths[0]))
        compare = CompareState()
        compare.set_settings(specs=" ".join(FOLDER_STRATEGIES), seeds=2, ratios="0.25:0.75:0.25")
        compare.set_folder(tmp)
        runs = CompareController(compare, state, controller)
        view = CompareView(compare, runs)
        view.resize(1200, 800)
        view.show()
        runs.set_shown(True)
        meter = StallMeter()
        meter.start()
        start = time.perf_counter()
        runs.run()
        wait_until(lambda: not runs.is_running, timeout_s=3600)
        seconds = time.perf_counter() - start
        gaps = sorted(g - 5 for g in meter.stop())
        controller.shutdown()
    rows = len(compare.snapshot.table.rows)
    print(f"gui: Compare view, folder of {count} images, {rows} rows in {seconds:.1f} s "
          f"({count / seconds:.2f} images/s)")
    print(f"  UI stall           max {gaps[-1]:.1f} ms, p99 {gaps[int(0.99 * (len(gaps) - 1))]:.1f} ms "
          f"over {len(gaps)} ticks (goal: max <= 50 ms)")
    print(f"  UI redraws         max {max(handled):.1f} ms, median {statistics.median(handled):.1f} ms "
          f"over {len(handled)} redraws")
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--gui-images", type=int, default=10)
    parser.add_argument("--parts", default="strategies,folder,gui", help="which measurements to run")
    parser.add_argument("--model", default="mae_vit_base_patch16")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even in a log
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model).eval()
    print(f"{args.model}, random weights, {args.threads} CPU threads, torch {torch.__version__}")
    parts = set(args.parts.split(","))
    if "strategies" in parts:
        strategies_bench(model, args.repeats)
    if "folder" in parts:
        folder_bench(model, args.images)
    if "gui" in parts:
        gui_bench(model, args.gui_images, args.threads)


if __name__ == "__main__":
    main()
