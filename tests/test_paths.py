"""User folders: XDG on Linux, environment overrides, nothing created by asking."""

from __future__ import annotations

import sys

import pytest

from maskviz import paths


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in (paths.CONFIG_ENV, paths.RUNS_ENV, paths.CACHE_ENV):
        monkeypatch.delenv(var, raising=False)
    for var, sub in (("XDG_CONFIG_HOME", "cfg"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG variables apply on Linux")
def test_xdg_locations(clean_env):
    assert paths.config_dir() == clean_env / "cfg" / "maskviz"
    assert paths.runs_dir() == clean_env / "data" / "maskviz" / "runs"
    assert paths.cache_dir() == clean_env / "cache" / "maskviz"
    assert not any(clean_env.iterdir()), "asking for a location must not create it"


def test_overrides_win(clean_env, monkeypatch):
    monkeypatch.setenv(paths.CONFIG_ENV, str(clean_env / "c"))
    monkeypatch.setenv(paths.RUNS_ENV, "~/r")
    monkeypatch.setenv(paths.CACHE_ENV, str(clean_env / "k"))
    assert paths.config_dir() == clean_env / "c"
    assert paths.runs_dir() == paths.Path("~/r").expanduser()
    assert paths.cache_dir() == clean_env / "k"
