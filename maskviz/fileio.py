"""One way to write a file: never half-written, never lost, never in place of what is not a file.

Every file maskviz writes (models, training state, PNGs, masks, JSON, the session) goes through
:func:`atomic_write`. A new path or an existing regular file gets the content in a temporary file
beside it, flushed to disk, given the permissions a plain ``open`` would give, and renamed over the
target: a crash, a full disk or a cancelled run leaves either the old file or the new one, never a
truncated mix, and no temporary file behind. A symlink is written through (its target is replaced,
the link stays); a device or FIFO (``/dev/null``, a pipe) is written into, never replaced by a file.

:func:`check_input_file` is the matching guard for reading: one plain sentence for a missing file,
a symlink loop, a folder without search permission, a FIFO or device, or an empty file.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from maskviz.errors import MaskvizError


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], object], error: type[MaskvizError] = MaskvizError,
    make_parents: bool = False,
) -> Path:
    """Call ``write(tmp_path)``, then move the result onto ``path`` (or stream it into a device/FIFO).

    File-system failures become ``error("could not write PATH: reason")`` (the ``OSError`` is kept
    as ``__cause__``, so callers can still tell a full disk). ``make_parents`` creates the folder.
    """
    target = Path(path).expanduser()
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        if _is_special(target):
            _write_into(target, write)
        else:
            _replace(Path(os.path.realpath(target)), write)
    except _Refused as exc:
        raise error(f"could not write {target}: {exc}") from None
    except OSError as exc:
        raise error(f"could not write {target}: {exc.strerror or exc}") from exc
    return target


class _Refused(Exception):
    """A target maskviz will not write, with the reason."""


def _is_special(target: Path) -> bool:
    """True for an existing device, FIFO or socket; refuses folders; False for files and new paths."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        folder = Path(os.path.realpath(target)).parent
        if not folder.is_dir():
            raise _Refused(f"folder {folder} does not exist") from None
        return False
    if stat.S_ISDIR(mode):
        raise _Refused("it is a directory")
    return not stat.S_ISREG(mode)


def _replace(target: Path, write: Callable[[Path], object]) -> None:
    """Temporary file beside ``target``, fsync, rename: the old file or the new one, nothing between."""
    folder = target.parent
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
    finally:
        _remove_quietly(tmp)


def _write_into(target: Path, write: Callable[[Path], object]) -> None:
    """A device or FIFO: build the content in the temp folder, then copy it in (the node stays)."""
    fd, name = tempfile.mkstemp(prefix="maskviz-", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        _remove_quietly(tmp)


def _remove_quietly(tmp: Path) -> None:
    """Cleanup must never hide the real error (on a read-only file system unlink fails too)."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two output paths name one file (after ``~``, ``..`` and symlinks), existing or not."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return os.path.realpath(pa) == os.path.realpath(pb)


def check_input_file(path: str | os.PathLike, error: type[MaskvizError], label: str | None = None,
                     allow_dir: bool = False) -> os.stat_result:
    """``os.stat`` of a file the user asked maskviz to read, or ``error`` with the honest reason.

    Regular, non-empty files pass (and folders when ``allow_dir``); a FIFO or device is refused
    before anything reads from it (``/dev/zero`` never ends, a FIFO may block forever).
    """
    label = label or str(path)
    try:
        st = os.stat(Path(path).expanduser())
    except OSError as exc:
        raise error(_stat_failure(label, exc, "file or folder" if allow_dir else "file")) from None
    if stat.S_ISDIR(st.st_mode):
        if allow_dir:
            return st
        raise error(f"{label} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"cannot read {label}: it is {_node_kind(st.st_mode)}, not a regular file")
    if st.st_size == 0:
        raise error(f"cannot read {label}: the file is empty")
    if not os.access(Path(path).expanduser(), os.R_OK):
        raise error(f"cannot read {label}: permission denied")
    return st


def _stat_failure(label: str, exc: OSError, kind: str) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"no such {kind}: {label}"
    if exc.errno == errno.ELOOP:
        return f"cannot read {label}: it is a symlink loop (too many levels of symbolic links)"
    if exc.errno == errno.EACCES:
        return f"cannot read {label}: permission denied (a folder on the way cannot be searched)"
    return f"cannot read {label}: {exc.strerror or exc}"


def _node_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
