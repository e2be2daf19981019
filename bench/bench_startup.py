"""Benchmark: how long until maskviz answers, shows its window and shows a reconstruction?

    python bench/bench_startup.py [--repeat 3] [--skip-gui]

Each figure is the median of ``--repeat`` rounds of fresh processes, wall time and CPU time (all
threads; on a busy shared machine the CPU time is the steadier figure), each with its ratio to the
reference ``python -c "import torch"`` run in the same round (the ratio is what to compare across
machines):

* ``maskviz --version``, ``maskviz --help``, ``maskviz models``: answered without importing torch;
* ``maskviz reconstruct sample:coffee``: load the bundled model, reconstruct, print the metrics line;
* the app (``maskviz`` with a fresh config folder, so the bundled model and sample open): time from
  launch to the first exposed window, and to the first reconstruction on screen (``resultShown``).
  Uses Xvfb when ``xvfb-run`` is installed (a real X server, as on a desktop), else Qt's offscreen.

Goals on the 2-core reference machine: window <= 1.5 s, first reconstruction <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI_CHILD = "--gui-child"


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd``."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gui_times(config_home: str) -> dict[str, float]:
    """Launch the app in a child process; it prints wall and CPU seconds from launch to window and to result."""
    # PYTHONPATH: the maskviz next to this script, even when another one is installed (before/after runs).
    env = {**os.environ, "XDG_CONFIG_HOME": config_home, "MASKVIZ_CONFIG_DIR": config_home,
           "BENCH_T0": repr(time.time()), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, GUI_CHILD]
    if shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", *cmd]
        env["BENCH_T0"] = ""  # xvfb-run's own start-up is not maskviz's: the child times from its own start
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    # Own process group, so a timeout also ends xvfb-run's X server and the app under it.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    figures = [line.split() for line in out.splitlines() if line.startswith(("window ", "result "))]
    return {f"{name} {kind}": float(value) for name, wall, cpu in figures
            for kind, value in (("wall", wall), ("cpu", cpu))}


def run_gui_child() -> int:
    """Runs inside the launched process: the real ``run_app``, watched through an application event filter."""
    t0 = float(os.environ["BENCH_T0"]) if os.environ.get("BENCH_T0") else _process_start_time()
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtGui import QWindow

    from maskviz.gui import app as app_module

    app = app_module.application()

    def report(event: str) -> None:
        print(f"{event} {time.time() - t0:.3f} {time.process_time():.3f}", flush=True)

    class Watch(QObject):
        """Prints when the first window (the start-up window, then the main one) is exposed, and the first result."""

        shown = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
            if not self.shown and event.type() == QEvent.Type.Expose and isinstance(obj, QWindow) and obj.isExposed():
                self.shown = True
                report("window")
            return False

    # Connected as the main window is made, before it can show anything: a result that came before a
    # later connection would never be reported (and the benchmark would wait for it for ever).
    open_window = app_module.open_window

    def open_and_watch(*args: object) -> object:
        window = open_window(*args)
        if window is not None:
            window.controller.resultShown.connect(lambda _id: (report("result"), window.close()))
        return window

    app_module.open_window = open_and_watch
    watch = Watch()
    app.installEventFilter(watch)
    return app_module.run_app(["--reset-session"])


def _process_start_time() -> float:
    """Wall-clock start of this process (Linux: /proc), so interpreter start-up is counted too."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-gui", action="store_true")
    args = parser.parse_args()
    py, maskviz = sys.executable, [sys.executable, "-m", "maskviz"]
    commands = {
        "reference: python -c 'import torch'": [py, "-c", "import torch"],
        "maskviz --version": [*maskviz, "--version"],
        "maskviz --help": [*maskviz, "--help"],
        "maskviz models": [*maskviz, "models"],
        "maskviz reconstruct sample:coffee": [*maskviz, "reconstruct", "sample:coffee", "--device", "cpu"],
    }
    gui_rows = {"app: window on screen": "window", "app: first reconstruction shown": "result"}
    # Round-robin (every command once per round, ratios taken within the round): a shared machine's
    # speed drifts by a factor of two over minutes, which would otherwise land in the ratios.
    rounds: list[dict[str, tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as config_home:
        for _ in range(args.repeat):
            times = {label: timed(cmd) for label, cmd in commands.items()}
            if not args.skip_gui:
                gui = gui_times(config_home)
                times.update({label: (gui[f"{key} wall"], gui[f"{key} cpu"]) for label, key in gui_rows.items()})
            rounds.append(times)
    reference = next(iter(commands))
    print(f"{'':36s} {'wall':>7s} {'ratio':>6s} {'cpu':>7s} {'ratio':>6s}   (medians of {args.repeat} rounds; "
          "ratio: to import torch in the same round)")
    for label in rounds[0]:
        wall, cpu = (statistics.median(r[label][k] for r in rounds) for k in (0, 1))
        wall_ratio, cpu_ratio = (statistics.median(r[label][k] / r[reference][k] for r in rounds) for k in (0, 1))
        print(f"{label:36s} {wall:6.2f}s {wall_ratio:5.2f}x {cpu:6.2f}s {cpu_ratio:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(run_gui_child() if GUI_CHILD in sys.argv else main())
