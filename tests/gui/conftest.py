"""Shared GUI fixtures: a private config folder, a tiny saved model, recorded dialogs, open windows.

Windows run the real worker thread with ``mae_vit_tiny_test`` (32 px, patch 8, a 4×4 grid), which
reconstructs in a few milliseconds, so tests wait on conditions (``qtbot.waitUntil``) rather than
sleeping. ``qtbot.wait*`` spin a QEventLoop, which lets the worker thread take the GIL; ``QTest.qWait``
does not, so it must not be used to wait for the worker.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch
from guikit import settle
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from maskviz.checkpoints import save_model
from maskviz.models import create_model
from maskviz.models.registry import get_config


def pytest_addoption(parser) -> None:  # noqa: ANN001
    group = parser.getgroup("maskviz")
    group.addoption("--soak", action="store_true", help="run the random GUI test with 10 000 actions")
    group.addoption("--soak-seed", type=int, default=1234, help="seed of the random GUI test (default 1234)")


@pytest.fixture(autouse=True)
def garbage_on_the_gui_thread():
    """As in the app (maskviz.gui.garbage): no automatic collection while worker threads run; what
    a test leaves behind (closed windows) is collected here, on the GUI thread."""
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def big_photo(tmp_path) -> str:
    """A 100×75 px gradient photo for the whole views: at its own size 96×72 px, a 9×12 patch grid of
    3×3 tiles for the 32 px test model (at 64 px on the long side 64×48 px: 6×8 patches, 2×2 tiles)."""
    yy, xx = np.mgrid[0:75, 0:100]
    arr = np.stack([xx * 2.5, yy * 3, (xx + yy) * 1.4], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("MASKVIZ_CONFIG_DIR", str(folder))
    monkeypatch.setenv("MASKVIZ_RUNS", str(tmp_path / "runs"))  # runs live in the data dir, never the config dir
    return folder


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(create_model("mae_vit_tiny_test"), path)
    return str(path)


@pytest.fixture(scope="session")
def norm_pix_model_path(tmp_path_factory) -> str:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("models") / "tiny-normpix.safetensors"
    save_model(create_model(get_config("mae_vit_tiny_test").replace(norm_pix_loss=True)), path)
    return str(path)


@pytest.fixture
def dialogs(monkeypatch) -> list[tuple[str, str, str]]:
    """Every QMessageBox.warning/critical/information as (kind, title, text), never shown."""
    calls: list[tuple[str, str, str]] = []
    for kind in ("warning", "critical", "information"):
        def record(parent, title, text, *args, _kind=kind, **kwargs):  # noqa: ANN001, ANN202
            calls.append((_kind, title, text))
            return QMessageBox.StandardButton.Ok
        monkeypatch.setattr(QMessageBox, kind, staticmethod(record))
    return calls


@pytest.fixture
def open_window(qtbot, config_dir, dialogs):
    """Factory: a shown MainWindow started like the app (explicit image/model, else session/defaults)."""
    from maskviz.gui.main_window import MainWindow

    windows = []

    def open_(image: str | None = None, model: str | None = None, restore: bool = True, wait: bool = True):
        window = MainWindow(config_dir, device="cpu")
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        window.start(image=image, model=model, restore=restore)
        if wait:
            settle(qtbot, window)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.close()


@pytest.fixture
def window(open_window, photo, tiny_model_path):
    """The usual case: the test photo and the tiny model, first reconstruction on screen."""
    return open_window(photo, tiny_model_path, restore=False)
