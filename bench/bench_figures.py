"""Benchmark: what drawing a figure costs, in the CLI and in process.

    python bench/bench_figures.py [--repeat 5] [--before PATH]

* CLI (fresh processes, one round = every command once, median over rounds): ``maskviz reconstruct
  sample:coffee`` with ``--out x.png`` (and ``.svg``, ``.pdf``) against the same command without a
  figure (the reference, in the same round), and ``maskviz compare sample:coffee`` with both bundled
  models (it always writes grid.png). Wall and CPU time; the CPU time added to the reference is the
  figure to compare (wall time swings by seconds on a busy shared machine).
* In process (a child per source tree, the trees interleaved over rounds): CPU time of drawing and
  writing the reconstruct panel (one mask and three masks) and the compare grid, the first call
  (which imports the plotting library) and the median of the warm calls, against ``reconstruct()``
  of the same model and image on one thread (the reference).

``--before PATH`` runs every measurement with the maskviz of another source tree too (e.g. a
``git archive`` of the commit before a change), interleaved in the same rounds, so before and
after share the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD = "--child"


def cli_commands(out: Path) -> dict[str, list[str]]:
    rec = ["-m", "maskviz", "reconstruct", "sample:coffee", "--device", "cpu"]
    models = ["--model", "bundled:mae_small", "--model", "bundled:simmim_small"]
    return {
        "reconstruct (no figure)": rec,
        "reconstruct --out x.png": [*rec, "--out", str(out / "x.png")],
        "reconstruct --out x.svg": [*rec, "--out", str(out / "x.svg")],
        "reconstruct --out x.pdf": [*rec, "--out", str(out / "x.pdf")],
        "compare (writes grid.png)": ["-m", "maskviz", "compare", "sample:coffee", *models, "--out", str(out / "cmp")],
    }


def run_cli(tree: Path, args: list[str]) -> tuple[float, float] | None:
    """(wall, CPU) seconds of one command with ``tree``'s maskviz; None when it fails."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}  # one torch thread: steady CPU time
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return (wall, _children_cpu() - cpu_before) if proc.returncode == 0 else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_cli(trees: dict[str, Path], repeat: int) -> None:
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = cli_commands(Path(tmp))
        for _ in range(repeat):
            for name, args in commands.items():
                for label, tree in trees.items():
                    if label != "this" and name.endswith(("svg", "pdf")):
                        continue  # the PIL renderer wrote PNG bytes under any name
                    t = run_cli(tree, args)
                    if t is not None:
                        times.setdefault((label, name), []).append(t)
    print("\nCLI, median wall / CPU seconds, and the CPU time added to 'reconstruct (no figure)' of the same tree "
          "(CPU time is the steadier figure on a shared machine):")
    for label in trees:
        ref = statistics.median(c for _, c in times[(label, "reconstruct (no figure)")])
        for name in commands:
            got = times.get((label, name))
            if not got:
                continue
            wall, cpu = statistics.median(w for w, _ in got), statistics.median(c for _, c in got)
            print(f"  {label:7s} {name:28s} {wall:6.2f} / {cpu:6.2f} s  x{cpu / ref:5.2f}  (+{cpu - ref:5.2f} s CPU)")


def bench_in_process(trees: dict[str, Path], repeat: int) -> None:
    """One child per tree per round, the trees interleaved; medians over rounds (first call, warm, warm ratio)."""
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    for _ in range(max(1, repeat)):
        for label, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            proc = subprocess.run([sys.executable, __file__, CHILD, "3"], env=env, cwd=tree, capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                print(f"  {label}: failed\n{proc.stderr}")
                return
            rounds[label].append(json.loads(proc.stdout.splitlines()[-1]))
    print("\nIn process, CPU milliseconds: first call / warm, and warm / reconstruct() in the same child "
          f"(medians over {repeat} rounds):")
    for label, results in rounds.items():
        ref = statistics.median(r["reconstruct()"] for r in results)
        print(f"  {label:7s} {'reconstruct() (reference)':40s} {'':>9s}   {ref:7.1f} ms")
        for name in results[0]:
            if name == "reconstruct()":
                continue
            first = statistics.median(r[name][0] for r in results)
            warm = statistics.median(r[name][1] for r in results)
            ratio = statistics.median(r[name][1] / r["reconstruct()"] for r in results)
            print(f"  {label:7s} {name:40s} {first:7.1f} / {warm:7.1f} ms  x{ratio:6.2f}")


def child(repeat: int) -> None:
    """Runs inside the tree under test: only APIs that every version has (figures, compare_export)."""
    import torch

    torch.set_num_threads(1)  # a steady reference: CPU time of one thread
    from maskviz.bundled import resolve_sample
    from maskviz.checkpoints import load_default_model
    from maskviz.compare import compare
    try:
        from maskviz.compare_export import write_grid
    except ImportError:  # before the matplotlib renderer
        from maskviz.compare_export import write_grid_png as write_grid
    from maskviz.figures import reconstruction_figure, render_figure
    from maskviz.images import load_image, save_png
    from maskviz.masks import make_mask
    from maskviz.reconstruct import reconstruct

    loaded = load_default_model("cpu")
    model = loaded.model
    image = load_image(resolve_sample("sample:coffee"))
    specs = ["random:0.75", "block:0.5", "grid:2"]
    masks = [make_mask(s, model.grid_size, model.patch_size, seed=0) for s in specs]
    results = reconstruct(model, image, masks)
    from maskviz.checkpoints import load_model

    models = {"mae_small": model, "simmim_small": load_model("bundled:simmim_small", device="cpu").model}
    table = compare(models, image, ["random:0.75", "block:0.5", "grid:2", "center:0.25"], seeds=[0],
                    with_pictures=True)

    def timed(fn) -> tuple[float, float]:
        """CPU milliseconds of the first call and the median of ``repeat`` more (steadier than wall time here)."""
        t0 = time.process_time()
        fn()
        first = (time.process_time() - t0) * 1000
        warm = []
        for _ in range(repeat):
            t0 = time.process_time()
            fn()
            warm.append((time.process_time() - t0) * 1000)
        return first, statistics.median(warm)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def panel(n: int):
            figure = reconstruction_figure(results[:n], specs[:n], "mae_small", "coffee.jpg", [0] * n)
            if hasattr(figure, "sheet"):  # the matplotlib renderer
                from maskviz.figures import write_figure

                return lambda: write_figure(figure.sheet(), out / "p.png")
            return lambda: save_png(render_figure(figure), out / "p.png")

        figures = {
            "reconstruct panel, 1 mask, PNG": panel(1),
            "reconstruct panel, 3 masks, PNG": panel(3),
            "compare grid, 2 models x 4 masks, PNG": lambda: write_grid(table, out / "grid.png"),
        }
        measured = {name: timed(fn) for name, fn in figures.items()}
    reference = timed(lambda: reconstruct(model, image, masks[:1]))[1]
    print(json.dumps({"reconstruct()": reference, **measured}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == CHILD:
        child(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another source tree to measure in the same rounds")
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    trees = {"this": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; trees: "
          + ", ".join(f"{k}={v}" for k, v in trees.items()))
    bench_in_process(trees, args.repeat)
    if not args.skip_cli:
        bench_cli(trees, args.repeat)


if __name__ == "__main__":
    main()
