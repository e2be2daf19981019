"""The app entry point: command line, application identity, crash hook, session files."""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import weakref

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from maskviz.errors import ImageError
from maskviz.gui import app as app_module
from maskviz.gui.garbage import collect_on_gui_thread
from maskviz.gui.session import read_session, remember, write_session


@pytest.fixture
def isolated_logging(monkeypatch):
    """run_app installs a file log handler and an excepthook: undo both after the test."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    logger = logging.getLogger("maskviz")
    before = list(logger.handlers)
    yield
    for handler in logger.handlers[:]:
        if handler not in before:
            logger.removeHandler(handler)
            handler.close()


@pytest.fixture(autouse=True)
def keep_signal_handlers(monkeypatch):
    """run_app installs SIGINT/SIGTERM handlers; record them instead of replacing pytest's."""
    handlers: dict = {}
    monkeypatch.setattr(app_module.signal, "signal", lambda sig, handler: handlers.__setitem__(sig, handler))
    return handlers


@pytest.fixture
def app_exec(monkeypatch, qtbot):
    """Replace the app's event loop: wait for the first result, close the window, return 0.

    Running the real ``QApplication.exec()`` inside pytest and quitting it leaves a deferred quit
    that makes every later ``QEventLoop`` return at once, which breaks the tests that follow.
    """
    from maskviz.gui.main_window import MainWindow

    seen: list = []

    def fake_exec(app) -> int:  # noqa: ANN001
        def shown() -> bool:
            windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
            return bool(windows) and windows[0].state.result is not None and windows[0] not in seen

        qtbot.waitUntil(shown, timeout=15000)
        window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen.append(window)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    return seen


def test_parser_accepts_the_documented_options():
    args = app_module.build_parser().parse_args(["img.png", "--model", "m.pth", "--device", "cpu", "--reset-session"])
    assert (args.image, args.model, args.device, args.reset_session) == ("img.png", "m.pth", "cpu", True)
    assert app_module.build_parser().parse_args([]).image is None


def test_application_identity(qapp):
    app = app_module.application()
    assert app is qapp
    assert app.organizationName() == "maskviz" and app.applicationName() == "maskviz"
    assert app.desktopFileName() == "org.maskviz.Maskviz"
    assert app_module.icon_path() is not None and not app.windowIcon().isNull()


def test_run_app_opens_image_and_model_and_saves_the_session(app_exec, config_dir, photo, tiny_model_path,
                                                             isolated_logging, dialogs):
    seen = app_exec
    code = app_module.run_app([photo, "--model", tiny_model_path, "--device", "cpu"])
    assert code == 0
    window = seen[0]
    assert window.state.image_source == photo and window.state.model_source == tiny_model_path
    session = read_session(config_dir)
    assert session["image"] == photo and session["model"] == tiny_model_path
    assert (config_dir / "maskviz.log").exists()
    assert not dialogs


def test_reset_session_forgets_the_last_session(app_exec, config_dir, photo, tiny_model_path, isolated_logging,
                                                monkeypatch):
    monkeypatch.setattr("maskviz.bundled.bundled_model_paths", lambda: {})
    write_session(config_dir, {"image": photo, "model": tiny_model_path})
    seen = app_exec
    assert app_module.run_app(["--reset-session"]) == 0
    assert seen[0].state.image_source == "sample:coffee" and seen[0].state.model_source is None


def test_sigterm_closes_the_window_and_saves_the_session(monkeypatch, qtbot, config_dir, photo, tiny_model_path,
                                                        keep_signal_handlers, isolated_logging):
    import signal

    from maskviz.gui.main_window import MainWindow

    closed: list = []

    def fake_exec(app) -> int:  # noqa: ANN001
        window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        qtbot.waitUntil(lambda: window.state.result is not None, timeout=15000)
        keep_signal_handlers[signal.SIGTERM](signal.SIGTERM, None)  # what `kill PID` triggers
        closed.append(not window.isVisible())
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert app_module.run_app([photo, "--model", tiny_model_path]) == 0
    assert closed == [True] and signal.SIGINT in keep_signal_handlers
    assert read_session(config_dir)["model"] == tiny_model_path


def test_excepthook_logs_and_shows_a_plain_dialog(qapp, tmp_path, dialogs, isolated_logging):
    log_path = app_module.setup_logging(tmp_path)
    hook = app_module.excepthook(log_path)
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        hook(*sys.exc_info())
    kind, title, text = dialogs[-1]
    assert kind == "critical" and "Traceback" not in text and str(log_path) in text
    for handler in logging.getLogger("maskviz").handlers:
        handler.flush()
    logged = log_path.read_text()
    assert "Traceback" in logged and "ZeroDivisionError: boom" in logged
    hook(ImageError, ImageError("cat.png is not an image"), None)
    assert dialogs[-1][2] == "cat.png is not an image"


def test_session_file_is_read_forgivingly(tmp_path):
    assert read_session(tmp_path) == {}
    (tmp_path / "session.json").write_text("{not json")
    assert read_session(tmp_path) == {}
    (tmp_path / "session.json").write_text(json.dumps({"version": 99, "image": "x"}))
    assert read_session(tmp_path) == {}
    write_session(tmp_path, {"image": "sample:cat"})
    assert read_session(tmp_path)["image"] == "sample:cat"


def test_recent_list_is_most_recent_first_and_bounded(tmp_path, qapp):
    from maskviz.gui.session import open_settings

    settings = open_settings(tmp_path)
    for i in range(12):
        remember(settings, "recent", f"m{i}")
    items = remember(settings, "recent", "m5")
    assert items[0] == "m5" and len(items) == 10 and items.count("m5") == 1


@pytest.mark.parametrize("argv", [[], ["photo.jpg"], ["photo.jpg", "--model", "m.pth"], ["--reset-session"]])
def test_the_entry_point_routes_the_app_command_line_to_the_app(monkeypatch, argv):
    from maskviz import launch

    called = []
    monkeypatch.setattr(app_module, "run_app", lambda a: called.append(a) or 0)
    assert launch.main(argv) == 0
    assert called == [argv]


def test_the_entry_point_keeps_subcommands(monkeypatch, capsys):
    from maskviz import launch

    monkeypatch.setattr(app_module, "run_app", lambda a: pytest.fail("the app must not start"))
    assert launch.main(["models"]) == 0
    assert "mae_vit_base_patch16" in capsys.readouterr().out


def test_garbage_holding_qt_objects_is_collected_on_the_gui_thread(qtbot):
    """Cyclic garbage is never collected by a worker thread's allocations, only by the GUI timer."""
    collect_on_gui_thread()
    assert not gc.isenabled()

    class Cycle:
        pass

    garbage = Cycle()
    garbage.me, garbage.qt = garbage, QObject()
    ref = weakref.ref(garbage)
    del garbage

    def churn() -> None:  # enough allocations to trigger every generation many times over
        for _ in range(200_000):
            x: list = []
            x.append(x)

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    assert ref() is not None  # not collected on the worker thread
    qtbot.waitUntil(lambda: ref() is None, timeout=5000)


def test_the_crash_dialog_says_your_work_is_open_only_when_a_window_is(qapp, tmp_path, dialogs, isolated_logging,
                                                                       monkeypatch, open_window):
    from PySide6.QtWidgets import QMainWindow

    log_path = app_module.setup_logging(tmp_path)
    hook = app_module.excepthook(log_path)
    monkeypatch.setattr(app_module, "_window_opened", False)
    assert not any(isinstance(w, QMainWindow) and w.isVisible() for w in qapp.topLevelWidgets())
    hook(ValueError, ValueError("bad thing"), None)
    before = dialogs[-1][2]
    assert before == f"maskviz could not start (ValueError: bad thing). The details were written to {log_path}."

    window = open_window()
    hook(ValueError, ValueError("bad thing"), None)
    assert "Your work is still open" in dialogs[-1][2]
    window.close()
    monkeypatch.setattr(app_module, "_window_opened", True)
    hook(ValueError, ValueError("bad thing"), None)
    assert "could not start" not in dialogs[-1][2] and "still open" not in dialogs[-1][2]


def test_a_broken_install_at_start_up_gets_the_doctors_line_and_exit_3(qtbot, tmp_path, monkeypatch, dialogs,
                                                                       isolated_logging, capsys):
    from maskviz.doctor import setup_problem

    (tmp_path / "maskviz_fake_timm.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "excepthook", app_module.excepthook(app_module.setup_logging(tmp_path)))
    exits = []
    monkeypatch.setattr(QApplication, "exit", staticmethod(lambda code=0: exits.append(code)))
    splash = app_module.start_up_window()
    qtbot.addWidget(splash)
    app_module.after_imports(["json", "maskviz_fake_timm"], then=lambda: None)
    qtbot.waitUntil(lambda: bool(exits), timeout=10000)
    line = setup_problem(RuntimeError("operator torchvision::nms does not exist"))
    assert line.startswith("torchvision ") and "pip install" in line
    assert exits == [3] and dialogs == [("critical", "maskviz", line)] and not splash.isVisible()
    assert capsys.readouterr().err == f"maskviz: error: {line}\n"
