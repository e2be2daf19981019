"""ModelWorker: latest wins, ids on results, priorities, cancellation, errors as messages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

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


def test_threads_leave_a_core_for_the_ui():
    assert worker_threads(2) == 1
    assert worker_threads(1) == 1
    assert worker_threads(16) == 15


def test_ids_increase_and_result_carries_its_id(worker, tiny, qtbot):
    with qtbot.waitSignal(worker.reconstructed, timeout=5000) as blocker:
        first = worker.submit(_request(tiny, 5))
    task_id, outcome = blocker.args
    assert task_id == first == outcome.id
    assert outcome.result.masked_patches == 5
    assert outcome.seconds > 0
    second = worker.submit(_request(tiny, 6))
    assert second > first
    assert worker.latest_id("recon") == second


def test_pending_request_is_replaced_not_queued(worker, tiny, qtbot):
    gate = Gate(tiny)
    results = []
    worker.reconstructed.connect(lambda i, o: results.append((i, o.result.masked_patches)))
    a = worker.submit(_request(tiny, 3))
    assert gate.entered.wait(5)  # A is running
    worker.submit(_request(tiny, 4))  # B waits...
    c = worker.submit(_request(tiny, 7))  # ...and is replaced by C before it starts
    gate.release.set()
    qtbot.waitUntil(lambda: any(i == c for i, _ in results), timeout=5000)
    assert gate.calls == [3, 7]  # B never ran
    assert [i for i, _ in results] == [a, c]


def test_load_runs_before_reconstruction_and_curve_last(worker, tiny, qtbot):
    gate = Gate(tiny)
    order = []
    worker.reconstructed.connect(lambda i, o: order.append("recon"))
    worker.modelLoaded.connect(lambda i, v: order.append("load"))
    worker.curveDone.connect(lambda i: order.append("curve"))

    def steps():
        yield 1

    worker.submit(_request(tiny, 2))
    assert gate.entered.wait(5)
    worker.submit_curve(steps())
    worker.submit(_request(tiny, 3))
    worker.load_model(lambda: "model")
    gate.release.set()
    qtbot.waitUntil(lambda: len(order) == 4, timeout=5000)
    assert order == ["recon", "load", "recon", "curve"]


def test_newer_curve_cancels_older_between_steps(worker, qtbot):
    ran = []
    release = threading.Event()

    def slow(tag):
        for i in range(5):
            ran.append((tag, i))
            if tag == "old":
                release.wait(5)
            yield i

    steps = []
    worker.curveStep.connect(lambda i, v: steps.append(i))
    old = worker.submit_curve(slow("old"))
    qtbot.waitUntil(lambda: bool(ran), timeout=5000)
    new = worker.submit_curve(slow("new"))
    release.set()
    with qtbot.waitSignal(worker.curveDone, timeout=5000, check_params_cb=lambda i: i == new):
        pass
    assert ran.count(("old", 1)) == 0  # the old sweep stopped after the step that was running
    assert steps.count(new) == 5 and set(steps) <= {old, new}
    qtbot.waitUntil(lambda: not worker.is_busy("curve"), timeout=5000)


def test_cancel_stops_a_running_curve(worker, qtbot):
    ran = []

    def steps():
        for i in range(100):
            ran.append(i)
            time.sleep(0.01)
            yield i

    worker.submit_curve(steps())
    qtbot.waitUntil(lambda: bool(ran), timeout=5000)
    worker.cancel("curve")
    qtbot.waitUntil(lambda: not worker.is_busy("curve"), timeout=5000)
    assert len(ran) < 100


def test_errors_come_back_as_plain_messages(worker, qtbot):
    def bad_checkpoint():
        raise CheckpointError("x.pth holds no model weights")

    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        task = worker.load_model(bad_checkpoint)
    assert blocker.args == ["load", task, "x.pth holds no model weights"]

    def bug():
        raise ZeroDivisionError("oops")

    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.load_model(bug)
    lane, _, message = blocker.args
    assert "internal error" in message and "ZeroDivisionError" in message and "Traceback" not in message
    # the thread survived both
    with qtbot.waitSignal(worker.modelLoaded, timeout=5000):
        worker.load_model(lambda: 1)


def test_request_copies_the_mask(tiny):
    mask = np.zeros(tiny.grid_size, dtype=bool)
    request = ReconRequest(tiny, Image.new("RGB", (32, 32)), mask)
    mask[0, 0] = True
    assert not request.mask.any()


def test_a_held_lane_waits_until_released(worker, qtbot):
    ran = []

    def steps():
        ran.append(1)
        yield 1

    worker.hold("curve")
    worker.submit_curve(steps())
    qtbot.wait(100)
    assert ran == [] and worker.is_busy("curve")  # pending, not started
    with qtbot.waitSignal(worker.curveDone, timeout=5000):
        worker.hold("curve", False)
    assert ran == [1]
