"""Command line: ``maskviz`` (the app) and ``maskviz reconstruct | info | models | train | doctor``.

Every subcommand calls the same core functions as the GUI. Input errors end with one line on
stderr and a non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maskviz import __version__
from maskviz.cli_inputs import load_cli_model
from maskviz.compare_cli import add_compare_parser, cmd_compare
from maskviz.errors import EXIT_SETUP, MaskvizError, SetupError
from maskviz.explain_cli import add_explain_parser, cmd_explain

EXIT_INPUT_ERROR = 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command ended by SIGPIPE
EXIT_INTERNAL_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    from maskviz.app_args import app_help

    parser = argparse.ArgumentParser(
        prog="maskviz", description="Explore masked image models (MAE, SimMIM). Without a command: the desktop app.",
        epilog=app_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"maskviz {__version__}")
    sub = parser.add_subparsers(dest="command")

    rec = sub.add_parser("reconstruct", help="reconstruct an image under one or more masks")
    rec.add_argument("image", help="image file")
    rec.add_argument("--model", help="checkpoint file or folder (any supported format), or a name from "
                                     "'maskviz models' (default: the bundled MAE)")
    rec.add_argument("--mask", action="append", default=None, metavar="SPEC",
                     help="mask spec, e.g. random:0.75, block:0.5, grid:2, center:0.4, file:mask.png "
                          "(repeat for several; default: the model file's default mask, else random:0.75)")
    rec.add_argument("--full", type=int, metavar="K", default=None,
                     help="full reconstruction: K passes with complementary random masks")
    rec.add_argument("--seed", type=int, default=0, help="seed for random masks (default 0)")
    add_view_arguments(rec)
    rec.add_argument("--out", type=Path, help="write the panel figure here: PNG, SVG or PDF by the suffix")
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

    from maskviz.zoo.commands import add_models_parser

    add_models_parser(sub)
    doctor = sub.add_parser("doctor", help="import and try what maskviz needs (torch, torchvision, timm, one "
                                           "reconstruction, Qt, the display); one line with the fix per problem "
                                           "(exit 3 when there is one)")
    doctor.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    add_train_parser(sub)
    add_view_arguments(add_compare_parser(sub))
    add_view_arguments(add_explain_parser(sub))
    return parser


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """``--view`` and ``--size``: how the image reaches the model (reconstruct, compare, explain)."""
    from maskviz.whole.view import VIEW_NAMES

    parser.add_argument("--view", choices=VIEW_NAMES, default="model",
                        help="model: the image fitted to the model's input (default); tiles: the whole picture on "
                             "one patch grid, reconstructed in model-sized tiles; native: the whole picture as one "
                             "token sequence (masks are made on the view's patch grid)")
    parser.add_argument("--size", type=int, metavar="PX", default=None,
                        help="working size of the tiles and native views: the long side in pixels, a multiple of "
                             "the patch (default: the image's own size, cut to whole patches)")


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """Recipe options default to "not given" so only what the user typed reaches TrainConfig."""
    from maskviz.train import TrainConfig
    from maskviz.train.config import AUGMENTATIONS, DEFAULT_BLR, FINETUNE_LR

    d = TrainConfig(data="", model="", out="")
    tr = sub.add_parser("train", help="pre-train or continue training a model on a folder of images",
                        argument_default=argparse.SUPPRESS)
    tr.add_argument("--data", help="folder of training images (searched recursively)")
    tr.add_argument("--model", help="checkpoint to start from, or an architecture to train from scratch "
                                    "(see 'maskviz models')")
    tr.add_argument("--out", help="run folder to create (default: a new folder in the runs directory, "
                                  "~/.local/share/maskviz/runs on Linux, $MASKVIZ_RUNS overrides)")
    length = tr.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimizer steps")
    length.add_argument("--epochs", type=float, help="passes over the training images")
    tr.add_argument("--batch", type=int, help=f"images per process per micro-step (default {d.batch})")
    tr.add_argument("--accum", type=int, help=f"micro-steps per optimizer step (default {d.accum})")
    tr.add_argument("--lr", type=float, help=f"learning rate (default: {FINETUNE_LR:g} when fine-tuning a "
                                             "checkpoint, else blr x effective batch / 256)")
    tr.add_argument("--blr", type=float, help=f"base learning rate (default {DEFAULT_BLR:g}; giving it applies "
                                              "the pre-training rule to a checkpoint too)")
    tr.add_argument("--min-lr", type=float, help=f"end of the cosine schedule (default {d.min_lr:g})")
    tr.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default {d.weight_decay:g})")
    warmup = tr.add_mutually_exclusive_group()
    warmup.add_argument("--warmup-steps", type=int,
                        help="linear warm-up length (default 10%% of training, 5%% when fine-tuning)")
    warmup.add_argument("--warmup-epochs", type=float, help="warm-up length in epochs")
    tr.add_argument("--mask", help="mask spec (default random:0.75 for MAE, simmim:0.6 for SimMIM)")
    tr.add_argument("--img-size", type=int, help="input size of a model trained from scratch")
    tr.add_argument("--norm-pix", action=argparse.BooleanOptionalAction, help="MAE per-patch normalised targets")
    tr.add_argument("--val-split", type=float, help=f"fraction of images held out (default {d.val_split:g})")
    tr.add_argument("--synthetic", type=float, metavar="FRACTION",
                    help="share of training samples replaced by procedural dead-leaves images (default 0)")
    tr.add_argument("--augment", choices=AUGMENTATIONS,
                    help="training views: mae = official crop + mirror (default); strong = wider crops, "
                         "flips, quarter turns, shuffled colour channels (for small image folders)")
    tr.add_argument("--workers", type=int, metavar="N",
                    help="data-loading processes (default 0: one on a GPU, none on a CPU)")
    tr.add_argument("--val-every", type=int, help="validate every N steps (default: about ten times per run, "
                                                  "every 5 to 100 steps)")
    tr.add_argument("--save-every", type=int, help="save the last checkpoint every N steps (default: about ten "
                                                   "times per run, every 10 to 500 steps)")
    tr.add_argument("--log-every", type=int, help=f"train.log line every N steps (default {d.log_every})")
    tr.add_argument("--seed", type=int, help=f"seed of data order, crops, flips and masks (default {d.seed})")
    tr.add_argument("--device", help="auto, cpu or cuda (default auto)")
    tr.add_argument("--amp", nargs="?", const="bf16", choices=["none", "bf16", "fp16"],
                    help="mixed precision on CUDA (--amp alone = bf16)")
    tr.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run exactly where it stopped")
    tr.add_argument("--stop-at", type=int, metavar="STEP", default=None,
                    help="stop cleanly after this step (continue later with --resume)")
    tr.add_argument("--jsonl", action="store_true", default=False, help="also print every event to stdout")
    tr.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """The subcommands (the app's own command line is routed to the app by :mod:`maskviz.launch`)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    args.argv = raw
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        print("maskviz: error: no command (run 'maskviz' alone to open the app)", file=sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("maskviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (`maskviz models | head`): end quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter's last flush must not fail again
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback in front of a user
        if args.debug:
            traceback.print_exc()
        return report_error(exc, debug=args.debug)


def report_error(exc: BaseException, debug: bool = False) -> int:
    """Print the one line for ``exc`` and return the exit code: 3 for this machine's setup (the line
    ``maskviz doctor`` prints for it), 2 for the input, 1 for a maskviz bug."""
    from maskviz.doctor import setup_problem

    setup = str(exc) if isinstance(exc, SetupError) else setup_problem(exc)
    if setup is not None:
        print(f"maskviz: error: {setup}", file=sys.stderr)
        return EXIT_SETUP
    message = input_error_message(exc)
    if message is not None:
        print(f"maskviz: error: {message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    hint = "" if debug else " (run with --debug for details)"
    print(f"maskviz: internal error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
    return EXIT_INTERNAL_ERROR


def input_error_message(exc: BaseException) -> str | None:
    """The one line for a failure the input caused (exit 2), or None for a maskviz bug (exit 1).

    ``MaskvizError`` says it itself. Memory and the file system can still fail where no check
    foresaw it (a huge but honest model, a disk that vanished): the user's situation, not a bug.
    """
    if isinstance(exc, MaskvizError):
        return str(exc)
    if isinstance(exc, MemoryError) or "OutOfMemoryError" in type(exc).__name__ or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    ):
        return "not enough memory for this input (a smaller image, model or mask batch may fit)"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None



def cmd_reconstruct(args: argparse.Namespace) -> int:
    from maskviz import export
    from maskviz.device import check_precision, resolve_device
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.whole import View, full_view_reconstruction, prepare_view, reconstruct_view

    export.check_outputs(args.out, args.json)
    view = View(args.view, args.size)  # a bad view is said before the model loads
    device = resolve_device(args.device)
    check_precision(args.precision, device)
    image = load_image(args.image)
    loaded = load_cli_model(args.model, device, args.norm_pix)
    if args.model and (note := run_model_note(args.model, loaded)):
        print(f"maskviz: note: {note}", file=sys.stderr)
    model = loaded.model
    vimg = prepare_view(model, image, view, device=device)
    if vimg.note:
        print(f"maskviz: note: {vimg.note}", file=sys.stderr)

    start = time.perf_counter()
    if args.full is not None:
        results = [full_view_reconstruction(model, vimg, args.full, args.seed, args.unnormalize, args.precision)]
        specs = [f"full:{args.full}"]
    else:
        specs = args.mask or [loaded.default_mask or "random:0.75"]
        masks = [make_mask(spec, vimg.grid, vimg.patch_size, seed=args.seed, defaults=loaded.mask_defaults())
                 for spec in specs]
        results = reconstruct_view(model, vimg, masks, args.unnormalize, args.precision)
    elapsed = time.perf_counter() - start

    for spec, r in zip(specs, results, strict=True):
        tiles = f"  ({len(r.tiles)} tiles)" if r.tiles else ""
        print(f"{spec}: {summary_line(r.whole)}  [{r.view}]{tiles}")
    if args.out:
        export.write_reconstruction_figure([r.whole for r in results], specs, args.out,
                                           export.model_name(loaded, args.model), export.image_name(args.image),
                                           args.seed, view=vimg.label)
    if args.json:
        export.write_metrics_json(results, specs, loaded.summary(), str(device), elapsed, args.json)
    return 0


def run_model_note(source: str, loaded: Any) -> str:
    """For a training run's folder: which of its checkpoints was opened, and why ('' for anything else)."""
    from maskviz.sources import model_path
    from maskviz.train import RunDir
    from maskviz.train.runs import run_checkpoint_note

    run = RunDir(model_path(source))
    opened = Path(loaded.source)
    if not run.config.is_file() or opened.parent != run.checkpoints:
        return ""
    return run_checkpoint_note(run, opened, loaded.info)


def summary_line(r: Any) -> str:
    if r.problem:
        return f"{r.problem}; masked {r.masked_patches}/{r.total_patches} patches"
    if r.loss is None:
        return f"no masked patches (0/{r.total_patches}); nothing to reconstruct"
    return (f"loss {r.loss:.4f}  mse {r.mse:.5f}  psnr {r.psnr:.2f} dB  "
            f"masked {r.masked_patches}/{r.total_patches} patches")


def cmd_info(args: argparse.Namespace) -> int:
    from maskviz.checkpoints import load_model

    loaded = load_model(args.model, norm_pix=args.norm_pix)
    s = loaded.summary()
    print(s["description"])
    print(f"format: {s['format_label']}")
    print(f"parameters: {s['parameters']:,}")
    if s["training"]:
        print(f"trained: {s['training']}")
        print(f"command: {s['info'].get('command', '')}")
    if s["default_mask"]:
        print(f"default mask: {s['default_mask']}")
    for warning in s["warnings"]:
        print(f"maskviz: warning: {warning}", file=sys.stderr)
    for note in s["notes"]:
        print(f"note: {note}")
    for item in s["ignored"]:
        print(f"ignored: {item}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from maskviz.zoo.commands import cmd_models as run

    return run(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when everything is there, 3 (like any setup error) when a problem was found."""
    from maskviz.doctor import report

    lines, problems = report()
    print("\n".join(lines))
    return EXIT_SETUP if problems else 0


def cmd_train(args: argparse.Namespace) -> int:
    """Exit 0 when done or stopped by --stop-at; 128 + signal number when stopped by Ctrl-C/SIGTERM."""
    import dataclasses
    import os

    from maskviz.train import TrainConfig, TrainError, resume, stop_on_signals, train
    from maskviz.train.rundir import new_run_folder

    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"command"}  # args.command is the subcommand
    recipe = {k: v for k, v in vars(args).items() if k in names}
    streams = {"echo": sys.stderr, "jsonl": sys.stdout if args.jsonl else None}
    with stop_on_signals() as stop:
        if hasattr(args, "resume"):
            extra = sorted(set(recipe) - {"device", "workers"})
            if extra:
                flags = ", ".join("--" + k.replace("_", "-") for k in extra)
                raise TrainError(f"--resume continues with the run's saved settings; drop {flags}")
            result = resume(args.resume, stop, stop_at=args.stop_at, device=recipe.get("device"),
                            workers=recipe.get("workers"), **streams)
        else:
            missing = [f"--{k}" for k in ("data", "model") if k not in recipe]
            if missing:
                raise TrainError(f"{', '.join(missing)} required (or --resume RUN_DIR)")
            recipe.setdefault("out", str(new_run_folder()))
            config = TrainConfig(**recipe, command=shlex.join(["maskviz", *args.argv]))
            result = train(config, stop, stop_at=args.stop_at, **streams)
    if os.environ.get("RANK", "0") == "0":
        print("\n".join(train_end_lines(result)), file=sys.stderr)
    return 128 + stop.signum if result.reason == "stopped" and stop.signum else 0


def train_end_lines(result: Any) -> list[str]:
    """Where the run's checkpoints are, and the panel's verdict: validation against the starting model."""
    from maskviz.train import read_events
    from maskviz.train.monitor import RunHistory

    history = RunHistory.from_events(read_events(Path(result.run_dir) / "metrics.jsonl")[0])
    best = ""
    if result.best_checkpoint:
        start = " (the starting model, step 0)" if result.best_step == 0 else f" (step {result.best_step})"
        best = f", best {result.best_checkpoint}{start}"
    lines = [f"{result.reason} after {result.steps}/{result.total_steps} steps: {result.last_checkpoint}{best}"]
    verdict = history.verdict().sentence()
    return lines + [verdict] if verdict else lines


COMMANDS = {"reconstruct": cmd_reconstruct, "info": cmd_info, "models": cmd_models, "train": cmd_train,
            "doctor": cmd_doctor, "compare": cmd_compare, "explain": cmd_explain}
SUBCOMMANDS = tuple(COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
