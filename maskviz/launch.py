"""The process entry point (``maskviz`` and ``python -m maskviz``): the app or a subcommand; Ctrl-C at any
moment exits 130, quietly.

``maskviz``, ``maskviz photo.jpg --model m.pth`` open the desktop app (:mod:`maskviz.gui.app`, with its
own parser); ``maskviz reconstruct …`` and the other subcommands go to :mod:`maskviz.cli`. Routing
here, above both, keeps the CLI free of the GUI.

Kept apart from :mod:`maskviz.cli` so that almost nothing is imported before the guard is in place:
a Ctrl-C while NumPy, PyTorch or Qt load (seconds, on a cold start) is an interrupt like any other,
not a traceback. After the command returns, SIGINT gets its default action back, so an interrupt
during interpreter shutdown ends the process by the signal (the shell still sees 130) instead of
printing a KeyboardInterrupt from some exiting thread.

``maskviz train`` ends its process at once after its last word: every file is saved, synced and closed
by then, and the interpreter's teardown of PyTorch takes seconds (minutes on a loaded machine), during
which a stop request from the app would count the run as hung. The app does the same once its window
has closed (the session is saved by then): quitting takes no longer than closing the window.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130


def run() -> int:
    try:
        code = main()
    except KeyboardInterrupt:
        print("maskviz: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except ImportError as exc:  # the CLI itself cannot load: a dependency is missing or broken
        from maskviz.doctor import setup_problem
        from maskviz.errors import EXIT_SETUP

        problem = setup_problem(exc)
        if problem is None:
            raise
        print(f"maskviz: error: {problem}", file=sys.stderr)
        code = EXIT_SETUP
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.argv[1:2] == ["train"] or getattr(sys.modules.get("maskviz.gui.app"), "finished", False):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Open the app for its own command line, else run the subcommand."""
    from maskviz import cli

    raw = list(sys.argv[1:] if argv is None else argv)
    if not is_app_command_line(raw, cli.SUBCOMMANDS):
        return cli.main(raw)
    try:
        return launch_gui(raw)
    except Exception as exc:  # noqa: BLE001 - before the app's own hook is in place: the CLI's one line
        return cli.report_error(exc)


def is_app_command_line(argv: Sequence[str], subcommands: Sequence[str]) -> bool:
    """True for the app's own command line (``maskviz [IMAGE] [--model P] [--device D] [--reset-session]``).

    Subcommands and the CLI parser's own options (``-h``, ``--version``, ``--debug COMMAND``) go to the
    CLI; anything else, a bare image path included, opens the app (which has its own parser and ``--help``).
    """
    if not argv:
        return True
    if argv[0] == "--debug":  # `maskviz --debug` alone opens the app, `maskviz --debug info m.pth` does not
        return not any(a in subcommands or a.startswith("-") for a in argv[1:2])
    return argv[0] not in subcommands and argv[0] not in ("-h", "--help", "--version")


def launch_gui(argv: Sequence[str]) -> int:
    try:
        from maskviz.gui.app import run_app
    except ImportError as exc:  # PySide6 missing, or a system library Qt links
        from maskviz.doctor import setup_problem
        from maskviz.errors import SetupError

        raise SetupError(setup_problem(exc) or f"the desktop app is not available in this build ({exc})") from exc
    return run_app(list(argv))
