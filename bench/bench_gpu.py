"""GPU check, ready to run on a CUDA machine in under 5 minutes:

    python bench/bench_gpu.py                 # CUDA: MAE ViT-B/L/H, 50 amp training steps, torchrun
    python bench/bench_gpu.py --device cpu    # the same path on a CPU, with small models and few steps

1. ``reconstruct`` latency for MAE ViT-B/16, ViT-L/16 and ViT-H/14 (random weights, 75 % random
   mask, one image) in fp32, bf16 and fp16 (median of 5 after 2 warm-ups, synchronised), with the
   PSNR of each mixed-precision result minus the fp32 one (same weights, image and mask: how much
   precision costs) and the largest absolute difference of the predictions. The reference is the
   same model's fp32 time in the same run.
2. The app on Qt's offscreen platform on that device: the real main window, the bundled model
   moved to the device, one reconstruction through the worker thread.
3. ``maskviz train`` for 50 steps with ``--amp`` (bf16; on a CPU: fp32, 5 steps) on generated
   images: steps per second and a finite, falling loss.
4. ``torchrun`` with 2 processes (nccl on CUDA, gloo on a CPU). NCCL refuses two ranks on one GPU,
   so on a machine with a single GPU this part reports that instead of running.

Every part prints PASS or FAIL; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from maskviz.masks import make_mask  # noqa: E402
from maskviz.models import create_model  # noqa: E402
from maskviz.reconstruct import reconstruct  # noqa: E402

GPU_MODELS = ["mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14"]
CPU_MODELS = ["mae_vit_tiny_test", "mae_vit_small_patch8_64"]
RESULTS: list[tuple[str, bool]] = []


def part(name: str, run: Callable[[], str]) -> None:
    """Run one part; a failure is reported and counted, the other parts still run."""
    start = time.perf_counter()
    try:
        detail, ok = run(), True
    except Exception as exc:  # noqa: BLE001 - a check script reports every failure and goes on
        detail, ok = f"{type(exc).__name__}: {exc}", False
    print(f"[{'PASS' if ok else 'FAIL'}] {name} ({time.perf_counter() - start:.1f} s): {detail}", flush=True)
    RESULTS.append((name, ok))


def timed(device: torch.device, fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    def once() -> tuple[float, object]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    for _ in range(2):
        once()
    runs = [once() for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def latency_table(device: torch.device, names: list[str]) -> str:
    precisions = ["fp32", "bf16", "fp16"] if device.type == "cuda" else ["fp32"]
    lines = [line for name in names for line in model_latency(device, name, precisions)]
    return "".join(f"\n    {line}" for line in lines)


def model_latency(device: torch.device, name: str, precisions: list[str]) -> list[str]:
    torch.manual_seed(0)
    model = create_model(name).to(device).eval()
    size = model.config.img_size
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)
    lines, base_time, base = [], 0.0, None
    for precision in precisions:
        seconds, (result,) = timed(device, lambda p=precision: reconstruct(model, image, [mask], precision=p))
        if base is None:
            base_time, base, extra = seconds, result, "reference"
        else:
            gap = result.psnr - base.psnr
            diff = float(np.abs(result.prediction.astype(np.float32) - base.prediction.astype(np.float32)).max())
            extra = f"{base_time / seconds:4.2f}x fp32; PSNR {gap:+.3f} dB; max |diff| {diff:.4f}"
            if not np.isfinite(result.psnr) or abs(gap) > 1.0:
                raise AssertionError(f"{name} {precision}: PSNR differs from fp32 by {gap:.2f} dB")
        lines.append(f"{name:24s} {precision}  {seconds * 1000:8.1f} ms  {extra}")
    if device.type == "cuda":
        del model
        torch.cuda.empty_cache()
    return lines


def app_on_device(device: torch.device) -> str:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from maskviz.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(Path(folder), device=device.type)
        loop, shown = QEventLoop(), []
        window.controller.resultShown.connect(lambda task_id: (shown.append(task_id), loop.quit()))
        QTimer.singleShot(120_000, loop.quit)
        start = time.perf_counter()
        window.show()
        window.start("sample:coffee", None, restore=False)
        loop.exec()
        seconds = time.perf_counter() - start
        used = next(window.state.model.model.parameters()).device if window.state.model else None
        window.close()
        app.processEvents()
    if not shown:
        raise AssertionError("no reconstruction within 120 s")
    if used is None or used.type != device.type:
        raise AssertionError(f"the model ran on {used}, not {device}")
    return f"bundled model on {used}: first result {seconds:.2f} s after start()"


def make_images(folder: Path, count: int = 24) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        base = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)  # smooth, learnable images
        Image.fromarray(base).resize((96, 96), Image.BICUBIC).save(folder / f"{i:02d}.png")
    return folder


def train_command(data: Path, out: Path, device: torch.device, steps: int) -> list[str]:
    return ["train", "--data", str(data), "--model", "mae_vit_small_patch8_64", "--out", str(out),
            "--steps", str(steps), "--batch", "16", "--val-split", "0.1", "--val-every", str(steps),
            "--log-every", "5", "--device", device.type, *(["--amp"] if device.type == "cuda" else [])]


def losses(run: Path) -> list[float]:
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [e["loss"] for e in events if e.get("event") == "step" and e.get("loss") is not None]


def amp_training(device: torch.device, steps: int, work: Path) -> str:
    run = work / "amp-run"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "maskviz", *train_command(make_images(work / "imgs"), run, device, steps)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    curve = losses(run)
    if len(curve) != steps or not all(np.isfinite(curve)) or curve[-1] >= curve[0]:
        raise AssertionError(f"{len(curve)} steps, losses {curve[:2]} ... {curve[-2:]}")
    amp = "bf16 autocast" if device.type == "cuda" else "fp32 (amp is CUDA only)"
    return f"{steps} steps, {amp}, {steps / seconds:.2f} steps/s incl. start-up; loss {curve[0]:.3f} -> {curve[-1]:.3f}"


def torchrun_two(device: torch.device, steps: int, work: Path) -> str:
    if device.type == "cuda" and torch.cuda.device_count() < 2:
        return (f"not run: {torch.cuda.device_count()} GPU here, and NCCL refuses two ranks on one GPU "
                "('Duplicate GPU detected'); run on a 2-GPU machine to check nccl")
    run = work / "ddp-run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "maskviz",
           *train_command(make_images(work / "imgs"), run, device, steps)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    if proc.returncode:
        raise AssertionError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    plan = json.loads((run / "config.json").read_text())["plan"]
    curve = losses(run)
    backend = "nccl" if device.type == "cuda" else "gloo"
    return f"2 processes ({backend}), world size {plan['world_size']}, {len(curve)} steps, final loss {curve[-1]:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run with --device cpu for the CPU variant", file=sys.stderr)
        return 2
    gpu = device.type == "cuda"
    names = GPU_MODELS if gpu else CPU_MODELS
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name(device) if gpu else 'cpu'}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        part("reconstruct latency, fp32 / bf16 / fp16", lambda: latency_table(device, names))
        part("app offscreen, one reconstruction through the worker", lambda: app_on_device(device))
        part("maskviz train --amp", lambda: amp_training(device, 50 if gpu else 5, Path(tmp)))
        part("torchrun, 2 processes", lambda: torchrun_two(device, 20 if gpu else 4, Path(tmp)))
    failed = [name for name, ok in RESULTS if not ok]
    print("all parts passed" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
