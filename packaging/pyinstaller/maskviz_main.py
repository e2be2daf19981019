"""Entry point of the PyInstaller bundle: the ``maskviz`` command (app and subcommands).

The app starts training runs as ``sys.executable -m maskviz train ...``; in a bundle
``sys.executable`` is this program, so that prefix is accepted and dropped here.
"""

import multiprocessing
import sys

from maskviz.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # data-loading worker processes re-enter here
    args = sys.argv[1:]
    if args[:2] == ["-m", "maskviz"]:
        args = args[2:]
    sys.exit(main(args))
