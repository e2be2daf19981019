"""The whole picture in the app: the view choice, tiles streamed through the controller, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from guikit import WAIT_MS, stroke
from PIL import Image

from maskviz.whole import reconstruct_view


@pytest.fixture
def window(open_window, big_photo, tiny_model_path):
    return open_window(big_photo, tiny_model_path, restore=False)


def settle_whole(qtbot, window) -> None:
    """The result on screen is the whole picture's for the current inputs, and nothing is running."""
    s = window.state
    qtbot.waitUntil(lambda: s.result_is_current() and not window.whole_jobs.running and not window.controller.busy,
                    timeout=WAIT_MS)


def record_steps(window) -> list:
    steps: list = []
    window.controller.jobStep.connect(lambda lane, _id, step: lane == "tiles" and steps.append(step))
    return steps


def test_switching_views_reruns_on_the_whole_picture(window, qtbot):
    s = window.state
    assert s.result.view == "model" and s.paint.grid == (4, 4)
    assert window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    assert s.result.view == "tiles 96x72 px" and s.paint.grid == (9, 12)
    assert window.panels.images["prediction"].image.shape == (72, 96, 3)
    assert window.canvas._image.image.shape[:2] == (72, 96)  # the canvas paints on the whole picture
    assert s.patch_mask().any()  # the pattern was made again for the whole grid
    assert window.view_picker.view_box.currentData() == "tiles"
    s.view.set_grid_visible(True)  # the tiles are drawn with the patch grid: 3×3 model inputs of 32 px
    assert window.canvas._tiles.isVisible() and window.canvas._tiles.path().elementCount() == 9 * 5
    assert "tiles 96x72 px" in window.panels.title("original") and "tiles 96x72 px" in window.metrics.text()
    assert window.whole_jobs.set_view("native")
    settle_whole(qtbot, window)
    assert s.result.view == "native 96x72 px" and s.result.view_result.view == "native 96x72 px"
    assert window.whole_jobs.set_view("model")
    qtbot.waitUntil(lambda: s.result_is_current() and not window.controller.busy, timeout=WAIT_MS)
    assert s.result.view == "model" and s.paint.grid == (4, 4)
    assert window.panels.images["prediction"].image.shape == (32, 32, 3)


def test_the_shown_result_equals_the_core_for_the_same_inputs(window, qtbot):
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    s = window.state
    (expected,) = reconstruct_view(s.model.model, s.picture, [s.patch_mask()])
    shown = s.result.result
    for name in ("prediction", "pasted", "masked_input", "error_map"):
        np.testing.assert_allclose(getattr(shown, name), getattr(expected.whole, name), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(window.panels.images["pasted"].image, expected.whole.pasted, atol=1e-5)
    assert shown.loss == pytest.approx(expected.whole.loss, rel=1e-5)
    assert len(s.result.view_result.tiles) == 9
    # The heatmap's colour range is the whole picture's, as `maskviz reconstruct --view tiles` colours it:
    # not the model view's, nor the first tiles' while they streamed in.
    from maskviz.figures.results import error_scales

    (top,) = error_scales([expected.whole], "pixel").values()
    assert window.panels._levels["pixel"] == pytest.approx((0.0, top))
    assert window.panels.colorbar.levels() == pytest.approx((0.0, top))


def test_a_stroke_in_one_tile_recomputes_only_that_tile(window, qtbot):
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    window.state.view.set_tool("eraser")
    window.state.view.set_brush_size(10)
    steps = record_steps(window)
    before = window.state.patch_mask().copy()
    points = [(38.0, 6.0), (58.0, 6.0), (58.0, 26.0), (38.0, 26.0), (48.0, 16.0)]
    stroke(window.canvas, points)  # inside tile 1 (patch rows 0-3, columns 4-7), which overlaps no other
    settle_whole(qtbot, window)
    after = window.state.patch_mask()
    changed = np.argwhere(before != after)
    assert len(changed) and (changed[:, 0] < 4).all() and (changed[:, 1] >= 4).all() and (changed[:, 1] < 8).all()
    assert steps[-1].computed == 1 and steps[-1].done == steps[-1].total == 9
    assert [step.tiles for step in steps if step.computed] == [(1,)]
    (expected,) = reconstruct_view(window.state.model.model, window.state.picture, [after])
    np.testing.assert_allclose(window.state.result.result.prediction, expected.whole.prediction, atol=1e-5)
    window.state.undo_stack.undo()  # every tile from the cache
    settle_whole(qtbot, window)
    assert steps[-1].computed == 0


def test_a_native_size_that_does_not_fit_is_refused_with_a_message(window, qtbot, dialogs, monkeypatch):
    from maskviz.whole import native

    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    monkeypatch.setattr(native, "usable_bytes", lambda device="cpu": 1000)
    window.view_picker.view_box.setCurrentIndex(window.view_picker.view_box.findData("native"))
    window.view_picker.view_box.activated.emit(2)  # what a user's choice sends
    assert window.view_picker.view_box.currentData() == "tiles"  # before the dialog: the view still in use
    qtbot.waitUntil(lambda: bool(dialogs), timeout=WAIT_MS)
    assert dialogs[-1][1] == "Cannot show the native view"
    assert "more than the" in dialogs[-1][2] and "use the tiles view" in dialogs[-1][2]
    assert "Traceback" not in dialogs[-1][2]
    assert window.state.picture_view.name == "tiles" and window.view_picker.view_box.currentData() == "tiles"
    assert window.state.result_is_current()


def test_an_image_the_view_cannot_take_falls_back_to_the_model_view(window, qtbot, tmp_path):
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 60), (10, 200, 30)).save(small)  # 20 px wide: less than one 32 px tile
    notes: list[str] = []
    window.controller.notice.connect(notes.append)
    window.controller.open_image(str(small))
    qtbot.waitUntil(lambda: window.state.result_is_current() and not window.controller.busy, timeout=WAIT_MS)
    assert window.state.picture_view.name == "model" and window.state.result.view == "model"
    assert notes and "tiles view" in notes[0] and "showing the model view" in notes[0]
    assert window.view_picker.view_box.currentData() == "model"


def test_exports_name_the_view_and_carry_every_tile(window, qtbot, tmp_path):
    import json

    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    assert window.export_metrics_json(tmp_path / "m.json") and window.export_panels(tmp_path / "p.png")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["view"] == "tiles 96x72 px" and len(doc["tiles"]) == 9
    assert doc["loss"] == pytest.approx(window.state.result.result.loss, rel=1e-6)
    assert Image.open(tmp_path / "p.png").size[0] > 0


def test_cancel_stops_the_job_and_the_next_change_runs_again(window, qtbot):
    s, worker = window.state, window.controller.worker
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    assert not window.tile_progress.isVisible()
    worker.hold(["tiles"], "test")  # the job waits in its lane: the user is quicker than the tiny model
    s.invert_mask()
    assert window.whole_jobs.running and window.tile_progress.isVisible()
    window.tile_progress.cancel_button.click()
    qtbot.waitUntil(lambda: not window.whole_jobs.running, timeout=WAIT_MS)
    assert s.progress is None and s.progress_text.startswith("cancelled")
    assert not window.tile_progress.isVisible() and not s.result_is_current()
    worker.hold(["tiles"], "test", False)
    s.undo_stack.undo()
    settle_whole(qtbot, window)
    assert s.result.view == "tiles 96x72 px"


def test_another_model_in_the_tiles_view_reruns_the_whole_picture(window, qtbot, dialogs, norm_pix_model_path):
    s = window.state
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    first = s.result.result
    window.controller.open_model(norm_pix_model_path)
    qtbot.waitUntil(lambda: s.model_source == norm_pix_model_path, timeout=WAIT_MS)
    settle_whole(qtbot, window)
    assert s.picture_view.name == "tiles" and s.result.view == "tiles 96x72 px" and s.paint.grid == (9, 12)
    assert s.result.result.norm_pix and s.result.result is not first
    assert not dialogs


def test_the_picture_is_made_on_the_worker_and_the_view_changes_when_it_arrives(window, qtbot, monkeypatch, tmp_path):
    import threading

    from maskviz.whole import reconstruct as whole_reconstruct

    made_on: list[bool] = []
    real = whole_reconstruct.make_working_image
    monkeypatch.setattr(whole_reconstruct, "make_working_image", lambda *a, **k: (
        made_on.append(threading.current_thread() is threading.main_thread()), real(*a, **k))[1])
    s, picker, worker = window.state, window.view_picker, window.controller.worker
    worker.hold(["picture"], "test")  # the picture waits in its lane: the user is quicker than Pillow
    picker.view_box.setCurrentIndex(picker.view_box.findData("tiles"))
    picker.view_box.activated.emit(1)
    assert s.picture_view.name == "model" and s.paint.grid == (4, 4)  # not yet: the picture is not made
    assert picker.view_box.currentData() == "tiles" and "preparing the 96×72 px picture" in s.progress_text
    other = tmp_path / "other.png"
    Image.new("RGB", (100, 75), (10, 200, 30)).save(other)
    window.controller.open_image(str(other))  # the picture of the old image is not wanted any more
    qtbot.waitUntil(lambda: not window.whole_jobs.preparing, timeout=WAIT_MS)
    assert s.picture_view.name == "model" and picker.view_box.currentData() == "model" and not s.progress_text
    worker.hold(["picture"], "test", False)
    assert window.whole_jobs.set_view("tiles", 64)
    settle_whole(qtbot, window)
    assert s.picture_view == s.picture.view and s.result.view == "tiles 64x48 px" and s.paint.grid == (6, 8)
    assert made_on == [False]  # resampled once, off the UI thread (the cancelled one never ran)


def test_another_model_keeps_the_picture_without_resampling(window, qtbot, monkeypatch, norm_pix_model_path):
    from maskviz.whole import reconstruct as whole_reconstruct

    window.whole_jobs.set_view("tiles", 64)
    settle_whole(qtbot, window)
    picture = window.state.picture
    monkeypatch.setattr(whole_reconstruct, "make_working_image", lambda *a, **k: pytest.fail("resampled again"))
    window.controller.open_model(norm_pix_model_path)
    qtbot.waitUntil(lambda: window.state.model_source == norm_pix_model_path, timeout=WAIT_MS)
    settle_whole(qtbot, window)
    assert window.state.picture is picture and window.state.result.view == "tiles 64x48 px"


def test_a_view_change_uploads_the_mask_overlay_once(window, qtbot):
    uploads: list[tuple] = []
    overlay = window.canvas._overlay
    real = overlay.setImage
    overlay.setImage = lambda image, **kw: (uploads.append(image.shape), real(image, **kw))
    window.whole_jobs.set_view("tiles")  # sizes the painting, clears it, applies the pattern: one upload
    settle_whole(qtbot, window)
    qtbot.waitUntil(lambda: not window.canvas._overlay_due.isActive(), timeout=WAIT_MS)
    assert uploads == [(72, 96, 4)]
    assert (window.canvas.overlay_image()[..., 3] > 0).any() == window.state.patch_mask().any()


def test_the_colour_range_is_the_whole_pictures_not_the_first_tiles(window, qtbot, monkeypatch):
    from maskviz.figures.results import error_scales
    from maskviz.gui.viewer import whole_jobs

    monkeypatch.setattr(whole_jobs, "PICTURE_EVERY_S", 0.0)  # every batch's picture is shown
    monkeypatch.setattr(whole_jobs, "GUI_BATCH", 1)
    partial_ranges: list[tuple] = []
    window.state.resultChanged.connect(
        lambda: window.state.result is not None and window.state.result.partial
        and partial_ranges.append(tuple(window.panels.colorbar.levels())))
    window.whole_jobs.set_view("tiles")
    settle_whole(qtbot, window)
    assert len(partial_ranges) >= 2  # the picture streamed in, coloured by what was there
    (top,) = error_scales([window.state.result.result], "pixel").values()
    assert window.panels._levels["pixel"] == pytest.approx((0.0, top))


def test_an_image_opened_from_the_menus_is_read_and_resampled_off_the_ui_thread(window, qtbot, monkeypatch,
                                                                              tmp_path, dialogs):
    import threading

    from maskviz import images
    from maskviz.whole import reconstruct as whole_reconstruct

    window.whole_jobs.set_view("tiles", 64)
    settle_whole(qtbot, window)
    on_ui: list[str] = []
    for module, name in ((images, "load_image"), (whole_reconstruct, "make_working_image")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: (
            threading.current_thread() is threading.main_thread() and on_ui.append(_name), _real(*a, **k))[1])
    other = tmp_path / "other.png"
    Image.new("RGB", (120, 90), (10, 200, 30)).save(other)
    window.controller.read_image(str(other))
    assert window.state.image_source != str(other)  # not yet: it is being read
    qtbot.waitUntil(lambda: window.state.image_source == str(other), timeout=WAIT_MS)
    settle_whole(qtbot, window)
    assert on_ui == [] and window.state.result.view == "tiles 64x48 px"
    window.controller.read_image(str(tmp_path / "missing.png"))
    qtbot.waitUntil(lambda: bool(dialogs), timeout=WAIT_MS)
    assert dialogs[-1][1] == "Could not open the image" and "missing.png" in dialogs[-1][2]
    assert window.state.image_source == str(other) and window.state.result_is_current()
