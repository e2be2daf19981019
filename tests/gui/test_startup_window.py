"""A fresh ``maskviz`` shows a window while torch is imported, then the main window and a result."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from maskviz.gui import app as app_module

events = []
show_splash, open_window = app_module.start_up_window, app_module.open_window

def start_up_window():
    splash = show_splash()
    # The imports run from before this window is built; torch alone takes seconds, so the models
    # (imported after it) are not loaded yet.
    events.append(("splash", splash.isVisible(), "maskviz.models.blocks" in sys.modules))
    return splash

def open_main_window(*args):
    window = open_window(*args)
    events.append(("main", window.isVisible(), "maskviz.models.blocks" in sys.modules))
    window.controller.resultShown.connect(lambda _id: (events.append(("result",)), window.close()))
    return window

app_module.start_up_window, app_module.open_window = start_up_window, open_main_window
code = app_module.run_app(["--reset-session", "--device", "cpu"])
print(code, events)
"""


def test_start_up_window_comes_while_torch_loads_and_hands_over_to_the_main_window(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MASKVIZ_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (
        "0 [('splash', True, False), ('main', True, True), ('result',)]"
    )


def test_an_import_failure_is_reported_and_ends_the_app(qtbot, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from maskviz.gui import app as app_module

    reported, exits, called = [], [], []
    monkeypatch.setattr(sys, "excepthook", lambda kind, exc, tb: reported.append(kind))
    monkeypatch.setattr(QApplication, "exit", staticmethod(lambda code=0: exits.append(code)))
    thread = app_module.after_imports(["json", "maskviz_no_such_module"], then=lambda: called.append(True))
    qtbot.waitUntil(lambda: bool(exits), timeout=10000)
    assert not thread.is_alive() and reported == [ModuleNotFoundError] and exits == [1] and called == []


def test_start_up_window_is_a_centred_frameless_splash(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from maskviz.gui.app import start_up_window

    splash = start_up_window()
    qtbot.addWidget(splash)
    assert splash.isVisible() and splash.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert splash.windowType() == Qt.WindowType.SplashScreen
    centre, screen = splash.geometry().center(), QApplication.primaryScreen().availableGeometry().center()
    assert abs(centre.x() - screen.x()) <= 1 and abs(centre.y() - screen.y()) <= 1
