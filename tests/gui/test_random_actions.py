"""A seeded random user: ≥ 500 actions, and at every checkpoint every view agrees with the state.

Actions: paint, erase, pattern, re-roll, complement, undo/redo, invert, switch between the two
bundled models, the view (model, tiles or native, sometimes at a working size, through the combo
boxes above the canvas), baseline on/off, heatmap mode, zoom, a bad image path, a bad model path, the
Compare dock (bring it to the front or behind the loss curve, Run, Cancel, seeds, click a row), the
Train dock (bring it to the front, edit the steps field, compare a finished run's final or best model
with its base on the viewer's image and mask) and the Explain dock (to the front or behind, a method,
a click on a panel, Cancel).
Every ``CHECK_EVERY`` actions the test waits until the worker is idle (a whole picture's tiles
included) and then checks that the result on screen was computed from the current image, model, view,
mask and options, that the painting is on the view's grid (every tile back in the tiles view), and that
the view picker, canvas readout, hover readout, pattern label, metrics line and panel titles (naming
the view), loss-curve star (none for a whole picture), baseline panel, zoom ranges and
the Compare dock (its table and its viewer row, when it is up to date), the Train dock (its form and
its before/after rows) and the Explain dock (its map is for the viewer's current inputs) all say the same.
``pytest tests/gui/test_random_actions.py --soak`` runs 10 000 actions instead (a benchmark of
robustness; ``--soak-seed N`` picks another sequence). At 500 actions the last asserts (each dock
drew something, both whole views were seen) hold for the default seed but not for every seed.
"""

from __future__ import annotations

import random
import shutil
import time

import numpy as np
import pytest
from guikit import settle, stroke
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QSlider

from maskviz import masks
from maskviz.bundled import bundled_model_paths
from maskviz.gui.training.before_after import HINT
from maskviz.gui.viewer.panels import hover_lines
from maskviz.train import RunDir, TrainConfig
from maskviz.train.config import Plan

MODELS = [str(p) for p in bundled_model_paths().values()]
PATTERNS = ["random", "block", "simmim", "grid", "center", "border", "stripes", "checkerboard", "half", "none", "all"]
#: Working sizes a user picks (None: the image's own): 512 px is a 48×64 patch grid, 48 tiles of the
#: bundled 64 px models (native SimMIM there takes seconds on a CPU: rare, as a user's big picture is).
SIZES = [None, None, None, 512]
VIEWS = ["model", "tiles", "native"]
CHECK_EVERY = 20


class RandomUser:
    """Draws actions from a seeded generator and remembers what it did that the checks need."""

    def __init__(self, window, rng: random.Random, bad_model: str) -> None:
        self.w, self.rng, self.bad_model = window, rng, bad_model
        self.bad_images = 0
        self.whole = ""  # the whole view (tiles or native) chosen last
        self.actions = [(self.paint, 6), (self.pattern, 4), (self.reroll, 2), (self.complement, 1), (self.undo, 4),
                        (self.redo, 2), (self.invert, 2), (self.switch_model, 1), (self.switch_view, 2),
                        (self.baseline, 1),
                        (self.heatmap, 1), (self.zoom, 2), (self.bad_image, 1), (self.bad_model_path, 1),
                        (self.compare_dock, 1), (self.compare_run, 1), (self.compare_cancel, 1),
                        (self.compare_seeds, 1), (self.compare_row, 1),
                        (self.train_dock, 1), (self.train_steps, 1), (self.train_compare, 1), (self.explain_dock, 1),
                        (self.explain_method, 1), (self.explain_click, 2), (self.explain_cancel, 1)]

    def step(self) -> str:
        action = self.rng.choices([a for a, _ in self.actions], weights=[w for _, w in self.actions])[0]
        action()
        return action.__name__

    def _point(self) -> tuple[float, float]:
        h, w = self.w.state.paint.shape
        return self.rng.uniform(0, w), self.rng.uniform(0, h)

    def paint(self) -> None:
        canvas, view = self.w.canvas, self.w.state.view
        view.set_tool(self.rng.choice(["brush", "brush", "eraser"]))
        view.set_brush_size(self.rng.randint(1, 20))
        stroke(canvas, [self._point() for _ in range(self.rng.randint(1, 5))])

    def pattern(self) -> None:
        panel = self.w.patterns
        panel.pattern_combo.setCurrentText(self.rng.choice(PATTERNS))
        if "ratio" in panel.editors:
            panel.editors["ratio"].findChild(QSlider).setValue(self.rng.randrange(0, 1001))
        panel.apply()

    def reroll(self) -> None:
        self.w.patterns.reroll()

    def complement(self) -> None:
        check = self.w.patterns.complement_check
        check.setChecked(not check.isChecked())
        self.w.patterns.apply()

    def undo(self) -> None:
        self.w.state.undo_stack.undo()

    def redo(self) -> None:
        self.w.state.undo_stack.redo()

    def invert(self) -> None:
        self.w.canvas.invert()

    def switch_model(self) -> None:
        self.w.controller.open_model(self.rng.choice(MODELS))

    def switch_view(self) -> None:
        """The view combo box, and (in a whole view, sometimes) the working size's, as a user picks them.

        In the model view, half the time the model view again (a no-op), else the whole view not shown
        last (each is seen early); in a whole view, back to the model view or another working size.
        So the model view is shown about two thirds of the time (a whole view's tables and maps cost
        several forwards a mask)."""
        picker, now = self.w.view_picker, self.w.state.picture_view.name
        if now == "model":
            if self.rng.random() < 0.5:
                choose(picker.view_box, picker.view_box.findData("model"))
                return
            self.whole = "native" if self.whole == "tiles" else "tiles" if self.whole else self.rng.choice(VIEWS[1:])
            choose(picker.view_box, picker.view_box.findData(self.whole))
        elif self.rng.random() < 0.7:
            choose(picker.view_box, picker.view_box.findData("model"))
            return
        if self.rng.random() < 0.5:
            choose(picker.size_box, picker.size_box.findData(self.rng.choice(SIZES)))

    def baseline(self) -> None:
        current = self.w.state.options.baseline
        self.w.state.set_option("baseline", "none" if current != "none" else self.rng.choice(["mean", "harmonic"]))

    def heatmap(self) -> None:
        self.w.state.set_option("heatmap", "patch" if self.w.state.options.heatmap == "pixel" else "pixel")

    def zoom(self) -> None:
        if self.rng.random() < 0.3:
            self.w.state.view.reset_region()
            return
        cell = self.w.panels.widget_for(self.rng.choice(list(self.w.panels.cells)))
        pos = cell.mapFromScene(cell.plot.getViewBox().mapViewToScene(QPointF(*self._point())))
        delta = QPoint(0, self.rng.choice([-120, 120]))
        QApplication.sendEvent(cell.viewport(), QWheelEvent(QPointF(pos), cell.mapToGlobal(QPointF(pos)), QPoint(0, 0),
                                                            delta, Qt.MouseButton.NoButton,
                                                            Qt.KeyboardModifier.NoModifier,
                                                            Qt.ScrollPhase.NoScrollPhase, False))

    def bad_image(self) -> None:
        source = self.w.state.image_source
        assert self.w.controller.open_image(f"/nonexistent/photo-{self.rng.randrange(1000)}.jpg") is False
        assert self.w.state.image_source == source
        self.bad_images += 1

    def bad_model_path(self) -> None:
        self.w.controller.open_model(self.bad_model)

    def compare_dock(self) -> None:
        """Compare in front of the loss curve, or behind it (its tab hidden)."""
        (self.w.curve_dock if self.w.compare_controller.shown else self.w.compare_dock).raise_()

    def compare_run(self) -> None:
        self.w.compare.run_button.click()

    def compare_cancel(self) -> None:
        self.w.compare.cancel_button.click()

    def compare_seeds(self) -> None:
        self.w.compare.seeds_box.setValue(self.rng.randint(1, 2))

    def compare_row(self) -> None:
        table = self.w.compare.table
        if table.rowCount():
            row = self.rng.randrange(table.rowCount())
            self.w.compare._row_clicked(row, 0)  # as a click on the row

    def train_dock(self) -> None:
        self.w.train_dock.raise_()

    def train_steps(self) -> None:
        self.w.training.form.steps_spin.setValue(self.rng.randint(1, 5000))

    def train_compare(self) -> None:
        """What the final/best choice above the before/after rows does (the viewer's image and mask)."""
        self.w.training.controller.open_result(self.rng.choice(["last", "best"]))

    def explain_dock(self) -> None:
        """Explain in front of the loss curve, or behind it."""
        (self.w.curve_dock if self.w.explain_controller.shown else self.w.explain_dock).raise_()

    def explain_method(self) -> None:
        box = self.w.explain.method_box
        index = self.rng.randrange(box.count())
        box.setCurrentIndex(index)
        box.activated.emit(index)  # as the user's choice

    def explain_click(self) -> None:
        """A click on a patch of a result panel (the Explain lens's target while it is shown)."""
        x, y = self._point()
        self.w.state.view.click(int(x), int(y))

    def explain_cancel(self) -> None:
        self.w.explain.cancel_button.click()


def choose(box, index: int) -> None:
    """What a user's pick in a combo box does: the current item changes, then ``activated`` is sent."""
    box.setCurrentIndex(index)
    box.activated.emit(index)


def finished_run(folder, base: str) -> RunDir:
    """A run that started from ``base`` and ended: its final and best checkpoints are copies of the base."""
    run = RunDir(folder)
    run.create(TrainConfig(data=str(folder), model=base, out=str(folder), steps=4, batch=2),
               Plan(1, 2, 7, 1, 0, "x", "mae", {}, "maskviz checkpoint"))
    for checkpoint in (run.last, run.best):
        shutil.copyfile(base, checkpoint)
    return run


def idle(qtbot, window) -> None:
    """Nothing loading, the newest reconstruction on screen (a whole picture's every tile), the baseline
    (if any) filled for it, and a Compare run, a before/after comparison or an Explain job in front finished."""
    settle_all(qtbot, window)
    compare, training = window.compare_controller, window.training
    qtbot.waitUntil(lambda: not (compare.shown and (compare.is_running or compare._follow.isActive())),
                    timeout=60000)
    explain = window.explain_controller
    qtbot.waitUntil(lambda: not (explain.shown and explain.is_running), timeout=60000)
    qtbot.waitUntil(lambda: not (window.train_dock.isVisible() and not window.train_dock.visibleRegion().isEmpty()
                                 and training.state.comparison.busy), timeout=60000)
    settle_all(qtbot, window)
    if window.state.options.baseline != "none":
        qtbot.waitUntil(lambda: window.state.baseline_result is not None or window.state.baseline_status.startswith(
            "baseline failed"), timeout=60000)


def settle_all(qtbot, window) -> None:
    """:func:`settle`, and no whole-picture job running on the tiles lane."""
    qtbot.waitUntil(lambda: not window.whole_jobs.running, timeout=60000)
    settle(qtbot, window, timeout=60000)
    assert not window.whole_jobs.running


def check_views_agree(window) -> None:
    s = window.state
    outcome = s.result
    assert outcome is not None and s.result_is_current() and not outcome.partial
    r = outcome.result
    check_view_agrees(window)
    assert s.result_inputs.view == outcome.view == s.view_label
    np.testing.assert_array_equal(r.mask, s.patch_mask())
    np.testing.assert_array_equal(window.panels.result.mask, s.patch_mask())
    assert window.canvas.readout.text() == masks.describe(s.patch_mask())
    assert window.panels.readout == " · ".join(hover_lines(s, *s.view.hover))
    assert window.patterns.mask_label.text().startswith(s.mask_label())
    if s.provenance.spec is not None and not s.mask_label().endswith(("+ edits", "painted")):
        np.testing.assert_array_equal(s.patch_mask(), s.provenance.mask)
    if r.loss is None:
        assert window.curve.marker is None and "nothing to reconstruct" in window.metrics.text()
        assert window.panels.images["prediction"].image is None
    else:
        whole = s.picture is not None  # the loss curve is the model input's: no star for a whole picture
        assert window.curve.marker == (None if whole else pytest.approx((masks.mask_ratio(r.mask), r.loss)))
        assert f"{r.loss:.4f}" in window.metrics.text()
        np.testing.assert_allclose(window.panels.images["pasted"].image, r.pasted)
    if window.state.baseline_result is not None:
        np.testing.assert_array_equal(window.state.baseline_result.mask, r.mask)
    regions = {tuple(np.round(c.plot.getViewBox().viewRect().getRect(), 4)) for c in window.panels.cells.values()}
    assert len(regions) == 1  # every panel shows the same image region
    check_compare_agrees(window)
    check_explain_agrees(window)
    check_training_agrees(window)


def check_view_agrees(window) -> None:
    """The picker, the painting's grid, the canvas and the figures' names are the state's view."""
    s, picker = window.state, window.view_picker
    assert picker.view_box.currentData() == s.picture_view.name
    assert picker.size_box.isEnabled() == (s.picture_view.name != "model")
    if s.picture is None:
        assert s.picture_view.name == "model" and s.view_label == "model"
        assert s.result.request.model is s.model.model and s.result.request.image is s.model_image
        assert s.paint.grid == tuple(s.model.model.grid_size)
        assert window.panels.title("original") == "original"
        assert not any(view in window.metrics.text() for view in ("tiles", "native"))
    else:
        assert s.picture.view == s.picture_view and picker.size_box.currentData() == s.picture_view.size
        assert s.result.view_result.view == s.view_label == s.picture.label
        assert s.view_label.startswith(s.picture_view.name) and s.paint.grid == s.picture.grid
        if s.picture_view.name == "tiles":  # every tile of the layout came back
            from maskviz.whole.tiles import TileLayout

            layout = TileLayout.of(s.picture.grid, tuple(s.model.model.grid_size))
            assert len(s.result.view_result.tiles) == len(layout.tiles)
        assert s.view_label in window.panels.title("original") and s.view_label in window.metrics.text()
    h, w = s.paint.shape
    assert window.canvas._image.image.shape[:2] == (h, w) == s.result.result.prediction.shape[:2]


def check_explain_agrees(window) -> None:
    """The dock draws its state; a map on screen is for the viewer's image, model, mask and options now."""
    state, view, controller = window.explain_state, window.explain, window.explain_controller
    assert view.cancel_button.isEnabled() == state.running
    assert view.status.text() == state.status
    out = state.outcome
    if out is None:
        assert view.image.image is None
        return
    np.testing.assert_array_equal(view.image.image, out.picture)
    assert state.outcome_key[0] == controller.inputs_key()
    np.testing.assert_array_equal(out.mask, window.state.patch_mask())


def check_training_agrees(window) -> None:
    """The form shows the state's request; the before/after rows are the state's comparison, both rows
    made with one mask, and the comparison's status is what the page says while there is no result."""
    panel, state = window.training, window.training.state
    assert panel.form.steps_spin.value() == state.form.steps
    c = state.comparison
    view = panel.before_after
    assert view.shown == (0 if c.result is None else 2)
    assert view.use_button.isEnabled() == (c.result is not None)
    if c.result is None:
        assert view.hint.text() == (c.status or HINT)
        return
    np.testing.assert_array_equal(c.result.base.mask, c.result.tuned.mask)
    np.testing.assert_array_equal(view.pictures[0][0], c.result.base.masked_input)
    np.testing.assert_array_equal(view.pictures[1][1], c.result.tuned.pasted)


def check_compare_agrees(window) -> None:
    """The dock draws its state; a finished, up-to-date table was made from the viewer's mask and model."""
    c, view = window.compare_state, window.compare
    assert view.cancel_button.isEnabled() == c.running == window.compare_controller.is_running
    assert view.status.text() == c.status
    snapshot = c.snapshot
    if snapshot is None:
        return
    plain = [st for st in snapshot.table.strategies if not st.sweep]
    assert view.table.rowCount() == len(plain)
    if window.compare_controller.shown and not window.compare_controller.outdated and snapshot.finished:
        first = snapshot.table.models[0]
        rows = [r for r in snapshot.table.rows if r.strategy.startswith("viewer:") and r.model == first]
        assert rows and all(np.array_equal(r.mask, window.state.patch_mask()) for r in rows)
        assert {r.view for r in rows} == {window.state.view_label}  # made in the viewer's view
        assert rows[0].strategy == f"viewer: {window.state.mask_label()}"


def test_random_actions_keep_every_view_in_agreement(open_window, tmp_path, dialogs, qtbot, request):
    soak = request.config.getoption("--soak", False)  # registered in tests/gui/conftest.py
    count = 10_000 if soak else 500
    seed = request.config.getoption("--soak-seed", 1234)
    bad_model = tmp_path / "broken.safetensors"
    bad_model.write_bytes(b"not a model")
    big = tmp_path / "big.png"  # 160×120 px: 3×2 tiles of the bundled 64 px models at its own size
    yy, xx = np.mgrid[0:120, 0:160]
    Image.fromarray(np.stack([xx * 1.6, yy * 2, (xx + yy)], axis=-1).clip(0, 255).astype(np.uint8)).save(big)
    window = open_window(str(big), MODELS[0], restore=False)
    window.compare_state.set_settings(specs="random:0.75 grid:2", seeds=1, ratios="0.25:0.75:0.25")  # a quick table
    window.compare_controller.auto_seconds = 120  # a slow CI machine still follows
    assert window.training.controller.open_run(finished_run(tmp_path / "run", MODELS[0]).path)
    compared = []
    window.training.state.comparisonChanged.connect(
        lambda: compared.append(1) if window.training.state.comparison.result is not None else None)
    user = RandomUser(window, random.Random(seed), str(bad_model))
    maps: list[int] = []
    views: set[str] = set()
    window.state.pictureChanged.connect(lambda _note: views.add(window.state.picture_view.name))
    window.explain_state.outcomeChanged.connect(lambda: window.explain_state.outcome is not None and maps.append(1))
    start, done = time.perf_counter(), []
    for i in range(1, count + 1):
        done.append(user.step())
        if i % CHECK_EVERY == 0:
            idle(qtbot, window)
            check_views_agree(window)
    idle(qtbot, window)
    check_views_agree(window)
    image_dialogs = [d for d in dialogs if "image" in d[1].lower()]
    model_dialogs = [d for d in dialogs if "model" in d[1].lower()]
    assert len(image_dialogs) == user.bad_images and all("/nonexistent/" in d[2] for d in image_dialogs)
    assert all(str(bad_model) in d[2] for d in model_dialogs)
    assert len(model_dialogs) <= done.count("bad_model_path")
    assert len(dialogs) == len(image_dialogs) + len(model_dialogs)  # nothing else ever complained
    assert window.state.model is not None and window.state.model_source in MODELS
    assert done.count("compare_run") and window.compare_state.snapshot is not None  # the dock was exercised
    assert done.count("explain_click") and maps  # the Explain dock was shown and drew maps
    assert done.count("train_compare") and compared  # and so was the Train dock's before/after
    assert {"tiles", "native"} <= views  # and the whole views
    if soak:
        print(f"\nsoak: {count} actions (seed {seed}) in {time.perf_counter() - start:.0f} s, "
              f"{window.controller.stale_dropped} stale results dropped, all views agreed at "
              f"{count // CHECK_EVERY + 1} checkpoints")
