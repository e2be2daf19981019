"""``maskviz [IMAGE] [--model PATH] [--device D] [--reset-session]``: start the desktop app.

Also installs the last line of defence: an exception that escapes a Qt slot would otherwise print a
traceback to a terminal the user may not have (or abort the process); here it is written to the log
file and the user sees a plain dialog that says where the details are, and only what is true (a
broken install gets the line ``maskviz doctor`` prints; "your work is still open" only when it is).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QWidget

from maskviz.app_args import build_app_parser as build_parser
from maskviz.doctor import first_line, setup_problem, window_problem
from maskviz.errors import EXIT_SETUP, MaskvizError, SetupError
from maskviz.gui.session import config_dir

ORGANIZATION, APPLICATION, DESKTOP_ID = "maskviz", "maskviz", "org.maskviz.Maskviz"
LOG_NAME = "maskviz.log"
ICON_NAME = "maskviz.svg"
# The window module's heavy, Qt-free imports: torch and the model families (which need no timm: only
# a Swin model imports it). Seconds on a 2-core machine, so they are imported on a background thread
# while a start-up window is already on screen. The training code (timm.optim) is left to its first
# use, on a worker.
PRELOAD = ("torch", "maskviz.checkpoints", "maskviz.reconstruct", "maskviz.baselines")

log = logging.getLogger("maskviz.gui")
finished = False  # the event loop has returned: the session is saved and the process may end at once
_window_opened = False  # whether this process has shown a main window: a crash before it is a failed start


def setup_logging(folder: Path) -> Path:
    """Log to a rotating file in the config folder: where a bug report's details come from."""
    path = folder / LOG_NAME
    logger = logging.getLogger("maskviz")
    if not any(isinstance(h, RotatingFileHandler) and h.baseFilename == str(path) for h in logger.handlers):
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return path


def excepthook(log_path: Path):  # noqa: ANN201 - returns sys.excepthook's signature
    """An excepthook that logs the traceback and shows a plain dialog instead of crashing."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("unhandled exception:\n%s", text)
        setup = setup_problem(exc)
        message = setup or crash_message(exc, log_path)
        if setup or QApplication.instance() is None:  # a terminal user sees the fix too
            print(f"maskviz: error: {message}", file=sys.stderr)
        if QApplication.instance() is not None:
            QMessageBox.critical(None, "maskviz", message)

    return hook


def crash_message(exc: BaseException, log_path: Path) -> str:
    """What the crash dialog says: only what is true of the windows on screen now."""
    if isinstance(exc, MaskvizError):
        return str(exc)
    what = f"{type(exc).__name__}: {first_line(exc)}"
    work_open = any(isinstance(w, QMainWindow) and w.isVisible() for w in QApplication.topLevelWidgets())
    if work_open:
        return (f"Something went wrong inside maskviz ({what}). Your work is still open; "
                f"the details were written to {log_path}.")
    if not _window_opened:
        return f"maskviz could not start ({what}). The details were written to {log_path}."
    return f"Something went wrong inside maskviz ({what}). The details were written to {log_path}."


def application(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication, named so QSettings and the desktop shell (Wayland app id) find it."""
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "maskviz", *argv])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("maskviz")
    app.setDesktopFileName(DESKTOP_ID)
    icon = icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    return app


def icon_path() -> Path | None:
    """The installed copy (``maskviz.resources/icons``) or, in a source checkout, ``packaging/icons``."""
    from maskviz.bundled import resources_dir

    for candidate in (resources_dir() / "icons" / ICON_NAME,
                      Path(__file__).resolve().parents[2] / "packaging" / "icons" / ICON_NAME):
        if candidate.is_file():
            return candidate
    return None


def close_on_signals(window: QWidget) -> QTimer:
    """Ctrl+C in the terminal or SIGTERM closes the window like its close button (the session is saved).

    Python runs signal handlers only when the interpreter gets control, which the Qt event loop does
    not give it on its own: a no-op timer wakes it a few times a second.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer


def run_app(argv: Sequence[str]) -> int:
    """Parse the command line, open the window and run the event loop; returns the exit code."""
    args = build_parser().parse_args(list(argv))
    if QApplication.instance() is None:
        # Before Qt loads its platform plugin: without a display or with a library missing, Qt aborts
        # (exit 134) naming libxcb-cursor0, whatever the cause.
        problem = window_problem()
        if problem:
            raise SetupError(problem)
    app = application()
    folder = config_dir()
    sys.excepthook = excepthook(setup_logging(folder))
    if args.reset_session:
        for name in ("session.json", "maskviz.ini"):
            (folder / name).unlink(missing_ok=True)
    global finished
    if "maskviz.gui.main_window" in sys.modules:  # imported already (a test, a second window): no wait
        code = app.exec() if open_window(args, folder) else 2
    else:
        # The imports start first: whatever the window system makes the UI thread wait for, they go on.
        imports = after_imports(PRELOAD, lambda: open_window(args, folder, splash) or app.exit(2))
        splash = start_up_window()
        code = app.exec()
        del imports  # held until here: its relay must outlive the thread to receive the queued signal
    finished = True
    return code


def open_window(args: argparse.Namespace, folder: Path, splash: QWidget | None = None) -> QWidget | None:
    from maskviz.gui.main_window import MainWindow

    try:
        window = MainWindow(folder, device=args.device)
    except MaskvizError as exc:
        if splash is not None:
            splash.close()
        QMessageBox.critical(None, "maskviz", str(exc))
        return None
    window.show()
    global _window_opened
    _window_opened = True
    if splash is not None:  # before start(): a dialog about a bad path must not sit under it
        splash.close()
    close_on_signals(window)
    # The model loads on the worker while the UI thread paints the window for the first time.
    window.start(args.image, args.model, restore=not args.reset_session)
    return window


def start_up_window() -> QLabel:
    """The icon and a line of text, on screen while torch is imported (see PRELOAD).

    A plain frameless label with the splash-screen window type rather than a QSplashScreen, whose
    show() blocks the UI thread about a second waiting for the window to be exposed (here it did
    under both X11 and offscreen), which the imports behind it would wait for too.
    """
    card = QPixmap(320, 224)
    card.fill(QColor("#f4f4f4"))
    painter = QPainter(card)
    painter.drawPixmap(80, 16, QApplication.windowIcon().pixmap(160, 160))
    painter.setPen(QColor("#303030"))
    painter.drawText(card.rect().adjusted(0, 0, 0, -12), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter,
                     "maskviz: loading PyTorch…")
    painter.end()
    label = QLabel()
    label.setWindowFlags(Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint)
    label.setPixmap(card)
    label.setFixedSize(card.size())
    label.setWindowTitle("maskviz")
    screen = QApplication.primaryScreen()
    if screen is not None:  # centred, as QSplashScreen would be (window managers need not place it)
        frame = label.frameGeometry()
        frame.moveCenter(screen.availableGeometry().center())
        label.move(frame.topLeft())
    label.show()
    return label


class _ImportRelay(QObject):
    """Lives on the UI thread; the import thread's ``finished`` signal reaches it as a queued call."""

    finished = Signal(object)  # None, or the exception that stopped the imports

    def __init__(self, then: Callable[[], object]) -> None:
        super().__init__()
        self._then = then
        self.finished.connect(self._deliver)

    @Slot(object)
    def _deliver(self, failure: BaseException | None) -> None:
        if failure is None:
            try:
                self._then()
                return
            except Exception as exc:  # noqa: BLE001 - the main window failed to come up: nothing to go on with
                failure = exc
        # Reported like any other escaped exception (log, dialog), without the start-up window under it.
        for widget in QApplication.topLevelWidgets():
            if widget.windowType() == Qt.WindowType.SplashScreen:
                widget.close()
        sys.excepthook(type(failure), failure, failure.__traceback__)
        QApplication.exit(EXIT_SETUP if setup_problem(failure) else 1)


def after_imports(modules: Sequence[str], then: Callable[[], object]) -> threading.Thread:
    """Import ``modules`` on a background thread, then call ``then`` on the UI thread (which stays live).

    The UI thread is told by a queued signal rather than by polling: a timer waking it would take the
    GIL from the imports dozens of times a second. An import error goes to the excepthook on the UI
    thread (log file, dialog), and the app exits.
    """
    relay = _ImportRelay(then)

    def load() -> None:
        failure = None
        try:
            for name in modules:
                importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - handed to the UI thread
            failure = exc
        relay.finished.emit(failure)

    thread = threading.Thread(target=load, name="maskviz-imports", daemon=True)
    thread.relay = relay  # the caller holds the thread, so the relay lives until its signal arrives
    thread.start()
    return thread


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
