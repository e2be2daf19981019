"""``maskviz [IMAGE] [--model PATH] [--device D] [--reset-session]``: start the desktop app.

Also installs the last line of defence: an exception that escapes a Qt slot would otherwise print a
traceback to a terminal the user may not have (or abort the process); here it is written to the log
file and the user sees a plain dialog that says where the details are.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from maskviz.errors import MaskvizError
from maskviz.gui.session import config_dir

ORGANIZATION, APPLICATION, DESKTOP_ID = "maskviz", "maskviz", "org.maskviz.Maskviz"
LOG_NAME = "maskviz.log"
ICON_NAME = "maskviz.svg"

log = logging.getLogger("maskviz.gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskviz", description="See what masked image models make of a mask.")
    parser.add_argument("image", nargs="?", help="image file or sample:NAME (default: last session or a sample)")
    parser.add_argument("--model", help="checkpoint file or folder (default: last session or the bundled model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--reset-session", action="store_true",
                        help="start fresh: ignore the saved session and window layout")
    return parser


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
        message = (str(exc) if isinstance(exc, MaskvizError)
                   else f"Something went wrong inside maskviz ({kind.__name__}). Your work is still open; "
                        f"the details were written to {log_path}.")
        if QApplication.instance() is not None:
            QMessageBox.critical(None, "maskviz", message)
        else:
            print(f"maskviz: {message}", file=sys.stderr)

    return hook


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
    app = application()
    folder = config_dir()
    sys.excepthook = excepthook(setup_logging(folder))
    if args.reset_session:
        for name in ("session.json", "maskviz.ini"):
            (folder / name).unlink(missing_ok=True)
    from maskviz.gui.main_window import MainWindow

    try:
        window = MainWindow(folder, device=args.device)
    except MaskvizError as exc:
        QMessageBox.critical(None, "maskviz", str(exc))
        return 2
    window.show()
    close_on_signals(window)
    # Start loading once the window is on screen, so the user never stares at nothing.
    QTimer.singleShot(0, lambda: window.start(args.image, args.model, restore=not args.reset_session))
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
