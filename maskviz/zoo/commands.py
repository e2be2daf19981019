"""``maskviz models [list | download NAME | path NAME]``: the catalogue from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from maskviz.errors import MaskvizError
from maskviz.progress import ProgressLine
from maskviz.zoo.catalogue import ModelEntry, entries, find_entry, format_size

TEST_SUFFIX = "_test"  # registry configs that exist for the test suite only


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser(
        "models", help="list the published models and the architectures; download one; print where it is",
        description="Without an action: the catalogue (with what is cached), then the named architectures "
                    "for training from scratch.",
    )
    models.add_argument("action", nargs="?", default="list", choices=["list", "download", "path"])
    models.add_argument("name", nargs="?", help="a catalogue name (see 'maskviz models')")
    models.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)


def cmd_models(args: argparse.Namespace) -> int:
    if args.action == "list":
        print_catalogue(sys.stdout)
        print()
        print_architectures(sys.stdout)
        return 0
    entry = _entry(args.name)
    if args.action == "path":
        from maskviz.zoo.store import resolve_name

        print(resolve_name(entry.name))
        return 0
    from maskviz.checkpoints import load_model
    from maskviz.zoo.store import cached_path, download

    placed = cached_path(entry) is not None and entry.source in ("manual", "hub")
    progress = ProgressBar(sys.stderr)
    try:
        path = download(entry, progress=progress, verify=load_model)  # a new download is verified there
    finally:
        progress.close()  # before any message: it gets a line of its own
    if placed:  # put there by hand, or fetched by another program: check it loads before saying so
        load_model(path)
    print(path)
    return 0


def _entry(name: str | None) -> ModelEntry:
    if not name:
        raise MaskvizError("name a model: maskviz models download NAME (see 'maskviz models')")
    entry = find_entry(name)
    if entry is None:
        raise MaskvizError(f"no model named {name!r} in the catalogue; see 'maskviz models'")
    return entry


def catalogue_rows() -> list[dict[str, str]]:
    """One row per catalogue entry, as the CLI and the GUI show it."""
    from maskviz.zoo.store import cached_path, can_download, entry_size

    rows = []
    for entry in entries().values():
        size, exact = entry_size(entry)
        state = "bundled" if entry.source == "bundled" else "cached" if cached_path(entry) else (
            "not cached" if can_download(entry) else "manual download")
        rows.append({"name": entry.name, "family": entry.family, "architecture": entry.architecture,
                     "input": f"{entry.input_size} px", "target": entry.target,
                     "size": format_size(size, exact) if size else "?", "state": state,
                     "licence": entry.licence, "source": entry.where, "description": entry.description})
    return rows


def print_catalogue(out: TextIO) -> None:
    from maskviz.zoo.store import models_dir

    print(f"Published models ('maskviz models download NAME'; cache {models_dir()}):", file=out)
    columns = ("name", "family", "input", "target", "size", "state", "description")
    rows = catalogue_rows()
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns[:-1]}
    print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns).rstrip(), file=out)
    for r in rows:
        print("  ".join(r[c].ljust(widths.get(c, 0)) for c in columns).rstrip(), file=out)


def print_architectures(out: TextIO) -> None:
    from maskviz.models import MODEL_CONFIGS

    print("Architectures for training from scratch ('maskviz train --model NAME'):", file=out)
    for name, c in sorted(MODEL_CONFIGS.items()):
        if name.endswith(TEST_SUFFIX):
            continue
        gh, gw = c.grid_size
        print(f"  {name:32s} {c.family:7s} {c.img_size:4d} px  patch {c.patch_size:2d}  grid {gh}×{gw}", file=out)


class ProgressBar:
    """A download's progress line in bytes (see :mod:`maskviz.progress`); each file gets a line of its own."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.line: ProgressLine | None = None

    def __call__(self, done: int, total: int | None, label: str) -> None:
        if self.line is None or label != self.line.label:
            self.close()
            self.line = ProgressLine(self.stream, total, label, unit="B", unit_scale=True)
        self.line.update(done, total)
        if total is not None and done >= total:
            self.line.close()

    def close(self) -> None:
        if self.line is not None:
            self.line.close()
