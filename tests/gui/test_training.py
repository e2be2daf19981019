"""The training panel driven like a user: real ``maskviz train`` children on a folder of tiny PNGs.

Runs use the tiny test model (32 px, 4×4 patches) with batch 4, which trains at well over 50 steps/s
on one core, so a 400-step run is long enough to be stopped halfway and short enough to finish on
resume. Each child costs a few seconds of PyTorch import; tests that only need the panel's handling
of a child's output use a fake trainer (``command_prefix``) that starts in a blink.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import shiboken6
from guikit import settle
from PIL import Image
from PySide6.QtCore import Qt

from maskviz.checkpoints import LoadedModel, load_model
from maskviz.cli import build_parser
from maskviz.gui.train_process import TextTail, TrainProcess, TrainRequest, judge_ending, val_every
from maskviz.gui.training import TrainingPanel, progress_text, validation_verdict
from maskviz.models import create_model
from maskviz.paths import runs_dir
from maskviz.train import RunDir, TrainConfig, TrainEvent
from maskviz.train.config import Plan
from maskviz.train.data import scan_images

RUN_MS = 90000  # generous: two loaded cores, a PyTorch import per child
LEFT = Qt.MouseButton.LeftButton
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="graceful stop = SIGTERM; Windows kills after the timeout")


def make_images(folder: Path, count: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40]
    for i in range(count):
        base = np.stack([xx * (3 + i), yy * (2 + i), (xx + yy) * 2], axis=-1)
        noise = rng.integers(0, 40, base.shape)
        Image.fromarray(((base + noise) % 256).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def images(tmp_path) -> Path:
    return make_images(tmp_path / "images")


@pytest.fixture
def train_window(window, monkeypatch):
    """The usual window; its close question answers "stop" and any child left over is killed."""
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: "stop")
    yield window
    window.training.process.kill_now()


def ready_panel(window, qtbot, folder: Path, steps: int = 400, batch: int = 4):  # noqa: ANN201 - TrainingPanel
    panel = window.training
    panel.set_folder(str(folder))
    qtbot.waitUntil(lambda: panel.folder is not None or bool(panel.folder_error), timeout=10000)
    panel.steps_spin.setValue(steps)
    panel.batch_spin.setValue(batch)
    return panel


def wait_for_points(panel, qtbot, count: int = 3) -> None:
    qtbot.waitUntil(lambda: len(panel.curves.steps) >= count, timeout=RUN_MS)


# ---------------------------------------------------------------------------- the whole story


@POSIX_ONLY
def test_start_watch_stop_resume_and_open_the_result(train_window, images, qtbot, tiny_model_path):
    window = train_window
    panel = ready_panel(window, qtbot, images)
    assert panel.folder.found == 8 and panel.folder_info.text().startswith("8 images found")
    assert len(panel.thumb_labels) == 8 and panel.thumbs.isVisible()
    assert Path(tiny_model_path).name in panel.base_label.text()
    panel.lr_edit.setText("1e-3")
    run = Path(panel.run_edit.text())
    assert run.parent == runs_dir() and not run.exists() and window.config_folder not in run.parents

    qtbot.mouseClick(panel.buttons["start"], LEFT)
    assert panel.running and panel.buttons["stop"].isEnabled() and not panel.buttons["start"].isEnabled()
    assert Path(panel.run_edit.text()) == run and not panel.run_edit.isEnabled()
    wait_for_points(panel, qtbot)
    xs, ys = panel.curves.train_item.getData()
    assert len(xs) >= 3 and np.all(np.isfinite(ys)) and xs[0] == 1
    assert panel.progress.maximum() == 400 and panel.progress.value() > 0
    assert "img/s" in panel.speed_label.text() and "ETA" in panel.speed_label.text()
    recipe = json.loads((run / "config.json").read_text())["config"]
    assert recipe["lr"] == 1e-3 and recipe["batch"] == 4 and recipe["steps"] == 400

    # The viewer keeps working while the run trains.
    window.canvas.invert()
    settle(qtbot, window)
    np.testing.assert_array_equal(window.panels.result.mask, window.canvas.patch_mask())

    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as stopped:
        qtbot.mouseClick(panel.buttons["stop"], LEFT)
    assert stopped.args[:2] == ["stopped", 128 + signal.SIGTERM]
    step = panel.last_step.step
    assert 0 < step < 400 and "Stopped at step" in panel.status.text()
    assert "ETA" not in panel.speed_label.text() and "img/s" not in panel.speed_label.text()  # not running
    assert load_model(run / "checkpoints" / "last.safetensors").info["steps"] == step
    assert panel.buttons["resume"].isEnabled() and panel.buttons["start"].isEnabled()
    assert Path(panel.run_edit.text()) != run  # the next Start gets a fresh folder

    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as done:
        qtbot.mouseClick(panel.buttons["resume"], LEFT)
        assert Path(panel.run_edit.text()) == run  # the field names the run being resumed
    assert done.args[0] == "done", panel.log_view.toPlainText()[-2000:]
    steps = panel.curves.steps
    assert steps[0] == 1 and steps[-1] == 400 and steps == sorted(set(steps))  # history kept, no repeats
    assert panel.curves.val_steps[0] == 0 and panel.curves.val_steps[-1] == 400  # from the starting model
    assert "vs the starting model" in panel.status.text()
    assert panel.progress.value() == 400 and not panel.buttons["resume"].isEnabled()

    qtbot.mouseClick(panel.buttons["open_result"], LEFT)
    qtbot.waitUntil(lambda: panel.compare.shown == 2, timeout=RUN_MS)
    assert window.controller.worker.latest_id("before-after") == panel._compare_id > 0  # on the model worker
    c = panel.compare.comparison
    np.testing.assert_array_equal(c.tuned.mask, window.canvas.patch_mask())  # the viewer's mask, as painted
    np.testing.assert_array_equal(c.base.original, c.tuned.original)
    assert c.base.loss != c.tuned.loss and c.checkpoint == run / "checkpoints" / "last.safetensors"  # final
    assert all(not label.pixmap().isNull() and label.pixmap().width() >= 240 for label in panel.compare.rows)
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "Compare"

    qtbot.mouseClick(panel.compare.use_button, LEFT)
    qtbot.waitUntil(lambda: window.state.model_source == str(c.checkpoint), timeout=RUN_MS)
    settle(qtbot, window)
    assert window.state.model.info["run_dir"] == run.name


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("content, expected", [(None, "no image files"), (b"not a png", "no readable images")])
def test_a_folder_without_usable_images_is_refused_without_a_process(train_window, tmp_path, qtbot, dialogs,
                                                                       content, expected):
    folder = tmp_path / "data"
    folder.mkdir()
    if content is not None:
        (folder / "broken.png").write_bytes(content)
    panel = ready_panel(train_window, qtbot, folder)
    assert expected in panel.folder_info.text() and not panel.buttons["start"].isEnabled()
    assert panel.start() is False
    assert dialogs[-1][1] == "Cannot start training" and expected in dialogs[-1][2]
    assert not panel.running and not Path(panel.run_edit.text()).exists()


def test_a_run_folder_that_cannot_be_created_is_refused(train_window, images, tmp_path, qtbot, dialogs):
    panel = ready_panel(train_window, qtbot, images)
    (tmp_path / "file").write_text("x")
    panel.run_edit.setText(str(tmp_path / "file" / "run"))
    assert panel.start() is False
    assert "cannot create the run folder" in dialogs[-1][2] and not panel.running


def test_a_bad_learning_rate_or_mask_is_refused(train_window, images, qtbot, dialogs):
    panel = ready_panel(train_window, qtbot, images)
    panel.lr_edit.setText("fast")
    assert panel.start() is False and "learning rate" in dialogs[-1][2]
    panel.lr_edit.setText("")
    panel.mask_edit.setText("stripes:9")
    assert panel.start() is False and "stripes" in dialogs[-1][2].lower()
    assert not panel.running


def test_opening_a_folder_that_is_not_a_run_says_so(train_window, tmp_path, dialogs):
    panel = train_window.training
    assert panel.open_run(tmp_path) is False
    assert "is not a maskviz training run" in dialogs[-1][2]
    assert panel.run_dir is None and not panel.buttons["resume"].isEnabled()


def test_the_builtin_random_model_trains_from_scratch_on_its_architecture(train_window, images, qtbot):
    panel = ready_panel(train_window, qtbot, images)
    builtin = LoadedModel(create_model("mae_vit_tiny_test"), "builtin:mae_vit_tiny_test", "builtin")
    panel.set_base_model(builtin)
    assert "from scratch" in panel.base_label.text() and "mae_vit_tiny_test" in panel.base_label.text()
    assert panel.request_from_form().model == "mae_vit_tiny_test"


# ---------------------------------------------------------------------------- failures


def test_a_corrupt_run_crashes_on_resume_and_shows_its_log(train_window, images, tmp_path, qtbot):
    run = RunDir(tmp_path / "corrupt")
    folder = scan_images(images)
    config = TrainConfig(data=str(images), model="mae_vit_tiny_test", out=str(run.path), steps=10, batch=2,
                         lr=1e-3, warmup_steps=1, mask="random:0.75", save_every=2)
    run.create(config, Plan(1, 2, 7, 1, 0, folder.fingerprint(), "mae", {}, "new mae_vit_tiny_test"))
    run.state.write_bytes(b"this is not a torch file")  # and no last.safetensors, although step 6 was recorded
    run.metrics.write_text(TrainEvent("step", 6, loss=0.5).to_json() + "\n")
    panel = train_window.training
    assert panel.open_run(run.path) and panel.buttons["resume"].isEnabled()
    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as ended:
        qtbot.mouseClick(panel.buttons["resume"], LEFT)
    assert ended.args[:2] == ["error", 2]
    assert panel.crash_label.isVisible() and panel.crash_label.text().startswith("cannot resume")
    assert "maskviz: error: cannot resume" in panel.log_view.toPlainText()
    assert "cannot read" in panel.crash_label.text() and run.metrics.read_text().count('"step": 6') == 1  # kept
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "Log" and "The run failed" in panel.status.text()


@pytest.mark.parametrize("line", [
    "out of memory on cpu with --batch 4: use a smaller --batch (and a larger --accum to keep the effective batch)",
    "disk full while writing metrics.jsonl: free some space (the previous checkpoint is intact)",
])
def test_the_trainers_plain_error_line_is_the_message(train_window, images, qtbot, line):
    panel = ready_panel(train_window, qtbot, images)
    script = f"import sys; print('step 1 ...'); print({('maskviz: error: ' + line)!r}, file=sys.stderr); sys.exit(2)"
    panel.process.command_prefix = [sys.executable, "-c", script]
    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as ended:
        assert panel.start()
    assert ended.args == ["error", 2, line]
    assert panel.crash_label.text() == line and "step 1 ..." in panel.log_view.toPlainText()


def test_a_trainer_that_cannot_start_is_reported(train_window, images, tmp_path, qtbot):
    panel = ready_panel(train_window, qtbot, images)
    panel.process.command_prefix = [str(tmp_path / "no-such-python")]
    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as ended:
        assert panel.start()
    assert ended.args[:2] == ["error", -1] and "could not start the training process" in ended.args[2]
    assert panel.crash_label.isVisible() and not panel.running and panel.buttons["start"].isEnabled()


@POSIX_ONLY
def test_a_run_that_ignores_the_stop_is_killed_after_the_timeout(train_window, images, qtbot):
    panel = ready_panel(train_window, qtbot, images)
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
              "time.sleep(60)")
    panel.process.command_prefix = [sys.executable, "-c", script]
    panel.process.stop_timeout_ms = 300
    assert panel.start()
    qtbot.waitUntil(lambda: "ready" in panel.log_view.toPlainText(), timeout=RUN_MS)
    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as ended:
        panel.stop()
        assert panel.process.state == "stopping" and not panel.buttons["stop"].isEnabled()
    assert ended.args[0] == "killed" and "Ended by force" in panel.status.text()


# ---------------------------------------------------------------------------- closing the window


@POSIX_ONLY
def test_closing_the_window_asks_and_stops_the_run(train_window, images, qtbot, monkeypatch):
    window = train_window
    panel = ready_panel(window, qtbot, images, steps=100000)
    asked = []
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: asked.append(1) or "stop")
    assert panel.start()
    wait_for_points(panel, qtbot, 1)
    run = panel.run_dir
    with qtbot.waitSignal(panel.process.finished, timeout=RUN_MS) as ended:
        window.close()
        assert asked == [1] and window.isVisible()  # the window waits for the run to save
    assert ended.args[0] == "stopped"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    events = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["reason"] == "stopped"


@POSIX_ONLY
def test_cancel_keeps_the_window_and_keep_leaves_the_run_going(train_window, images, qtbot, monkeypatch, dialogs):
    window = train_window
    panel = ready_panel(window, qtbot, images, steps=100000)
    answers = ["cancel", "keep"]
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: answers.pop(0))
    assert panel.start()
    wait_for_points(panel, qtbot, 1)
    pid = panel.process.pid()
    try:
        window.close()
        assert window.isVisible() and panel.running  # cancelled
        window.close()
        assert not window.isVisible() and not panel.running and not answers
        shiboken6.delete(panel.process)  # what quitting the app does: ~QProcess kills a child it still owns
        panel.process = TrainProcess(panel)
        size = panel.run_dir.metrics.stat().st_size
        qtbot.waitUntil(lambda: panel.run_dir.metrics.stat().st_size > size, timeout=RUN_MS)  # still training
        os.kill(pid, 0)
        run = panel.run_dir.path
        assert panel.open_run(run) and panel.running and panel.process.attached_pid == pid  # followed live
        assert "Following" in panel.status.text()
        assert panel.resume() is False and "still training in process" in dialogs[-1][2]  # no second trainer
        panel.process.detach()
        restarted = TrainingPanel(None)  # the app opened again: the run is found and followed
        qtbot.addWidget(restarted)
        assert restarted.running and restarted.process.attached_pid == pid and restarted.run_dir.path == run
        points = len(restarted.curves.steps)
        qtbot.waitUntil(lambda: len(restarted.curves.steps) > points, timeout=RUN_MS)  # live
        with qtbot.waitSignal(restarted.process.finished, timeout=RUN_MS):
            restarted.stop()  # Stop reaches the process it did not start
        assert not restarted.running and "Stopped at step" in restarted.status.text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- the pieces


def test_the_command_line_is_one_the_cli_accepts(tmp_path):
    request = TrainRequest(str(tmp_path / "-odd data"), "mae_vit_tiny_test", str(tmp_path / "run"), 250, 8,
                           "block:0.5", 2e-4)
    args = build_parser().parse_args(["train", *request.arguments()])
    assert (args.data, args.model, args.steps, args.batch, args.mask, args.lr) == (
        request.data, "mae_vit_tiny_test", 250, 8, "block:0.5", 2e-4)
    assert args.val_every == val_every(250) == 12
    assert "--mask" not in " ".join(TrainRequest("d", "m", "o", 10, 1).arguments())


def test_the_ending_is_judged_from_the_end_event_first():
    stopped = TrainEvent("end", 5, reason="stopped")
    assert judge_ending(stopped, 143, False, True, False, [], 15).reason == "stopped"
    failed = TrainEvent("end", 5, reason="error", message="disk full while writing x")
    assert judge_ending(failed, 2, False, False, False, [], 15).message == "disk full while writing x"
    lines = ["log", "maskviz: error: no image files in /x"]
    assert judge_ending(None, 2, False, False, False, lines, 15).message == "no image files in /x"
    crash = judge_ending(None, 9, True, False, False, ["log"], 15)
    assert crash.reason == "error" and "smaller batch" in crash.message
    assert judge_ending(None, 9, True, True, True, [], 15).reason == "killed"


def test_text_tail_waits_for_whole_lines_and_stays_bounded(tmp_path):
    path = tmp_path / "out.log"
    path.write_text("old\n")
    tail = TextTail(path, limit=3)
    assert tail.poll() == []  # what was there before the run is not this run's
    with open(path, "a") as fh:
        fh.write("a\nb\npart")
    assert tail.poll() == ["a", "b"]
    with open(path, "a") as fh:
        fh.write("ial\nc\nd\n")
    assert tail.poll() == ["partial", "c", "d"]
    assert list(tail.lines) == ["partial", "c", "d"]


def test_the_train_menu_drives_the_same_actions_as_the_buttons(train_window, images, qtbot):
    window = train_window
    panel = ready_panel(window, qtbot, images)
    menu = {a.text(): a for a in window.train_menu.actions()}
    assert menu["Start"] is panel.actions_by_name["start"] and menu["Start"].isEnabled()
    assert not menu["Stop"].isEnabled() and not menu["Resume"].isEnabled()
    window.show_training()
    assert window.train_dock.isVisible()


def test_stop_waits_long_enough_for_a_slow_step(qtbot):
    """The kill after a stop waits for the current step and its save: three steps' time at least."""
    proc = TrainProcess()
    assert proc.kill_timeout_ms() == proc.stop_timeout_ms  # nothing measured yet
    proc._note_step_time(TrainEvent(event="step", step=3, time=100.0))
    proc._note_step_time(TrainEvent(event="step", step=5, time=160.0))  # 30 s per step (ViT-B on a CPU)
    assert proc.step_seconds == 30.0 and proc.kill_timeout_ms() == 90_000
    args = " ".join(TrainRequest("d", "m", "o", 2000, 8).arguments())
    assert "--save-every=200" in args  # about ten saves per run


def test_the_advanced_options_reach_the_command_line(tmp_path):
    request = TrainRequest("d", "m", str(tmp_path / "run"), 300, 16, "random:0.75|block:0.5", None,
                           augment="strong", workers=2, amp="bf16", device="cpu")
    args = build_parser().parse_args(["train", *request.arguments()])
    assert (args.augment, args.workers, args.amp, args.device, args.mask) == (
        "strong", 2, "bf16", "cpu", "random:0.75|block:0.5")
    plain = " ".join(TrainRequest("d", "m", "o", 10, 1).arguments())
    assert "--augment" not in plain and "--amp" not in plain and "--device" not in plain


def test_the_verdict_compares_validation_with_the_starting_model():
    steps, falling = list(range(1, 101)), [1.0 - 0.005 * s for s in range(1, 101)]
    text, bad = validation_verdict([0, 20, 40, 60], [0.40, 0.36, 0.35, 0.34], steps, falling)
    assert text.startswith("validation -15.0 % vs the starting model") and not bad
    text, bad = validation_verdict([0, 20, 40, 60, 80], [0.40, 0.36, 0.37, 0.38, 0.39], steps, falling)
    assert bad and "not improved since step 20" in text and "training loss falls" in text
    text, bad = validation_verdict([0, 20, 40, 60], [0.40, 0.41, 0.42, 0.42], steps, falling)
    assert bad and "not helping unseen images" in text and "starting model is as good or better" in text
    assert validation_verdict([], [], steps, falling) == ("", False)


def test_panel_texts_follow_the_runs_state(qtbot, tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_RUNS", str(tmp_path / "runs"))
    panel = TrainingPanel(None)
    qtbot.addWidget(panel)
    assert panel.runs_root == tmp_path / "runs" and "no runs yet" in panel.runs_combo.itemText(0)
    assert "Waiting for the viewer's model" in panel.status.text()
    panel.set_base_model(load_model(tiny_model_path))
    assert "Choose a folder" in panel.status.text()
    assert panel.lr_edit.placeholderText() == "0.0001" and "fine-tune default" in panel.lr_origin.text()
    panel.advanced_button.click()
    assert not panel.advanced.isHidden() and panel.cli_view.text().startswith("maskviz train --data=")
    panel.augment_combo.setCurrentText("strong")
    assert "--augment=strong" in panel.cli_view.text()
    step = TrainEvent("step", 40, loss=0.3, images_per_s=12.0, eta_s=30.0)
    assert "ETA 0:30" in progress_text(step, 100) and progress_text(step, 100, running=False) == "step 40/100"
    panel.curves.add([TrainEvent("step", 0, val_loss=0.5), TrainEvent("step", 1, loss=0.6),
                      TrainEvent("step", 2, loss=0.5, val_loss=0.45)])
    assert panel.curves.start_line.isVisible() and "-10.0 % vs the starting model" in panel.curves.verdict_text()[0]
    xs, ys = panel.curves.train_item.getData()
    assert list(xs) == [1, 2] and 0.5 < ys[-1] < 0.6  # smoothed, between the two raw points
    panel.curves.log_box.setChecked(True)
    assert panel.curves.plot.getAxis("left").logMode
