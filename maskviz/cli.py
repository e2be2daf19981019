"""Command line: ``maskviz`` (the app), ``maskviz reconstruct``, ``maskviz info``, ``maskviz models``.

Every subcommand calls the same core functions as the GUI. Input errors end with one line on
stderr and a non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maskviz.errors import MaskvizError

EXIT_INPUT_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskviz", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    rec = sub.add_parser("reconstruct", help="reconstruct an image under one or more masks")
    rec.add_argument("image", help="image file")
    rec.add_argument("--model", required=True, help="checkpoint file or folder (any supported format)")
    rec.add_argument("--mask", action="append", default=None, metavar="SPEC",
                     help="mask spec, e.g. random:0.75, block:0.5, grid:2, center:0.4, file:mask.png "
                          "(repeat for several; default random:0.75)")
    rec.add_argument("--full", type=int, metavar="K", default=None,
                     help="full reconstruction: K passes with complementary random masks")
    rec.add_argument("--seed", type=int, default=0, help="seed for random masks (default 0)")
    rec.add_argument("--out", type=Path, help="write the panel PNG here")
    rec.add_argument("--json", type=Path, help="write the metrics JSON here")
    rec.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    rec.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="GPU only")
    rec.add_argument("--norm-pix", dest="norm_pix", action=argparse.BooleanOptionalAction, default=None,
                     help="override whether an MAE checkpoint was trained with norm_pix_loss")
    rec.add_argument("--unnormalize", default="true-patch", choices=["true-patch", "visible"],
                     help="statistics used to show norm-pix predictions (default true-patch)")
    rec.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    info = sub.add_parser("info", help="load a checkpoint and report what it holds")
    info.add_argument("model")
    info.add_argument("--norm-pix", dest="norm_pix", action=argparse.BooleanOptionalAction, default=None)
    info.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    models = sub.add_parser("models", help="list the named architectures")
    models.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"reconstruct": cmd_reconstruct, "info": cmd_info, "models": cmd_models}
    try:
        if args.command is None:
            return launch_gui()
        return commands[args.command](args)
    except MaskvizError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"maskviz: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("maskviz: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback in front of a user
        if args.debug:
            traceback.print_exc()
        print(f"maskviz: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def launch_gui() -> int:
    try:
        from maskviz.gui.app import run_app
    except ImportError as exc:
        raise MaskvizError(f"the desktop app is not available in this build ({exc})") from exc
    return run_app(sys.argv[1:])


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from maskviz.checkpoints import load_model
    from maskviz.device import check_precision, resolve_device
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.reconstruct import full_reconstruction, reconstruct

    device = resolve_device(args.device)
    check_precision(args.precision, device)
    image = load_image(args.image)
    loaded = load_model(args.model, device=device, norm_pix=args.norm_pix)
    model = loaded.model
    grid, patch = model.grid_size, model.patch_size

    start = time.perf_counter()
    if args.full:
        results = [full_reconstruction(model, image, args.full, args.seed, args.unnormalize, args.precision)]
        specs = [f"full:{args.full}"]
    else:
        specs = args.mask or ["random:0.75"]
        masks = [make_mask(spec, grid, patch, seed=args.seed) for spec in specs]
        results = reconstruct(model, image, masks, args.unnormalize, args.precision)
    elapsed = time.perf_counter() - start

    for spec, r in zip(specs, results, strict=True):
        print(f"{spec}: {summary_line(r)}")
    if args.out:
        write_panel(results, specs, args.out)
    if args.json:
        write_json(results, specs, loaded.summary(), str(device), elapsed, args.json)
    return 0


def summary_line(r: Any) -> str:
    if r.loss is None:
        return f"no masked patches (0/{r.total_patches}); nothing to reconstruct"
    return (f"loss {r.loss:.4f}  mse {r.mse:.5f}  psnr {r.psnr:.2f} dB  "
            f"masked {r.masked_patches}/{r.total_patches} patches")


def write_panel(results: list[Any], specs: list[str], out: Path) -> None:
    from PIL import Image

    from maskviz.images import save_png
    from maskviz.render import render_panel

    rows = []
    for spec, r in zip(specs, results, strict=True):
        hidden = r.error_map[np.repeat(np.repeat(r.mask, r.original.shape[0] // r.mask.shape[0], 0),
                                       r.original.shape[1] // r.mask.shape[1], 1)]
        vmax = float(np.percentile(hidden, 99)) if hidden.size else float(r.error_map.max())
        label = "reconstruction" + (f" ({r.unnormalize} stats)" if r.norm_pix else "")
        rows.append(render_panel(
            [("original", r.original), (f"masked ({spec})", r.masked_input), (label, r.prediction),
             ("reconstruction + visible", r.pasted)],
            heatmap=("error (squared, per pixel)", r.error_map, 0.0, max(vmax, 1e-6)),
            footer=summary_line(r),
        ))
    width = max(im.width for im in rows)
    sheet = Image.new("RGB", (width, sum(im.height for im in rows)), "white")
    y = 0
    for im in rows:
        sheet.paste(im, (0, y))
        y += im.height
    save_png(sheet, out)


def write_json(results: list[Any], specs: list[str], model: dict[str, Any], device: str, seconds: float,
               out: Path) -> None:
    from maskviz.checkpoints.maskviz_format import atomic_write

    entries = [{"mask": spec, **_finite(r.metrics())} for spec, r in zip(specs, results, strict=True)]
    doc = {**entries[0], "device": device, "seconds": seconds, "model": model, "results": entries}
    text = json.dumps(doc, indent=2)
    atomic_write(Path(out), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a perfect reconstruction's PSNR is written as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def cmd_info(args: argparse.Namespace) -> int:
    from maskviz.checkpoints import load_model

    loaded = load_model(args.model, norm_pix=args.norm_pix)
    s = loaded.summary()
    print(s["description"])
    print(f"format: {s['format_label']}")
    print(f"parameters: {s['parameters']:,}")
    for note in s["notes"]:
        print(f"note: {note}")
    for item in s["ignored"]:
        print(f"ignored: {item}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from maskviz.models import MODEL_CONFIGS

    for name, c in sorted(MODEL_CONFIGS.items()):
        gh, gw = c.grid_size
        print(f"{name:32s} {c.family:7s} {c.img_size:4d} px  patch {c.patch_size:2d}  grid {gh}×{gw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
