"""Benchmark: does the window answer a stroke or a pattern change while background work runs?

    python bench/bench_gui.py [--model mae_vit_base_patch16|mae_vit_large_patch16|mae_vit_huge_patch14]
                              [--strokes 4] [--patterns 4] [--no-curve] [--no-compare] [--no-quit]
                              [--explain attention|rollout|gradient|occlusion|features|spread]

Drives the real ``MainWindow`` on Qt's offscreen platform with a published-size MAE (random
weights, CPU), with the Compare dock and the loss curve both on screen (Compare moved out of the
tabs to the bottom), as a user has them. Before every change a Compare table is running (Run is
clicked: a ViT-B/L table takes minutes) and the loss curve is computing when the pattern family
changes; the change then lands at a different point of a background forward each time. Then:

* **stroke → final result on screen**: real mouse events (press, moves every 8 ms, release) on the
  canvas; the time from the release until the state holds the result for the new mask;
* **pattern change → final result**: the pattern panel's Apply (alternating families), same clock;
* both as a ratio to one ``reconstruct()`` of the same model measured in the same run (1 torch
  thread, as the worker uses on 2 cores; median of 3 before the window opens and 3 after it
  closed), and to the time that request's own ``reconstruct()`` took in the worker. Goal: ≤ 1.5×;
* the UI event loop's longest stall and p99 (a 5 ms timer; goal ≤ 50 ms);
* **cancel**: Cancel clicked in the middle of a table → the worker free for other work;
  **close**: the window closed during a table → ``close()`` returned and the worker stopped
  (goal for both: ≤ one forward + 0.5 s);
* **quit**: the app in a child process closed while idle and during a table → the process gone,
  and its exit code (goal: idle < 1 s; busy ≤ one forward + 0.5 s; exit code 0).
* with ``--explain METHOD`` the Explain dock is on screen too (beside Compare, at the bottom): before
  each change a new hidden target is clicked (its job runs in the lens's lane) and during strokes the
  target follows the pointer; afterwards the pointer visits hidden patches one by one and the time
  from each move to its map on screen is reported (one kept forward answers them all for attention,
  rollout and features).

Runs against whichever ``maskviz`` is importable (an installed checkout), so the same script
measures an older main too (``Compat`` bridges the Compare dock's older names).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if importlib.util.find_spec("maskviz") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TICK_MS = 5


def pump(ms: float) -> None:
    """Run the event loop for ``ms`` (a QEventLoop releases the GIL, unlike QTest.qWait)."""
    loop = QEventLoop()
    QTimer.singleShot(int(ms), loop.quit)
    loop.exec()


def wait_until(condition, timeout_s: float = 600.0) -> None:  # noqa: ANN001
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("the window did not reach the expected state")
        pump(2)


class StallMeter:
    """A 5 ms timer on the UI thread; the longest gap between its firings is the longest stall."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def start(self) -> None:
        self.stamps = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return [(b - a) * 1000 for a, b in zip(self.stamps, self.stamps[1:], strict=False)]


class Compat:
    """The Compare dock's run/cancel and lane, on this checkout or on main before issue 19."""

    def __init__(self, window) -> None:  # noqa: ANN001
        from maskviz.gui import worker

        self.runs = getattr(window, "compare_controller", None) or window.compare
        self.lane = "table" if "table" in worker.LANES else "compare"
        self.worker = window.controller.worker

    def run(self) -> None:
        self.runs.run()

    def cancel(self) -> None:
        self.runs.cancel()

    @property
    def busy(self) -> bool:
        return self.worker.is_busy(self.lane)


def send(canvas, kind: QEvent.Type, x: float, y: float, held: bool) -> None:  # noqa: ANN001
    """Deliver one mouse event to the canvas viewport at image coordinates."""
    vp = canvas.view.viewport()
    pos = QPointF(canvas.view.mapFromScene(canvas.view_box.mapViewToScene(QPointF(x, y))))
    left = Qt.MouseButton.LeftButton
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else left
    QApplication.sendEvent(vp, QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, left if held else
                                           Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def stroke(window, i: int, moves: int = 40) -> None:  # noqa: ANN001
    """A zig-zag across the image (a different row band per stroke); returns at the release."""
    size = window.state.paint.shape[0]
    y0 = size * (0.2 + 0.18 * (i % 4))
    points = [(size * (0.05 + 0.9 * k / (moves - 1)), y0 + size * 0.04 * ((k // 6) % 2)) for k in range(moves)]
    send(window.canvas, QEvent.Type.MouseButtonPress, *points[0], held=True)
    for p in points[1:-1]:
        pump(8)
        send(window.canvas, QEvent.Type.MouseMove, *p, held=True)
    pump(8)
    send(window.canvas, QEvent.Type.MouseButtonRelease, *points[-1], held=False)


def change_pattern(window, i: int) -> None:  # noqa: ANN001
    """Apply another pattern family at 75 % in the pattern panel (the loss curve restarts too); the
    reference reconstructs a random 75 % mask, and a forward's time depends on the count hidden."""
    from PySide6.QtWidgets import QDoubleSpinBox

    panel = window.patterns
    panel.auto_apply_check.setChecked(False)
    panel.pattern_combo.setCurrentText(("block", "random")[i % 2])
    panel.editors["ratio"].findChild(QDoubleSpinBox).setValue(75.0)
    panel.seed_spin.setValue(100 + i)
    panel.apply()


def shown_after(window, act) -> float:  # noqa: ANN001
    """``act()``, then the seconds until the state holds the result for what it changed (told by the
    state's signal: polling would take the interpreter lock from the worker's forward)."""
    state, loop, shown = window.state, QEventLoop(), []

    def check() -> None:
        if not shown and state.result is not None and state.result_is_current():
            shown.append(time.perf_counter())
            loop.quit()

    state.resultChanged.connect(check)
    act()
    start = time.perf_counter()
    check()
    if not shown:
        QTimer.singleShot(600_000, loop.quit)
        loop.exec()
    state.resultChanged.disconnect(check)
    if not shown:
        raise TimeoutError("no result for the change")
    return max(0.0, shown[0] - start)  # a result set inside act() counts as shown at once


def reference_ms(model, image, mask, threads: int, n: int = 3) -> list[float]:  # noqa: ANN001
    """``reconstruct()`` called directly with the worker's thread count, while no window exists."""
    from maskviz.reconstruct import reconstruct

    torch.set_num_threads(threads)
    reconstruct(model, image, [mask])
    times = []
    for _ in range(n):
        start = time.perf_counter()
        reconstruct(model, image, [mask])
        times.append((time.perf_counter() - start) * 1000)
    return times


def random_model(model_name: str):  # noqa: ANN201
    from maskviz.models import create_model

    torch.manual_seed(0)
    return create_model(model_name).eval()


def open_window(model, model_name: str, curve: bool, compare: bool, explain: str | None = None):  # noqa: ANN001, ANN201
    from maskviz.checkpoints import LoadedModel
    from maskviz.gui.main_window import MainWindow

    window = MainWindow(device="cpu")
    window.resize(1600, 1000)
    window.show()
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.compare_dock)  # out of the tabs: both shown
    window.curve_dock.setVisible(curve)
    window.compare_dock.setVisible(compare)
    if explain:
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.explain_dock)
        window.explain_dock.setVisible(True)
        window.explain_state.set_lens(method=explain)
    window.controller.open_image("sample:coffee")
    window.controller.use_model(LoadedModel(model, source=f"random:{model_name}", format="random-weights"))
    wait_until(lambda: window.state.result is not None)
    return window


def trials(window, args, ref_ms: float) -> dict:  # noqa: ANN001
    """Strokes and pattern changes, each landing at a different point of a running Compare table."""
    compare, rng = Compat(window), random.Random(0)
    out: dict[str, list[float]] = {"stroke": [], "pattern": [], "stroke_own": [], "pattern_own": []}
    plan = [("stroke", i) for i in range(args.strokes)] + [("pattern", i) for i in range(args.patterns)]
    for kind, i in plan:
        if args.compare:
            compare.run()
            wait_until(lambda: compare.busy)
        if args.explain:
            hidden = [tuple(int(v) for v in rc) for rc in zip(*window.state.patch_mask().nonzero(), strict=True)]
            window.explain_controller.pick(*hidden[(7 * i) % len(hidden)])  # its job in the lens's lane
        pump(ref_ms * rng.uniform(0.3, 1.3))  # into a background forward, at a different point each time
        act = (lambda i=i: stroke(window, i)) if kind == "stroke" else (lambda i=i: change_pattern(window, i))
        out[kind].append(shown_after(window, act) * 1000)
        out[f"{kind}_own"].append(window.state.result.seconds * 1000)  # its forward, as the worker timed it
        pump(200)  # the user looks at the result
    return out


def hover_latency(window, visits: int = 12) -> list[float]:  # noqa: ANN001
    """The pointer on one hidden patch after another: ms from each move until its map is on screen."""
    state, controller, viewer = window.explain_state, window.explain_controller, window.state
    state.set_follow(True)
    p = viewer.paint.patch_size
    hidden = [tuple(int(v) for v in rc) for rc in zip(*viewer.patch_mask().nonzero(), strict=True)]
    times = []
    for k in range(visits):
        row, col = hidden[(5 * k) % len(hidden)]
        start = time.perf_counter()
        viewer.view.set_hover(col * p + p // 2, row * p + p // 2)

        def shown(target=(row, col)) -> bool:  # noqa: ANN001
            out = state.outcome
            return (out is not None and not controller.is_running
                    and target in (getattr(out.result, "target", None), out.lens.target))
        wait_until(shown)
        times.append((time.perf_counter() - start) * 1000)
        pump(50)
    return times


def cancel_and_close(window, ref_ms: float) -> tuple[float, float, float]:  # noqa: ANN001
    """Cancel in mid-table → worker free; then close in mid-table → close() returned, worker stopped."""
    compare = Compat(window)
    wait_until(lambda: window.curve.complete)  # the curve's lane comes first: the table must be running
    compare.run()
    wait_until(lambda: compare.busy)
    pump(ref_ms * 1.5)
    start = time.perf_counter()
    compare.cancel()
    wait_until(lambda: not compare.busy)
    cancel_s = time.perf_counter() - start
    compare.run()
    wait_until(lambda: compare.busy)
    pump(ref_ms * 1.5)
    start = time.perf_counter()
    window.close()
    close_s = time.perf_counter() - start
    try:
        wait_until(lambda: not compare.busy, timeout_s=120)
    except TimeoutError:
        return cancel_s, close_s, float("inf")
    return cancel_s, close_s, time.perf_counter() - start


def quit_child(model_file: str, busy: bool) -> None:
    """In a child process: the app as ``maskviz IMAGE --model FILE`` starts it; once its first result
    is on screen (and, if ``busy``, a Compare table runs) its window is closed like the close button."""
    from maskviz import launch
    from maskviz.gui.app import application

    def drive() -> None:
        window = next((w for w in QApplication.topLevelWidgets() if hasattr(w, "compare_dock")), None)
        if window is None or window.state.result is None:
            QTimer.singleShot(50, drive)
            return
        if busy:
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.compare_dock)
            compare = Compat(window)
            compare.run()
            wait_until(lambda: compare.busy)
            pump(1500)
        print(f"CLOSE {time.time()}", flush=True)
        window.close()

    application()
    QTimer.singleShot(0, drive)
    sys.argv = ["maskviz", "sample:coffee", "--model", model_file, "--reset-session"]
    launch.run()


def measure_quit(model, busy: bool) -> tuple[float, int]:  # noqa: ANN001
    """Seconds from the window's close to the end of the app's process, and its exit code."""
    from maskviz.checkpoints import save_model

    folder = Path(tempfile.mkdtemp(prefix="maskviz-bench-"))
    model_file = folder / "model.safetensors"
    save_model(model, model_file)
    env = os.environ | {"MASKVIZ_CONFIG_DIR": str(folder / "config")}
    done = subprocess.run([sys.executable, __file__, "--quit-child", "busy" if busy else "idle",
                           "--model", str(model_file)], capture_output=True, text=True, env=env, timeout=900)
    end = time.time()
    model_file.unlink()
    closes = [line for line in done.stdout.splitlines() if line.startswith("CLOSE ")]
    return (end - float(closes[-1].split()[1]) if closes else float("nan")), done.returncode


def ratio(ms: float, ref: float) -> str:
    return f"{ms:.0f} ms ({ms / ref:.2f}×)"


def report(args, model, ref: list[float], out: dict, stalls: list[float], cancel: tuple, quits: dict,  # noqa: ANN001
           hovers: list[float] = ()) -> None:
    from maskviz.gui.worker import worker_threads

    r = statistics.median(ref)
    print(f"model: {args.model} (random weights), {model.config.img_size} px, CPU, {worker_threads()} torch "
          f"thread(s) in the worker, {os.cpu_count()} cores; docks: Compare {'on' if args.compare else 'off'} "
          f"(a table running before each change), loss curve {'on' if args.curve else 'off'}, Explain "
          f"{args.explain or 'off'}")
    print(f"reference: reconstruct() called directly, 1 thread: median {r:.0f} ms of "
          f"{', '.join(f'{t:.0f}' for t in ref)} ms (3 before the window, 3 after)")
    for kind, label in (("stroke", "stroke release"), ("pattern", "pattern change")):
        if out[kind]:
            each = ", ".join(f"{ms / r:.2f}" for ms in out[kind])
            print(f"{label} → final result on screen: max {ratio(max(out[kind]), r)}, median "
                  f"{ratio(statistics.median(out[kind]), r)} over {len(out[kind])} (each: {each}×; goal ≤ 1.5×)")
            own = ", ".join(f"{ms / o:.2f}" for ms, o in zip(out[kind], out[f"{kind}_own"], strict=True))
            print(f"  the same against each request's own reconstruct() time in the worker: {own}× "
                  f"(the load on this shared machine drifts; this ratio leaves the drift out)")
    s = sorted(stalls)
    print(f"UI event-loop stall: max {s[-1]:.1f} ms, p99 {s[int(0.99 * (len(s) - 1))]:.1f} ms, median "
          f"{statistics.median(s):.1f} ms over {len(s)} ticks of {TICK_MS} ms (goal: max ≤ 50 ms)")
    if hovers:
        print(f"Explain {args.explain}: pointer on a hidden patch → its map on screen: median "
              f"{ratio(statistics.median(hovers), r)}, max {ratio(max(hovers), r)} over {len(hovers)} patches")
    if cancel:
        cancel_s, close_s, free_s = cancel
        print(f"cancel in mid-table → worker free: {cancel_s * 1000:.0f} ms; close in mid-table → close() returned "
              f"{close_s * 1000:.0f} ms, worker stopped {free_s * 1000:.0f} ms (goal ≤ {r + 500:.0f} ms: "
              f"one forward + 0.5 s)")
    for busy, (seconds, code) in quits.items():
        print(f"quit the app {'during a table' if busy else 'when idle'} → process gone: {seconds * 1000:.0f} ms, "
              f"exit code {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mae_vit_base_patch16", help="registry name (default ViT-B/16)")
    parser.add_argument("--strokes", type=int, default=4)
    parser.add_argument("--patterns", type=int, default=4)
    parser.add_argument("--no-curve", dest="curve", action="store_false", help="loss curve dock closed")
    parser.add_argument("--no-compare", dest="compare", action="store_false", help="Compare dock closed")
    parser.add_argument("--no-quit", dest="quit", action="store_false", help="skip the child-process quit timing")
    parser.add_argument("--explain", choices=("attention", "rollout", "gradient", "occlusion", "features", "spread"),
                        help="the Explain dock on screen with this method, a new target before each change")
    parser.add_argument("--quit-child", choices=("idle", "busy"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MASKVIZ_CONFIG_DIR", tempfile.mkdtemp(prefix="maskviz-bench-"))
    if args.quit_child:
        quit_child(args.model, args.quit_child == "busy")  # --model is the checkpoint file here
        return 0
    from maskviz.gui.app import application
    from maskviz.gui.worker import worker_threads
    from maskviz.images import fit_to_model, load_image
    from maskviz.masks import make_mask

    app = application()
    model = random_model(args.model)
    image = fit_to_model(load_image("sample:coffee"), model.config.img_size)
    mask = make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)  # the window's first mask
    ref = reference_ms(model, image, mask, worker_threads())
    window = open_window(model, args.model, args.curve, args.compare, args.explain)
    pump(100)
    meter = StallMeter()
    meter.start()
    out = trials(window, args, statistics.median(ref))
    hovers = hover_latency(window) if args.explain in ("attention", "rollout", "features") else []
    stalls = [g - TICK_MS for g in meter.stop()]
    if args.compare:
        cancel = cancel_and_close(window, statistics.median(ref))
    else:
        cancel = ()
        window.close()
    app.processEvents()
    ref += reference_ms(model, image, mask, worker_threads())
    quits = {busy: measure_quit(model, busy) for busy in (False, True)} if args.quit else {}
    report(args, model, ref, out, stalls, cancel, quits, hovers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
