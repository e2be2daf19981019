"""Kill ``maskviz train`` at random moments, resume, and check that nothing was lost or corrupted.

Each trial starts the same small run (tiny test model, generated images) in a fresh folder, kills
it after a random delay (from the first instants of the interpreter, through the PyTorch import, to
mid-training), half of the time with SIGINT (Ctrl-C) and half with SIGKILL (kill -9), then continues
it (``resume()``, or a fresh start when the kill came before the run existed) until it is done —
in this process, so that only the killed start pays for a PyTorch import. A trial survives when

* the killed command printed no traceback, a SIGINT ended it with exit code 130, and the resume worked;
* the finished run's weights equal those of an uninterrupted reference run bit for bit;
* ``metrics.jsonl`` holds each step 0..N exactly once, every line whole, and one "done" end;
* no temporary files are left.

"lost steps" = steps recorded before the kill that the resume had to redo (the work since the last save).

    nice -n 10 python bench/bench_train_faults.py              # 20 trials, kills within the first 90 s
    nice -n 10 python bench/bench_train_faults.py --trials 6 --steps 40 --window 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from maskviz.checkpoints import load_model
from maskviz.train import TrainConfig, resume, train

REPO = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int = 12) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:40] / 40.0
    for i in range(n):
        f, phase = rng.uniform(0.5, 2.5, size=(3, 2)), rng.uniform(0, 6, size=3)
        arr = np.stack([np.sin(f[c, 0] * xx + f[c, 1] * yy + phase[c]) for c in range(3)], axis=-1)
        Image.fromarray(((arr + 1) * 127.5).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


def train_command(data: Path, run: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "maskviz", "train", "--data", str(data), "--model", "mae_vit_tiny_test",
            "--out", str(run), "--steps", str(steps), "--batch", "4", "--save-every", "7", "--val-every", "5"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def finish(data: Path, run: Path, steps: int) -> str:
    """Continue the run to the end (resume when it exists, else start it again); '' or what went wrong."""
    try:
        if (run / "config.json").exists():
            result = resume(run)
        else:  # the same recipe as train_command, so the weights must come out the same
            result = train(TrainConfig(data=str(data), model="mae_vit_tiny_test", out=str(run), steps=steps,
                                       batch=4, save_every=7, val_every=5))
    except Exception as exc:  # noqa: BLE001 - a failed resume is the finding
        return f"{type(exc).__name__}: {exc}"
    return "" if result.reason == "done" else f"ended {result.reason}"


def events(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check(run: Path, reference: dict, steps: int) -> list[str]:
    problems = []
    evs = events(run)
    step_lines = sorted(e["step"] for e in evs if e["event"] == "step")
    if step_lines != list(range(0, steps + 1)):
        problems.append(f"steps in metrics: {step_lines[:5]}... ({len(step_lines)} lines)")
    ends = [e["reason"] for e in evs if e["event"] == "end"]
    if not ends or ends[-1] != "done":
        problems.append(f"ends: {ends}")
    weights = load_model(run / "checkpoints" / "last.safetensors").model.state_dict()
    if any(not (weights[k] == reference[k]).all() for k in reference):
        problems.append("final weights differ from the uninterrupted run")
    if leftovers := [p.name for p in run.rglob("*.tmp")]:
        problems.append(f"temporary files left: {leftovers}")
    return problems


def trial(data: Path, run: Path, steps: int, how: int, delay: float, reference: dict) -> tuple[list[str], int]:
    proc = subprocess.Popen(train_command(data, run, steps), cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(how)
    problems = []
    try:
        _, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        problems.append("did not exit within 600 s of the signal")
    if "Traceback" in err:
        problems.append(f"traceback after the kill: {err[-300:]}")
    if how == signal.SIGINT and proc.returncode not in (0, 130):
        problems.append(f"exit code {proc.returncode} after SIGINT")
    recorded = max((e["step"] for e in events(run) if e["event"] == "step"), default=0)
    if failure := finish(data, run, steps):
        problems.append(f"resume failed: {failure}")
        return problems, 0
    restarts = [e["step"] for e in events(run) if e["event"] == "start" and e.get("resumed")]
    lost = max(0, recorded - restarts[-1]) if restarts else recorded
    return problems + check(run, reference, steps), lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=float, default=90.0,
                    help="kill within this many seconds of the start (covers the import and the training)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the children (OMP_NUM_THREADS=1): the same arithmetic, the same weights
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="maskviz-faults-") as tmp:
        root = Path(tmp)
        data = make_images(root / "imgs")
        if failure := finish(data, root / "reference", args.steps):
            sys.exit(f"the reference run failed: {failure}")
        reference = load_model(root / "reference" / "checkpoints" / "last.safetensors").model.state_dict()
        full = args.window
        print(f"killing at random moments in 0 .. {full:.0f} s of a {args.steps}-step run", flush=True)
        survived, worst = 0, 0
        for i in range(args.trials):
            how = signal.SIGINT if i % 2 == 0 else signal.SIGKILL
            delay = rnd.uniform(0.0, full)
            problems, lost = trial(data, root / f"run{i:02d}", args.steps, how, delay, reference)
            survived += not problems
            worst = max(worst, lost)
            name = signal.Signals(how).name
            print(f"trial {i + 1:2d}: {name:7s} at {delay:5.2f} s  lost {lost:2d} steps  "
                  f"{'ok' if not problems else 'FAILED: ' + '; '.join(problems)}", flush=True)
        print(f"survived {survived}/{args.trials}, lost steps <= {worst}")


if __name__ == "__main__":
    main()
