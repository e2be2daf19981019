"""Benchmark: the explain methods against plain reconstructions, measured in the same run.

    python bench/bench_explain.py [--threads 2] [--repeats 3] [--models mae_vit_base_patch16,bundled:mae_small]
    python bench/bench_explain.py --view tiles [--size 4]   # a picture of 4×3 model inputs, in the tiles view

For each model (random weights for a named architecture, the file's for ``bundled:NAME``), one
224 px (or model-sized) image and a 75 % random mask (seed 0):

1. **attention**: one explicit-attention forward, then the rollout of every hidden target and each
   target's last-layer map, against one ``reconstruct`` call (goal <= 1.5×);
2. **gradient** for one target (forward + backward to the input) against one ``reconstruct`` (<= 4×);
3. **occlusion** over all visible patches (batched) against one single-mask forward per visible
   patch with the same enlarged masks (<= 0.8×);
4. **spread** with K = 16 masks against 16 single-mask ``reconstruct`` calls (<= 0.8×).

With ``--view tiles`` the picture is ``--size`` × ¾·``--size`` model inputs (shifted edge tiles where
that is not whole) and the mask is on its grid: the per-target methods run on the target's tile, so they
are measured against one ``reconstruct`` of that tile; spread (16 masks × every tile, batched across
masks and tiles) against 16 ``reconstruct_view`` calls of the tiles view.

Timings are medians over ``--repeats`` rounds; in each round every measurement runs once, in turn,
so a change in the shared machine's load hits all of them alike. torch uses ``--threads`` threads.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_reconstruct import rounds  # bench/ is on the path when a script there runs
from PIL import Image

from maskviz.checkpoints import load_model
from maskviz.explain import (
    attention_capture,
    gradient_map,
    occlusion_map,
    spread_lens,
    spread_masks,
)
from maskviz.explain import run as run_steps
from maskviz.explain.views import iter_view_attention, iter_view_map, iter_view_spread, tile_crop, tile_layout
from maskviz.masks import make_mask
from maskviz.models import create_model
from maskviz.reconstruct import predict, prepare_input, reconstruct
from maskviz.whole import View, prepare_view, reconstruct_view

GOALS = {"attention": 1.5, "gradient": 4.0, "occlusion": 0.8, "spread": 0.8}


def load(name: str):
    if name.startswith("bundled:"):
        return load_model(name).model
    torch.manual_seed(0)
    return create_model(name).eval()


def bench_model(name: str, repeats: int) -> None:
    model = load(name)
    size = model.config.img_size
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))
    mask = make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)
    hidden = [(int(r), int(c)) for r, c in np.argwhere(mask)]
    visible = np.argwhere(~mask)
    target = hidden[len(hidden) // 2]
    spread = spread_masks("random:0.75", model.grid_size, model.patch_size, 16, seed=0)
    _, x = prepare_input(model, image)
    flat = torch.from_numpy(mask.reshape(1, -1))
    enlarged = []
    for r, c in visible:
        m = flat.clone()
        m[0, r * model.grid_size[1] + c] = True
        enlarged.append(m)

    def attention_all():
        capture = attention_capture(model, image, mask)
        capture.rollout(hidden)
        capture.layer_maps(hidden, -1)

    times = rounds({
        "reconstruct": lambda: reconstruct(model, image, [mask]),
        "attention": attention_all,
        "gradient": lambda: gradient_map(model, image, mask, target),
        "occlusion": lambda: occlusion_map(model, image, mask, target),
        "single forwards": lambda: [predict(model, x, m) for m in enlarged],
        "spread": lambda: spread_lens(model, image, spread),
        "16 reconstruct": lambda: [reconstruct(model, image, [m]) for m in spread],
    }, repeats)

    ratios = {
        "attention": (times["attention"], times["reconstruct"], f"one reconstruct, {len(hidden)} hidden targets"),
        "gradient": (times["gradient"], times["reconstruct"], "one reconstruct"),
        "occlusion": (times["occlusion"], times["single forwards"], f"{len(visible)} single forwards"),
        "spread": (times["spread"], times["16 reconstruct"], "16 reconstruct calls"),
    }
    print(f"{name}: {model.grid_size[0]}×{model.grid_size[1]} patches, random:0.75 hides {len(hidden)}, "
          f"one reconstruct {times['reconstruct'] * 1000:.0f} ms")
    for key, (t, ref, what) in ratios.items():
        verdict = "ok" if t / ref <= GOALS[key] else "OVER"
        print(f"  {key:10s} {t * 1000:9.1f} ms  vs {what}: {ref * 1000:9.1f} ms  "
              f"ratio {t / ref:5.2f} (goal <= {GOALS[key]}) {verdict}")


def bench_tiles(name: str, repeats: int, inputs: int) -> None:
    """The tiles view: per-target methods against one tile's reconstruct, spread against 16 whole-view calls."""
    model = load(name)
    side = model.config.img_size
    w, h = inputs * side, max(side, round(inputs * 0.75) * side)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    vimg = prepare_view(model, photo, View("tiles"))
    mask = make_mask("random:0.75", vimg.grid, vimg.patch_size, seed=0)
    layout = tile_layout(model, vimg)
    owner = layout.owner_map()
    hidden = [(int(r), int(c)) for r, c in np.argwhere(mask)]
    target = hidden[len(hidden) // 2]
    tile = layout.tiles[int(owner[target])]
    crop, cells = tile_crop(vimg, tile), layout.tile_mask(mask, tile)
    in_tile = [t for t in hidden if owner[t] == tile.index]
    spread = spread_masks("random:0.75", vimg.grid, vimg.patch_size, 16, seed=0)

    def attention_tile():  # the target's tile captured, then every hidden target of that tile (as the model view)
        capture = run_steps(iter_view_attention(model, vimg, mask, target)).tiles[tile.index]
        local = [(r - tile.top, c - tile.left) for r, c in in_tile]
        capture.rollout(local)
        capture.layer_maps(local, -1)

    times = rounds({
        "tile reconstruct": lambda: reconstruct(model, crop, [cells]),
        "attention": attention_tile,
        "gradient": lambda: run_steps(iter_view_map(model, vimg, mask, "gradient", target)),
        "spread": lambda: run_steps(iter_view_spread(model, vimg, spread)),
        "16 reconstruct_view": lambda: [reconstruct_view(model, vimg, [m]) for m in spread],
    }, repeats)
    print(f"{name}, tiles view: {w}×{h} px, {vimg.grid[0]}×{vimg.grid[1]} patches in {len(layout.tiles)} tiles, "
          f"random:0.75; one tile's reconstruct {times['tile reconstruct'] * 1000:.0f} ms")
    ratios = {
        "attention": (times["attention"], times["tile reconstruct"],
                      f"one tile reconstruct, rollout of its {len(in_tile)} hidden targets"),
        "gradient": (times["gradient"], times["tile reconstruct"], "one tile reconstruct"),
        "spread": (times["spread"], times["16 reconstruct_view"],
                   f"16 tiles-view reconstructs (16 × {len(layout.tiles)} tile forwards)"),
    }
    for key, (t, ref, what) in ratios.items():
        verdict = "ok" if t / ref <= GOALS[key] else "OVER"
        print(f"  {key:10s} {t * 1000:9.1f} ms  vs {what}: {ref * 1000:9.1f} ms  "
              f"ratio {t / ref:5.2f} (goal <= {GOALS[key]}) {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="mae_vit_base_patch16,bundled:mae_small")
    parser.add_argument("--view", choices=("model", "tiles"), default="model")
    parser.add_argument("--size", type=int, default=4, help="tiles: model inputs along the picture's long side")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats {args.repeats}")
    for name in args.models.split(","):
        if args.view == "tiles":
            bench_tiles(name.strip(), args.repeats, args.size)
        else:
            bench_model(name.strip(), args.repeats)


if __name__ == "__main__":
    main()
