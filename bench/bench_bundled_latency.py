"""Benchmark: size and CPU latency of the candidate bundled models (random weights).

    nice -n 10 python bench/bench_bundled_latency.py [--threads 2] [--repeats 15] [--config NAME ...]

The bundled models must stay interactive: at most 40 ms for one ``maskviz.reconstruct`` call
(what the app waits for while a brush moves: image fitting, forward, loss, display images) on
2 CPU threads, and at most 30 MB on disk. Each candidate is built with random weights (speed does
not depend on them), saved as the bundle stores it (fp16 weights, read back as fp32) to measure the
file, and timed on a bundled sample photo under the mask the app shows by default for its family
(MAE: random 75 %, SimMIM: its coarse 60 %). The reference, measured in the same run, is today's
64 px bundled architecture; ratios put numbers from a busy machine in proportion. Medians.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from bench_reconstruct import median_ms  # bench/ is on the path when a script there runs

from maskviz.bundled import sample_path
from maskviz.checkpoints import load_model, save_model
from maskviz.images import load_image
from maskviz.masks import make_mask
from maskviz.models import create_model
from maskviz.models.registry import BUNDLE_CANDIDATES, get_config
from maskviz.reconstruct import reconstruct

REFERENCE = ("mae_vit_small_patch8_64", "simmim_vit_small_patch8_64")
#: The pattern each family's panels open with (SimMIM cells of two patches, as its training masks).
FAMILY_MASK = {"mae": "random:0.75", "simmim": "simmim:0.6,mask_patch={cell}"}
LIMIT_MS, LIMIT_MB = 40.0, 30.0


def measure(name: str, repeats: int, image, folder: Path) -> dict:
    """Parameters, fp16 file size and median reconstruct time of one named config."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    path = save_model(model, folder / f"{name}.safetensors", {}, dtype=torch.float16)
    model = load_model(path).model  # what the app runs: the fp16 file read back as fp32
    c = model.config
    mask = make_mask(FAMILY_MASK[c.family].format(cell=2 * c.patch_size), c.grid_size, c.patch_size, seed=0)
    ms = median_ms(lambda: reconstruct(model, image, [mask]), repeats)
    return {"name": name, "family": c.family, "input": f"{c.img_size} px / {c.patch_size}",
            "grid": "×".join(map(str, c.grid_size)), "params": sum(p.numel() for p in model.parameters()),
            "mb": path.stat().st_size / 1e6, "ms": ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--config", action="append", help="registry name (repeatable); default: the candidates")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.config or list(BUNDLE_CANDIDATES)
    for name in names:
        get_config(name)  # unknown names fail before any timing
    image = load_image(sample_path("coffee"))
    with tempfile.TemporaryDirectory() as tmp:
        refs = {r["family"]: r for r in (measure(n, args.repeats, image, Path(tmp)) for n in REFERENCE)}
        rows = [measure(n, args.repeats, image, Path(tmp)) for n in names]
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats} reconstruct calls; "
          f"ratio: against {' / '.join(REFERENCE)} measured in the same run")
    print(f"{'config':32s} {'input':>12s} {'grid':>6s} {'params':>7s} {'fp16 MB':>8s} {'ms':>7s} {'ratio':>6s}  fits")
    for r in [*refs.values(), *rows]:
        ratio = r["ms"] / refs[r["family"]]["ms"]
        fits = "yes" if r["ms"] <= LIMIT_MS and r["mb"] <= LIMIT_MB else "NO"
        print(f"{r['name']:32s} {r['input']:>12s} {r['grid']:>6s} {r['params'] / 1e6:6.1f}M {r['mb']:8.1f} "
              f"{r['ms']:7.1f} {ratio:6.2f}  {fits}")


if __name__ == "__main__":
    main()
