"""File → Get models…: the dialog downloads from a server on 127.0.0.1 with progress and Cancel
(the window keeps working meanwhile), resumes, then loads the model, which Recent keeps by name."""

from __future__ import annotations

import dataclasses

import pytest
from guikit import settle
from loopback import Loopback
from PySide6.QtWidgets import QPushButton
from synthetic import save_official_mae

from maskviz.zoo import catalogue
from maskviz.zoo.catalogue import PIXELS, ModelEntry
from maskviz.zoo.store import partial_path, url_target


@pytest.fixture
def served_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("maskviz.zoo.store.CHUNK", 4096)
    save_official_mae(tmp_path / "tiny.pth")
    server = Loopback()
    server.files["/tiny.pth"] = (tmp_path / "tiny.pth").read_bytes()
    entry = ModelEntry(
        name="tiny-mae", family="mae", architecture="mae_vit_tiny_test", input_size=32, target=PIXELS,
        size_bytes=len(server.files["/tiny.pth"]), licence="test", source="url", description="tiny test MAE",
        url=f"{server.url}/tiny.pth",
    )
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    yield server, entry
    server.stop()


def _dialog(window, qtbot, name: str):
    window.show_models_dialog()
    dialog = window.models_dialog
    qtbot.waitExposed(dialog)
    dialog.select(name)
    return dialog


def test_download_with_progress_and_cancel_then_load(window, qtbot, served_entry):
    server, entry = served_entry
    size = len(server.files["/tiny.pth"])
    server.stall_after["/tiny.pth"] = size // 3
    dialog = _dialog(window, qtbot, entry.name)
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == entry.name)
    assert dialog.table.item(row, 5).text() == "not cached"
    assert dialog.get_button.text() == "Download and open"

    dialog.get_button.click()
    qtbot.waitUntil(lambda: dialog.progress is not None and dialog.progress.value() > 0, timeout=10000)
    assert dialog.isVisible() and window.isEnabled()  # nothing modal: the window keeps working
    window.canvas.invert()  # e.g. the user edits the mask meanwhile
    dialog.progress.findChild(QPushButton).click()  # Cancel
    server.release.set()
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=10000)
    assert "cancelled" in dialog.details.text() and url_target(entry).exists() is False
    assert 0 < partial_path(entry).stat().st_size < size

    server.release.clear()
    dialog.get_button.click()  # resume
    qtbot.waitUntil(lambda: window.state.model_source == entry.name, timeout=15000)
    settle(qtbot, window)
    assert server.ranges[-1] is not None and server.ranges[-1].startswith("bytes=")
    assert url_target(entry).read_bytes() == server.files["/tiny.pth"]
    assert window.state.model.source == str(url_target(entry))
    assert window.recent_menu.actions()[0].text() == entry.name  # Recent keeps the name
    assert not dialog.isVisible()


def test_cached_model_opens_without_the_server(window, qtbot, served_entry):
    server, entry = served_entry
    from maskviz.checkpoints import load_model
    from maskviz.zoo.store import download

    download(entry, verify=load_model)
    server.stop()
    dialog = _dialog(window, qtbot, entry.name)
    assert dialog.get_button.text() == "Open"
    dialog.get_button.click()
    qtbot.waitUntil(lambda: window.state.model_source == entry.name, timeout=15000)
    server.__init__()


def test_failed_download_says_why(window, qtbot, served_entry, dialogs):
    server, entry = served_entry
    monkeypatched = dataclasses.replace(entry, size_bytes=entry.size_bytes + 1, size_exact=True)
    dialog = _dialog(window, qtbot, entry.name)
    dialog.get(monkeypatched)
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=10000)
    assert dialogs and dialogs[-1][1] == "Download failed" and "catalogue expects" in dialogs[-1][2]
    assert window.state.model_source != entry.name


def test_an_unreachable_hub_fails_within_seconds(window, qtbot, dialogs, tmp_path, monkeypatch):
    import socket
    import time

    from huggingface_hub import constants

    with socket.socket() as sock:  # a port just released: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "ENDPOINT", closed)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    dialog = _dialog(window, qtbot, "hf-vit-mae-base")
    start = time.monotonic()
    dialog.get_button.click()
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=30000)
    assert time.monotonic() - start < 5  # huggingface_hub's own retries take 23 s
    kind, title, text = dialogs[-1]
    assert title == "Download failed" and text.startswith("cannot reach 127.0.0.1:")
    assert all(name in text for name in ("config.json", "preprocessor_config.json", "model.safetensors"))
    assert text in dialog.details.text()
