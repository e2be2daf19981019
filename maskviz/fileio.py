"""One way to write a file: never half-written, never lost.

Every file maskviz writes (models, training state, PNGs, masks, JSON, the session) goes through
:func:`atomic_write`: the content is written to a temporary file beside the target, flushed to
disk, given the permissions a plain ``open`` would give, and renamed over the target. A crash,
a full disk or a cancelled run therefore leaves either the old file or the new one, never a
truncated mix, and no temporary file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from maskviz.errors import MaskvizError


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], object], error: type[MaskvizError] = MaskvizError,
    make_parents: bool = False,
) -> Path:
    """Call ``write(tmp_path)``, then move the result onto ``path``.

    File-system failures become ``error("could not write PATH: reason")`` (the ``OSError`` is kept
    as ``__cause__``, so callers can still tell a full disk). ``make_parents`` creates the folder.
    """
    target = Path(path).expanduser()
    folder = target.parent
    if target.is_dir():
        raise error(f"could not write {target}: it is a directory")
    if make_parents:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(f"could not write {target}: {exc.strerror or exc}") from exc
    elif not folder.is_dir():
        raise error(f"could not write {target}: folder {folder} does not exist")
    tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        # O_EXCL never clobbers a stranger's file; mode 0o666 lets the umask decide, like open().
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
        mode = os.stat(tmp).st_mode & 0o777
        write(tmp)
        os.chmod(tmp, mode)  # some writers (safetensors) replace the file and make it private
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_folder(folder)
    except OSError as exc:
        raise error(f"could not write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); other systems have no directory handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def png_writer(img: Image.Image) -> Callable[[Path], None]:
    """A ``write`` for :func:`atomic_write` that saves ``img`` as PNG."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            img.save(fh, format="PNG")

    return write
