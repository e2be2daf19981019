"""Training from the panel against training from a terminal: throughput, stop latency, the viewer meanwhile.

The panel starts ``maskviz train`` as a child process through ``TrainProcess`` with the command line
and environment its form builds (``TrainRequest``: the panel's own defaults for the flags the user
does not type); a terminal runs ``python -m maskviz train`` with the same data, model, steps and
batch. Both are timed from their own ``metrics.jsonl``: images trained / (end event - start event),
so validation and checkpoint writes count and the PyTorch import does not. The two alternate run by
run (``--repeats``), so a busy neighbour on a shared machine slows both.

    python bench/bench_train_panel.py                          # ViT-B/16 from scratch, 10 steps, batch 8
    python bench/bench_train_panel.py --model mae_vit_tiny_test --steps 200 --batch 8
    python bench/bench_train_panel.py --stop --viewer          # also: stop latency, viewer forwards meanwhile

``--stop`` starts a long panel run, presses Stop halfway through a step and prints the time until
the run has ended, against the step time. ``--viewer`` times forwards of the same model in this
process (the viewer's worker, its thread count) while a panel run trains, against forwards on an idle
machine. The panel's code is imported from wherever this checkout keeps it, so the same script
measures an older checkout (run it with that checkout's Python) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

try:  # this checkout: the Qt-free request and environment, the Qt process runner
    from maskviz.gui.training.process import TrainProcess
    from maskviz.train.launch import TrainRequest, child_environment
except ImportError:  # before the training package: all of it lived in gui/train_process.py
    from maskviz.gui.train_process import TrainProcess, TrainRequest, child_environment  # type: ignore[no-redef]

from maskviz.gui.worker import worker_threads
from maskviz.train import read_events


def make_folder(root: Path, n: int, size: int = 256, seed: int = 0) -> Path:
    """Smooth random colour images: decoding and cropping cost what photos of this size cost."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        f, phase = rng.uniform(1, 8, size=(3, 2)), rng.uniform(0, 6, size=3)
        arr = np.stack([np.sin(6 * (f[c, 0] * xx + f[c, 1] * yy) + phase[c]) for c in range(3)], axis=-1)
        Image.fromarray(((arr + 1) * 127.5).astype(np.uint8)).save(root / f"{i:03d}.png")
    return root


def throughput(run: Path, batch: int) -> tuple[float, float, int]:
    """(images/s from the start event to the end event, seconds, validations) of a finished run."""
    events = read_events(run / "metrics.jsonl")[0]
    start = next(e.time for e in events if e.event == "start")
    end = next(e for e in reversed(events) if e.event == "end")
    if end.reason != "done":
        raise SystemExit(f"{run.name} ended {end.reason}: {end.message}")
    seconds = end.time - start
    vals = sum(1 for e in events if e.event == "step" and e.val_loss is not None)
    return end.step * batch / seconds, seconds, vals


def wait(process: TrainProcess, timeout_s: float) -> None:
    loop = QEventLoop()
    process.finished.connect(lambda *_: loop.quit())
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    if process.running:
        loop.exec()


def panel_run(request: TrainRequest) -> float:
    """Start as the panel's Start does and wait for the end; returns the wall seconds from launch."""
    process = TrainProcess()
    t0 = time.perf_counter()
    process.start(request)
    wait(process, 3600)
    if process.ending is None or process.ending.reason != "done":
        raise SystemExit(f"panel run failed: {process.ending}\n" + "\n".join(process.output_lines[-20:]))
    return time.perf_counter() - t0


def cli_run(request: TrainRequest) -> float:
    """``maskviz train`` in a terminal with the same data, model, out, steps and batch (nothing else)."""
    command = [sys.executable, "-m", "maskviz", "train", "--data", request.data, "--model", request.model,
               "--out", request.out, "--steps", str(request.steps), "--batch", str(request.batch)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"CLI run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def bench_throughput(args: argparse.Namespace, data: Path, tmp: Path) -> None:
    rows: dict[str, list[tuple[float, float, int, float]]] = {"terminal": [], "panel": []}
    for r in range(args.repeats):
        for side in ("terminal", "panel"):
            request = TrainRequest(str(data), args.model, str(tmp / f"{side}-{r}"), args.steps, args.batch)
            wall = (cli_run if side == "terminal" else panel_run)(request)
            rows[side].append((*throughput(Path(request.out), args.batch), wall))
            ips, seconds, vals, wall = rows[side][-1]
            print(f"  {side:8s} run {r + 1}: {ips:7.2f} img/s ({seconds:6.1f} s start → end, {vals} validations, "
                  f"{wall:6.1f} s from launch to exit)", flush=True)
    panel_args = " ".join(TrainRequest(str(data), args.model, "OUT", args.steps, args.batch).arguments()[3:])
    threads = child_environment(dict(os.environ)).get("OMP_NUM_THREADS", "torch's default")
    print(f"panel flags beyond data/model/out: {panel_args}; the panel's trainer threads now: {threads}")
    medians = {side: statistics.median(r[0] for r in runs) for side, runs in rows.items()}
    print(f"{args.model}, {args.steps} steps, batch {args.batch}: terminal {medians['terminal']:.2f} img/s, "
          f"panel {medians['panel']:.2f} img/s, panel / terminal {medians['panel'] / medians['terminal']:.3f}x "
          f"(median of {args.repeats})", flush=True)


def bench_stop(args: argparse.Namespace, data: Path, tmp: Path) -> None:
    """Stop a panel run in the middle of a step: seconds until it has saved and ended, vs the step time."""
    process = TrainProcess()
    process.start(TrainRequest(str(data), args.model, str(tmp / "stop"), 100_000, args.batch))
    steps: list[float] = []
    deadline = time.time() + 1800
    while len(steps) < 4 and time.time() < deadline:
        QCoreApplication.processEvents()
        process.poll()
        steps = [e.time for e in read_events(tmp / "stop" / "metrics.jsonl")[0] if e.event == "step" and e.step > 0]
        time.sleep(0.05)
    step_s = statistics.median(np.diff(steps))
    time.sleep(max(0.0, steps[-1] + step_s / 2 - time.time()))  # halfway through the next step
    t0 = time.perf_counter()
    process.stop()
    wait(process, 600)
    stop_s = time.perf_counter() - t0
    reason = process.ending.reason if process.ending else "?"
    print(f"stop pressed halfway through a step: ended ({reason}) after {stop_s:.1f} s; a step takes "
          f"{step_s:.1f} s ({stop_s / step_s:.2f} steps)", flush=True)


def bench_viewer(args: argparse.Namespace, data: Path, tmp: Path) -> None:
    """Forwards of the model in this process (like the viewer's worker) idle and while a panel run trains."""
    import torch

    from maskviz.models import create_model
    from maskviz.reconstruct import reconstruct

    torch.set_num_threads(worker_threads())
    model = create_model(args.model).eval()
    image = Image.open(next(data.iterdir())).convert("RGB")
    mask = np.random.default_rng(0).random(model.grid_size) < 0.75

    def forwards(n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            reconstruct(model, image, [mask])
            times.append(time.perf_counter() - t0)
            QCoreApplication.processEvents()
        return statistics.median(times)

    forwards(2)
    idle = forwards(args.forwards)
    process = TrainProcess()
    process.start(TrainRequest(str(data), args.model, str(tmp / "viewer"), 100_000, args.batch))
    while not [e for e in read_events(tmp / "viewer" / "metrics.jsonl")[0] if e.event == "step" and e.step > 0]:
        QCoreApplication.processEvents()
        time.sleep(0.1)
    busy = forwards(args.forwards)
    process.stop()
    wait(process, 600)
    print(f"viewer forward ({worker_threads()} thread(s)): idle {idle * 1000:.0f} ms, while the panel trains "
          f"{busy * 1000:.0f} ms ({busy / idle:.2f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mae_vit_base_patch16", help="architecture trained from scratch")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--images", type=int, default=32, help="images in the generated folder (10 %% held out)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--stop", action="store_true", help="also measure how long Stop takes")
    parser.add_argument("--viewer", action="store_true", help="also time the viewer's forwards during a run")
    parser.add_argument("--forwards", type=int, default=5)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])  # noqa: F841 - TrainProcess's event loop
    import maskviz

    print(f"maskviz from {Path(maskviz.__file__).parent}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (other processes make every number noisy; ratios within a run hold better)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = make_folder(tmp / "images", args.images)
        if not args.skip_throughput:
            bench_throughput(args, data, tmp)
        if args.stop:
            bench_stop(args, data, tmp)
        if args.viewer:
            bench_viewer(args, data, tmp)


if __name__ == "__main__":
    main()
