"""atomic_write: the one way maskviz writes files."""

from __future__ import annotations

import os
import stat

import pytest

from maskviz.checkpoints import save_model
from maskviz.errors import CheckpointError, MaskvizError
from maskviz.fileio import atomic_write
from maskviz.models import create_model


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def fail(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(CheckpointError, match="could not write .*No space left on device") as info:
        atomic_write(target, fail, error=CheckpointError)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_written_file_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.json", lambda tmp: tmp.write_text("{}"))
        # safetensors writes a private file of its own and renames it over ours
        model = save_model(create_model("mae_vit_tiny_test"), tmp_path / "m.safetensors")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_text() == "{}"
    assert stat.S_IMODE(model.stat().st_mode) == 0o644


def test_folders(tmp_path):
    with pytest.raises(MaskvizError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "x.txt", lambda tmp: tmp.write_text("x"))
    made = atomic_write(tmp_path / "a" / "b" / "x.txt", lambda tmp: tmp.write_text("x"), make_parents=True)
    assert made.read_text() == "x"
    with pytest.raises(MaskvizError, match="is a directory"):
        atomic_write(tmp_path / "a", lambda tmp: tmp.write_text("x"))
