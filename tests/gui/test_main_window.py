"""The main window driven like a user: strokes, undo, patterns, zoom, hover, errors, export, session."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from guikit import WAIT_MS, mask_of, mouse, settle, stroke
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from maskviz import masks
from maskviz.checkpoints import LoadedModel
from maskviz.gui.viewer.panels import hover_lines

FULL_ROW = [(1, 12), (10, 12), (20, 13), (30, 12)]  # across the 32-px image, through patch row 1


def _clear(window, qtbot) -> None:
    window.canvas.clear()
    settle(qtbot, window)
    assert not window.panels.result.mask.any()


# ---------------------------------------------------------------------------- painting


def test_stroke_changes_mask_and_the_panels_show_it(window, qtbot):
    _clear(window, qtbot)
    masked_before = window.panels.images["masked"].image.copy()
    metrics_before = window.metrics.text()
    window.state.view.set_brush_size(7)
    stroke(window.canvas, FULL_ROW)
    settle(qtbot, window)
    shown = window.panels.result
    assert mask_of(window)[1].all()  # the stroke hid patch row 1
    np.testing.assert_array_equal(shown.mask, mask_of(window))
    assert not np.array_equal(window.panels.images["masked"].image, masked_before)
    assert window.metrics.text() != metrics_before
    assert "masked-region loss" in window.metrics.text() and "12 visible / 4 masked of 16" in window.metrics.text()


def test_fast_model_updates_during_the_stroke(window, qtbot):
    assert window.controller.live  # the tiny model answers in milliseconds
    _clear(window, qtbot)
    window.state.view.set_brush_size(7)
    stroke(window.canvas, FULL_ROW, release=False)
    qtbot.waitUntil(lambda: window.panels.result.mask.any(), timeout=WAIT_MS)  # before the release
    mouse(window.canvas, QEvent.Type.MouseButtonRelease, *FULL_ROW[-1])
    settle(qtbot, window)


def test_slow_model_waits_for_the_stroke_end(window, qtbot):
    _clear(window, qtbot)
    window.controller.last_seconds = 0.4  # as measured for a ViT-B on a laptop CPU
    assert not window.controller.live
    before = window.controller.worker.latest_id("recon")
    window.state.view.set_brush_size(7)
    stroke(window.canvas, FULL_ROW, release=False)
    qtbot.wait(100)
    assert window.controller.worker.latest_id("recon") == before  # nothing submitted while the button is down
    assert window.controller.worker.is_held("curve")  # nor does the background sweep start a step
    mouse(window.canvas, QEvent.Type.MouseButtonRelease, *FULL_ROW[-1])
    assert window.controller.worker.latest_id("recon") > before
    assert window.controller.worker.is_held("curve")  # still: until the stroke's result is on screen
    settle(qtbot, window)
    assert window.panels.result.mask[1].all()
    assert not window.controller.worker.is_held("curve")


def test_busy_indicator_shows_while_a_slow_reconstruction_runs(window, qtbot, monkeypatch):
    model = window.state.model.model
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x, m: (time.sleep(0.5), forward(x, m))[1])
    window.canvas.invert()
    qtbot.waitUntil(lambda: window.busy_indicator.visible, timeout=WAIT_MS)
    assert "reconstructing" in window.busy_indicator.label.text()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: not window.busy_indicator.visible, timeout=WAIT_MS)


def test_undo_and_redo_reconstruct(window, qtbot):
    _clear(window, qtbot)
    window.state.view.set_brush_size(7)
    stroke(window.canvas, FULL_ROW)
    settle(qtbot, window)
    painted = window.panels.result.mask.copy()
    assert painted.any()
    window.undo_action.trigger()
    settle(qtbot, window)
    assert not window.panels.result.mask.any()
    window.redo_action.trigger()
    settle(qtbot, window)
    np.testing.assert_array_equal(window.panels.result.mask, painted)


def test_clear_and_invert_from_the_edit_menu(window, qtbot):
    before = mask_of(window).copy()
    invert = next(a for a in window.edit_menu.actions() if "Invert" in a.text())
    invert.trigger()
    settle(qtbot, window)
    np.testing.assert_array_equal(window.panels.result.mask, ~before)


def test_every_pattern_reaches_canvas_and_panels(window, qtbot):
    combo = window.patterns.pattern_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert {"random", "block", "grid", "none", "all"} <= set(names)
    for name in names:
        combo.setCurrentText(name)
        with qtbot.waitSignal(window.patterns.patternRequested, timeout=WAIT_MS) as blocker:
            window.patterns.apply()
        spec, mask = blocker.args[0], window.state.provenance.mask
        settle(qtbot, window)
        np.testing.assert_array_equal(mask_of(window), mask, err_msg=spec)
        np.testing.assert_array_equal(window.panels.result.mask, mask, err_msg=spec)
        assert window.state.pattern_spec == spec


def test_nothing_hidden_says_so(window, qtbot):
    _clear(window, qtbot)
    assert window.metrics.text().startswith("no masked patches")
    assert window.curve.marker is None


# ---------------------------------------------------------------------------- views


def _wheel(view_widget, pos: QPointF, steps: int = 2) -> None:
    vp = view_widget.viewport()
    event = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)


def test_zoom_in_one_panel_zooms_every_panel_and_the_canvas(window, qtbot):
    panels = window.panels
    views = [p.getViewBox() for p in panels.plots.values()] + [window.canvas.view_box]
    plot = panels.plots["prediction"]
    before = plot.getViewBox().viewRect()
    centre = plot.getViewBox().mapViewToScene(QPointF(8, 8))
    cell = panels.widget_for("prediction")
    _wheel(cell, cell.mapFromScene(centre))
    zoomed = plot.getViewBox().targetRect()
    assert zoomed.width() < before.width() * 0.9  # it did zoom
    for view in views:
        assert view.targetRect() == zoomed  # every view was given the same region to show
        shown = view.viewRect()
        assert shown.contains(zoomed.adjusted(0.01, 0.01, -0.01, -0.01))
    window.state.view.reset_region()
    for view in views:
        assert view.viewRect().contains(0.5, 0.5) and view.viewRect().contains(31.5, 31.5)


def test_hover_on_a_panel_shows_patch_index_loss_and_state(window, qtbot):
    panels = window.panels
    r = panels.result
    plot = panels.plots["pasted"]
    scene_pos = plot.getViewBox().mapViewToScene(QPointF(20.5, 9.5))  # pixel (20, 9): patch row 1, col 2
    cell = panels.widget_for("pasted")
    vp = cell.viewport()
    pos = QPointF(cell.mapFromScene(scene_pos))
    with qtbot.waitSignal(panels.hovered, timeout=WAIT_MS) as blocker:
        QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseMove, pos, vp.mapToGlobal(pos),
                                               Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                               Qt.KeyboardModifier.NoModifier))
    assert blocker.args == [1, 2, 6]
    text = panels.readout
    assert "patch (row 1, col 2) #6" in text
    assert f"loss {r.patch_loss[1, 2]:.4g}" in text
    assert ("hidden" if r.mask[1, 2] else "visible") in text


def test_hover_on_the_canvas_shows_the_same_readout(window, qtbot):
    mouse(window.canvas, QEvent.Type.MouseMove, 3.5, 28.5, held=False)  # patch row 3, col 0
    assert "patch (row 3, col 0) #12" in window.panels.readout
    assert hover_lines(window.state, -1, -1) == []


def test_heatmap_per_pixel_or_per_patch_with_fixed_levels(window, qtbot):
    from maskviz.figures import heat_rgb

    panels = window.panels
    image = panels.images["error"]
    heat = panels.heatmap()
    np.testing.assert_allclose(heat.values, panels.result.error_map)
    np.testing.assert_array_equal(image.image, heat_rgb(heat))  # the picture on screen is the heat drawn
    levels = (heat.vmin, heat.vmax)
    window.heatmap_actions["patch"].trigger()
    assert panels.heatmap_mode == "patch"
    np.testing.assert_allclose(panels.heatmap().values[:8, :8], panels.result.patch_loss[0, 0])
    assert "patch" in panels.title("error")
    window.canvas.invert()  # a new result keeps the colour range (comparable by eye)
    settle(qtbot, window)
    window.heatmap_actions["pixel"].trigger()
    assert (panels.heatmap().vmin, panels.heatmap().vmax) == levels


def test_norm_pix_model_offers_and_labels_the_unnormalisation(open_window, photo, norm_pix_model_path, qtbot):
    window = open_window(photo, norm_pix_model_path, restore=False)
    panels = window.panels
    assert not panels.unnormalize_box.isHidden()
    assert "true-patch" in panels.title("prediction")
    window.state.set_option("unnormalize", "visible")
    settle(qtbot, window)
    assert panels.unnormalize == "visible"
    assert panels.result.unnormalize == "visible"
    assert "visible-patch" in panels.title("prediction")
    assert window.model_panel.unnormalize_box.currentData() == "visible"


def test_pixel_model_hides_the_unnormalisation_choice(window):
    assert window.panels.unnormalize_box.isHidden()
    assert not window.model_panel.unnormalize_box.isEnabled()


# ---------------------------------------------------------------------------- stale results


def test_a_stale_result_is_never_shown(window, qtbot, monkeypatch):
    model = window.state.model.model
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x, m: (time.sleep(1.0), forward(x, m))[1])  # wide window under load
    shown: list[int] = []
    window.controller.resultShown.connect(shown.append)
    window.canvas.set_patch_mask(masks.half_mask(model.grid_size, "left"))
    first = window.controller.worker.latest_id("recon")
    worker = window.controller.worker
    qtbot.waitUntil(lambda: worker.is_busy("recon") and worker._running.get("recon") == first,
                    timeout=WAIT_MS)
    window.canvas.set_patch_mask(masks.half_mask(model.grid_size, "top"))
    second = window.controller.worker.latest_id("recon")
    assert second > first
    settle(qtbot, window)
    assert first not in shown and shown[-1] == second
    assert window.controller.stale_dropped >= 1
    np.testing.assert_array_equal(window.panels.result.mask, masks.half_mask(model.grid_size, "top"))


# ---------------------------------------------------------------------------- bad input


def test_bad_image_gives_a_dialog_and_keeps_the_image(window, qtbot, dialogs, tmp_path):
    image, source = window.state.image, window.state.image_source
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    assert window.controller.open_image(bad) is False
    assert len(dialogs) == 1
    kind, title, text = dialogs[0]
    assert "image" in title.lower() and "broken.png" in text and "Traceback" not in text
    assert window.state.image is image and window.state.image_source == source
    window.canvas.invert()  # still working
    settle(qtbot, window)


def test_bad_checkpoint_gives_a_dialog_and_keeps_the_model(window, qtbot, dialogs, tmp_path):
    loaded = window.state.model
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"\x00not a checkpoint" * 10)
    window.controller.open_model(bad)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    kind, title, text = dialogs[0]
    assert "model" in title.lower() and "garbage.pth" in text and "Traceback" not in text
    assert window.state.model is loaded
    window.canvas.invert()
    settle(qtbot, window)
    assert window.panels.result is window.state.result.result


def test_broken_model_at_start_falls_back_to_the_default(open_window, photo, tmp_path, monkeypatch, dialogs):
    monkeypatch.setattr("maskviz.bundled.bundled_model_paths", lambda: {})
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    window = open_window(photo, str(bad), restore=False)
    assert window.state.model.format == "builtin" and window.state.model_source is None
    assert len(dialogs) == 1 and "bad.pth" in dialogs[0][2]


def test_unreadable_mask_file_gives_a_dialog(window, dialogs, tmp_path):
    before = mask_of(window).copy()
    bad = tmp_path / "mask.png"
    bad.write_text("nope")
    assert window.load_mask(bad) is False
    assert dialogs and "mask" in dialogs[0][1].lower()
    np.testing.assert_array_equal(mask_of(window), before)


def test_write_failure_gives_a_dialog(window, dialogs, tmp_path):
    assert window.export_panels(tmp_path / "missing-folder" / "p.png") is False
    assert window.save_mask(tmp_path / "missing-folder" / "m.png") is False
    assert len(dialogs) == 2 and all("Traceback" not in text for _, _, text in dialogs)


# ---------------------------------------------------------------------------- files


def test_export_panels_png_and_metrics_json(window, tmp_path):
    png, js = tmp_path / "panels.png", tmp_path / "metrics.json"
    assert window.export_panels(png)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 4 * 32
    assert window.export_metrics_json(js)
    doc = json.loads(js.read_text())
    r = window.state.result.result
    assert doc["loss"] == pytest.approx(r.loss)
    assert doc["masked_patches"] == r.masked_patches and doc["total_patches"] == 16
    assert doc["model"]["family"] == "mae" and doc["device"] == "cpu"


def test_mask_png_round_trip(window, qtbot, tmp_path):
    window.canvas.set_patch_mask(masks.checkerboard_mask((4, 4)))
    path = tmp_path / "mask.png"
    assert window.save_mask(path)
    window.canvas.clear()
    assert window.load_mask(path)
    np.testing.assert_array_equal(mask_of(window), masks.checkerboard_mask((4, 4)))
    settle(qtbot, window)
    np.testing.assert_array_equal(window.panels.result.mask, masks.checkerboard_mask((4, 4)))


def test_dropping_an_image_then_a_checkpoint(window, qtbot, tmp_path, norm_pix_model_path):
    other = tmp_path / "other.png"
    Image.new("RGB", (50, 50), (10, 200, 30)).save(other)

    def drop(path: Path) -> None:
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(path))])
        enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, enter)  # through Qt's virtual dispatch, as a real drag arrives
        assert enter.isAccepted()
        QApplication.sendEvent(window, QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data,
                                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))

    drop(other)  # read in the background: the window answers while a large photo decodes
    qtbot.waitUntil(lambda: window.state.image_source == str(other), timeout=WAIT_MS)
    drop(Path(norm_pix_model_path))
    qtbot.waitUntil(lambda: window.state.model_source == norm_pix_model_path, timeout=WAIT_MS)
    settle(qtbot, window)
    assert window.panels.result.norm_pix


def test_recent_models_are_remembered(window, tiny_model_path):
    assert window.settings.value("recent_models") in ([tiny_model_path], tiny_model_path)
    assert [a.text() for a in window.recent_menu.actions()] == [tiny_model_path]


def test_precision_is_fp32_only_on_the_cpu(window):
    assert window.state.options.device == "cpu"
    assert not window.model_panel.precision_box.isEnabled()


# ---------------------------------------------------------------------------- defaults and session


def test_builtin_model_shows_a_banner(open_window, photo, monkeypatch, qtbot):
    monkeypatch.setattr("maskviz.bundled.bundled_model_paths", lambda: {})
    window = open_window(photo, None, restore=False)
    assert window.state.model.format == "builtin"
    assert window.banner.isVisible() and "random weights" in window.banner.text()
    assert "random weights" in window.model_panel.details.text()


def test_trained_model_has_no_banner(window):
    assert window.banner.isHidden()


def test_defaults_without_session(open_window, monkeypatch):
    monkeypatch.setattr("maskviz.bundled.bundled_model_paths", lambda: {})
    window = open_window()
    assert window.state.image_source == "sample:coffee"
    assert window.state.model_source is None and window.state.model.format == "builtin"
    assert window.panels.result.masked_patches > 0  # the default pattern is applied, not an empty mask


def test_session_restores_image_model_and_mask(open_window, photo, tiny_model_path, config_dir, qtbot):
    first = open_window(photo, tiny_model_path, restore=False)
    custom = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    first.canvas.set_patch_mask(custom)
    first.panels.set_heatmap_mode("patch")
    settle(qtbot, first)
    first.close()
    assert (config_dir / "session.json").exists()
    second = open_window()
    assert second.state.image_source == photo
    assert second.state.model_source == tiny_model_path
    np.testing.assert_array_equal(mask_of(second), custom)
    np.testing.assert_array_equal(second.panels.result.mask, custom)
    assert second.panels.heatmap_mode == "patch"


def test_session_with_a_missing_image_falls_back(open_window, photo, tiny_model_path, config_dir, tmp_path, qtbot):
    gone = tmp_path / "gone.png"
    Image.new("RGB", (40, 40)).save(gone)
    first = open_window(str(gone), tiny_model_path, restore=False)
    first.close()
    gone.unlink()
    second = open_window()
    assert second.state.image_source == "sample:coffee"
    assert second.state.model_source == tiny_model_path


def test_set_model_accepts_a_loaded_model(window, qtbot):
    from maskviz.models import create_model

    model = create_model("mae_vit_tiny_test").eval()
    window.controller.use_model(LoadedModel(model, source="test", format="maskviz"))
    settle(qtbot, window)
    assert window.state.result.request.model is model


# ---------------------------------------------------------------------------- loss curve


def test_loss_curve_fills_in_and_marks_the_current_mask(window, qtbot):
    curve = window.curve
    qtbot.waitUntil(lambda: curve.complete, timeout=WAIT_MS)
    assert len(curve.points) == 9 and all(len(p.losses) == 3 for p in curve.points)
    assert "random" in curve.plot.titleLabel.text
    xs, ys = curve.mean_curve.getData()
    assert list(xs) == sorted(p.actual for p in curve.points)  # drawn against what was really hidden
    r = window.state.result.result
    assert curve.marker == pytest.approx((masks.mask_ratio(r.mask), r.loss))
    window.canvas.invert()
    settle(qtbot, window)
    r = window.state.result.result
    assert curve.marker == pytest.approx((masks.mask_ratio(r.mask), r.loss))


def test_loss_curve_follows_the_pattern_family_not_the_seed(window, qtbot):
    curve = window.curve
    qtbot.waitUntil(lambda: curve.complete, timeout=WAIT_MS)
    before = window.controller.worker.latest_id("curve")
    window.patterns.reroll()  # same family: the curve stays
    seed = window.patterns.seed_spin
    qtbot.waitUntil(lambda: window.state.pattern_spec.endswith(f"seed={seed.value()}"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.curve_jobs.pending, timeout=WAIT_MS)  # the debounced check ran
    assert window.controller.worker.latest_id("curve") == before and curve.complete
    window.patterns.pattern_combo.setCurrentText("block")
    window.patterns.apply()
    qtbot.waitUntil(lambda: window.controller.worker.latest_id("curve") > before, timeout=WAIT_MS)
    assert "block" in curve.plot.titleLabel.text
    qtbot.waitUntil(lambda: curve.complete, timeout=WAIT_MS)
    window.patterns.pattern_combo.setCurrentText("grid")  # no ratio: the curve shows random masks
    window.patterns.apply()
    qtbot.waitUntil(lambda: "random" in curve.plot.titleLabel.text, timeout=WAIT_MS)


def test_a_new_image_supersedes_the_running_curve(window, qtbot, tmp_path):
    qtbot.waitUntil(lambda: window.controller.worker.latest_id("curve") > 0, timeout=WAIT_MS)
    first = window.controller.worker.latest_id("curve")
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 40), (200, 20, 90)).save(other)
    window.controller.open_image(other)
    qtbot.waitUntil(lambda: window.controller.worker.latest_id("curve") > first, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.curve.complete, timeout=WAIT_MS)


def test_device_choice_is_locked_while_a_model_loads(window, qtbot, tiny_model_path):
    """A device move queued behind a load would move the old model: the picker waits for the load."""
    assert window.model_panel.device_box.isEnabled()
    window.controller.open_model(tiny_model_path)
    assert not window.model_panel.device_box.isEnabled()
    qtbot.waitUntil(lambda: window.model_panel.device_box.isEnabled(), timeout=WAIT_MS)
    assert window.state.model_source == str(tiny_model_path)


def test_requests_send_the_image_fitted_once(window, qtbot, tmp_path):
    """A big photo is fitted to the model once; every request carries the small fitted image."""
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 1200, 3), dtype=np.uint8)).save(big)
    assert window.controller.open_image(big)
    size = window.state.model.model.config.img_size
    assert window.state.model_image.size == (size, size)
    sent = []
    original_submit = window.controller.worker.reconstruct
    window.controller.worker.reconstruct = lambda request: sent.append(request) or original_submit(request)
    window.canvas.invert()
    settle(qtbot, window)
    assert sent and all(r.image is window.state.model_image for r in sent)


def test_bundled_models_menu_opens_each_bundled_model(open_window, photo, tiny_model_path, qtbot):
    window = open_window(photo, tiny_model_path)
    actions = window.bundled_menu.actions()
    assert [a.text() for a in actions] == ["mae_small", "simmim_small"]
    actions[1].trigger()
    qtbot.waitUntil(lambda: window.state.model_source == "bundled:simmim_small", timeout=WAIT_MS)
    settle(qtbot, window)
    assert window.state.model.config.family == "simmim" and window.panels.result.family == "simmim"
    assert window.panels.result.original.shape[:2] == (64, 64)
    details = window.model_panel.details.text()
    assert "<b>trained</b>" in details and f"maskviz train: {window.state.model.info['steps']} of" in details


def test_file_dialogs_start_in_the_folder_last_chosen(window, photo, tmp_path, monkeypatch, qtbot):
    from PySide6.QtWidgets import QFileDialog

    starts: list[str] = []
    saved = tmp_path / "masks" / "m.png"
    saved.parent.mkdir()

    def ask_open(_parent, _title, start, _filters):  # noqa: ANN001, ANN202
        starts.append(start)
        return photo if len(starts) == 1 else str(saved), ""

    def ask_save(_parent, _title, start, _filters):  # noqa: ANN001, ANN202
        starts.append(start)
        return str(saved), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(ask_open))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(ask_save))
    window.open_image_dialog()
    window.save_mask_dialog()
    window.load_mask_dialog()
    assert starts[1] == str(Path(photo).parent / "mask.png")  # the save dialog starts where the image was
    assert starts[2] == str(saved.parent)  # the load dialog where the mask was saved
    settle(qtbot, window)


def test_first_start_fits_the_screen(qtbot, config_dir):
    """Without a saved geometry the window is 1400×900 or 95 % of the screen's free area, whichever is smaller."""
    from PySide6.QtCore import QSize

    from maskviz.gui.main_window import MainWindow, first_window_size

    assert first_window_size(None) == QSize(1400, 900)
    window = MainWindow(config_dir, device="cpu")
    qtbot.addWidget(window)
    free = window.screen().availableGeometry().size()  # offscreen: 800×800
    assert window.size() == QSize(1400, 900).boundedTo(free * 0.95) and window.height() < free.height()
