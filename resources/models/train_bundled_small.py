"""Train maskviz's first two bundled models (64 px MAE and SimMIM) with ``maskviz train``.

    resources/models/get_training_data.sh ~/.cache/maskviz-train-data      # the images (once)
    python resources/models/train_bundled_small.py --data ~/.cache/maskviz-train-data \\
        --work /tmp/bundled-runs --export resources/models
    python resources/models/train_bundled_small.py --rewrite-metadata resources/models/*.safetensors

The stages, as the bundled files were made:

1. **From scratch**, both models at once, in a time budget (``--minutes``, 6.5 on one H200 with
   16 cores). A cosine schedule must know its length, so a short probe first measures each run's
   images per second on this machine; each run then gets as many steps as fit.
2. **Continued** from stage 1's best checkpoint with a fresh, lower cosine schedule and another
   seed (new crops and masks; the 5 % validation split changes with the seed), on the same GPU.
   The MAE's stage 2 was cut at step 1930 of 2400 by the end of the GPU lease: ``--stop-at``
   repeats that.
3. **SimMIM only**, on a 2-core CPU: trained on one mask shape and ratio (coarse 2×2-patch cells,
   60 %), SimMIM fills other masks poorly — patch-level random 75 % worse than the mean colour — and
   fine-tuning on patch-level 60 % alone made it brittle at other ratios. So it is fine-tuned on a
   mixture (``--mask A|B|...``) of the patterns the app offers, 40 to 90 % hidden.

Each stage starts from the previous stage's best checkpoint (by validation loss), and the exported
file is the last stage's. Its maskviz metadata holds what ``maskviz train`` writes (steps, losses,
the full command, the images' fingerprint), each earlier stage's metadata as ``base_model_info``,
and this script's command line. Stages run with ``--workers`` data processes on a GPU; the main
process then keeps 2 threads, because more only fight the workers for cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: name -> (exported file, options of every stage)
RECIPES: dict[str, tuple[str, dict[str, str]]] = {
    "mae": ("maskviz_mae_small.safetensors", {"model": "mae_vit_small_patch8_64"}),
    "simmim": ("maskviz_simmim_small.safetensors",
               {"model": "simmim_vit_small_patch8_64", "mask": "simmim:0.6,mask_patch=16"}),
}
#: SimMIM's last stage: each sample draws one of these (the app's usual patterns, 40-90 % hidden).
STAGE3_MASKS = "random:0.4|random:0.6|random:0.75|random:0.9|block:0.5|simmim:0.6,mask_patch=16"
COMMON = {"batch": "256", "min-lr": "1e-5", "val-split": "0.05", "synthetic": "0.3", "augment": "strong"}
STAGE1 = {"lr": "8e-4", "seed": "0"}
#: Stages after the first, per model: options over COMMON and the recipe's (``--model`` is the previous best).
LATER: dict[str, list[dict[str, str]]] = {
    "mae": [
        {"lr": "3e-4", "seed": "1", "steps": "2400", "warmup-steps": "100", "val-every": "80", "stop-at": "1930"},
    ],
    "simmim": [
        {"lr": "3e-4", "seed": "1", "steps": "1000", "warmup-steps": "50", "val-every": "40"},
        {"mask": STAGE3_MASKS, "batch": "64", "lr": "2e-4", "seed": "2", "steps": "2000",
         "warmup-steps": "100", "val-every": "200", "device": "cpu", "workers": "0"},
    ],
}


def train_command(data: Path, out: Path, options: dict[str, str]) -> list[str]:
    flags = [part for key, value in options.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "maskviz", "train", "--data", str(data), "--out", str(out), *flags]


def start(name: str, data: Path, out: Path, options: dict[str, str], args: argparse.Namespace) -> subprocess.Popen:
    options = {**RECIPES[name][1], **COMMON, "workers": str(args.workers), "device": args.device, "save-every": "200",
               "log-every": "100", **options}
    cmd = train_command(data, out, options)
    print("$", shlex.join(cmd), flush=True)
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "2"})


def stage1_options(steps: int) -> dict[str, str]:
    return {**STAGE1, "steps": str(steps), "warmup-steps": str(max(1, steps // 20)),
            "val-every": str(max(1, steps // 25)), "save-every": str(max(1, steps // 10))}


def scaled(options: dict[str, str], factor: float) -> dict[str, str]:
    """``options`` with every step count multiplied by ``factor`` (at least 1)."""
    counts = ("steps", "warmup-steps", "val-every", "stop-at")
    return {k: str(max(1, round(int(v) * factor))) if k in counts else v for k, v in options.items()}


def wait_all(procs: dict[str, subprocess.Popen]) -> None:
    failed = [n for n, p in procs.items() if p.wait() != 0]
    if failed:
        raise SystemExit(f"training failed: {', '.join(failed)}")


def images_per_second(run: Path) -> float:
    """Median throughput of a run's steps after its first 3 (start-up excluded)."""
    rates = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "step" and event["step"] > 3 and event.get("val_loss") is None:
            rates.append(event["images_per_s"])
    if len(rates) < 3:
        raise SystemExit(f"probe of {run} made only {len(rates)} steps: give it more time (--probe-seconds)")
    return statistics.median(rates)


def probe(args: argparse.Namespace) -> dict[str, float]:
    """Run both first stages side by side for a while and measure their speed together."""
    procs = {n: start(n, args.data, args.work / f"probe-{n}", stage1_options(10**6), args) for n in RECIPES}
    time.sleep(args.probe_seconds)
    for p in procs.values():
        p.send_signal(signal.SIGINT)  # maskviz train stops cleanly on SIGINT
    for p in procs.values():
        p.wait()
    return {n: images_per_second(args.work / f"probe-{n}") for n in RECIPES}


def export(name: str, run: Path, dest: Path, bundled_by: str) -> Path:
    """The run's best checkpoint with the bundle's provenance added to its metadata."""
    from maskviz.checkpoints import load_model, save_model
    from maskviz.train.provenance import portable_info

    loaded = load_model(run / "checkpoints" / "best.safetensors")
    last = load_model(run / "checkpoints" / "last.safetensors").info
    info = {**loaded.info, "bundled_by": bundled_by, "run_final_step": last.get("steps"),
            "run_final_val_loss": last.get("val_loss"),
            "data_recipe": "resources/models/get_training_data.sh (Debian wallpaper packages and wheel data "
                           "files with redistributable licences; see its SOURCES.tsv)"}
    path = dest / RECIPES[name][0]
    save_model(loaded.model, path, portable_info(info))  # this script's command line holds paths too
    return path


def rewrite_metadata(paths: list[Path]) -> None:
    """Rewrite shipped files' provenance without machine paths (files exported before maskviz did that);
    the weights are written back unchanged."""
    from maskviz.checkpoints import load_model, save_model
    from maskviz.train.provenance import portable_info

    for path in paths:
        loaded = load_model(path)
        save_model(loaded.model, path, portable_info(loaded.info))
        print("rewrote", path, flush=True)


def main() -> int:
    sys.path.insert(0, str(REPO))  # run from a checkout without installing
    if sys.argv[1:2] == ["--rewrite-metadata"]:
        rewrite_metadata([Path(p) for p in sys.argv[2:]])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder made by get_training_data.sh")
    ap.add_argument("--work", type=Path, required=True, help="folder for the run folders (must not hold them yet)")
    ap.add_argument("--export", type=Path, required=True, help="where the two model files go")
    ap.add_argument("--minutes", type=float, default=6.5, help="training time of stage 1 (default 6.5)")
    ap.add_argument("--probe-seconds", type=float, default=40.0)
    ap.add_argument("--workers", type=int, default=max(1, ((os.cpu_count() or 2) - 2) // len(RECIPES)),
                    help="data processes per run in stage 1, twice that later (default: the cores, shared)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--step-scale", type=float, default=1.0,
                    help="multiply the fixed step counts of the later stages (e.g. 0.01 to try the pipeline)")
    args = ap.parse_args()
    args.data, args.work = args.data.resolve(), args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.export.mkdir(parents=True, exist_ok=True)

    rates = probe(args)
    steps = {n: max(10, int(rates[n] * args.minutes * 60 / int(COMMON["batch"]))) for n in RECIPES}
    print("probe:", {n: f"{rates[n]:.0f} img/s -> {steps[n]} steps" for n in RECIPES}, flush=True)
    wait_all({n: start(n, args.data, args.work / f"{n}-1", stage1_options(steps[n]), args) for n in RECIPES})
    last = {}
    for n in RECIPES:  # one run at a time from here: each gets every data worker
        for i, options in enumerate(LATER[n], start=2):
            base = args.work / f"{n}-{i - 1}" / "checkpoints" / "best.safetensors"
            options = {"workers": str(2 * args.workers), **scaled(options, args.step_scale), "model": str(base)}
            wait_all({n: start(n, args.data, args.work / f"{n}-{i}", options, args)})
            last[n] = args.work / f"{n}-{i}"
    bundled_by = shlex.join(["python", "resources/models/train_bundled_small.py", *sys.argv[1:]])
    for n in RECIPES:
        print("exported", export(n, last[n], args.export, bundled_by), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
