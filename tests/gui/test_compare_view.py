"""The Compare view: follows the viewer state, click-through to the canvas, folder mode, cancel, exports."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from maskviz.checkpoints import load_model
from maskviz.cli import main
from maskviz.gui.compare_view import CompareView, Snapshot
from maskviz.gui.state import ViewerState
from maskviz.gui.worker import ModelWorker
from maskviz.masks import make_mask

WAIT_MS = 30000


@pytest.fixture
def worker():
    w = ModelWorker(threads=1)
    yield w
    w.shutdown()


@pytest.fixture
def state(photo, tiny_model_path):
    s = ViewerState()
    s.set_model(load_model(tiny_model_path), tiny_model_path)
    s.set_image(Image.open(photo).convert("RGB"), photo)
    return s


@pytest.fixture
def view(qtbot, state, worker):
    v = CompareView(state, worker)
    v.specs_edit.setText("random:0.75 grid:2 center:0.5")
    v.seeds_box.setValue(2)
    v.ratios_edit.setText("0.25:0.75:0.25")
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.show()
    return v


def _finish(qtbot, view) -> Snapshot:
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.finished and not view.is_running,
                    timeout=WAIT_MS)
    return view.snapshot


def _viewer_rows(snapshot):
    return [r for r in snapshot.table.rows if r.strategy.startswith("viewer:")]


def test_runs_on_the_viewer_inputs_and_follows_the_state(qtbot, view, state):
    painted = np.zeros(state.model.model.grid_size, dtype=bool)
    painted[:2] = True
    state.set_patch_mask(painted, "paint")
    assert view.run()
    first = _finish(qtbot, view)
    labels = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    assert labels[0].startswith("viewer:") and labels[1:] == ["random:0.75", "grid:2", "center:0.5"]
    assert all(np.array_equal(r.mask, painted) for r in _viewer_rows(first))
    assert view.grid_label.pixmap() is not None and not view.grid_label.pixmap().isNull()
    view.tabs.setCurrentIndex(1)  # the sweep tab is drawn when shown
    lines = [i for i in view.plots["loss"].getPlotItem().listDataItems() if i.name()]
    assert [i.name() for i in lines] == [f"{view.snapshot.table.models[0]} · {f}" for f in ("random", "center")]
    assert all(len(i.xData) == 3 for i in lines)  # three ratios each
    view.tabs.setCurrentIndex(0)
    # a new mask in the viewer re-runs the comparison on its own
    state.set_patch_mask(~painted, "invert")
    qtbot.waitUntil(lambda: view.snapshot is not first and view.snapshot.finished, timeout=WAIT_MS)
    assert all(np.array_equal(r.mask, ~painted) for r in _viewer_rows(view.snapshot))


def test_clicking_a_row_or_sweep_point_puts_its_mask_on_the_canvas(qtbot, view, state):
    view.run()
    _finish(qtbot, view)
    view.table.sortItems(2, Qt.SortOrder.DescendingOrder)  # sorted by the loss column: rows move
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "grid:2")
    with qtbot.waitSignal(view.maskApplied, timeout=2000) as applied:
        rect = view.table.visualItemRect(view.table.item(row, 0))
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert applied.args == ["grid:2"]
    model = state.model.model
    np.testing.assert_array_equal(state.patch_mask(), make_mask("grid:2", model.grid_size, model.patch_size))
    sweep_point = next(r.strategy for r in view.snapshot.table.rows if r.sweep and r.ratio == 0.25)
    assert view.apply_strategy(sweep_point)
    assert state.patch_mask().sum() == 4  # a quarter of the 4×4 grid


def test_sorting_uses_numbers_not_text(qtbot, view):
    view.run()
    snapshot = _finish(qtbot, view)
    view.table.sortItems(2, Qt.SortOrder.AscendingOrder)
    psnr = {s.strategy: s.psnr.mean for s in snapshot.summaries}
    view.table.sortItems(2, Qt.SortOrder.AscendingOrder)
    shown = [view.table.item(r, 2).value for r in range(view.table.rowCount())]
    assert shown == sorted(shown) and len(psnr) == view.table.rowCount()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_folder_mode_matches_the_cli_and_exports_its_files(qtbot, view, folder, tmp_path, tiny_model_path):
    view.set_folder(folder)
    view.ratios_edit.setText("")
    view.run()
    snapshot = _finish(qtbot, view)
    assert snapshot.done == snapshot.total == 3 and len(snapshot.table.images) == 3
    assert "±" in view.table.item(1, 1).text()  # a 95 % interval over the images
    out = tmp_path / "gui"
    files = {name: out / name for name in ("grid.png", "sweep.png", "metrics.csv", "summary.json")}
    out.mkdir()
    assert view.export_grid(files["grid.png"]) and view.export_csv(files["metrics.csv"])
    assert view.export_json(files["summary.json"])
    assert not view.export_sweep(files["sweep.png"])  # no sweep in this run: said, not written
    cli = tmp_path / "cli"
    assert main(["compare", str(folder), "--model", tiny_model_path, "--mask", "random:0.75", "--mask", "grid:2",
                 "--mask", "center:0.5", "--seeds", "2", "--out", str(cli)]) == 0
    with open(files["metrics.csv"], newline="") as a, open(cli / "metrics.csv", newline="") as b:
        gui_rows, cli_rows = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert list(gui_rows[0]) == list(cli_rows[0])  # same columns
    key = ("image", "strategy", "seed")
    cli_loss = {tuple(r[k] for k in key): r["loss"] for r in cli_rows}
    shared = [r for r in gui_rows if not r["strategy"].startswith("viewer:")]
    assert len(shared) == len(cli_rows) and all(cli_loss[tuple(r[k] for k in key)] == r["loss"] for r in shared)
    with Image.open(files["grid.png"]) as grid, Image.open(cli / "grid.png") as cli_grid:
        assert grid.height > cli_grid.height  # the same rows plus the viewer's mask


def test_cancel_keeps_the_finished_part(qtbot, view, tmp_path, worker):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(30):
        Image.new("RGB", (32, 32), (8 * i, 100, 50)).save(root / f"{i:02d}.png")
    view.set_folder(root)
    view.ratios_edit.setText("")
    worker.curveStep.connect(lambda task_id, snap: view.snapshot is not None and view.cancel())
    view.run()
    qtbot.waitUntil(lambda: not view.is_running and view.snapshot is not None, timeout=WAIT_MS)
    qtbot.wait(200)  # a stale step arriving after the cancel must not change anything
    assert "cancelled" in view.status.text() and not view.snapshot.finished
    assert 0 < len({r.image for r in view.snapshot.table.rows}) < 30
    assert view.export_csv(tmp_path / "partial.csv")


def test_bad_specs_are_reported_not_run(qtbot, view, worker):
    view.specs_edit.setText("random:2")
    assert not view.run() and "ratio" in view.status.text().lower()
    assert not worker.is_busy("table")


def test_training_before_after_uses_the_figures_scale_and_dimming(qtbot):
    from pathlib import Path
    from types import SimpleNamespace

    from synthetic import randomize_

    from maskviz.figures import PIXEL_UNIT, before_after_figure, error_image, error_scales, render_figure
    from maskviz.gui.training.before_after import BeforeAfterView
    from maskviz.gui.training.state import ComparisonShown, TrainingState
    from maskviz.models import create_model
    from maskviz.reconstruct import reconstruct
    from maskviz.train.before_after import Comparison

    image = Image.fromarray(np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    mask = make_mask("center:0.5", (4, 4), 8)
    base, tuned = (reconstruct(randomize_(create_model("mae_vit_tiny_test"), seed=s).eval(), image, [mask])[0]
                   for s in (0, 1))
    state = TrainingState(Path("runs"))
    view = BeforeAfterView(state, SimpleNamespace(open_result=lambda which: None, use_result=lambda: None))
    qtbot.addWidget(view)
    state.set_comparison(ComparisonShown(Comparison(base, tuned, "base", "tuned", Path("run/best.safetensors"))))
    vmax = error_scales([base, tuned])[PIXEL_UNIT]
    np.testing.assert_array_equal(view.pictures[1][2], error_image(tuned, vmax))
    assert f"0 – {vmax:g}" in view.hint.text()
    figure = before_after_figure(base, tuned, ["base", "tuned"], "center:0.5", "img.png")
    assert figure.groups == ["base", "tuned"] and render_figure(figure).width > 6 * 128


def test_the_window_has_a_compare_dock_on_its_own_state(qtbot, window):
    from PySide6.QtGui import QKeySequence

    action = next(a for a in window.view_menu.actions() if a.shortcut() == QKeySequence("Ctrl+K"))
    action.trigger()
    qtbot.waitUntil(lambda: window.compare.isVisible(), timeout=WAIT_MS)
    assert window.compare.state is window.state and window.compare.worker is window.worker
    window.compare.specs_edit.setText("center:0.5")
    window.compare.seeds_box.setValue(1)
    assert window.compare.run()
    snapshot = _finish(qtbot, window.compare)
    rows = _viewer_rows(snapshot)
    assert rows and all(np.array_equal(r.mask, window.state.patch_mask()) for r in rows)
