"""The window with background work: docks off screen compute nothing, a model switch leaves one live
model, and closing during a long job stops the worker within a forward and exits cleanly."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import time
import weakref

from guikit import WAIT_MS, settle
from PySide6.QtCore import QObject

from maskviz.models import create_model


def _started(window, lane: str) -> list[int]:
    """Ids of the ``lane`` jobs submitted from now on that the worker starts."""
    worker, ids = window.controller.worker, []
    before = worker.latest_id(lane)
    worker.started.connect(lambda name, i: name == lane and i > before and ids.append(i))
    return ids


def _slow_blocks(model, seconds: float) -> None:
    """Every transformer block of ``model`` sleeps ``seconds`` first: a published-size model's pace."""
    for blocks in (model.blocks, model.decoder_blocks):
        for block in blocks:
            block.register_forward_pre_hook(lambda *_: time.sleep(seconds))


def test_a_dock_in_a_hidden_tab_starts_no_job(window, qtbot):
    window.compare_controller.auto_seconds = 120  # a slow CI machine still follows
    window.show_compare()  # Compare in front: the loss curve is a tab behind it (isVisible() would still say True)
    qtbot.waitUntil(lambda: window.compare_controller.shown and not window.curve_jobs.shown, timeout=WAIT_MS)
    qtbot.wait(200)  # what the worker started before is reported by now
    curve = _started(window, "curve")
    window.controller.apply_spec("block:0.5,seed=3")  # a new pattern family: the curve is out of date
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.compare_state.snapshot is not None, timeout=WAIT_MS)  # the shown dock runs
    qtbot.wait(800)
    assert curve == [] and "block" not in window.state.curve.family
    window.curve_dock.raise_()  # in front again: it catches up, and the Compare tab now waits
    qtbot.waitUntil(lambda: bool(curve) and "block" in window.state.curve.family, timeout=WAIT_MS)
    assert not window.compare_controller.shown
    compare = _started(window, "compare")
    window.state.invert_mask()
    settle(qtbot, window)
    qtbot.wait(800)
    assert compare == []


def test_after_a_model_switch_only_the_new_model_is_alive(open_window, photo, tiny_model_path, qtbot):
    window = open_window(photo, tiny_model_path, restore=False)
    window.compare_controller.auto_seconds = 120  # a slow CI machine still follows
    window.show_compare()
    qtbot.waitUntil(lambda: window.compare_state.snapshot is not None and not window.compare_controller.is_running,
                    timeout=WAIT_MS)  # Compare and the curve both used the old model
    old = weakref.ref(window.state.model.model)
    window.controller.use_model(_loaded(create_model("mae_vit_tiny_test").eval()))
    settle(qtbot, window)
    qtbot.waitUntil(lambda: not window.controller.worker.is_busy(), timeout=WAIT_MS)
    gc.collect()
    assert old() is None, [type(r).__name__ for r in gc.get_referrers(old()) if not isinstance(r, QObject)]


def _loaded(model):
    from maskviz.checkpoints import LoadedModel

    return LoadedModel(model, source="test", format="maskviz")


def test_closing_during_a_long_job_stops_the_worker_within_a_forward(window, qtbot):
    _slow_blocks(window.state.model.model, 0.05)
    window.compare_state.set_settings(seeds=50)  # a table of minutes at this pace
    window.show_compare()
    window.compare_controller.run()  # as Run clicked
    qtbot.waitUntil(lambda: window.compare_controller.is_running and window.controller.worker.is_busy("compare"),
                    timeout=WAIT_MS)
    qtbot.wait(300)  # well inside the run
    start = time.perf_counter()
    window.close()
    closed_in = time.perf_counter() - start
    assert not window.controller.worker.is_alive()  # the thread ended: it did not outlive the window
    assert window.compare_state.snapshot is None or not window.compare_state.snapshot.finished
    assert closed_in < 5.0  # generous under load: one block is 0.05 s; an uninterrupted table takes minutes


def test_quitting_during_a_long_job_exits_cleanly_and_keeps_the_session(tmp_path, photo, tiny_model_path):
    """The real app process: no abort (exit 134) and the session saved, while a long table runs."""
    script = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["MASKVIZ_CONFIG_DIR"] = {str(tmp_path / "config")!r}
        from PySide6.QtCore import QTimer
        from maskviz.gui import app as app_module
        from maskviz.gui.main_window import MainWindow

        def drive():
            window = next(w for w in app_module.QApplication.topLevelWidgets() if isinstance(w, MainWindow))
            if window.state.result is None:
                return QTimer.singleShot(50, drive)
            for blocks in (window.state.model.model.blocks, window.state.model.model.decoder_blocks):
                for block in blocks:
                    block.register_forward_pre_hook(lambda *_: time.sleep(0.05))
            window.compare_state.set_settings(seeds=50)
            window.show_compare()
            window.compare_controller.run()
            QTimer.singleShot(1500, window.close)

        QTimer.singleShot(0, drive)
        sys.exit(app_module.run_app([{photo!r}, "--model", {tiny_model_path!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "config" / "session.json").exists()


def test_a_result_s_baseline_runs_before_the_next_background_step(window, qtbot, monkeypatch):
    """Between a reconstruction and its baseline fill no curve step slips in (issue 24, point 7)."""
    import maskviz.baselines

    order: list[str] = []
    fill = maskviz.baselines.baseline_reconstruction
    monkeypatch.setattr(maskviz.baselines, "baseline_reconstruction",
                        lambda *a: (order.append("baseline"), fill(*a))[1])

    def steps():
        for _ in range(200):
            order.append("curve")
            time.sleep(0.01)
            yield None

    window.state.set_option("baseline", "mean")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.curve.complete, timeout=WAIT_MS)  # the loss curve's own job is done
    window.controller.run_job("curve", steps)
    qtbot.waitUntil(lambda: "curve" in order, timeout=WAIT_MS)
    order.clear()
    window.state.invert_mask()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: "baseline" in order, timeout=WAIT_MS)
    assert order.index("baseline") <= 1  # at most the curve step that was running when the mask changed


def test_a_model_change_drops_the_old_model_s_background_work(window, qtbot):
    """Queued or running, a job for the old model ends (jobFailed) and runs no further step."""
    ran: list[int] = []

    def steps():
        for i in range(1000):
            ran.append(i)
            time.sleep(0.01)
            yield None

    ended: list[tuple[str, int, str]] = []
    window.controller.jobFailed.connect(lambda lane, i, m: ended.append((lane, i, m)))
    qtbot.waitUntil(lambda: window.curve.complete, timeout=WAIT_MS)  # the loss curve's own job is done
    running = window.controller.run_job("curve", steps)
    qtbot.waitUntil(lambda: len(ran) > 3, timeout=WAIT_MS)
    window.controller.worker.hold(["before-after"], "test")  # keep it queued until the model changes
    queued = window.controller.run_job("before-after", lambda: ran.append(-1))
    window.controller.use_model(_loaded(create_model("mae_vit_tiny_test").eval()))
    window.controller.worker.hold(["before-after"], "test", False)
    qtbot.waitUntil(lambda: {i for _, i, _ in ended} >= {running, queued}, timeout=WAIT_MS)
    assert all("model changed" in m for lane, i, m in ended if i in (running, queued))
    at_end = len(ran)
    settle(qtbot, window)
    qtbot.wait(200)
    assert len(ran) == at_end and -1 not in ran
