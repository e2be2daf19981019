"""The Compare dock: follows the viewer while shown, click-through to the canvas, folder mode, cancel,
exports, and what it must not do (run off screen, keep models or pictures it does not need)."""

from __future__ import annotations

import csv
import gc
import weakref

import numpy as np
import pytest
from guikit import viewer_on
from PIL import Image
from PySide6.QtCore import Qt

from maskviz.cli import main
from maskviz.compare_jobs import Snapshot
from maskviz.gui.compare.controller import CompareController
from maskviz.gui.compare.state import CompareState
from maskviz.gui.compare.view import CompareView
from maskviz.masks import make_mask

WAIT_MS = 30000


class Setup:
    """A viewer state and controller with the tiny model and the test photo, and a Compare dock on them."""

    def __init__(self, qtbot, photo: str, model_path: str) -> None:
        self.viewer, self.controller = viewer_on(photo, model_path)
        self.state = CompareState()
        self.state.set_settings(specs="random:0.75 grid:2 center:0.5", seeds=2, ratios="0.25:0.75:0.25")
        self.compare = CompareController(self.state, self.viewer, self.controller)
        self.compare.auto_seconds = 120  # a slow CI machine still follows; the budget's own tests lower it
        self.view = CompareView(self.state, self.compare)
        qtbot.addWidget(self.view)
        self.view.resize(1000, 700)
        self.view.show()
        qtbot.waitUntil(lambda: self.controller.last_seconds is not None, timeout=WAIT_MS)  # a forward was timed
        self.compare.set_shown(True)  # as the dock in front (off screen, nothing would run)

    def started(self) -> list[int]:
        """Ids of the compare jobs the worker has started so far (recorded from now on)."""
        ids: list[int] = []
        self.controller.worker.started.connect(lambda lane, i: lane == "compare" and ids.append(i))
        return ids


@pytest.fixture
def setup(qtbot, photo, tiny_model_path):
    s = Setup(qtbot, photo, tiny_model_path)
    yield s
    s.controller.shutdown()


def _finish(qtbot, setup: Setup) -> Snapshot:
    state, compare = setup.state, setup.compare
    qtbot.waitUntil(lambda: state.snapshot is not None and state.snapshot.finished and not compare.is_running,
                    timeout=WAIT_MS)
    return state.snapshot


def _viewer_rows(snapshot):
    return [r for r in snapshot.table.rows if r.strategy.startswith("viewer:")]


def test_runs_on_the_viewer_inputs_and_follows_the_viewer_while_shown(qtbot, setup):
    viewer, view = setup.viewer, setup.view
    painted = np.zeros(viewer.model.model.grid_size, dtype=bool)
    painted[:2] = True
    viewer.set_patch_mask(painted, "paint")
    assert setup.compare.run()
    first = _finish(qtbot, setup)
    labels = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    assert labels[0].startswith("viewer:") and labels[1:] == ["random:0.75", "grid:2", "center:0.5"]
    assert all(np.array_equal(r.mask, painted) for r in _viewer_rows(first))
    assert view.grid_label.pixmap() is not None and not view.grid_label.pixmap().isNull()
    view.tabs.setCurrentIndex(1)  # the sweep tab is drawn when shown
    lines = [i for i in view.plots["loss"].getPlotItem().listDataItems() if i.name()]
    assert [i.name() for i in lines] == [f"{first.table.models[0]} · {f}" for f in ("random", "center")]
    assert all(len(i.xData) == 3 for i in lines)  # three ratios each
    view.tabs.setCurrentIndex(0)
    viewer.set_patch_mask(~painted, "invert")
    qtbot.waitUntil(lambda: setup.state.snapshot is not first and setup.state.snapshot.finished, timeout=WAIT_MS)
    assert all(np.array_equal(r.mask, ~painted) for r in _viewer_rows(setup.state.snapshot))


def test_off_screen_it_starts_nothing(qtbot, setup):
    started = setup.started()
    setup.compare.set_shown(False)
    setup.viewer.set_patch_mask(~setup.viewer.patch_mask(), "invert")
    qtbot.wait(1000)  # twice the pause after which a shown dock would start
    assert started == [] and setup.state.snapshot is None
    setup.compare.set_shown(True)  # brought to the front: it catches up
    _finish(qtbot, setup)
    assert len(started) == 1


def test_a_shown_compare_starts_after_the_pause_and_cancels_on_the_next_change(qtbot, setup):
    started = setup.started()
    setup.state.set_settings(seeds=50)  # a longer table: still running when the next change comes
    qtbot.waitUntil(lambda: bool(started), timeout=WAIT_MS)
    job = started[0]
    setup.viewer.set_patch_mask(~setup.viewer.patch_mask(), "invert")  # the next change
    assert not setup.compare.is_running and "outdated" in setup.state.status  # at once
    qtbot.waitUntil(lambda: len(started) == 2, timeout=WAIT_MS)  # after the next pause, a new run
    assert started[1] != job
    _finish(qtbot, setup)


def test_a_long_table_waits_for_a_click_and_says_how_long(qtbot, setup):
    started = setup.started()
    setup.compare.set_shown(False)
    setup.compare.auto_seconds = 5.0
    setup.controller.last_seconds = 2.0  # a ViT-H on a laptop: this small table would take ≈ 28 s
    setup.compare.set_shown(True)
    qtbot.waitUntil(lambda: "press Run" in setup.state.status, timeout=WAIT_MS)
    qtbot.wait(700)
    assert started == [] and not setup.state.automatic
    assert "≈" in setup.view.run_button.text() and "would take about" in setup.view.status.text()
    setup.view.run_button.click()
    qtbot.waitUntil(lambda: bool(started), timeout=WAIT_MS)


def test_a_table_slower_than_its_estimate_stops_itself_and_waits_for_a_click(qtbot, setup):
    """The first forwards of a model time it badly: an automatic run measures its own pace."""
    import time

    setup.compare.auto_seconds = 5.0
    model = setup.viewer.model.model
    for block in (*model.blocks, *model.decoder_blocks):
        block.register_forward_pre_hook(lambda *_: time.sleep(0.4))  # ≈ 1.2 s a forward: the table ≈ 25 s
    started = setup.started()
    setup.state.set_settings(seeds=5)
    qtbot.waitUntil(lambda: bool(started), timeout=WAIT_MS)  # the estimate (a fast forward) said: follow
    qtbot.waitUntil(lambda: not setup.compare.is_running, timeout=WAIT_MS)
    assert "press Run" in setup.state.status and not setup.state.automatic
    assert setup.state.snapshot is not None and not setup.state.snapshot.finished
    setup.viewer.invert_mask()  # the same model and settings: it does not try again by itself
    qtbot.wait(1200)
    assert len(started) == 1


def test_clicking_a_row_or_sweep_point_puts_its_mask_on_the_canvas(qtbot, setup):
    view, viewer = setup.view, setup.viewer
    setup.compare.run()
    snapshot = _finish(qtbot, setup)
    view.table.sortItems(2, Qt.SortOrder.DescendingOrder)  # sorted by the loss column: rows move
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "grid:2")
    with qtbot.waitSignal(setup.compare.maskApplied, timeout=2000) as applied:
        rect = view.table.visualItemRect(view.table.item(row, 0))
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert applied.args == ["grid:2"]
    model = viewer.model.model
    np.testing.assert_array_equal(viewer.patch_mask(), make_mask("grid:2", model.grid_size, model.patch_size))
    sweep_point = next(r.strategy for r in snapshot.table.rows if r.sweep and r.ratio == 0.25)
    assert setup.compare.apply_strategy(sweep_point)
    assert viewer.patch_mask().sum() == 4  # a quarter of the 4×4 grid


def test_in_a_whole_view_the_table_is_compare_view_of_that_view(qtbot, setup):
    """The viewer's mask is then on the whole picture's grid: a table of the model view is outdated and
    its click-through refused (the random GUI test found a click crashing, and an old table kept as
    current); a new table is ``maskviz compare --view tiles`` of the same image and mask."""
    from maskviz.compare import iter_compare, new_table
    from maskviz.whole.view import View

    viewer, compare = setup.viewer, setup.compare
    compare.run()
    _finish(qtbot, setup)
    viewer.set_picture_view(View("tiles"))
    assert compare.outdated and viewer.paint.grid == (5, 6)
    painted = viewer.patch_mask().copy()
    assert not compare.apply_strategy("grid:2")  # a model-grid mask: refused, not raised
    np.testing.assert_array_equal(viewer.patch_mask(), painted)
    qtbot.waitUntil(lambda: not compare.is_running, timeout=WAIT_MS)
    assert compare.run()
    snapshot = _finish(qtbot, setup)
    assert {r.view for r in snapshot.table.rows} == {"tiles 48x40 px"}
    assert all(np.array_equal(r.mask, painted) for r in _viewer_rows(snapshot))
    job = compare.make_job()
    cli = new_table(job.models, list(job.images.items()), job.strategies, job.seeds, False)
    for _ in iter_compare(job.models, job.images, job.strategies, job.seeds, table=cli, view=View("tiles")):
        pass
    for ours, theirs in zip(snapshot.table.rows, cli.rows, strict=True):  # the job batches its tiles in
        a, b = ours.record(), theirs.record()  # smaller steps than the CLI: equal to float rounding
        assert {k: v for k, v in a.items() if k not in ("loss", "mse", "psnr")} == \
               {k: v for k, v in b.items() if k not in ("loss", "mse", "psnr")}
        assert [a[k] for k in ("loss", "mse", "psnr")] == pytest.approx([b[k] for k in ("loss", "mse", "psnr")]), a
    assert compare.apply_strategy("grid:2")  # its masks are on the picture's grid
    np.testing.assert_array_equal(viewer.patch_mask(), make_mask("grid:2", (5, 6), viewer.paint.patch_size))


def test_sorting_uses_numbers_not_text(qtbot, setup):
    view = setup.view
    setup.compare.run()
    snapshot = _finish(qtbot, setup)
    view.table.sortItems(2, Qt.SortOrder.AscendingOrder)
    psnr = {s.strategy: s.psnr.mean for s in snapshot.summaries}
    shown = [view.table.item(r, 2).value for r in range(view.table.rowCount())]
    assert shown == sorted(shown) and len(psnr) == view.table.rowCount()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_folder_mode_matches_the_cli_and_exports_its_files(qtbot, setup, folder, tmp_path, tiny_model_path):
    setup.state.set_folder(folder)
    setup.state.set_settings(ratios="")
    setup.compare.run()
    snapshot = _finish(qtbot, setup)
    assert snapshot.done == snapshot.total and len(snapshot.table.images) == 3
    assert "±" in setup.view.table.item(1, 1).text()  # a 95 % interval over the images
    out = tmp_path / "gui"
    out.mkdir()
    export = setup.compare.export
    assert export("grid", out / "grid.png") and export("csv", out / "metrics.csv") and export("json", out / "s.json")
    assert not export("sweep", out / "sweep.png")  # no sweep in this run: said, not written
    cli = tmp_path / "cli"
    assert main(["compare", str(folder), "--model", tiny_model_path, "--mask", "random:0.75", "--mask", "grid:2",
                 "--mask", "center:0.5", "--seeds", "2", "--out", str(cli)]) == 0
    with open(out / "metrics.csv", newline="") as a, open(cli / "metrics.csv", newline="") as b:
        gui_rows, cli_rows = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert list(gui_rows[0]) == list(cli_rows[0])  # same columns
    shared = [r for r in gui_rows if not r["strategy"].startswith("viewer:")]
    assert shared == cli_rows  # the same rows, in the same order, to the last digit
    with Image.open(out / "grid.png") as grid, Image.open(cli / "grid.png") as cli_grid:
        assert grid.height > cli_grid.height  # the same rows plus the viewer's mask


def test_folder_mode_says_what_a_run_would_take_before_it_starts(qtbot, setup, folder):
    """Choosing a folder starts nothing; the status names the folder, its size and an estimate."""
    started = setup.started()
    one_image = setup.compare.estimate()
    setup.state.set_folder(folder)
    qtbot.wait(200)
    status = setup.view.status.text()
    assert "3 images in imgs" in status and "takes about" in status and "press Run" in status
    assert setup.state.estimate == pytest.approx(3 * one_image) and "≈" in setup.view.run_button.text()
    assert started == [] and not setup.compare.is_running


def test_folder_mode_keeps_only_the_pictures_the_grid_shows(qtbot, setup, folder):
    setup.state.set_folder(folder)
    setup.compare.run()
    snapshot = _finish(qtbot, setup)
    kept = [r for r in snapshot.table.rows if r.result is not None]
    first_image = snapshot.table.images[0]
    assert kept and all(r.image == first_image and not r.sweep and r.seed == 0 for r in kept)
    assert len(kept) == len([s for s in snapshot.table.strategies if not s.sweep])  # one per grid row


def test_cancel_keeps_the_finished_part(qtbot, setup, tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(30):
        Image.new("RGB", (32, 32), (8 * i, 100, 50)).save(root / f"{i:02d}.png")
    setup.state.set_folder(root)
    setup.state.set_settings(ratios="")
    setup.state.snapshotChanged.connect(lambda: setup.compare.cancel())
    setup.compare.run()
    qtbot.waitUntil(lambda: not setup.compare.is_running and setup.state.snapshot is not None, timeout=WAIT_MS)
    qtbot.wait(200)  # a stale step arriving after the cancel must not change anything
    assert "cancelled" in setup.view.status.text() and not setup.state.snapshot.finished
    assert 0 < len({r.image for r in setup.state.snapshot.table.rows}) < 30
    assert setup.compare.export("csv", tmp_path / "partial.csv")


def test_bad_specs_are_reported_not_run(qtbot, setup):
    setup.state.set_settings(specs="random:2")
    assert not setup.compare.run() and "ratio" in setup.state.status.lower()
    assert not setup.controller.worker.is_busy("compare")


def test_a_model_removed_from_compare_is_released(qtbot, setup, tiny_model_path):
    setup.state.add_model(tiny_model_path)
    setup.compare.run()
    snapshot = _finish(qtbot, setup)
    assert len(snapshot.table.models) == 2
    (extra,) = setup.state.loaded.values()
    assert extra.model is not setup.viewer.model.model  # loaded once for Compare; the viewer's is shared
    gone = weakref.ref(extra.model)
    del extra
    setup.compare.run()  # the second run reuses the loaded copy instead of loading it again
    assert not setup.compare.make_job().to_load
    _finish(qtbot, setup)
    setup.state.remove_model(next(iter(setup.state.models)))
    gc.collect()
    assert gone() is None


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


def test_the_window_s_compare_dock_follows_its_viewer_only_while_in_front(qtbot, window):
    from PySide6.QtGui import QKeySequence

    started: list[int] = []
    window.compare_controller.auto_seconds = 120  # a slow CI machine still follows
    window.controller.worker.started.connect(lambda lane, i: lane == "compare" and started.append(i))
    window.state.set_patch_mask(~window.state.patch_mask(), "invert")  # the dock is a tab behind the curve
    qtbot.wait(1000)
    assert started == [] and window.compare_state.snapshot is None
    action = next(a for a in window.view_menu.actions() if a.shortcut() == QKeySequence("Ctrl+K"))
    action.trigger()
    qtbot.waitUntil(lambda: window.compare.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.compare_state.snapshot is not None and window.compare_state.snapshot.finished,
                    timeout=WAIT_MS)
    rows = _viewer_rows(window.compare_state.snapshot)
    assert rows and all(np.array_equal(r.mask, window.state.patch_mask()) for r in rows)
    assert window.compare_controller.make_job().models[window.compare_state.snapshot.table.models[0]] \
        is window.state.model.model  # the viewer's model, shared
