"""The view of the image (model, tiles, native and the working size) is saved with the session and
restored at start, with the mask on the view's grid; a view that can no longer be shown falls back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from guikit import WAIT_MS
from PIL import Image


def settle_whole(qtbot, window) -> None:
    s = window.state
    qtbot.waitUntil(lambda: s.model is not None and s.result_is_current() and not window.whole_jobs.running
                    and not window.controller.busy, timeout=WAIT_MS)


def close_in_view(open_window, qtbot, photo: str, model: str, view: str, size: int | None) -> np.ndarray:
    """A window on ``photo`` in ``view`` at ``size`` with a painted mask, closed; returns the mask."""
    first = open_window(photo, model, restore=False)
    assert first.whole_jobs.set_view(view, size)
    settle_whole(qtbot, first)
    painted = np.zeros(first.state.paint.grid, dtype=bool)
    painted[1, 2:5] = painted[4, 0] = painted[-1, -1] = True
    first.canvas.set_patch_mask(painted)
    settle_whole(qtbot, first)
    first.close()
    return painted


def test_the_tiles_view_comes_back_with_its_size_mask_and_result(open_window, big_photo, tiny_model_path, qtbot,
                                                                 dialogs):
    painted = close_in_view(open_window, qtbot, big_photo, tiny_model_path, "tiles", 64)
    second = open_window(wait=False)
    settle_whole(qtbot, second)
    s = second.state
    assert s.picture_view.name == "tiles" and s.picture_view.size == 64
    assert s.view_label == "tiles 64x48 px" and s.paint.grid == (6, 8)
    np.testing.assert_array_equal(s.patch_mask(), painted)
    assert s.result.view == "tiles 64x48 px" and len(s.result.view_result.tiles) == 4  # the whole picture, tiled
    np.testing.assert_array_equal(s.result.result.mask, painted)
    assert second.view_picker.view_box.currentData() == "tiles" and second.view_picker.size_box.currentData() is None
    assert not dialogs


def test_a_restored_pattern_keeps_its_label_on_the_whole_grid(open_window, big_photo, tiny_model_path, qtbot):
    first = open_window(big_photo, tiny_model_path, restore=False)
    first.whole_jobs.set_view("native")
    first.controller.apply_spec("block:0.5,seed=3")
    settle_whole(qtbot, first)
    mask, label = first.state.patch_mask().copy(), first.state.mask_label()
    first.close()
    second = open_window(wait=False)
    settle_whole(qtbot, second)
    assert second.state.view_label == "native 96x72 px"
    np.testing.assert_array_equal(second.state.patch_mask(), mask)
    assert second.state.mask_label() == label and label.startswith("block")


def test_a_view_the_image_no_longer_takes_falls_back_quietly(open_window, big_photo, tiny_model_path, qtbot, dialogs):
    close_in_view(open_window, qtbot, big_photo, tiny_model_path, "tiles", None)
    Image.new("RGB", (20, 60), (10, 200, 30)).save(big_photo)  # 20 px wide: less than one 32 px tile
    second = open_window(wait=False)
    settle_whole(qtbot, second)
    s = second.state
    assert s.picture_view.name == "model" and s.picture is None and s.paint.grid == (4, 4)
    assert s.result.view == "model" and s.patch_mask().any()  # the pattern, made again for the model's grid
    assert second.view_picker.view_box.currentData() == "model"
    assert "tiles view" in second.statusBar().currentMessage() and "model view" in second.statusBar().currentMessage()
    assert not dialogs


def test_a_native_view_the_model_refuses_falls_back_quietly(open_window, big_photo, tiny_model_path, qtbot, dialogs,
                                                            monkeypatch):
    from maskviz.whole import native

    close_in_view(open_window, qtbot, big_photo, tiny_model_path, "native", None)
    monkeypatch.setattr(native, "usable_bytes", lambda device="cpu": 1000)  # this machine has no room for it now
    second = open_window(wait=False)
    settle_whole(qtbot, second)
    assert second.state.picture_view.name == "model" and second.state.result.view == "model"
    assert "native view" in second.statusBar().currentMessage()
    assert not dialogs


def test_a_new_image_on_the_command_line_keeps_the_view(open_window, big_photo, tiny_model_path, qtbot, tmp_path):
    close_in_view(open_window, qtbot, big_photo, tiny_model_path, "tiles", None)
    other = tmp_path / "other.png"
    Image.new("RGB", (80, 40), (200, 20, 90)).save(other)
    second = open_window(str(other), wait=False)
    settle_whole(qtbot, second)
    s = second.state
    assert s.image_source == str(other) and s.view_label == "tiles 80x40 px" and s.paint.grid == (5, 10)
    assert s.result.view == "tiles 80x40 px" and s.patch_mask().any()  # the pattern, not the other image's mask


def test_an_old_session_without_a_view_opens_in_the_model_view(open_window, photo, tiny_model_path, config_dir,
                                                               qtbot):
    custom = np.eye(4, dtype=bool)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "session.json").write_text(json.dumps(
        {"version": 1, "image": photo, "model": tiny_model_path, "mask": custom.astype(int).tolist()}))
    window = open_window(wait=False)
    settle_whole(qtbot, window)
    assert window.state.picture_view.name == "model" and window.state.result.view == "model"
    np.testing.assert_array_equal(window.state.patch_mask(), custom)


@pytest.mark.parametrize("view", [{"view": "sideways"}, {"view": "tiles", "view_size": 100},
                                  {"view": "native", "view_size": True}, {"view": ["tiles"]}])
def test_a_session_with_an_odd_view_opens_in_the_model_view(open_window, photo, tiny_model_path, config_dir, qtbot,
                                                            dialogs, view):
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "session.json").write_text(json.dumps(
        {"version": 1, "image": photo, "model": tiny_model_path} | view))
    window = open_window(wait=False)
    settle_whole(qtbot, window)
    assert window.state.picture_view.name == "model" and window.state.result.view == "model" and not dialogs
