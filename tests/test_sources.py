"""maskviz.sources: every model and image source as a path, without torch and without the network."""

from __future__ import annotations

import subprocess
import sys

import pytest

from maskviz.bundled import bundled_model_paths, sample_paths
from maskviz.errors import CheckpointError
from maskviz.sources import cached_path, image_path, model_path, url_target
from maskviz.zoo.catalogue import find_entry


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))


def test_bundled_and_sample_names():
    name, path = next(iter(bundled_model_paths().items()))
    assert model_path(f"bundled:{name}") == path
    with pytest.raises(CheckpointError, match="no bundled model named 'nope'; bundled: "):
        model_path("bundled:nope")
    assert image_path("sample:coffee") == sample_paths()["coffee"]


def test_paths_are_expanded_and_missing_ones_left_to_the_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m.pth").write_bytes(b"x")
    assert model_path("~/m.pth") == tmp_path / "m.pth"
    assert model_path(tmp_path / "absent.pth") == tmp_path / "absent.pth"
    assert image_path("~/photo.png") == tmp_path / "photo.png"


def test_catalogue_names_resolve_to_the_cache_or_say_how_to_get_them():
    entry = find_entry("mae-vit-base")
    with pytest.raises(CheckpointError, match="not downloaded yet: run 'maskviz models download mae-vit-base'"):
        model_path("mae-vit-base")
    target = url_target(entry)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"weights")
    assert cached_path(entry) == target and model_path("mae-vit-base") == target
    with pytest.raises(CheckpointError, match="only on Google Drive"):
        model_path("simmim-vit-base-800ep")
    assert model_path("mae_small") == bundled_model_paths()["mae_small"]  # bundled catalogue entry


def test_resolving_imports_no_torch():
    code = ("import sys\nfrom maskviz.sources import model_path, image_path\n"
            "model_path('bundled:mae_small'); image_path('sample:coffee'); model_path('nowhere.pth')\n"
            "print('torch' in sys.modules, 'maskviz.checkpoints' in sys.modules, 'maskviz.zoo.store' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
