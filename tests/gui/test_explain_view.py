"""The Explain dock: computes nothing off screen, follows the pointer, a new mask supersedes its job,
shows the core function's map as the figure draws it, and exports the CLI's files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from guikit import viewer_on
from PySide6.QtCore import QPointF, QRectF, Qt

from maskviz.cli import main
from maskviz.explain import attention_capture, gradient_map
from maskviz.explain.figure import explain_sheet
from maskviz.figures import Inputs
from maskviz.figures.sheet import panel_pixels
from maskviz.gui.explain.controller import EXPLAIN_LANE, ExplainController
from maskviz.gui.explain.state import ExplainState
from maskviz.gui.explain.view import ExplainView
from maskviz.masks import make_mask
from maskviz.reconstruct import prepare_input

WAIT_MS = 30000


class Setup:
    """A viewer with the tiny model, the test photo and mask random:0.75 seed 0, and an Explain dock on it."""

    def __init__(self, qtbot, photo: str, model_path: str) -> None:
        self.viewer, self.controller = viewer_on(photo, model_path)
        assert self.controller.apply_spec("random:0.75,seed=0") == ""
        self.state = ExplainState()
        self.explain = ExplainController(self.state, self.viewer, self.controller)
        self.view = ExplainView(self.state, self.explain, self.viewer)
        qtbot.addWidget(self.view)
        self.view.resize(420, 640)
        self.view.show()
        self.started: list[int] = []
        self.controller.worker.started.connect(lambda lane, i: lane == EXPLAIN_LANE and self.started.append(i))

    @property
    def mask(self) -> np.ndarray:
        return self.viewer.patch_mask()

    def hover(self, row: int, col: int) -> None:
        p = self.viewer.paint.patch_size
        self.viewer.view.set_hover(col * p + p // 2, row * p + p // 2)

    def hidden(self, i: int = 0) -> tuple[int, int]:
        return tuple(int(v) for v in np.argwhere(self.mask)[i])

    def wait_map(self, qtbot, method: str, target: tuple[int, int]) -> None:
        def shown() -> bool:
            out = self.state.outcome
            return (out is not None and out.result is not None and out.lens.method == method
                    and getattr(out.result, "target", None) == target and not self.explain.is_running)
        qtbot.waitUntil(shown, timeout=WAIT_MS)


@pytest.fixture
def setup(qtbot, photo, tiny_model_path):
    s = Setup(qtbot, photo, tiny_model_path)
    yield s
    s.controller.shutdown()


def figure_pixels(setup: Setup, result) -> np.ndarray:
    model = setup.viewer.model.model
    original = prepare_input(model, setup.viewer.model_image)[0]
    sheet = explain_sheet(result, original, model.patch_size, Inputs(), None, model.config.mean)
    return panel_pixels(sheet.rows[0].blocks[-1])


def test_a_hidden_dock_starts_no_job_and_catches_up_when_shown(qtbot, setup):
    setup.hover(*setup.hidden(1))
    setup.state.set_lens(method="rollout")
    setup.viewer.set_patch_mask(make_mask("random:0.5", setup.mask.shape, 4, seed=2), "paint")
    qtbot.wait(300)
    assert setup.started == [] and setup.state.outcome is None and not setup.controller.worker.is_busy(EXPLAIN_LANE)
    setup.explain.set_shown(True)
    target = setup.hidden(1)
    setup.hover(*target)
    setup.wait_map(qtbot, "rollout", target)
    assert len(setup.started) >= 1


def test_the_map_shown_is_the_core_functions_drawn_as_the_figure_draws_it(qtbot, setup):
    setup.explain.set_shown(True)
    target = setup.hidden(3)
    setup.hover(*target)
    setup.wait_map(qtbot, "attention", target)
    expected = attention_capture(setup.viewer.model.model, setup.viewer.model_image, setup.mask).layer_map(target)
    np.testing.assert_allclose(setup.state.outcome.result.values, expected.values, rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(setup.view.image.image, figure_pixels(setup, expected))
    p = setup.viewer.paint.patch_size
    assert setup.view.marker.isVisible() and setup.view.marker.rect().topLeft() == QPointF(target[1] * p, target[0] * p)


def test_hovering_a_visible_patch_keeps_the_map_of_the_last_hidden_one(qtbot, setup):
    setup.explain.set_shown(True)
    target = setup.hidden(0)
    setup.hover(*target)
    setup.wait_map(qtbot, "attention", target)
    row, col = np.argwhere(~setup.mask)[0]
    setup.hover(int(row), int(col))
    qtbot.wait(200)
    assert setup.state.lens.target == target and setup.state.outcome.result.target == target


def test_clicking_a_hidden_patch_draws_its_gradient_map(qtbot, setup):
    setup.explain.set_shown(True)
    setup.state.set_lens(method="gradient")
    target = setup.hidden(2)
    view = setup.view
    qtbot.waitUntil(lambda: setup.state.outcome is not None, timeout=WAIT_MS)  # the masked input, to click on
    p = setup.viewer.paint.patch_size
    point = view.plot.vb.mapViewToScene(QPointF(target[1] * p + p / 2, target[0] * p + p / 2))
    widget_point = view.picture.mapFromScene(point)
    qtbot.mouseClick(view.picture.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    setup.wait_map(qtbot, "gradient", target)
    expected = gradient_map(setup.viewer.model.model, setup.viewer.model_image, setup.mask, target)
    np.testing.assert_allclose(setup.state.outcome.result.values, expected.values, rtol=1e-5, atol=1e-9,
                               equal_nan=True)
    assert not setup.state.follow  # a click pins the target


def test_a_new_mask_supersedes_the_running_job_and_drops_the_stale_map(qtbot, setup):
    setup.explain.set_shown(True)
    first = setup.hidden(0)
    setup.hover(*first)
    setup.wait_map(qtbot, "attention", first)
    failed: list[str] = []
    done: list[int] = []
    setup.controller.jobFailed.connect(lambda lane, _i, message: lane == EXPLAIN_LANE and failed.append(message))
    setup.controller.jobDone.connect(lambda lane, i, _v: lane == EXPLAIN_LANE and done.append(i))
    setup.controller.worker.hold([EXPLAIN_LANE], "test")  # the next job waits in its lane
    setup.state.set_lens(method="occlusion")
    old_job = setup.explain.task_id
    assert old_job and setup.explain.is_running
    new_mask = ~setup.mask
    setup.viewer.set_patch_mask(new_mask, "paint")
    assert setup.state.outcome is None  # the old mask's map is gone at once
    qtbot.waitUntil(lambda: any("mask changed" in m for m in failed), timeout=WAIT_MS)
    setup.controller.worker.hold([EXPLAIN_LANE], "test", False)
    target = tuple(int(v) for v in np.argwhere(new_mask)[0])
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "occlusion", target)
    np.testing.assert_array_equal(setup.state.outcome.mask, new_mask)
    assert old_job not in done  # the old mask's job never delivered


def test_export_writes_the_clis_figure_and_json(qtbot, setup, tmp_path, photo, tiny_model_path):
    setup.explain.set_shown(True)
    setup.state.set_lens(method="occlusion")
    target = setup.hidden(4)
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "occlusion", target)
    gui_png, gui_json = tmp_path / "gui.png", tmp_path / "gui.json"
    assert setup.explain.export("figure", gui_png) and setup.explain.export("json", gui_json)
    cli_png, cli_json = tmp_path / "cli.png", tmp_path / "cli.json"
    assert main(["explain", photo, "--model", tiny_model_path, "--mask", "random:0.75", "--seed", "0",
                 "--target", f"{target[0]},{target[1]}", "--method", "occlusion", "--device", "cpu",
                 "--out", str(cli_png), "--json", str(cli_json)]) == 0
    assert gui_png.read_bytes() == cli_png.read_bytes()
    gui, cli = json.loads(gui_json.read_text()), json.loads(cli_json.read_text())
    maps = [np.array(doc.pop("map"), dtype=float) for doc in (gui, cli)]  # float32 sums on other thread counts
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-4, equal_nan=True)
    for doc in (gui, cli):
        doc.pop("seconds")
    assert gui == cli and gui["mask"] == "random:0.75" and gui["seed"] == 0


def test_export_before_a_map_says_so(setup, tmp_path):
    assert not setup.explain.export("figure", tmp_path / "x.png")
    assert "nothing to export" in setup.state.status and not (tmp_path / "x.png").exists()


def test_in_the_window_a_click_on_the_reconstruction_explains_that_patch(qtbot, window):
    window.show_explain()
    qtbot.waitUntil(lambda: window.explain_controller.shown, timeout=WAIT_MS)
    state, viewer = window.explain_state, window.state
    state.set_lens(method="occlusion")
    mask = viewer.patch_mask()
    target = tuple(int(v) for v in np.argwhere(mask)[1])
    p = viewer.paint.patch_size
    cell = window.panels.cells["prediction"]
    scene = cell.plot.getViewBox().mapViewToScene(QPointF(target[1] * p + p / 2, target[0] * p + p / 2))
    qtbot.mouseClick(cell.viewport(), Qt.MouseButton.LeftButton, pos=cell.mapFromScene(scene))
    qtbot.waitUntil(lambda: state.outcome is not None and state.outcome.result is not None
                    and state.outcome.result.target == target, timeout=WAIT_MS)
    window.explain_dock.close()  # off screen: a new target starts nothing
    started: list[int] = []
    window.controller.worker.started.connect(lambda lane, i: lane == EXPLAIN_LANE and started.append(i))
    state.set_lens(method="gradient")
    qtbot.wait(300)
    assert started == [] and not window.explain_controller.shown


def test_with_a_kept_forward_the_map_follows_the_pointer_at_once_without_a_job(qtbot, setup):
    setup.explain.set_shown(True)
    setup.state.set_lens(method="rollout")
    first = setup.hidden(0)
    setup.hover(*first)
    setup.wait_map(qtbot, "rollout", first)
    jobs = len(setup.started)
    for i in (2, 5, 1):
        target = setup.hidden(i)
        setup.hover(*target)
        assert setup.state.outcome.result.target == target  # drawn before the event loop runs again
    qtbot.wait(200)
    assert len(setup.started) == jobs and not setup.explain.is_running


def tiles_setup(setup: Setup) -> tuple:
    """The dock shown, the viewer in the tiles view at 96 px (10×12 patches, 3×3 tiles), mask random:0.75."""
    from maskviz.explain.views import tile_layout
    from maskviz.whole.view import View

    setup.explain.set_shown(True)
    setup.viewer.set_picture_view(View("tiles", 96))
    assert setup.controller.apply_spec("random:0.75,seed=0") == ""
    vimg = setup.viewer.picture
    assert vimg.grid == setup.viewer.paint.grid == setup.mask.shape == (10, 12)
    return vimg, tile_layout(setup.viewer.model.model, vimg).owner_map()


def in_tile(setup: Setup, owner: np.ndarray, tile: int, i: int = 0) -> tuple[int, int]:
    return [tuple(int(v) for v in p) for p in np.argwhere(setup.mask) if owner[tuple(p)] == tile][i]


def test_in_the_tiles_view_a_click_explains_the_patch_on_its_owning_tile(qtbot, setup, tmp_path, photo,
                                                                        tiny_model_path):
    from maskviz.explain import run
    from maskviz.explain.views import iter_view_map

    vimg, owner = tiles_setup(setup)
    setup.state.set_lens(method="occlusion")
    target = in_tile(setup, owner, 8)  # the corner tile, shifted back to the picture's edge
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "occlusion", target)
    out = setup.state.outcome
    expected = run(iter_view_map(setup.viewer.model.model, vimg, setup.mask, "occlusion", target))
    assert out.result.values.shape == (10, 12) and out.original.shape == (80, 96, 3)
    np.testing.assert_allclose(out.result.values, expected.values, rtol=1e-5, equal_nan=True)
    assert out.result.params["where"] == "tile 8 (rows 6–9, cols 8–11)" and np.isnan(out.result.values[:6]).all()
    view = setup.view  # the dock shows that tile (dashed) and what lies around it, not the whole picture
    assert view.tile_outline.isVisible() and view.tile_outline.rect() == QRectF(64, 48, 32, 32)
    (x0, x1), (y0, y1) = view.plot.getViewBox().viewRange()
    assert x0 <= 64 and x1 >= 96 and y0 <= 48 and y1 >= 80 and x1 - x0 < 96
    gui_png, gui_json = tmp_path / "gui.png", tmp_path / "gui.json"
    assert setup.explain.export("figure", gui_png) and setup.explain.export("json", gui_json)
    cli_png, cli_json = tmp_path / "cli.png", tmp_path / "cli.json"
    assert main(["explain", photo, "--model", tiny_model_path, "--view", "tiles", "--size", "96", "--mask",
                 "random:0.75", "--seed", "0", "--target", f"{target[0]},{target[1]}", "--method", "occlusion",
                 "--device", "cpu", "--out", str(cli_png), "--json", str(cli_json)]) == 0
    assert gui_png.read_bytes() == cli_png.read_bytes()
    gui, cli = json.loads(gui_json.read_text()), json.loads(cli_json.read_text())
    maps = [np.array(doc.pop("map"), dtype=float) for doc in (gui, cli)]
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-4, equal_nan=True)
    for doc in (gui, cli):
        doc.pop("seconds")
    assert gui == cli and gui["view"] == "tiles 96x80 px"


def test_in_the_tiles_view_attention_keeps_each_tiles_forward(qtbot, setup):
    vimg, owner = tiles_setup(setup)
    setup.state.set_lens(method="rollout")
    first = in_tile(setup, owner, 0)
    setup.hover(*first)
    setup.wait_map(qtbot, "rollout", first)
    jobs = len(setup.started)
    second = in_tile(setup, owner, 0, 1)
    setup.hover(*second)  # the same tile: answered at once, no job
    assert setup.state.outcome.result.target == second and len(setup.started) == jobs
    other = in_tile(setup, owner, 4)
    setup.hover(*other)  # another tile: its forward runs
    setup.wait_map(qtbot, "rollout", other)
    assert len(setup.started) == jobs + 1
    assert np.isfinite(setup.state.outcome.result.values[owner == 4]).any()
    assert np.isnan(setup.state.outcome.result.values[owner == 0]).all()
    setup.hover(*first)  # back: both tiles are kept
    assert setup.state.outcome.result.target == first
    qtbot.wait(200)
    assert len(setup.started) == jobs + 1 and not setup.explain.is_running


def test_another_view_drops_the_map_and_explains_on_the_new_picture(qtbot, setup):
    from maskviz.whole.view import View

    setup.explain.set_shown(True)
    target = setup.hidden(0)
    setup.hover(*target)
    setup.wait_map(qtbot, "attention", target)
    setup.viewer.set_picture_view(View("native", 96))
    assert setup.state.outcome is None  # a map of the model view must not stay over the whole picture
    assert setup.controller.apply_spec("random:0.75,seed=0") == ""
    target = setup.hidden(7)
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "attention", target)
    assert setup.state.outcome.result.values.shape == (10, 12) and setup.state.outcome.picture.shape[:2] == (80, 96)


def test_in_the_tiles_view_spread_counts_every_tile_forward_and_features_paint_the_picture(qtbot, setup):
    tiles_setup(setup)
    said: list[str] = []
    setup.state.runChanged.connect(lambda: said.append(setup.state.status))
    setup.state.set_lens(method="spread", masks=2)
    qtbot.waitUntil(lambda: setup.state.outcome is not None and setup.state.outcome.lens.method == "spread"
                    and not setup.explain.is_running, timeout=WAIT_MS)
    assert setup.state.outcome.result.std.shape == (80, 96) and setup.state.outcome.result.count.shape == (10, 12)
    assert "spread over 2 masks × 9 tiles: 18/18 tile forwards" in said
    setup.state.set_lens(method="features")
    qtbot.waitUntil(lambda: setup.state.outcome is not None and setup.state.outcome.lens.method == "features"
                    and not setup.explain.is_running, timeout=WAIT_MS)
    lens = setup.state.outcome.result
    assert lens.rgb.shape == (10, 12, 3) and np.isnan(lens.rgb[setup.mask]).all()
    assert np.isfinite(lens.rgb[~setup.mask]).all()


def test_back_in_the_model_view_a_target_of_the_whole_grid_is_dropped(qtbot, setup):
    """A click in the tiles view picks a patch of the picture's 10×12 grid; the model's grid is 4×4."""
    from maskviz.whole.view import View

    vimg, owner = tiles_setup(setup)
    setup.state.set_lens(method="gradient")
    target = in_tile(setup, owner, 8)  # rows 6–9, cols 8–11: outside the model's grid
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "gradient", target)
    setup.viewer.set_picture_view(View("model"))
    assert setup.state.lens.target is None and "outside" not in setup.state.status
    assert setup.controller.apply_spec("random:0.75,seed=0") == ""
    target = setup.hidden(0)
    setup.explain.pick(*target)
    setup.wait_map(qtbot, "gradient", target)
