"""``maskviz compare``: masking strategies, ratios and models side by side on an image or a folder.

It runs :func:`maskviz.compare.iter_compare` and writes the files of
:mod:`maskviz.compare_export` (the same ones the GUI exports). Ctrl-C stops between images and
still writes what is done, marked ``"complete": false`` in summary.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from maskviz.errors import MaskvizError
from maskviz.progress import ProgressLine

DEFAULT_STRATEGIES = ("random:0.75", "block:0.5", "grid:2", "center:0.25")


def add_compare_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    cmp = sub.add_parser("compare", help="compare masking strategies, mask ratios and models on an image or folder")
    cmp.add_argument("images", metavar="IMAGE_OR_FOLDER", help="an image file, or a folder of images (recursive)")
    cmp.add_argument("--model", action="append", default=None, metavar="SOURCE",
                     help="checkpoint file or folder, or bundled:NAME (repeat to compare models; "
                          "default: the bundled MAE). The first model's patch grid defines the masks")
    cmp.add_argument("--mask", action="append", default=None, metavar="SPEC",
                     help=f"mask spec (repeat; default {' '.join(DEFAULT_STRATEGIES)})")
    cmp.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 0..N-1 for random masks (default 1)")
    cmp.add_argument("--same-count", nargs="?", const=True, default=False, type=int, metavar="N",
                     help="every mask hides the same number of patches: N, or the first mask's count")
    cmp.add_argument("--sweep", metavar="START:STOP:STEP",
                     help="also sweep the ratio of every --mask that has one, e.g. 0.1:0.9:0.1 (writes sweep.png)")
    cmp.add_argument("--out", type=Path, required=True,
                     help="folder for grid.png, sweep.png (see --format), metrics.csv and summary.json")
    cmp.add_argument("--format", choices=["png", "svg", "pdf"], default="png",
                     help="file format of the grid and sweep figures (default png)")
    cmp.add_argument("--heat", choices=["pixel", "patch"], default="pixel",
                     help="error maps: squared error per pixel, or the model's own loss per patch")
    cmp.add_argument("--show-all", action="store_true", help="error maps at full strength on visible patches too")
    cmp.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    cmp.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="GPU only")
    cmp.add_argument("--unnormalize", default="true-patch", choices=["true-patch", "visible"],
                     help="statistics used to show norm-pix predictions (default true-patch)")
    cmp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return cmp


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 0 when done, 130 when interrupted (the files then hold what was finished)."""
    from maskviz.compare import folder_images, iter_compare, new_table, parse_ratios, sweep_strategies
    from maskviz.compare_export import write_all
    from maskviz.device import check_precision, resolve_device
    from maskviz.masks import parse_mask_spec
    from maskviz.whole import View

    if args.seeds < 1:
        raise MaskvizError("--seeds must be at least 1")
    view = View(args.view, args.size)
    specs = [parse_mask_spec(s) for s in (args.mask or DEFAULT_STRATEGIES)]
    strategies: list[Any] = list(specs)
    if args.sweep:
        sweepable = [s for s in specs if s.pattern.param("ratio") or s.pattern.param("fraction")]
        if not sweepable:
            raise MaskvizError("--sweep needs a --mask with a ratio (random, block, simmim or center)")
        strategies += sweep_strategies(sweepable, parse_ratios(args.sweep))
    device = resolve_device(args.device)
    check_precision(args.precision, device)
    images = folder_images(args.images)
    loaded = _load_models(args.model, device)
    models = {label: lm.model for label, lm in loaded.items()}
    seeds = list(range(args.seeds))
    table = new_table(models, list(images.items()), [], seeds, args.same_count)  # strategies: set by the run
    steps = iter_compare(models, images, strategies, seeds, same_count=args.same_count, with_pictures="first",
                         unnormalize=args.unnormalize, precision=args.precision, table=table, view=view)
    interrupted = _run(steps, len(images) * len(models))
    if not table.rows and not interrupted:
        raise MaskvizError(f"none of the {len(images)} images could be read")
    written = write_all(table, args.out, {k: v.summary() for k, v in loaded.items()}, args.heat, args.show_all,
                        args.format)
    _print_summary(table)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if interrupted:
        print(f"maskviz: interrupted: the files hold the {len({r.image for r in table.rows})} finished image(s)",
              file=sys.stderr)
        return 130
    return 0


def _load_models(sources: list[str] | None, device: Any) -> dict[str, Any]:
    from maskviz.checkpoints import load_default_model, load_model
    from maskviz.compare import model_label

    if not sources:
        loaded = load_default_model(device)
        return {model_label(loaded.source): loaded}
    labels = [model_label(s) for s in sources]
    if len(set(labels)) < len(labels):
        labels = list(sources)
    if len(set(labels)) < len(labels):
        raise MaskvizError("each --model must name a different source")
    return {label: load_model(s, device=device) for label, s in zip(labels, sources, strict=True)}


def _run(steps: Any, total: int) -> bool:
    """Drive the comparison with a progress line on stderr (one step: a model × image); True when Ctrl-C
    stopped it."""
    progress = ProgressLine(sys.stderr, total, unit="step") if total > 1 else None
    try:
        for step in steps:
            if step.error:
                message = f"maskviz: skipped {step.image}: {step.error}"
                if progress is not None:
                    progress.write(message)  # a line of its own, the progress line stays below it
                else:
                    print(message, file=sys.stderr)
            if progress is not None:
                progress.update(step.done)
    except KeyboardInterrupt:
        steps.close()
        return True
    finally:
        if progress is not None:
            progress.close()
    return False


def _print_summary(table: Any) -> None:
    from maskviz.compare import summarize
    from maskviz.figures import loss_unit

    rows = [r for r in table.rows if not r.sweep]
    spread = "95% CI" if len(table.images) > 1 else "std"
    for s in summarize(rows):
        loss = f"{s.loss.mean:.4f}" + (f" ± {s.loss.ci95 if s.images > 1 else s.loss.std:.4f} ({spread})"
                                       if s.loss.n > 1 else "")
        psnr = f"{s.psnr.mean:.2f} dB" if math.isfinite(s.psnr.mean) else "n/a"
        print(f"{s.model}  {s.strategy}: {loss_unit(s)} loss {loss}  psnr {psnr}  hidden {s.hidden_fraction:.1%}  "
              f"({s.images} image{'s' * (s.images != 1)})")
    for note in table.notes:
        print(f"note: {note}")
