"""The desktop app's command line, without Qt: ``maskviz --help`` shows it without starting Qt."""

from __future__ import annotations

import argparse
import textwrap

APP_USAGE = "maskviz [IMAGE] [--model PATH] [--device {auto,cpu,cuda,mps}] [--reset-session]"


def build_app_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskviz", usage=APP_USAGE, add_help=add_help,
                                     description="See what masked image models make of a mask.")
    parser.add_argument("image", nargs="?", help="image file or sample:NAME (default: last session or a sample)")
    parser.add_argument("--model", metavar="PATH",
                        help="checkpoint file or folder (default: last session or the bundled model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--reset-session", action="store_true",
                        help="start fresh: ignore the saved session and window layout")
    return parser


def app_help() -> str:
    """The app's usage and arguments, for the end of ``maskviz --help``."""
    return "Without a command, maskviz opens the desktop app:\n\n" + textwrap.indent(
        build_app_parser(add_help=False).format_help(), "  ")
