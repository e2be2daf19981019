"""Train maskviz's 14×14-grid bundled models (MAE with pixel targets, and SimMIM) with ``maskviz train``.

    resources/models/get_training_data.sh .traindata      # the training images (once; needs Debian's apt)
    python resources/models/heldout_photos.py .heldout     # the held-out photos (once)
    python resources/models/train_bundled.py --data .traindata --photos .heldout --work /tmp/bundle-runs \\
        --export /tmp/bundle-export

(``gpu_lease.sh`` trains on ``.leasedata`` instead: the photos and textures of ``.traindata``
shrunk to fit the device tool's carry, ``training_data.py shard``; ``art/`` is never used there.)

One command, sized for one 10-minute GPU lease (``resources/models/gpu_lease.sh`` runs it there);
``--dry-run`` runs every phase on the CPU at a handful of steps, to test the pipeline.

1. **Probe**: the four candidates (MAE and SimMIM, each at 112 px / patch 8 and at 224 px /
   patch 16: the same 14×14 grid, see ``BUNDLE_CANDIDATES``) train side by side for
   ``--probe-seconds``; each one's images per second sets its step count below.
2. **Short runs**: the four from scratch, side by side, for ``--short-minutes``.
3. **Choice of geometry**: ``bench/bench_quality.py`` on the held-out photos (bundled samples +
   ``--photos``) scores each short run by its margin over the best non-learned fill of its
   geometry (paired, mean of random 75 % and block 50 %; OpenCV's fills only in the final
   benchmark); ``bench_bundled_latency`` times each
   architecture's reconstruction on 2 CPU threads. A geometry's score is its two models' mean
   margin per millisecond; the best wins (when no margin is positive, the largest margin wins:
   a loss per millisecond rewards the slower model).
4. **Main runs**: the chosen geometry's MAE and SimMIM continue from their short run's best
   checkpoint with a fresh, lower cosine schedule for ``--minutes``, side by side (a run that
   overruns its time by a third is stopped cleanly; its best checkpoint stands).
5. **Export**: each main run's best checkpoint (by validation loss) in fp16 (loads as fp32) as
   ``maskviz_{mae,simmim}_{SIZE}.safetensors``, with a default mask spec (``default_mask``: the
   SimMIM's 2×2-patch cells, the MAE's random 75 %), every stage's metadata, the choice's
   numbers, and no path of the machine it was made on.
6. **Benchmark**: ``bench_quality.py --cv2`` on the exported models: ``WORK/quality.md`` and
   ``WORK/quality.json``.

The MAE trains on random 75 % (MAE needs one visible count per batch). The SimMIM trains on
:data:`SIMMIM_MIXTURE`, every pattern the app offers, because a SimMIM trained on one pattern fills
the others poorly (see ``train_bundled_small.py``). Options common to all runs: :data:`COMMON`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAMILIES = ("mae", "simmim")
#: geometry key -> (input size, patch size); both give a 14×14 grid.
GEOMETRIES = {"112": (112, 8), "224": (224, 16)}
COMMON = {"batch": "256", "min-lr": "1e-5", "val-split": "0.05", "synthetic": "0.3", "augment": "strong",
          "amp": "bf16"}
SHORT = {"lr": "8e-4", "seed": "0"}
MAIN = {"lr": "3e-4", "seed": "1"}
#: What each sample of the SimMIM draws from (``|``): the app's patterns, 30-90 % hidden; ``{cell}``
#: is two patches. Random and block masks fill half the draws, the structured patterns the rest.
SIMMIM_MIXTURE = ("random:0.4|random:0.6|random:0.75|random:0.9|block:0.3|block:0.5|simmim:0.6,mask_patch={cell}"
                  "|simmim:0.75,mask_patch={cell}|grid:2|center:0.25|center:0.5|border:2|stripes:h,2,1"
                  "|stripes:v,2,1|checkerboard:2|half:left")
#: The mask each model opens with in the app and the CLI (stored as ``default_mask``).
DEFAULT_MASK = {"mae": "random:0.75", "simmim": "simmim:0.6,mask_patch={cell}"}
#: A main run may overrun its time by this factor before it is stopped (its best checkpoint stands).
OVERRUN = 4 / 3
#: Images per second assumed for a run whose probe made too few steps (a cautious H200 figure).
FALLBACK_RATE = 400.0
#: Training images a --dry-run uses (the validation split takes one of them).
DRY_RUN_IMAGES = 12
#: Seconds kept for the export at the end of a --budget-minutes run (gpu_lease.sh benchmarks after it).
FINISH_SECONDS = 45


# ------------------------------------------------------------------------------------------ runs


def model_name(family: str, geometry: str) -> str:
    size, patch = GEOMETRIES[geometry]
    return f"{family}_vit_bundle_patch{patch}_{size}"


def cell(geometry: str) -> int:
    return 2 * GEOMETRIES[geometry][1]


def mask_option(family: str, geometry: str) -> str:
    return "random:0.75" if family == "mae" else SIMMIM_MIXTURE.format(cell=cell(geometry))


def train_command(data: Path, out: Path, options: dict[str, str]) -> list[str]:
    flags = [part for key, value in options.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "maskviz", "train", "--data", str(data), "--out", str(out), *flags]


def start(out: Path, options: dict[str, str], args: argparse.Namespace) -> subprocess.Popen:
    options = {**COMMON, "device": args.device, "log-every": "50", **args.overrides, **options}
    cmd = train_command(args.data, out, options)
    print("$", shlex.join(cmd), flush=True)
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "2"},
                            stdout=subprocess.DEVNULL if args.quiet else None)


def schedule(steps: int) -> dict[str, str]:
    return {"steps": str(steps), "warmup-steps": str(max(1, steps // 20)), "val-every": str(max(1, steps // 20)),
            "save-every": str(max(1, steps // 5))}


def wait_all(procs: dict[str, subprocess.Popen], deadline: float | None = None) -> None:
    """Wait for every run; past ``deadline`` (monotonic time), stop the rest cleanly with SIGINT."""
    for name, p in procs.items():
        while p.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                print(f"{name} overran its time: stopping it (its best checkpoint stands)", flush=True)
                p.send_signal(signal.SIGINT)  # maskviz train saves and exits on SIGINT
                p.wait()
                break
            time.sleep(1)
    failed = [n for n, p in procs.items() if p.returncode not in (0, 128 + signal.SIGINT)]
    if failed:
        raise SystemExit(f"training failed: {', '.join(failed)}")


def images_per_second(run: Path) -> float:
    """Median throughput of a run's steps after its first 3 (start-up excluded); a guess when the
    run made too few steps to tell (a lost lease costs more than a schedule of the wrong length)."""
    rates = []
    metrics = run / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        event = json.loads(line)
        if event.get("event") == "step" and event["step"] > 3 and event.get("val_loss") is None:
            rates.append(event["images_per_s"])
    if len(rates) < 3:
        print(f"warning: {run.name} made only {len(rates)} timed steps; assuming {FALLBACK_RATE} images/s",
              flush=True)
        return FALLBACK_RATE
    return statistics.median(rates)


def probe(runs: list[tuple[str, str]], args: argparse.Namespace) -> dict[tuple[str, str], float]:
    """Train ``runs`` side by side for a while; each one's images per second, measured together."""
    procs = {}
    for family, geometry in runs:
        options = {"model": model_name(family, geometry), "mask": mask_option(family, geometry), **SHORT,
                   **schedule(10**6), "workers": str(args.workers_short)}
        procs[(family, geometry)] = start(args.work / f"probe-{family}-{geometry}", options, args)
    time.sleep(args.probe_seconds)
    for p in procs.values():
        p.send_signal(signal.SIGINT)
    for p in procs.values():
        p.wait()
    return {run: images_per_second(args.work / f"probe-{run[0]}-{run[1]}") for run in runs}


def steps_for(rate: float, minutes: float, args: argparse.Namespace) -> int:
    if args.fixed_steps:
        return args.fixed_steps
    return max(10, int(rate * minutes * 60 / int(COMMON["batch"])))


def best_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / "best.safetensors"


# ------------------------------------------------------------------------------------------ phases


def short_runs(args: argparse.Namespace) -> dict[tuple[str, str], Path]:
    runs = [(f, g) for g in args.geometries for f in FAMILIES]
    rates = {run: 0.0 for run in runs} if args.fixed_steps else probe(runs, args)
    print("probe:", {f"{f}-{g}": f"{r:.0f} img/s" for (f, g), r in rates.items()}, flush=True)
    procs, outs = {}, {}
    for family, geometry in runs:
        steps = steps_for(rates[(family, geometry)], args.short_minutes, args)
        options = {"model": model_name(family, geometry), "mask": mask_option(family, geometry), **SHORT,
                   **schedule(steps), "workers": str(args.workers_short)}
        outs[(family, geometry)] = args.work / f"short-{family}-{geometry}"
        procs[f"{family}-{geometry}"] = start(outs[(family, geometry)], options, args)
    wait_all(procs, None if args.fixed_steps else time.monotonic() + args.short_minutes * 60 * OVERRUN + 30)
    return outs


def has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        print("note: no OpenCV here, so no cv2 baselines (pip install -e '.[bench]')", flush=True)
        return False
    return True


def quality(models: list[Path], args: argparse.Namespace, crops: int, cv2: bool = True) -> tuple[list, dict]:
    """bench_quality's rows for ``models`` on the held-out photos, with OpenCV's fills when asked
    and there is OpenCV (and the photos used)."""
    sys.path.insert(0, str(REPO / "bench"))
    import bench_quality

    argv = [*(a for m in models for a in ("--model", str(m))), "--crops", str(crops), "--threads",
            str(args.bench_threads)]
    argv += ["--photos", str(args.photos)] if args.photos else []
    argv += ["--cv2"] if cv2 and has_cv2() else []
    argv += ["--baselines", args.baselines] if args.baselines else []
    bench_args = bench_quality.parse_args(argv)
    rows, photos = bench_quality.measure(bench_args)
    return rows, {"args": bench_args, "photos": photos, "module": bench_quality}


def latency_ms(geometry: str, args: argparse.Namespace) -> dict[str, float]:
    """Median reconstruct time of each family's architecture at ``geometry`` (random weights, 2 threads)."""
    import tempfile

    import torch

    sys.path.insert(0, str(REPO / "bench"))
    import bench_bundled_latency as lat

    from maskviz.bundled import sample_path
    from maskviz.images import load_image

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    image = load_image(sample_path("coffee"))
    with tempfile.TemporaryDirectory() as tmp:
        found = {f: lat.measure(model_name(f, geometry), args.latency_repeats, image, Path(tmp))["ms"]
                 for f in FAMILIES}
    torch.set_num_threads(threads)
    return found


def choose_geometry(outs: dict[tuple[str, str], Path], args: argparse.Namespace) -> tuple[str, dict]:
    """The geometry whose short runs beat the non-learned fills by most per millisecond (module docstring)."""
    folder = args.work / "short-best"  # one name per model: the benchmark's rows are named after files
    folder.mkdir(exist_ok=True)
    paths = {}
    for (f, g), run in outs.items():
        paths[(f, g)] = folder / f"{f}_{g}.safetensors"
        shutil.copyfile(best_checkpoint(run), paths[(f, g)])
    # Without OpenCV: at 224 px its one-patch radius is slow, and harmonic interpolation has been the
    # best fill at every geometry measured (resources/models/README.md), so it sets the margin.
    rows, _ = quality(list(paths.values()), args, args.short_crops, cv2=False)
    margins = dict(zip(paths, (m for r in rows if r.kind == "model" for m in [_margin_of(r, rows)]), strict=True))
    scores = {}
    for g in args.geometries:
        per_model = [margins[(f, g)] for f in FAMILIES]
        margin = statistics.fmean(d for m in per_model for d, _, _ in m.values())
        ms = latency_ms(g, args)
        scores[g] = {"margin_db": margin, "ms": ms, "margin_db_per_ms": margin / statistics.fmean(ms.values()),
                     "per_model": {f: {k: v[:2] for k, v in m.items()} for f, m in zip(FAMILIES, per_model,
                                                                                        strict=True)}}
    positive = any(s["margin_db"] > 0 for s in scores.values())
    key = "margin_db_per_ms" if positive else "margin_db"
    chosen = max(scores, key=lambda g: scores[g][key])
    print(json.dumps({"geometry_scores": scores, "chosen": chosen, "by": key}, indent=1), flush=True)
    return chosen, {"scores": scores, "chosen": chosen, "by": key}


def _margin_of(row, rows: list):  # noqa: ANN001, ANN202 - bench_quality.Row
    import bench_quality

    return bench_quality.goal_margins([row, *(r for r in rows if r.kind == "baseline")])[row.method]


def main_runs(geometry: str, outs: dict[tuple[str, str], Path], args: argparse.Namespace,
              minutes: float) -> dict[str, Path]:
    procs, mains = {}, {}
    rates = {f: 0.0 if args.fixed_steps else images_per_second(outs[(f, geometry)]) for f in FAMILIES}
    # Half as many runs share the machine as in the short phase: about twice the speed each.
    speedup = 1.0 if args.fixed_steps else 0.85 * len(args.geometries)
    for family in FAMILIES:
        steps = steps_for(rates[family] * speedup, minutes, args)
        options = {"model": str(best_checkpoint(outs[(family, geometry)])), "mask": mask_option(family, geometry),
                   **MAIN, **schedule(steps), "workers": str(args.workers_main)}
        mains[family] = args.work / f"main-{family}-{geometry}"
        procs[family] = start(mains[family], options, args)
    deadline = None if args.fixed_steps else time.monotonic() + minutes * 60 * OVERRUN + 30
    if args.budget_end is not None:
        deadline = min(deadline or args.budget_end, args.budget_end - FINISH_SECONDS)
    wait_all(procs, deadline)
    return mains


def export(family: str, geometry: str, run: Path, args: argparse.Namespace, extra: dict) -> Path:
    """The run's best checkpoint, fp16, with the bundle's default mask and provenance."""
    import torch

    from maskviz.checkpoints import DEFAULT_MASK_KEY, load_model, save_model
    from maskviz.train.provenance import portable_info

    loaded = load_model(best_checkpoint(run))
    last = load_model(run / "checkpoints" / "last.safetensors").info
    info = {**loaded.info, "bundled_by": shlex.join(["python", "resources/models/train_bundled.py", *args.argv]),
            "run_final_step": last.get("steps"), "run_final_val_loss": last.get("val_loss"),
            "data_recipe": "resources/models/get_training_data.sh (photos and photographed ground textures from "
                           "Debian packages and wheel data files with redistributable licences, selected by "
                           "resources/models/training_data.py; see its SOURCES.tsv)",
            DEFAULT_MASK_KEY: DEFAULT_MASK[family].format(cell=cell(geometry)), **extra}
    path = args.export / f"maskviz_{family}_{GEOMETRIES[geometry][0]}.safetensors"
    save_model(loaded.model, path, portable_info(info), dtype=torch.float16)  # no path of this machine
    return path


def final_benchmark(files: list[Path], args: argparse.Namespace) -> None:
    rows, ctx = quality(files, args, args.crops)
    bq, photos = ctx["module"], ctx["photos"]
    n_crops = len(photos) * args.crops
    text = "\n\n".join(t for t in (bq.markdown_table(rows, n_crops, list(photos)), bq.paired_table(rows),
                                    bq.goal_table(rows)) if t)
    (args.work / "quality.md").write_text(text + "\n")
    (args.work / "quality.json").write_text(json.dumps(bq.to_json(rows, ctx["args"], n_crops, list(photos)),
                                                       indent=1) + "\n")
    print(text, flush=True)


def dry_run_subset(data: Path, dest: Path) -> Path:
    """:data:`DRY_RUN_IMAGES` of the training photos, linked into ``dest``: a quick scan and cache."""
    from maskviz.bundled import IMAGE_SUFFIXES

    photos = sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:DRY_RUN_IMAGES]
    dest.mkdir(parents=True, exist_ok=True)
    for i, photo in enumerate(photos):
        (dest / f"{i:02d}{photo.suffix.lower()}").symlink_to(photo)
    return dest


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder made by get_training_data.sh")
    ap.add_argument("--photos", type=Path, default=None, help="held-out photos made by heldout_photos.py")
    ap.add_argument("--work", type=Path, required=True, help="folder for the run folders (must not hold them yet)")
    ap.add_argument("--export", type=Path, required=True, help="where the two model files go")
    ap.add_argument("--geometry", choices=sorted(GEOMETRIES), action="append",
                    help="candidate geometry (repeatable; default both); one alone skips the choice")
    ap.add_argument("--probe-seconds", type=float, default=35.0)
    ap.add_argument("--short-minutes", type=float, default=1.5, help="short run of each candidate (default 1.5)")
    ap.add_argument("--minutes", type=float, default=3.5, help="main run of the chosen models (default 3.5)")
    ap.add_argument("--short-crops", type=int, default=4, help="crops per held-out photo to choose the geometry")
    ap.add_argument("--crops", type=int, default=10, help="crops per held-out photo of the final benchmark")
    ap.add_argument("--latency-repeats", type=int, default=15)
    ap.add_argument("--bench-threads", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget-minutes", type=float, default=None,
                    help="whole command's time limit: the main runs get what is left (less export and benchmark)")
    ap.add_argument("--fixed-steps", type=int, default=None, help="every run this many steps (no probe)")
    ap.add_argument("--dry-run", action="store_true",
                    help=f"test the pipeline on the CPU: 1 step a run, batch 4, {DRY_RUN_IMAGES} training images, "
                         "1 crop per photo, harmonic interpolation as the only non-OpenCV baseline")
    ap.add_argument("--no-bench", action="store_true", help="stop after the export (gpu_lease.sh benchmarks apart)")
    ap.add_argument("--quiet", action="store_true", help="no per-step output of the runs (their logs remain)")
    args = ap.parse_args(argv)
    args.argv = argv
    args.geometries = args.geometry or sorted(GEOMETRIES)
    cores = os.cpu_count() or 2
    args.workers_short = max(0, (cores - 4) // (2 * len(args.geometries)))
    args.workers_main = max(0, (cores - 2) // 2)
    args.overrides = {}
    args.baselines = None
    if args.dry_run:
        args.device, args.fixed_steps, args.short_crops, args.crops, args.latency_repeats = "cpu", 1, 1, 1, 1
        args.bench_threads = 1  # a shared CPU: a second thread mostly waits for the first
        args.workers_short = args.workers_main = 0
        args.overrides = {"batch": "4", "amp": "none", "synthetic": "0"}
        args.baselines = "harmonic"
    args.data, args.work, args.export = args.data.resolve(), args.work.resolve(), args.export.resolve()
    if args.photos:
        args.photos = args.photos.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(REPO))  # run from a checkout without installing
    args.work.mkdir(parents=True, exist_ok=True)
    args.export.mkdir(parents=True, exist_ok=True)
    if args.dry_run:
        args.data = dry_run_subset(args.data, args.work / "dry-run-data")
    started = time.monotonic()
    args.budget_end = started + 60 * args.budget_minutes if args.budget_minutes else None
    outs = short_runs(args)
    print(f"short runs done at {time.monotonic() - started:.0f} s", flush=True)
    if len(args.geometries) > 1:
        geometry, choice = choose_geometry(outs, args)
    else:
        geometry, choice = args.geometries[0], {"chosen": args.geometries[0], "by": "--geometry"}
    (args.work / "choice.json").write_text(json.dumps(choice, indent=1) + "\n")
    print(f"choice made at {time.monotonic() - started:.0f} s: {geometry}", flush=True)
    minutes = args.minutes
    if args.budget_end is not None:  # start-up of two runs and their slack come out of what is left
        left = (args.budget_end - time.monotonic() - FINISH_SECONDS - 40) / 60
        minutes = max(0.5, min(minutes, left / OVERRUN))
    print(f"main runs: {minutes:.2f} minutes each", flush=True)
    mains = main_runs(geometry, outs, args, minutes)
    print(f"main runs done at {time.monotonic() - started:.0f} s", flush=True)
    files = [export(f, geometry, mains[f], args, {"geometry_choice": choice}) for f in FAMILIES]
    for f in files:
        print(f"exported {f} ({f.stat().st_size / 1e6:.1f} MB)", flush=True)
    if not args.no_bench:
        final_benchmark(files, args)
    print(f"all done at {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
