"""The Train dock driven like a user: real ``maskviz train`` children on a folder of tiny PNGs.

Runs use the tiny test model (32 px, 4×4 patches) with batch 4, which trains at well over 50 steps/s
on one core, so a 400-step run is long enough to be stopped halfway and short enough to finish on
resume. Each child costs a few seconds of PyTorch import; tests that only need the dock's handling
of a child's output use a fake trainer (``TrainProcess(command_prefix=...)``) that starts in a blink.

The tests drive the training state and controller (as the views do) and check what the views draw.
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
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from maskviz.checkpoints import LoadedModel, load_model
from maskviz.gui.state import ViewerState
from maskviz.gui.training import TrainingPanel
from maskviz.gui.training.process import TrainProcess
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


@pytest.fixture(autouse=True)
def one_thread_children(monkeypatch):
    """Trainers inherit the environment: one thread each, so a tiny model's child does not fight the test
    process's threads for two cores (a trainer normally takes every core, as in a terminal)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def train_window(window, monkeypatch):
    """The usual window; its close question answers "stop" and any child left over is killed."""
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: "stop")
    yield window
    process = window.training.controller.process
    if shiboken6.isValid(process):  # a test may have deleted it, as quitting the app does
        process.kill_now()


class FakeJobs(QObject):
    """The viewer controller's job API as training uses it, run on the UI thread, one step per event-loop
    turn; a cancelled or replaced job ends with ``jobFailed``, delivered later (queued), as there."""

    jobStep = Signal(str, int, object)
    jobDone = Signal(str, int, object)
    jobFailed = Signal(str, int, str)

    def __init__(self) -> None:
        super().__init__()
        self.ids, self.steps, self.cancelled, self.hidden = 0, [], [], set()
        self._newest: dict[str, int] = {}

    def run_job(self, lane: str, fn) -> int:  # noqa: ANN001
        self.cancel_job(lane, "replaced by a newer job", record=False)
        self.ids += 1
        job_id, gen = self.ids, fn()
        self._newest[lane] = job_id
        QTimer.singleShot(0, lambda: self._step(lane, job_id, gen))
        return job_id

    def cancel_job(self, lane: str, reason: str = "cancelled", record: bool = True) -> None:
        if record:
            self.cancelled.append(lane)
        if job_id := self._newest.pop(lane, 0):
            QTimer.singleShot(0, lambda: self.jobFailed.emit(lane, job_id, reason))

    def set_lane_shown(self, lane: str, shown: bool) -> None:
        (self.hidden.discard if shown else self.hidden.add)(lane)

    def _step(self, lane: str, job_id: int, gen) -> None:  # noqa: ANN001
        if self._newest.get(lane) != job_id:
            return  # cancelled or superseded between steps
        if lane in self.hidden:
            QTimer.singleShot(20, lambda: self._step(lane, job_id, gen))
            return
        try:
            value = next(gen)
        except StopIteration as done:
            del self._newest[lane]
            self.jobDone.emit(lane, job_id, done.value)
            return
        self.steps.append(value)
        self.jobStep.emit(lane, job_id, value)
        QTimer.singleShot(0, lambda: self._step(lane, job_id, gen))


@pytest.fixture
def dock(qtbot, config_dir, tiny_model_path):
    """Factory: a Train dock on its own (a viewer state with the tiny model, fake jobs, a given trainer)."""
    def make(command_prefix: list[str] | None = None, stop_timeout_ms: int = 15000) -> TrainingPanel:
        viewer = ViewerState()
        viewer.set_model(load_model(tiny_model_path), tiny_model_path)
        process = TrainProcess(command_prefix=command_prefix, stop_timeout_ms=stop_timeout_ms)
        panel = TrainingPanel(viewer, FakeJobs(), process=process)
        qtbot.addWidget(panel)
        return panel
    return make


def ready(panel, qtbot, folder: Path, steps: int = 400, batch: int = 4) -> TrainingPanel:
    panel.controller.set_folder(str(folder))
    qtbot.waitUntil(lambda: panel.state.folder is not None or panel.state.folder_error, timeout=10000)
    panel.state.update_form(steps=steps, batch=batch)
    return panel


def wait_for_points(panel, qtbot, count: int = 3) -> None:
    qtbot.waitUntil(lambda: panel.state.shown is not None and len(panel.state.shown.history.steps) >= count,
                    timeout=RUN_MS)


def wait_until_ended(panel, qtbot) -> None:
    qtbot.waitUntil(lambda: not panel.state.live, timeout=RUN_MS)


# ---------------------------------------------------------------------------- the whole story


@POSIX_ONLY
def test_start_watch_stop_resume_and_open_the_result(train_window, images, qtbot, tiny_model_path):
    window = train_window
    window.show_training()  # on screen: its before/after is not held
    panel = ready(window.training, qtbot, images)
    state, form = panel.state, panel.form
    assert state.folder.found == 8 and form.folder_info.text().startswith("8 images found")
    assert len(form.thumb_labels) == 8 and form.thumbs.isVisible()
    assert "<b>tiny (file)</b>" in form.base_label.text()  # the name every title and column uses
    state.update_form(lr="1e-3")
    run = Path(state.form.out)
    assert run.parent == runs_dir() and not run.exists() and window.config_folder not in run.parents

    qtbot.mouseClick(panel.buttons["start"], LEFT)
    assert panel.controller.running and panel.buttons["stop"].isEnabled() and not panel.buttons["start"].isEnabled()
    assert form.run_edit.text() == str(run) and not form.run_edit.isEnabled()
    wait_for_points(panel, qtbot)
    xs, ys = panel.curves.train_item.getData()
    assert len(xs) >= 3 and np.all(np.isfinite(ys)) and xs[0] == 1
    assert panel.monitor.progress.maximum() == 400 and panel.monitor.progress.value() > 0
    assert "img/s" in panel.monitor.speed_label.text() and "ETA" in panel.monitor.speed_label.text()
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["lr"] == 1e-3 and config["batch"] == 4 and config["steps"] == 400
    assert config["val_every"] == 40 and config["save_every"] == 40  # the CLI's defaults, never every step

    # The viewer keeps working while the run trains.
    window.canvas.invert()
    settle(qtbot, window)
    np.testing.assert_array_equal(window.panels.result.mask, window.canvas.patch_mask())

    qtbot.mouseClick(panel.buttons["stop"], LEFT)
    assert state.shown.phase == "stopping" and not panel.buttons["stop"].isEnabled()
    wait_until_ended(panel, qtbot)
    assert (state.shown.ending.reason, state.shown.ending.exit_code) == ("stopped", 128 + signal.SIGTERM)
    step = state.shown.history.step
    assert 0 < step < 400 and "Stopped at step" in panel.monitor.status.text()
    assert "ETA" not in panel.monitor.speed_label.text() and "img/s" not in panel.monitor.speed_label.text()
    assert load_model(run / "checkpoints" / "last.safetensors").info["steps"] == step
    assert panel.buttons["resume"].isEnabled() and panel.buttons["start"].isEnabled()
    assert Path(state.form.out) != run  # the next Start gets a fresh folder

    qtbot.mouseClick(panel.buttons["resume"], LEFT)
    assert form.run_edit.text() == str(run)  # the field names the run being resumed
    wait_until_ended(panel, qtbot)
    assert state.shown.phase == "done", "\n".join(state.output[-40:])
    steps = state.shown.history.steps
    assert steps[0] == 1 and steps[-1] == 400 and steps == sorted(set(steps))  # history kept, no repeats
    assert state.shown.history.val_steps[0] == 0 and state.shown.history.val_steps[-1] == 400  # from the start
    assert "vs the starting model" in panel.monitor.status.text()
    assert panel.monitor.progress.value() == 400 and not panel.buttons["resume"].isEnabled()

    qtbot.mouseClick(panel.buttons["open_result"], LEFT)
    qtbot.waitUntil(lambda: panel.before_after.shown == 2, timeout=RUN_MS)
    jobs = window.controller.worker
    assert jobs.latest_id("before-after") == panel.controller._compare_id > 0  # on the model worker
    c = state.comparison.result
    np.testing.assert_array_equal(c.tuned.mask, window.canvas.patch_mask())  # the viewer's mask, as painted
    np.testing.assert_array_equal(c.base.original, c.tuned.original)
    assert c.base.loss != c.tuned.loss and c.checkpoint == run / "checkpoints" / "last.safetensors"  # final
    assert c.base_label == "base: tiny (file)"  # the viewer's model, shared, named as the viewer opened it
    assert all(not label.pixmap().isNull() and label.pixmap().width() >= 240 for label in panel.before_after.rows)
    assert panel.tabs.currentWidget() is panel.compare_page

    qtbot.mouseClick(panel.before_after.use_button, LEFT)
    qtbot.waitUntil(lambda: window.state.model_source == str(c.checkpoint), timeout=RUN_MS)
    settle(qtbot, window)
    assert window.state.model.info["run_dir"] == run.name
    assert f"{run.name} final (training run), step 400" in form.base_label.text()  # named as the fine-tuned run


def finished_run(panel, images: Path, folder: Path, base: str) -> RunDir:
    """A run that started from ``base`` and saved its final model, shown in ``panel`` with an image in the viewer."""
    from maskviz.checkpoints import save_model

    run = RunDir(folder)
    config = TrainConfig(data=str(images), model=base, out=str(run.path), steps=4, batch=2)
    run.create(config, Plan(1, 2, 7, 1, 0, "x", "mae", {}, "maskviz checkpoint"))
    save_model(create_model("mae_vit_tiny_test"), run.last, {"steps": 4})
    panel.controller.viewer.set_image(Image.open(next(images.iterdir())).convert("RGB"), "img0.png")
    assert panel.controller.open_run(run.path) and panel.buttons["open_result"].isEnabled()
    return run


def test_the_comparison_runs_one_forward_per_worker_step_on_the_viewers_model(dock, images, qtbot, tmp_path,
                                                                             monkeypatch, tiny_model_path):
    panel = dock()
    finished_run(panel, images, tmp_path / "run", tiny_model_path)
    import maskviz.train.loop as loop

    monkeypatch.setattr(loop, "build_model", lambda *_: pytest.fail("the viewer's base model was loaded again"))
    assert panel.controller.open_result()
    assert panel.state.comparison.busy and panel.tabs.currentWidget() is panel.compare_page
    qtbot.waitUntil(lambda: panel.before_after.shown == 2, timeout=RUN_MS)
    assert panel.controller.jobs.steps == ["loaded the fine-tuned model", "reconstructed with the starting model"]


def test_a_model_change_drops_a_comparison_that_holds_the_old_model(dock, images, qtbot, tmp_path,
                                                                    tiny_model_path, dialogs):
    panel = dock()
    finished_run(panel, images, tmp_path / "run", tiny_model_path)
    jobs = panel.controller.jobs
    assert panel.controller.open_result() and panel.state.comparison.busy
    cancelled = len(jobs.cancelled)
    panel.controller.viewer.set_model(load_model(tiny_model_path), tiny_model_path)  # the user opens another
    assert jobs.cancelled[cancelled:] == ["before-after"] and not panel.state.comparison.busy
    assert "model changed while comparing" in panel.before_after.hint.text()
    qtbot.wait(300)
    assert panel.before_after.shown == 0 and jobs.steps == [] and dialogs == []  # the cancel is no error


@pytest.fixture
def viewer_dock(qtbot, config_dir, tiny_model_path):
    """A Train dock on the viewer's real controller (its worker, lanes and scheduling), the tiny model loaded."""
    from maskviz.gui.controller import Controller

    viewer = ViewerState()
    controller = Controller(viewer)
    viewer.set_model(load_model(tiny_model_path), tiny_model_path)
    panel = TrainingPanel(viewer, controller, process=TrainProcess())
    qtbot.addWidget(panel)
    yield panel
    controller.shutdown()


def test_on_the_viewers_controller_the_comparison_waits_while_the_dock_is_off_screen(viewer_dock, images, qtbot,
                                                                                      tmp_path, monkeypatch,
                                                                                      tiny_model_path):
    import maskviz.train.loop as loop

    panel, worker = viewer_dock, viewer_dock.controller.jobs.worker
    finished_run(panel, images, tmp_path / "run", tiny_model_path)
    monkeypatch.setattr(loop, "build_model", lambda *_: pytest.fail("the viewer's base model was loaded again"))
    steps = []
    panel.controller.jobs.jobStep.connect(lambda lane, *_: steps.append(lane))
    qtbot.waitUntil(lambda: not worker.is_held("before-after"), timeout=RUN_MS)  # the viewer's result is shown
    panel.controller.set_shown(False)  # a tab behind another
    assert panel.controller.open_result() and worker.is_held("before-after")
    qtbot.wait(500)
    assert steps == [] and panel.state.comparison.busy
    panel.controller.set_shown(True)
    qtbot.waitUntil(lambda: panel.before_after.shown == 2, timeout=RUN_MS)
    assert steps.count("before-after") >= 2 and not worker.is_busy("before-after")
    assert panel.state.comparison.result.base_label == "base: tiny (file)"  # the viewer's model, shared


def test_on_the_viewers_controller_an_image_change_drops_the_comparison_quietly(viewer_dock, images, qtbot,
                                                                                tmp_path, tiny_model_path, dialogs):
    panel, worker = viewer_dock, viewer_dock.controller.jobs.worker
    finished_run(panel, images, tmp_path / "run", tiny_model_path)
    panel.controller.set_shown(False)  # keeps the job waiting, so the change surely finds it unfinished
    assert panel.controller.open_result()
    failed = []
    panel.controller.jobs.jobFailed.connect(lambda lane, _id, message: failed.append((lane, message)))
    panel.controller.viewer.set_image(Image.new("RGB", (40, 40), "white"), "white.png")
    assert not panel.state.comparison.busy and "image changed while comparing" in panel.before_after.hint.text()
    panel.controller.set_shown(True)
    qtbot.waitUntil(lambda: not worker.is_busy("before-after"), timeout=RUN_MS)
    assert failed and failed[0][0] == "before-after"  # the job ended as cancelled ...
    assert dialogs == [] and panel.before_after.shown == 0  # ... which is no error and shows nothing


def test_a_comparison_that_fails_says_why_where_it_would_be(viewer_dock, images, qtbot, tmp_path, tiny_model_path,
                                                           dialogs):
    panel = viewer_dock
    run = finished_run(panel, images, tmp_path / "run", tiny_model_path)
    run.last.write_bytes(b"not a checkpoint")
    assert panel.controller.open_result()
    qtbot.waitUntil(lambda: not panel.state.comparison.busy, timeout=RUN_MS)
    assert panel.before_after.hint.text().startswith("Could not compare: ") and "last.safetensors" in \
        panel.before_after.hint.text()
    assert "Cannot open the result" in panel.monitor.status.text() and dialogs == []


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("content, expected", [(None, "no image files"), (b"not a png", "no readable images")])
def test_a_folder_without_usable_images_is_refused_without_a_process(dock, tmp_path, qtbot, dialogs,
                                                                       content, expected):
    folder = tmp_path / "data"
    folder.mkdir()
    if content is not None:
        (folder / "broken.png").write_bytes(content)
    panel = ready(dock(), qtbot, folder)
    assert expected in panel.form.folder_info.text() and not panel.buttons["start"].isEnabled()
    assert panel.controller.start() is False
    assert dialogs[-1][1] == "Cannot start training" and expected in dialogs[-1][2]
    assert not panel.controller.running and not Path(panel.state.form.out).exists()


def test_a_run_folder_that_cannot_be_created_is_refused(dock, images, tmp_path, qtbot, dialogs):
    panel = ready(dock(), qtbot, images)
    (tmp_path / "file").write_text("x")
    panel.state.update_form(out=str(tmp_path / "file" / "run"))
    assert panel.controller.start() is False
    assert "cannot create the run folder" in dialogs[-1][2] and not panel.controller.running
    assert panel.state.status.tone == "error" and "Cannot start training" in panel.monitor.status.text()


def test_a_bad_learning_rate_or_mask_is_refused(dock, images, qtbot, dialogs):
    panel = ready(dock(), qtbot, images)
    panel.state.update_form(lr="fast")
    assert panel.controller.start() is False and "learning rate" in dialogs[-1][2]
    assert "learning rate" in panel.form.cli_view.text()  # the command preview says what is wrong too
    panel.state.update_form(lr="", mask="stripes:9")
    assert panel.controller.start() is False and "stripes" in dialogs[-1][2].lower()
    assert not panel.controller.running


def test_opening_a_folder_that_is_not_a_run_says_so(dock, tmp_path, dialogs):
    panel = dock()
    assert panel.controller.open_run(tmp_path) is False
    assert "is not a maskviz training run" in dialogs[-1][2]
    assert panel.state.shown is None and not panel.buttons["resume"].isEnabled()


def test_the_builtin_random_model_trains_from_scratch_on_its_architecture(dock, images, qtbot):
    panel = ready(dock(), qtbot, images)
    builtin = LoadedModel(create_model("mae_vit_tiny_test"), "builtin:mae_vit_tiny_test", "builtin")
    panel.controller.viewer.set_model(builtin, None)
    assert "from scratch" in panel.form.base_label.text() and "mae_vit_tiny_test" in panel.form.base_label.text()
    assert panel.controller.checked_request().model == "mae_vit_tiny_test"


# ---------------------------------------------------------------------------- failures


def test_a_corrupt_run_crashes_on_resume_and_shows_its_log(dock, images, tmp_path, qtbot):
    run = RunDir(tmp_path / "corrupt")
    folder = scan_images(images)
    config = TrainConfig(data=str(images), model="mae_vit_tiny_test", out=str(run.path), steps=10, batch=2,
                         lr=1e-3, warmup_steps=1, mask="random:0.75", save_every=2)
    run.create(config, Plan(1, 2, 7, 1, 0, folder.fingerprint(), "mae", {}, "new mae_vit_tiny_test"))
    run.state.write_bytes(b"this is not a torch file")  # and no last.safetensors, although step 6 was recorded
    run.metrics.write_text(TrainEvent("step", 6, loss=0.5).to_json() + "\n")
    panel = dock()
    assert panel.controller.open_run(run.path) and panel.buttons["resume"].isEnabled()
    qtbot.mouseClick(panel.buttons["resume"], LEFT)
    wait_until_ended(panel, qtbot)
    ending = panel.state.shown.ending
    assert (ending.reason, ending.exit_code) == ("error", 2)
    log = panel.log
    assert log.crash_label.isVisibleTo(panel) and log.crash_label.text().startswith("cannot resume")
    assert "maskviz: error: cannot resume" in log.log_view.toPlainText()
    assert "cannot read" in log.crash_label.text() and run.metrics.read_text().count('"step": 6') == 1  # kept
    assert panel.tabs.currentWidget() is log and "The run failed" in panel.monitor.status.text()


@pytest.mark.parametrize("line", [
    "out of memory on cpu with --batch 4: use a smaller --batch (and a larger --accum to keep the effective batch)",
    "disk full while writing metrics.jsonl: free some space (the previous checkpoint is intact)",
])
def test_the_trainers_plain_error_line_is_the_message(dock, images, qtbot, line):
    script = f"import sys; print('step 1 ...'); print({('maskviz: error: ' + line)!r}, file=sys.stderr); sys.exit(2)"
    panel = ready(dock([sys.executable, "-c", script]), qtbot, images)
    assert panel.controller.start()
    wait_until_ended(panel, qtbot)
    assert panel.state.shown.ending == panel.controller.process.ending and panel.state.shown.ending.message == line
    assert panel.state.shown.ending.exit_code == 2 and panel.state.crash == line
    assert panel.log.crash_label.text() == line and "step 1 ..." in panel.log.log_view.toPlainText()


def test_a_trainer_that_cannot_start_is_reported(dock, images, tmp_path, qtbot):
    panel = ready(dock([str(tmp_path / "no-such-python")]), qtbot, images)
    assert panel.controller.start()
    wait_until_ended(panel, qtbot)
    ending = panel.state.shown.ending
    assert (ending.reason, ending.exit_code) == ("error", -1)
    assert "could not start the training process" in ending.message
    assert panel.log.crash_label.isVisibleTo(panel) and panel.buttons["start"].isEnabled()


@POSIX_ONLY
def test_a_run_that_ignores_the_stop_is_killed_after_the_timeout(dock, images, qtbot):
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
              "time.sleep(60)")
    panel = ready(dock([sys.executable, "-c", script], stop_timeout_ms=300), qtbot, images)
    assert panel.controller.start()
    qtbot.waitUntil(lambda: "ready" in panel.log.log_view.toPlainText(), timeout=RUN_MS)
    panel.controller.stop()
    assert panel.state.shown.phase == "stopping" and not panel.buttons["stop"].isEnabled()
    wait_until_ended(panel, qtbot)
    assert panel.state.shown.phase == "killed" and "Ended by force" in panel.monitor.status.text()


# ---------------------------------------------------------------------------- closing the window


@POSIX_ONLY
def test_closing_the_window_asks_and_stops_the_run(train_window, images, qtbot, monkeypatch):
    window = train_window
    panel = ready(window.training, qtbot, images, steps=100000)
    asked = []
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: asked.append(1) or "stop")
    assert panel.controller.start()
    wait_for_points(panel, qtbot, 1)
    run = panel.state.shown.run
    window.close()
    assert asked == [1] and window.isVisible()  # the window waits for the run to save
    wait_until_ended(panel, qtbot)
    assert panel.state.shown.phase == "stopped"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    events = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["reason"] == "stopped"


@POSIX_ONLY
def test_cancel_keeps_the_window_and_keep_leaves_the_run_going(train_window, images, qtbot, monkeypatch, dialogs):
    window = train_window
    panel = ready(window.training, qtbot, images, steps=100000)
    controller = panel.controller
    answers = ["cancel", "keep"]
    monkeypatch.setattr(type(window), "ask_stop_training", lambda self: answers.pop(0))
    assert controller.start()
    wait_for_points(panel, qtbot, 1)
    pid = controller.process.pid()
    try:
        window.close()
        assert window.isVisible() and controller.running  # cancelled
        window.close()
        assert not window.isVisible() and not controller.running and not answers
        shiboken6.delete(controller.process)  # what quitting the app does: ~QProcess kills a child it still owns
        run = panel.state.shown.run
        size = run.metrics.stat().st_size
        qtbot.waitUntil(lambda: run.metrics.stat().st_size > size, timeout=RUN_MS)  # still training
        os.kill(pid, 0)

        restarted = TrainingPanel(window.state, FakeJobs())  # the app opened again: found and followed
        qtbot.addWidget(restarted)
        again = restarted.controller
        assert again.running and again.process.attached_pid == pid and restarted.state.shown.run.path == run.path
        assert restarted.state.shown.phase == "following"
        assert f"Following {run.path.name} (process {pid})" in restarted.monitor.status.text()
        assert again.resume() is False and "still training in process" in dialogs[-1][2]  # no second trainer
        points = len(restarted.state.shown.history.steps)
        qtbot.waitUntil(lambda: len(restarted.state.shown.history.steps) > points, timeout=RUN_MS)  # live
        again.stop()  # Stop reaches the process it did not start
        wait_until_ended(restarted, qtbot)
        assert not again.running and "Stopped at step" in restarted.monitor.status.text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- the pieces


def test_the_train_menu_drives_the_same_actions_as_the_buttons(train_window, images, qtbot):
    window = train_window
    panel = ready(window.training, qtbot, images)
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


def test_the_views_follow_the_state(qtbot, tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("MASKVIZ_RUNS", str(tmp_path / "runs"))
    viewer = ViewerState()
    panel = TrainingPanel(viewer, FakeJobs())
    qtbot.addWidget(panel)
    state, form = panel.state, panel.form
    assert state.runs_root == tmp_path / "runs" and "no runs yet" in form.runs.itemText(0)
    assert "Waiting for the viewer's model" in panel.monitor.status.text()
    viewer.set_model(load_model(tiny_model_path), "hf-vit-mae-base")  # opened by its catalogue name
    assert "Choose a folder" in panel.monitor.status.text()
    assert "<b>hf-vit-mae-base (catalogue)</b>" in form.base_label.text()
    assert form.lr_edit.placeholderText() == "0.0001" and "fine-tune default" in form.lr_origin.text()
    form.advanced_button.click()
    assert not form.advanced.isHidden() and form.cli_view.text().startswith("maskviz train --data=")
    assert "--model=hf-vit-mae-base" in form.cli_view.text()
    form.augment_combo.setCurrentText("strong")  # the widget writes the state; the preview redraws from it
    assert state.form.augment == "strong" and "--augment=strong" in form.cli_view.text()
    state.update_form(steps=250)  # and the state redraws the widget
    assert form.steps_spin.value() == 250 and "--steps=250" in form.cli_view.text()
    from maskviz.gui.training.state import ShownRun
    from maskviz.train.monitor import RunHistory

    history = RunHistory.from_events([TrainEvent("start", 0, total_steps=2), TrainEvent("step", 0, val_loss=0.5),
                                      TrainEvent("step", 1, loss=0.6), TrainEvent("step", 2, loss=0.5, val_loss=0.45)])
    state.show_run(ShownRun(RunDir(tmp_path / "r"), history, "done"))
    assert panel.curves.start_line.isVisible() and panel.monitor.progress.value() == 2
    xs, ys = panel.curves.train_item.getData()
    assert list(xs) == [1, 2] and 0.5 < ys[-1] < 0.6  # smoothed, between the two raw points
    panel.curves.log_box.setChecked(True)
    assert panel.curves.plot.getAxis("left").logMode


def test_the_curves_caption_wraps_between_entries_never_inside_one(qtbot):
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QLabel

    from maskviz.gui.training.curves import TrainCurves
    from maskviz.gui.training.state import TrainingState

    curves = TrainCurves(TrainingState(Path("runs")))
    qtbot.addWidget(curves)
    entries = {"train (dots: each step)", "validation", "starting model"}
    doc = QTextDocument()
    caption = curves.findChild(QLabel)
    doc.setDefaultFont(caption.font())
    doc.setHtml(caption.text())
    wrapped = False
    for width in range(200, 600, 10):  # a narrow dock (350 px at 1024x700 less the log-scale box) to a wide one
        doc.setTextWidth(width)
        doc.size()  # lays the document out
        block = doc.firstBlock()
        layout, text = block.layout(), block.text()
        lines = [text[line.textStart():line.textStart() + line.textLength()]
                 for line in (layout.lineAt(i) for i in range(layout.lineCount()))]
        wrapped |= len(lines) > 1
        for line in lines:
            parts = {part.strip(" \u00a0━●┄").replace("\u00a0", " ") for part in line.split("·")} - {""}
            assert parts <= entries, (width, lines)
    assert wrapped
