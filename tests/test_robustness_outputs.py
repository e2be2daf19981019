"""Robustness corpus, part 3: where outputs go (devices, FIFOs, symlinks, full and read-only disks).

A regular file or a new path is replaced atomically; a device or FIFO is written into and stays
what it was; a symlink is written through and stays a link; a failure leaves the old file, no
temporary, and one line naming the real cause.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from PIL import Image
from synthetic import save_official_mae

import maskviz.fileio
from maskviz.cli import main
from maskviz.errors import MaskvizError
from maskviz.fileio import atomic_write

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_official_mae(folder / "mae_visualize_tiny.pth")
    Image.new("RGB", (32, 32), (30, 140, 220)).save(folder / "a.png")
    return str(folder / "a.png"), str(folder / "mae_visualize_tiny.pth")


def reconstruct(inputs, *extra: str) -> int:
    image, model = inputs
    return main(["reconstruct", image, "--model", model, "--device", "cpu", "--mask", "grid:2", *extra])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("maskviz: error: ") and "Traceback" not in err, err
    return err


def _mknod(path: Path, minor: int) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root (os.mknod)")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))


def test_a_device_node_is_written_into_not_replaced(tmp_path, inputs):
    _mknod(tmp_path / "null", 3)  # the /dev/null device, in a temp folder
    assert reconstruct(inputs, "--out", str(tmp_path / "null"), "--json", str(tmp_path / "null2")) == 0
    assert stat.S_ISCHR(os.stat(tmp_path / "null").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "null2"]


def test_a_full_device_is_a_clear_error_and_stays_a_device(tmp_path, inputs, capsys):
    _mknod(tmp_path / "full", 7)  # /dev/full: every write fails with ENOSPC
    assert reconstruct(inputs, "--out", str(tmp_path / "full")) == 2
    assert "No space left on device" in _error_line(capsys)
    assert stat.S_ISCHR(os.stat(tmp_path / "full").st_mode) and os.listdir(tmp_path) == ["full"]


def test_a_fifo_gets_the_png_and_stays_a_fifo(tmp_path, inputs):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        assert reconstruct(inputs, "--out", str(fifo)) == 0
    finally:
        reader.join(timeout=30)
    assert received and received[0].startswith(PNG_MAGIC)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(tmp_path) == ["pipe"]


def test_a_symlink_is_written_through(tmp_path, inputs):
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    assert reconstruct(inputs, "--out", str(link)) == 0
    assert link.is_symlink() and target.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "real.png"]


def test_a_dangling_symlink_creates_its_target(tmp_path, inputs):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "made.json")
    assert reconstruct(inputs, "--json", str(link)) == 0
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text())["mask"] == "grid:2"


def test_a_symlink_to_a_device_writes_into_the_device(tmp_path, inputs):
    _mknod(tmp_path / "null", 3)
    (tmp_path / "out.png").symlink_to(tmp_path / "null")
    assert reconstruct(inputs, "--out", str(tmp_path / "out.png")) == 0
    assert (tmp_path / "out.png").is_symlink() and stat.S_ISCHR(os.stat(tmp_path / "null").st_mode)


@pytest.mark.parametrize("how", ["same", "symlink", "relative"])
def test_json_and_out_naming_one_file_is_refused_before_any_work(tmp_path, inputs, capsys, monkeypatch, how):
    panel = tmp_path / "panel.png"
    panel.write_bytes(b"keep me")
    monkeypatch.chdir(tmp_path)
    other = {"same": str(panel), "relative": "./sub/../panel.png", "symlink": "alias.json"}[how]
    (tmp_path / "sub").mkdir()
    if how == "symlink":
        (tmp_path / "alias.json").symlink_to(panel)
    assert reconstruct(inputs, "--out", str(panel), "--json", other) == 2
    assert "--json and --out name the same file" in _error_line(capsys)
    assert panel.read_bytes() == b"keep me"


def test_json_and_out_naming_one_new_file_is_refused(tmp_path, inputs, capsys):
    assert reconstruct(inputs, "--out", str(tmp_path / "x"), "--json", str(tmp_path / "." / "x")) == 2
    assert "same file" in _error_line(capsys) and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("target", "pattern"),
    [("missing/panel.png", "folder .* does not exist"), (".", "it is a directory"),
     ("file.txt/panel.png", "Not a directory")],
)
def test_unwritable_targets(tmp_path, inputs, capsys, target, pattern):
    import re

    (tmp_path / "file.txt").write_text("x")
    assert reconstruct(inputs, "--out", str(tmp_path / target)) == 2
    assert re.search(pattern, _error_line(capsys))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def _read_only_file_system(monkeypatch) -> None:
    """Every create, replace and unlink fails with EROFS, as on a read-only mount."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(maskviz.fileio.os, "open", refuse)
    monkeypatch.setattr(maskviz.fileio.os, "replace", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)


def test_read_only_file_system_message_is_not_hidden_by_the_cleanup(tmp_path, inputs, capsys, monkeypatch):
    panel = tmp_path / "panel.png"
    panel.write_bytes(b"old")
    _read_only_file_system(monkeypatch)
    assert reconstruct(inputs, "--out", str(panel)) == 2
    assert "Read-only file system" in _error_line(capsys)
    assert panel.read_bytes() == b"old"


def test_rename_failing_on_a_read_only_remount(tmp_path, inputs, capsys, monkeypatch):
    """The temporary was written, then the rename and the cleanup both fail: the rename's reason wins."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(maskviz.fileio.os, "replace", refuse)
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", refuse)
    assert reconstruct(inputs, "--json", str(tmp_path / "m.json")) == 2
    line = _error_line(capsys)
    assert "could not write" in line and "Read-only file system" in line
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("what", ["panel", "json"])
def test_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, inputs, capsys, monkeypatch, what):
    old = tmp_path / ("panel.png" if what == "panel" else "m.json")
    old.write_bytes(b"old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image if what == "panel" else Path, "save" if what == "panel" else "write_text", full)
    assert reconstruct(inputs, "--out" if what == "panel" else "--json", str(old)) == 2
    assert "No space left on device" in _error_line(capsys)
    assert old.read_bytes() == b"old" and os.listdir(tmp_path) == [old.name]


def test_write_into_special_file_failure_leaves_no_temporary(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def fail(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(MaskvizError, match="No space left on device"):
        atomic_write(fifo, fail)
    assert os.listdir(tmp_path) == ["pipe"]


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [(MemoryError(), 2, "maskviz: error: not enough memory for this input"),
     (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), 2,
      "maskviz: error: not enough memory"),
     (OSError(errno.EIO, "Input/output error", "/mnt/usb/a.png"), 2, "maskviz: error: /mnt/usb/a.png: Input/output"),
     (ValueError("a bug"), 1, "maskviz: internal error: ValueError: a bug")],
)
def test_failures_no_check_foresaw_are_classified(inputs, capsys, monkeypatch, raised, code, message):
    import maskviz.images

    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(maskviz.images, "load_image", fail)
    assert reconstruct(inputs) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
