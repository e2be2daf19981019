"""ModelWorker: latest wins, ids on results, priorities, holds, errors as messages, and the
scheduling that keeps a reconstruction from waiting behind background work (a slow fake model)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from maskviz.errors import CheckpointError
from maskviz.gui.worker import ModelWorker, ReconRequest, worker_threads
from maskviz.models import create_model


class Gate:
    """A model forward that blocks until released, so a test controls what is 'in flight'."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        original = model.forward

        def forward(x, mask):  # noqa: ANN001, ANN202
            self.calls.append(int(mask.sum()))
            self.entered.set()
            self.release.wait(10)
            return original(x, mask)

        model.forward = forward


class SlowModel(nn.Module):
    """A fake model whose forward is ``blocks`` slow blocks; ``log`` records every block it runs."""

    def __init__(self, name: str, log: list[tuple[str, int]], blocks: int = 5, seconds: float = 0.03) -> None:
        super().__init__()
        self.name, self.log, self.seconds = name, log, seconds
        self.blocks = nn.ModuleList(nn.Identity() for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            self.log.append((self.name, i))
            time.sleep(self.seconds)
        return x


def sweep(model: SlowModel, forwards: int = 100):
    """A background job: one forward per step."""
    for i in range(forwards):
        model(torch.zeros(1))
        yield i


@pytest.fixture
def worker(qtbot):
    w = ModelWorker(threads=1)
    yield w
    w.shutdown()


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return create_model("mae_vit_tiny_test").eval()


def _request(model, hidden: int) -> ReconRequest:
    mask = np.zeros(model.grid_size, dtype=bool)
    mask.flat[:hidden] = True
    return ReconRequest(model, Image.new("RGB", (32, 32), (120, 60, 30)), mask)


def _record(worker: ModelWorker) -> list[tuple]:
    events: list[tuple] = []
    for name in ("started", "stepped", "done", "failed", "dropped"):
        getattr(worker, name).connect(lambda *args, n=name: events.append((n, *args[:2])))
    return events


def test_threads_leave_a_core_for_the_ui():
    assert worker_threads(2) == 1
    assert worker_threads(1) == 1
    assert worker_threads(16) == 15


def test_the_worker_hands_the_gil_back_within_a_millisecond(qtbot, monkeypatch):
    """Between torch kernels the worker runs Python; at the default 5 ms switch interval a redraw on the
    UI thread waited that long after each numpy call (``bench/bench_whole.py --parts gui``: 50-82 ms
    stalls while tiles streamed in, 33 ms with 1 ms)."""
    import sys

    monkeypatch.setattr(sys, "getswitchinterval", lambda: 0.005)
    chosen: list[float] = []
    monkeypatch.setattr(sys, "setswitchinterval", chosen.append)
    w = ModelWorker(threads=1)
    w.shutdown()
    assert chosen == [0.001]


def test_ids_increase_and_result_carries_its_id(worker, tiny, qtbot):
    with qtbot.waitSignal(worker.done, timeout=5000) as blocker:
        first = worker.reconstruct(_request(tiny, 5))
    lane, task_id, outcome, seconds = blocker.args
    assert lane == "recon" and task_id == first == outcome.id
    assert outcome.result.masked_patches == 5
    assert outcome.seconds > 0 and seconds > 0
    second = worker.reconstruct(_request(tiny, 6))
    assert second > first
    assert worker.latest_id("recon") == second


def test_a_newer_request_replaces_the_pending_one_and_stops_the_running_one(worker, tiny, qtbot):
    gate = Gate(tiny)
    events = _record(worker)
    a = worker.reconstruct(_request(tiny, 3))
    assert gate.entered.wait(5)  # A is running
    b = worker.reconstruct(_request(tiny, 4))  # B waits...
    c = worker.reconstruct(_request(tiny, 7))  # ...and is replaced by C before it starts
    gate.release.set()
    qtbot.waitUntil(lambda: ("done", "recon", c) in events, timeout=5000)
    assert gate.calls == [3, 7]  # B never ran
    assert ("dropped", "recon", b) in events
    assert ("dropped", "recon", a) in events  # A was stale: stopped at its first module call
    assert [e for e in events if e[0] == "done"] == [("done", "recon", c)]


def test_lanes_run_by_priority(worker, tiny, qtbot):
    gate = Gate(tiny)
    order = []
    worker.done.connect(lambda lane, *_: order.append(lane))

    def steps():
        yield 1

    worker.reconstruct(_request(tiny, 2))
    assert gate.entered.wait(5)
    worker.submit("curve", steps)
    worker.submit("compare", lambda: "table")
    worker.submit("baseline", lambda: "fill")
    worker.submit("load", lambda: "model")
    gate.release.set()
    qtbot.waitUntil(lambda: len(order) == 5, timeout=5000)
    assert order == ["recon", "load", "baseline", "curve", "compare"]


def test_a_generator_job_sends_steps_and_its_return_value(worker, qtbot):
    def job():
        yield "a"
        yield None  # a turn without news: not sent
        yield "b"
        return "end"

    steps = []
    worker.stepped.connect(lambda lane, i, v: steps.append(v))
    with qtbot.waitSignal(worker.done, timeout=5000) as blocker:
        task = worker.submit("compare", job)
    assert blocker.args[:3] == ["compare", task, "end"] and steps == ["a", "b"]


def test_a_newer_job_stops_the_running_one_between_steps(worker, qtbot):
    ran = []
    release = threading.Event()

    def slow(tag):
        for i in range(5):
            ran.append((tag, i))
            if tag == "old":
                release.wait(5)
            yield i

    events = _record(worker)
    old = worker.submit("curve", lambda: slow("old"))
    qtbot.waitUntil(lambda: bool(ran), timeout=5000)
    new = worker.submit("curve", lambda: slow("new"))
    release.set()
    qtbot.waitUntil(lambda: ("done", "curve", new) in events, timeout=5000)
    assert ("old", 1) not in ran  # the old sweep stopped after the step that was running
    assert ("dropped", "curve", old) in events
    assert [e for e in events if e[0] == "stepped" and e[2] == new] == [("stepped", "curve", new)] * 5


def test_errors_come_back_as_plain_messages(worker, qtbot):
    def bad_checkpoint():
        raise CheckpointError("x.pth holds no model weights")

    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        task = worker.submit("load", bad_checkpoint)
    assert blocker.args == ["load", task, "x.pth holds no model weights"]

    def bug():
        raise ZeroDivisionError("oops")

    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.submit("load", bug)
    lane, _, message = blocker.args
    assert "internal error" in message and "ZeroDivisionError" in message and "Traceback" not in message
    with qtbot.waitSignal(worker.done, timeout=5000):  # the thread survived both
        worker.submit("load", lambda: 1)


def test_request_copies_the_mask(tiny):
    mask = np.zeros(tiny.grid_size, dtype=bool)
    request = ReconRequest(tiny, Image.new("RGB", (32, 32)), mask)
    mask[0, 0] = True
    assert not request.mask.any()


def test_a_held_lane_waits_until_every_reason_is_gone(worker, qtbot):
    ran = []

    def steps():
        ran.append(1)
        yield 1

    worker.hold(["curve"], "stroke")
    worker.hold(["curve"], "hidden")
    worker.submit("curve", steps)
    qtbot.wait(100)
    worker.hold(["curve"], "stroke", False)
    qtbot.wait(100)
    assert ran == [] and worker.is_busy("curve") and worker.is_held("curve")  # pending, not started
    with qtbot.waitSignal(worker.done, timeout=5000):
        worker.hold(["curve"], "hidden", False)
    assert ran == [1]


# ---------------------------------------------------------------------------- scheduling (issue 24)


@pytest.mark.parametrize("lane", ["curve", "compare", "before-after"])
def test_a_reconstruction_starts_within_one_block_of_any_background_job(worker, qtbot, lane):
    """Submitted while a background forward runs, the reconstruction runs at that forward's next
    block (not after the forward, and long before the job's end); the background job goes on."""
    log: list[tuple[str, int]] = []
    background, viewer = SlowModel("background", log), SlowModel("viewer", log, blocks=2, seconds=0)
    events = _record(worker)
    job = worker.submit(lane, lambda: sweep(background, forwards=20))
    qtbot.waitUntil(lambda: len(log) >= 7, timeout=5000)  # inside the second forward
    submitted_at = len(log)
    recon = worker.submit("recon", lambda: viewer(torch.zeros(1)))
    qtbot.waitUntil(lambda: ("done", "recon", recon) in events, timeout=5000)
    first = log.index(("viewer", 0))
    assert first - submitted_at <= 1  # at most the block that was running when it came
    assert not any(e[0] in ("done", "dropped", "failed") and e[2] == job for e in events)
    qtbot.waitUntil(lambda: ("done", lane, job) in events, timeout=20000)  # and the job finished after it
    assert log.count(("background", 4)) == 20


def test_cancel_frees_the_worker_within_one_block(worker, qtbot):
    log: list[tuple[str, int]] = []
    background = SlowModel("background", log)
    events = _record(worker)
    job = worker.submit("compare", lambda: sweep(background))
    qtbot.waitUntil(lambda: len(log) >= 3, timeout=5000)  # mid-forward
    worker.cancel("compare")
    at_cancel = len(log)
    qtbot.waitUntil(lambda: ("dropped", "compare", job) in events, timeout=5000)
    assert len(log) - at_cancel <= 1 and not worker.is_busy("compare")


def test_shutdown_during_a_long_job_stops_within_one_block(qtbot):
    log: list[tuple[str, int]] = []
    worker = ModelWorker(threads=1)
    worker.submit("compare", lambda: sweep(SlowModel("background", log, blocks=20)))
    qtbot.waitUntil(lambda: len(log) >= 2, timeout=5000)
    at_shutdown = len(log)
    assert worker.shutdown()  # the thread has ended...
    assert len(log) - at_shutdown <= 1 and not worker.is_alive()  # ...within the forward it was in


def test_a_held_background_lane_keeps_its_place_while_a_reconstruction_waits(worker, qtbot):
    """A load or a stroke holds the background lanes: nothing of the old model runs in between."""
    log: list[tuple[str, int]] = []
    old = SlowModel("old", log, blocks=1, seconds=0)
    worker.hold(["curve"], "load")
    worker.submit("curve", lambda: sweep(old, forwards=3))
    with qtbot.waitSignal(worker.done, timeout=5000):
        worker.submit("load", lambda: "new model")
    qtbot.wait(100)
    assert log == []  # the old model's step did not slip in after the load
