"""Benchmark: whole photos (issue 23), every figure a ratio to a reference measured in the same run.

    python bench/bench_whole.py [--threads 2] [--repeats 3] [--parts tiles,stroke,native,gui]

ViT-B/16 MAE with random weights (the speed does not depend on them), torch on ``--threads`` threads;
ours and the reference alternate, so a machine shared with others slows both alike.

1. **tiles**: a 1024×768 picture at 75 % random on the full grid (20 tiles of 224 px, the edge
   ones shifted) through ``reconstruct_view`` with a fresh :class:`TileRunner` (nothing cached),
   against the sum of one ``reconstruct`` call per tile crop with its mask cells. Goal <= 1.1.
2. **stroke**: after a brush stroke inside one tile, the runner's update (one tile through the
   model, the other 19 from the cache, the whole picture stitched and measured) against that tile's
   plain model forward and its ``reconstruct`` call. Goal <= 1.5× the forward.
3. **native**: the picture at 448×448 as one sequence (the 224 px model's ``grid`` forward, its
   sin-cos tables computed for the 28×28 grid) against the official-style forward of the model
   built at 448 px (bench_reconstruct's ``official_mae_forward``), both without autograd. Goal <=
   1.05. Peak memory of each, measured in a fresh process (the growth of the peak resident set over
   the loaded model; Linux), beside ``native_plan``'s estimate.
4. **gui**: the real window (offscreen, bench_gui's set-up) switched to the tiles view at 1024 px
   (``sample:coffee``: 15 tiles), then a rectangle painted inside one tile: the UI event loop's
   longest stall and p99 (a 5 ms timer) while the tiles stream in and while the stroke's one tile
   updates, beside the same window idle for 2 s; then a 4000×3000 photo (12 MP, as a phone takes
   them) switched to the tiles view at 1024 px (its picture resampled on the worker), and another
   such photo (a JPEG) opened in that view as File → Open does. Goal: no stall over 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reconstruct import official_mae_forward, rounds  # noqa: E402

from maskviz.masks import random_mask  # noqa: E402
from maskviz.models import create_model  # noqa: E402
from maskviz.reconstruct import prepare_input, reconstruct  # noqa: E402
from maskviz.whole import View, prepare_view, reconstruct_view  # noqa: E402
from maskviz.whole.native import native_plan  # noqa: E402
from maskviz.whole.tiles import TileRunner  # noqa: E402

MODEL = "mae_vit_base_patch16"


def photo(w: int, h: int) -> Image.Image:
    """A smooth picture with some texture (content does not change the cost)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
    noise = np.random.default_rng(0).normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def bench_tiles(model, repeats: int) -> None:
    vimg = prepare_view(model, photo(1024, 768), View("tiles"))
    mask = random_mask(vimg.grid, 0.75, seed=0)
    layout = TileRunner(model).layout(vimg)
    crops = [(vimg.image.crop(t.box(vimg.patch_size)), mask[t.cells]) for t in layout.tiles]

    def ours() -> None:
        reconstruct_view(model, vimg, [mask], runner=TileRunner(model))

    def per_tile() -> None:
        for crop, cells in crops:
            reconstruct(model, crop, [cells])

    t = rounds({"ours": ours, "sum": per_tile}, repeats)
    counts = sorted({int((~c).sum()) for _, c in crops})
    print(f"tiles  1024x768, 75 % random, {len(crops)} tiles ({len(counts)} distinct visible counts): "
          f"reconstruct_view {t['ours'] * 1000:.0f} ms, sum of {len(crops)} reconstruct calls "
          f"{t['sum'] * 1000:.0f} ms, ratio {t['ours'] / t['sum']:.3f} (goal <= 1.1)")


def bench_stroke(model, repeats: int) -> None:
    vimg = prepare_view(model, photo(1024, 768), View("tiles"))
    runner = TileRunner(model)
    layout = runner.layout(vimg)
    base = random_mask(vimg.grid, 0.75, seed=0)
    runner.run(vimg, base)
    tile = layout.tiles[5]  # an inner tile (row 1, column 1): a stroke there touches no other tile
    rows, cols = tile.own
    strokes = []
    for i in range(repeats + 1):  # a different stroke each time, so each update misses the cache once
        after = base.copy()
        r, c = rows.start + 2 + i % 8, cols.start + 2
        after[r:r + 3, c:c + 8] = True
        assert layout.touched(base, after) == [tile.index]
        strokes.append(after)
    crop = vimg.image.crop(tile.box(vimg.patch_size))
    _, x = prepare_input(model, crop)
    state = {"i": 0}

    def update() -> None:
        result = runner.run(vimg, strokes[state["i"] % len(strokes)])
        state["i"] += 1
        assert result is not None and result.computed == 1

    def forward() -> None:
        with torch.inference_mode():
            model(x, torch.from_numpy(strokes[0][tile.cells].reshape(1, -1)))

    def single() -> None:
        reconstruct(model, crop, [strokes[0][tile.cells]])

    t = rounds({"update": update, "forward": forward, "reconstruct": single}, repeats)
    print(f"stroke inside one tile: update {t['update'] * 1000:.0f} ms (1 tile computed, "
          f"{len(layout.tiles) - 1} cached, whole picture stitched), one tile's forward "
          f"{t['forward'] * 1000:.0f} ms → ratio {t['update'] / t['forward']:.3f} (goal <= 1.5); "
          f"its reconstruct call {t['reconstruct'] * 1000:.0f} ms → {t['update'] / t['reconstruct']:.3f}")


def native_inputs(size: int):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    grid = (size // 16, size // 16)
    mask = torch.from_numpy(random_mask(grid, 0.75, seed=0).reshape(1, -1))
    return x, grid, mask


def bench_native(model, repeats: int, size: int = 448) -> None:
    official = create_model(model.config.replace(img_size=size)).eval()
    official.load_state_dict({k: v for k, v in model.state_dict().items() if "pos_embed" not in k}, strict=False)
    x, grid, mask = native_inputs(size)
    vimg = prepare_view(model, photo(size, size), View("native"))
    patch_mask = mask.reshape(grid).numpy()

    def ours() -> None:
        with torch.inference_mode():
            model(x, mask, grid=grid)

    def theirs() -> None:
        with torch.inference_mode():
            official_mae_forward(official, x, 0.75)

    def ours_view() -> None:
        reconstruct_view(model, vimg, [patch_mask])

    t = rounds({"ours": ours, "official": theirs, "view": ours_view}, repeats)
    print(f"native {size}x{size}: grid forward {t['ours'] * 1000:.0f} ms, official-style forward of the model "
          f"built at {size} px {t['official'] * 1000:.0f} ms, ratio {t['ours'] / t['official']:.3f} (goal <= 1.05); "
          f"with the pictures and metrics (reconstruct_view) {t['view'] * 1000:.0f} ms → "
          f"{t['view'] / t['official']:.3f}")
    plan = native_plan(model, (size, size))
    peaks = {which: json.loads(subprocess.run(
        [sys.executable, __file__, "--peak", which, "--size", str(size), "--threads", str(torch.get_num_threads())],
        capture_output=True, text=True, check=True).stdout) for which in ("ours", "official")}
    print(f"native {size}x{size} peak memory over the loaded model (fresh process each): grid forward "
          f"{peaks['ours']['mb']:.0f} MB, official-style at {size} px {peaks['official']['mb']:.0f} MB; "
          f"native_plan's estimate (forward + panels) {plan.bytes / 2**20:.0f} MB")


def bench_gui(model, size: int = 1024) -> None:
    from bench_gui import StallMeter, open_window, pump, wait_until
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841 - the window needs it alive
    window = open_window(model, MODEL, curve=False, compare=False)
    s, jobs, meter = window.state, window.whole_jobs, StallMeter()

    def measured(act: Callable[[], object]) -> tuple[list[float], float]:
        meter.start()
        start = time.perf_counter()
        act()
        wait_until(lambda: s.result_is_current() and not jobs.running and not window.controller.busy)
        return meter.stop(), time.perf_counter() - start

    def line(name: str, gaps: list[float], seconds: float | None = None) -> None:
        p99 = float(np.percentile(gaps, 99))
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        print(f"gui {name:<34}{took}: longest UI stall {max(gaps):.0f} ms, p99 {p99:.0f} ms, "
              f"{sum(g > 50 for g in gaps)} of {len(gaps)} gaps over 50 ms")

    meter.start()
    pump(2000)
    line("idle (reference)", meter.stop())
    gaps, seconds = measured(lambda: jobs.set_view("tiles", size))
    line(f"{s.picture.label}, {len(s.result.view_result.tiles)} tiles", gaps, seconds)
    gaps, seconds = measured(lambda: s.push_edit(s.paint.fill_rect((20, 20), (120, 120), value=True), "Rectangle"))
    line("a rectangle inside tile 0", gaps, seconds)
    with tempfile.TemporaryDirectory() as folder:  # a phone photo: 12 MP, resampled for the view
        path = os.path.join(folder, "photo.png")
        photo(4000, 3000).save(path)
        jobs.set_view("model")
        window.controller.open_image(path)
        wait_until(lambda: s.result_is_current() and not window.controller.busy)
        gaps, seconds = measured(lambda: jobs.set_view("tiles", size))
        line(f"4000x3000 photo: {s.picture.label}", gaps, seconds)
        other = os.path.join(folder, "other.jpg")
        photo(4000, 3000).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other, quality=90)
        gaps, seconds = measured(lambda: window.controller.read_image(other))  # as File → Open does
        line("another 12 MP JPEG opened in that view", gaps, seconds)
    window.close()


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return int(next(line.split()[1] for line in f if line.startswith(field + ":")))


def peak(which: str, size: int) -> None:
    """Print the peak resident set growth over one forward (a fresh process; Linux: the high-water
    mark is reset after the model is built, so building it does not hide the forward's peak)."""
    model = create_model(MODEL).eval()
    if which == "official":
        big = create_model(model.config.replace(img_size=size)).eval()
        big.load_state_dict({k: v for k, v in model.state_dict().items() if "pos_embed" not in k}, strict=False)
        del model
        model = big
    x, grid, mask = native_inputs(size)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # reset VmHWM to the current resident set
    before = _status_kb("VmRSS")
    with torch.inference_mode():
        if which == "ours":
            model(x, mask, grid=grid)
        else:
            official_mae_forward(model, x, 0.75)
    print(json.dumps({"mb": (_status_kb("VmHWM") - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="tiles,stroke,native")
    parser.add_argument("--peak", choices=["ours", "official"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=448, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    torch.set_num_threads(args.threads)
    if args.peak:
        peak(args.peak, args.size)
        return
    torch.manual_seed(0)
    model = create_model(MODEL).eval()
    print(f"torch {torch.__version__}, {args.threads} threads, {MODEL} random weights, median of {args.repeats} "
          "alternating runs; ratios hold within one run, absolute times move with the machine's load")
    parts = set(args.parts.split(","))
    if "tiles" in parts:
        bench_tiles(model, args.repeats)
    if "stroke" in parts:
        bench_stroke(model, args.repeats)
    if "native" in parts:
        bench_native(model, args.repeats)
    if "gui" in parts:
        bench_gui(model)


if __name__ == "__main__":
    main()
