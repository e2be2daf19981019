"""The process entry point (``maskviz`` and ``python -m maskviz``): Ctrl-C at any moment exits 130, quietly.

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

EXIT_INTERRUPTED = 130


def run() -> int:
    try:
        from maskviz.cli import main

        code = main()
    except KeyboardInterrupt:
        print("maskviz: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.argv[1:2] == ["train"] or getattr(sys.modules.get("maskviz.gui.app"), "finished", False):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
