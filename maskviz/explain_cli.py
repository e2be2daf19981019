"""``maskviz explain``: which visible patches a hidden patch's reconstruction used, what the encoder
sees, and how sure the model is (:mod:`maskviz.explain`), as a figure and a JSON file.

Image, model, mask and view (``--view``/``--size``, added by :mod:`maskviz.cli`) are taken exactly as
``maskviz reconstruct`` takes them: the mask and ``--target`` are on the view's patch grid (the model's
input, or the whole picture in the tiles and native views; :mod:`maskviz.explain.views`). Per-target
methods (``--method``) need ``--target ROW,COL``, a hidden patch; the lenses (``--lens``) look at the whole
image. Ctrl-C stops a long method between forwards (exit 130, nothing written).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from maskviz.errors import MaskvizError
from maskviz.progress import ProgressLine

METHODS = ("gradient", "occlusion", "attention")
LENSES = ("features", "spread")


def target_arg(text: str) -> tuple[int, int]:
    try:
        row, col = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROW,COL (two whole numbers), got {text!r}") from None
    return row, col


def add_explain_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    ex = sub.add_parser("explain", help="explain a reconstruction: attention, gradient, occlusion for a hidden patch; "
                                        "encoder features; spread over masks")
    ex.add_argument("image", help="image file (or sample:NAME)")
    ex.add_argument("--model", help="checkpoint file or folder, bundled:NAME or a catalogue name "
                                    "(default: the bundled MAE)")
    ex.add_argument("--mask", metavar="SPEC", help="mask spec (default: the model file's default mask, "
                                                   "else random:0.75)")
    ex.add_argument("--seed", type=int, default=0, help="seed for random masks (default 0)")
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--method", choices=METHODS, help="a map for one hidden --target patch")
    what.add_argument("--lens", choices=LENSES, help="features: PCA colours of the encoder tokens (with "
                                                     "--target ROW,COL: cosine similarity to that patch's token); "
                                                     "spread: mean and spread of the reconstruction over --masks masks")
    ex.add_argument("--target", type=target_arg, metavar="ROW,COL", help="the patch to explain, on the view's grid")
    ex.add_argument("--layer", type=int, help="attention: the layer (0 = first the target passes; -1 = last)")
    ex.add_argument("--head", type=int, help="attention: one head (default: the mean over heads)")
    ex.add_argument("--rollout", action="store_true", help="attention: rollout through the layers to the input patches")
    ex.add_argument("--masks", type=int, metavar="K", default=None, help="spread: number of masks (default 16)")
    ex.add_argument("--out", type=Path, help="write the figure here (.png, .svg or .pdf)")
    ex.add_argument("--json", type=Path, help="write the map and its inputs as JSON here")
    ex.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    ex.add_argument("--norm-pix", dest="norm_pix", action=argparse.BooleanOptionalAction, default=None,
                    help="override whether an MAE checkpoint was trained with norm_pix_loss")
    ex.add_argument("--unnormalize", default="true-patch", choices=["true-patch", "visible"],
                    help="spread: statistics used to show norm-pix predictions (default true-patch)")
    ex.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return ex


def check_args(args: argparse.Namespace) -> None:
    """The options that do not go together, refused before anything loads."""
    attention = args.method == "attention"
    if args.method and args.target is None:
        raise MaskvizError(f"--method {args.method} explains one hidden patch: give --target ROW,COL")
    if args.lens == "spread" and args.target is not None:
        raise MaskvizError("the spread lens covers the whole image: leave out --target")
    if not attention and (args.layer is not None or args.head is not None or args.rollout):
        raise MaskvizError("--layer, --head and --rollout go with --method attention")
    if args.rollout and (args.layer is not None or args.head is not None):
        raise MaskvizError("--rollout runs through every layer and averages the heads: leave out --layer/--head")
    if args.masks is not None and args.lens != "spread":
        raise MaskvizError("--masks goes with --lens spread")


def cmd_explain(args: argparse.Namespace) -> int:
    from maskviz import export
    from maskviz.cli_inputs import load_cli_model
    from maskviz.device import resolve_device
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.whole import View, prepare_view

    check_args(args)
    export.check_outputs(args.out, args.json)
    view = View(getattr(args, "view", "model"), getattr(args, "size", None))  # said before the model loads
    device = resolve_device(args.device)
    image = load_image(args.image)
    loaded = load_cli_model(args.model, device, args.norm_pix)
    model = loaded.model
    vimg = prepare_view(model, image, view, device=device)
    if vimg.note:
        print(f"maskviz: note: {vimg.note}", file=sys.stderr)
    spec = args.mask or loaded.default_mask or "random:0.75"
    mask = make_mask(spec, vimg.grid, vimg.patch_size, seed=args.seed, defaults=loaded.mask_defaults())

    start = time.perf_counter()
    result, extra = _compute(args, loaded, vimg, mask, spec)
    seconds = time.perf_counter() - start
    if result is None:
        return 130
    inputs = export.explain_inputs(loaded, args.image, spec, args.seed, view=vimg.label, model_source=args.model)
    print(summary_line(result, **extra))
    if args.out:
        export.write_explain_figure(result, args.out, vimg.original(), model.patch_size, inputs,
                                    masked_colour=model.config.mean, **extra)
    if args.json:
        export.write_explain_json(result, args.json, inputs, model_info=loaded.summary(), device=str(device),
                                  seconds=seconds, **extra)
    return 0


def _compute(args: argparse.Namespace, loaded: Any, vimg: Any, mask: Any, spec: str) -> tuple[Any, dict[str, Any]]:
    """Run the method or lens on the view's picture with a progress line; ``(None, {})`` when Ctrl-C stopped it."""
    from maskviz import explain
    from maskviz.explain import views

    model = loaded.model
    extra: dict[str, Any] = {}
    if args.method in ("gradient", "occlusion"):
        steps = views.iter_view_map(model, vimg, mask, args.method, args.target)
    elif args.method == "attention":
        steps = views.iter_view_attention(model, vimg, mask, args.target)
    elif args.lens == "features":
        steps = views.iter_view_features(model, vimg, mask)
    else:
        k = explain.DEFAULT_MASKS if args.masks is None else args.masks
        masks = explain.spread_masks(spec, vimg.grid, vimg.patch_size, k, args.seed, loaded.mask_defaults())
        steps = views.iter_view_spread(model, vimg, masks, unnormalize=args.unnormalize)
    result = _drive(steps)
    if result is None:
        return None, {}
    if args.method == "attention":
        result = (result.rollout_map(args.target) if args.rollout
                  else result.layer_map(args.target, -1 if args.layer is None else args.layer, args.head))
    if args.lens == "features" and args.target is not None:
        extra["similarity"] = result.similarity(args.target)
    return result, extra


def _drive(steps: Any) -> Any:
    """Run a method's steps with a progress line on stderr (when there is more than one)."""
    line: ProgressLine | None = None
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                return stop.value
            if step.total > 1:
                line = line or ProgressLine(sys.stderr, step.total, label=step.what, unit=step.unit)
                line.update(step.done)
    except KeyboardInterrupt:
        steps.close()
        print("maskviz: interrupted", file=sys.stderr)
        return None
    finally:
        if line is not None:
            line.close()


def summary_line(result: Any, similarity: Any = None) -> str:
    import numpy as np

    from maskviz.explain import ExplainMap, FeatureLens

    if isinstance(result, ExplainMap):
        values = result.values
        finite = np.where(np.isfinite(values), values, -np.inf)
        r, c = np.unravel_index(int(np.argmax(finite)), values.shape)
        return (f"{result.method} for target ({result.target[0]}, {result.target[1]}): "
                f"largest {values[r, c]:.4g} at ({r}, {c}); {result.unit}")
    if isinstance(result, FeatureLens):
        shares = ", ".join(f"{v:.1%}" for v in result.explained)
        line = f"features: {len(result.tokens)} encoder tokens; components explain {shares} of the variance"
        if similarity is not None:
            line += f"; similarity to ({similarity.target[0]}, {similarity.target[1]}) shown"
        return line
    std = result.std[np.isfinite(result.std)]
    never = int(result.never_hidden.sum())
    mean = f"mean spread {std.mean():.4f}" if std.size else "no pixel hidden twice"
    return f"spread over {result.k} masks: {mean}; {never} patch{'es' * (never != 1)} never hidden"
