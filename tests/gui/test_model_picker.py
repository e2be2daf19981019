"""The one model picker and the one display name (issue 22, points 3, 9 and 12): the viewer and
Compare choose models through it, the title, model line and Compare columns name a model alike,
a fine-tuned model and a hub snapshot are named by where they came from, and a failed start-up
falls back to the last session's model."""

from __future__ import annotations

import pytest
from guikit import settle
from loopback import Loopback
from synthetic import save_official_mae, tiny_hf_mae

from maskviz.bundled import bundled_model_paths
from maskviz.checkpoints import save_model
from maskviz.models import create_model
from maskviz.zoo import catalogue
from maskviz.zoo.catalogue import PIXELS, ModelEntry

WAIT_MS = 30000
BUNDLED = next(iter(bundled_model_paths()))


def groups(picker) -> list[str]:
    root = picker.tree.invisibleRootItem()
    return [root.child(i).text(0) for i in range(root.childCount())]


def rows(picker) -> dict[str, str]:
    """Shown name → details."""
    return {item.text(0): item.text(1) for item in picker.items()}


def make_run(root, name: str = "20261206-052000"):
    """A finished run: validation at the start and the end, and both checkpoints (real model files)."""
    from maskviz.train.events import TrainEvent

    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    events = [TrainEvent("start", 0, total_steps=4), TrainEvent("step", 0, val_loss=0.5, best_val_loss=0.5),
              TrainEvent("step", 4, loss=0.4, val_loss=0.45, best_val_loss=0.45), TrainEvent("end", 4, reason="done")]
    (run / "metrics.jsonl").write_text("".join(e.to_json() + "\n" for e in events))
    for stem in ("last", "best"):
        save_model(create_model("mae_vit_tiny_test"), run / "checkpoints" / f"{stem}.safetensors")
    return run


def test_file_open_model_is_the_picker_and_a_typed_bundled_name_opens(window, qtbot, tmp_path):
    action = next(a for a in window.file_menu.actions() if a.text().replace("&", "") == "Open model…")
    action.trigger()
    picker = window.model_picker
    qtbot.waitExposed(picker)
    assert groups(picker) == ["Bundled", "Recent", "Catalogue"]  # no training runs in this data dir yet
    assert f"{BUNDLED} (bundled)" in rows(picker) and "mae-vit-large (catalogue)" in rows(picker)
    assert rows(picker)["tiny (file)"]  # the recent model, by the same name as everywhere

    picker.source_edit.setText(str(tmp_path / "missing.pth"))
    picker.open_button.click()
    assert picker.isVisible() and picker.note.text().startswith("not found:")  # nothing lost, it says why

    picker.source_edit.setText(f"bundled:{BUNDLED}")
    picker.open_button.click()
    qtbot.waitUntil(lambda: window.state.model_source == f"bundled:{BUNDLED}", timeout=WAIT_MS)
    settle(qtbot, window)
    assert not picker.isVisible()
    assert window.windowTitle().endswith(f"— {BUNDLED} (bundled)")
    assert f"{BUNDLED} (bundled)" in window.model_panel.details.text()


def test_the_model_dock_button_opens_the_same_picker(window, qtbot):
    window.model_panel.choose_button.click()
    assert window.model_picker.isVisible() and window.model_picker.windowTitle() == "Open model"


def test_compare_add_model_takes_a_typed_bundled_name_and_names_columns_alike(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))  # a bare file dialog: none
    window.show_compare()
    window.compare._ask_model()
    picker = window.model_picker
    assert picker.windowTitle() == "Add a model to compare" and picker.open_button.text() == "Add"
    picker.source_edit.setText("bundled:simmim_small")
    picker.open_button.click()  # a bare file dialog said "File not found" here
    assert window.compare_state.models == {"simmim_small (bundled)": "bundled:simmim_small"}
    job = window.compare_controller.make_job()
    assert list(job.models) == ["tiny (file)"] and list(job.to_load) == ["simmim_small (bundled)"]
    assert window.windowTitle().endswith("— tiny (file)")  # the viewer's model: one name in title and column
    window.compare_state.set_settings(specs="random:0.5", seeds=1, ratios="")
    assert window.compare_controller.run()
    qtbot.waitUntil(lambda: not window.compare_controller.is_running, timeout=WAIT_MS)
    assert window.compare_state.snapshot.table.models == ["tiny (file)", "simmim_small (bundled)"]


def test_training_runs_are_listed_with_final_best_and_validation_and_open_named(window, qtbot, config_dir):
    run = make_run(config_dir.parent / "runs")  # MASKVIZ_RUNS of the config_dir fixture
    window.open_model_picker()
    picker = window.model_picker
    assert "Training runs" in groups(picker)
    shown = rows(picker)
    assert shown[f"{run.name} final (training run)"] == "final · step 4/4, done · val 0.4500 (start 0.5000)"
    assert shown[f"{run.name} best (training run)"] == "best · val 0.4500 at step 4 (start 0.5000)"
    assert picker.select_source(str(run / "checkpoints" / "best.safetensors"))
    picker.open_button.click()
    qtbot.waitUntil(lambda: window.state.model_source == str(run / "checkpoints" / "best.safetensors"),
                    timeout=WAIT_MS)
    assert window.windowTitle().endswith(f"— {run.name} best (training run)")


def test_use_fine_tuned_model_in_viewer_names_it_in_title_and_model_line(window, qtbot, config_dir):
    """What the Train dock's *Use fine-tuned model in viewer* sends: the run's checkpoint path."""
    run = make_run(config_dir.parent / "runs", "20261206-060000")
    window.training.controller.useModelRequested.emit(str(run / "checkpoints" / "last.safetensors"))
    qtbot.waitUntil(lambda: window.state.model_source is not None and "20261206" in window.state.model_source,
                    timeout=WAIT_MS)
    assert window.windowTitle().endswith("— 20261206-060000 final (training run)")
    assert "20261206-060000 final (training run)" in window.model_panel.details.text()


def test_a_hub_snapshot_is_named_by_its_catalogue_name_not_its_hash(window, qtbot, tmp_path):
    folder = tmp_path / "hf" / "models--facebook--vit-mae-base" / "snapshots" / ("ab12" * 10)
    tiny_hf_mae().save_pretrained(folder)
    window.controller.open_model(folder)
    qtbot.waitUntil(lambda: window.state.model_source == str(folder), timeout=WAIT_MS)
    assert window.windowTitle().endswith("— hf-vit-mae-base (catalogue)")
    assert "ab12ab12" not in window.model_panel.details.text().split("source")[0]  # the name rows, not the path


@pytest.fixture
def served_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    save_official_mae(tmp_path / "tiny.pth")
    server = Loopback()
    server.files["/tiny.pth"] = (tmp_path / "tiny.pth").read_bytes()
    entry = ModelEntry(name="tiny-mae", family="mae", architecture="mae_vit_tiny_test", input_size=32, target=PIXELS,
                       size_bytes=len(server.files["/tiny.pth"]), licence="test", source="url",
                       description="tiny test MAE", url=f"{server.url}/tiny.pth")
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    yield entry
    server.stop()


def test_a_catalogue_entry_is_downloaded_by_the_get_models_code_then_opened(window, qtbot, served_entry):
    window.open_model_picker()
    picker = window.model_picker
    assert "download" in rows(picker)["tiny-mae (catalogue)"]
    assert picker.select_source("tiny-mae")
    picker.open_button.click()
    assert picker.downloader is not None  # the Get-models download (progress, Cancel, resume)
    qtbot.waitUntil(lambda: window.state.model_source == "tiny-mae", timeout=WAIT_MS)
    assert window.windowTitle().endswith("— tiny-mae (catalogue)")
    assert list(window.compare_controller.make_job().models) == ["tiny-mae (catalogue)"]  # its Compare column


# ------------------------------------------------------------------ point 9: start-up falls back to the session


def _session(open_window, photo, model):
    first = open_window(photo, model, restore=False)
    first.close()  # saves the session: this image and model


def test_a_broken_model_on_the_command_line_falls_back_to_the_last_sessions_model(open_window, photo,
                                                                                  tiny_model_path, dialogs,
                                                                                  tmp_path):
    _session(open_window, photo, tiny_model_path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    window = open_window(photo, str(broken))
    assert window.state.model_source == tiny_model_path  # not the bundled model
    assert [title for _, title, _ in dialogs] == ["Could not open the model"]


def test_a_missing_image_and_broken_model_fall_back_to_the_session(open_window, photo, tiny_model_path, dialogs,
                                                                   tmp_path):
    _session(open_window, photo, tiny_model_path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    window = open_window(str(tmp_path / "missing.png"), str(broken))
    assert window.state.model_source == tiny_model_path and window.state.image_source == photo
    assert sorted(title for _, title, _ in dialogs) == ["Could not open the image", "Could not open the model"]


def test_the_bundled_default_only_when_the_sessions_model_fails_too(open_window, photo, dialogs, tmp_path):
    gone = tmp_path / "gone.safetensors"
    save_model(create_model("mae_vit_tiny_test"), gone)
    _session(open_window, photo, str(gone))
    gone.unlink()
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    window = open_window(photo, str(broken))
    assert window.state.model_source is None and window.state.model is not None  # the bundled default
    assert [title for _, title, _ in dialogs] == ["Could not open the model"]  # the session's: a status note
