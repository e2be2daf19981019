"""Benchmark: maskviz.reconstruct against the plain training-style forward of the same model.

    python bench/bench_reconstruct.py [--repeats 10] [--threads 2]

The reference is the official MAE forward (``models_mae.py``: random masking by argsorting noise,
encoder, decoder, norm-pix-free MSE loss over the hidden patches), written here against the same
modules and weights, measured in the same run. It is timed twice: without autograd (what a
visualiser would do with the official code) and with autograd on (the code as training runs it).
``reconstruct`` includes everything a user waits for: image fitting, normalisation, the forward,
the loss, the display images and metrics. Medians of ``--repeats`` runs; ratios < 1 mean faster.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from maskviz.masks import random_mask, simmim_mask
from maskviz.models import create_model
from maskviz.reconstruct import reconstruct


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rounds(measures: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each measurement, every one run once per round (in turn, so a drifting machine
    load falls on all alike) after one warm-up round."""
    times: dict[str, list[float]] = {k: [] for k in measures}
    for r in range(repeats + 1):
        for key, fn in measures.items():
            start = time.perf_counter()
            fn()
            if r:
                times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def official_mae_forward(model, imgs: torch.Tensor, mask_ratio: float = 0.75) -> torch.Tensor:
    """models_mae.MaskedAutoencoderViT.forward, step for step (random masking by noise)."""
    n, length = imgs.shape[0], model.config.num_patches
    x = model.patch_embed(imgs) + model.pos_embed[:, 1:, :]
    keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(torch.rand(n, length), dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x = torch.gather(x, 1, ids_shuffle[:, :keep].unsqueeze(-1).repeat(1, 1, x.shape[-1]))
    mask = torch.ones(n, length)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    cls = (model.cls_token + model.pos_embed[:, :1, :]).expand(n, -1, -1)
    x = torch.cat([cls, x], dim=1)
    for blk in model.blocks:
        x = blk(x)
    x = model.decoder_embed(model.norm(x))
    tokens = model.mask_token.repeat(n, ids_restore.shape[1] + 1 - x.shape[1], 1)
    x_ = torch.gather(torch.cat([x[:, 1:, :], tokens], dim=1), 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
    x = torch.cat([x[:, :1, :], x_], dim=1) + model.decoder_pos_embed
    for blk in model.decoder_blocks:
        x = blk(x)
    pred = model.decoder_pred(model.decoder_norm(x))[:, 1:, :]
    loss = ((pred - model.patchify(imgs)) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


def simmim_reference(model, imgs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SimMIM.forward: encoder + decoder on the whole image, L1 over the hidden pixels."""
    pred = model(imgs, mask)
    return model.loss(imgs, pred, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []

    mae = create_model("mae_vit_base_patch16").eval()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    x = torch.randn(1, 3, 224, 224)
    mask = random_mask(mae.grid_size, 0.75, seed=0)
    with torch.no_grad():
        ref = median_ms(lambda: official_mae_forward(mae, x), args.repeats)
    ref_grad = median_ms(lambda: official_mae_forward(mae, x), args.repeats)
    ours = median_ms(lambda: reconstruct(mae, image, [mask]), args.repeats)
    rows.append(("MAE ViT-B/16, 75%, batch 1", ours, ref, ref_grad))

    masks8 = [random_mask(mae.grid_size, 0.75, seed=s) for s in range(8)]
    x8 = x.expand(8, -1, -1, -1).contiguous()
    with torch.no_grad():
        ref8 = median_ms(lambda: official_mae_forward(mae, x8), max(3, args.repeats // 3))
    ref8_grad = median_ms(lambda: official_mae_forward(mae, x8), max(3, args.repeats // 3))
    ours8 = median_ms(lambda: reconstruct(mae, image, masks8), max(3, args.repeats // 3))
    rows.append(("MAE ViT-B/16, 75%, 8 masks", ours8, ref8, ref8_grad))

    simmim = create_model("simmim_vit_base_patch16_224").eval()
    smask = simmim_mask(simmim.grid_size, 0.6, seed=0, model_patch=16)
    smask_t = torch.from_numpy(smask.reshape(1, -1))
    with torch.no_grad():
        sref = median_ms(lambda: simmim_reference(simmim, x, smask_t), args.repeats)
    sref_grad = median_ms(lambda: simmim_reference(simmim, x, smask_t), args.repeats)
    sours = median_ms(lambda: reconstruct(simmim, image, [smask]), args.repeats)
    rows.append(("SimMIM ViT-B/16, 60%, batch 1", sours, sref, sref_grad))

    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats} runs")
    print(f"{'case':34s} {'reconstruct':>12s} {'ref no-grad':>12s} {'ratio':>6s} {'ref grad':>10s} {'ratio':>6s}")
    for name, o, r, rg in rows:
        print(f"{name:34s} {o:10.1f}ms {r:10.1f}ms {o / r:6.2f} {rg:8.1f}ms {o / rg:6.2f}")


if __name__ == "__main__":
    main()
