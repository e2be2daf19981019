"""The desktop files agree with each other and with the app: one reverse-DNS id everywhere."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

PACKAGING = Path(__file__).resolve().parents[1] / "packaging"
APP_ID = "org.maskviz.Maskviz"  # maskviz.gui.app.DESKTOP_ID (not imported: this test needs no Qt)
METAINFO = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"


def test_desktop_entry_and_metainfo_use_the_apps_id():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(PACKAGING / "linux" / f"{APP_ID}.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Icon"] == APP_ID and desktop["Exec"].split()[0] == "maskviz" and desktop["Type"] == "Application"
    meta = ET.parse(METAINFO).getroot()
    assert meta.findtext("id") == APP_ID and meta.findtext("launchable") == f"{APP_ID}.desktop"
    app_source = (PACKAGING.parent / "maskviz" / "gui" / "app.py").read_text(encoding="utf-8")
    assert f'"{APP_ID}"' in app_source and "setDesktopFileName(DESKTOP_ID)" in app_source


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 64, 128, 256, 512])
def test_png_icons_at_the_usual_sizes(size):
    with Image.open(PACKAGING / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as icon:
        assert icon.size == (size, size) and icon.mode == "RGBA"
        assert icon.getextrema()[3][1] == 255  # not an empty, transparent picture


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli (Debian: appstream) not installed")
def test_metainfo_passes_appstream_validation():
    out = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_python_package_is_listed_for_installation():
    """pyproject's explicit package list must name every package folder: a missing one installs fine in
    editable mode and is absent from a wheel (the app then fails at its first import of it)."""
    import tomllib

    root = PACKAGING.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(root).parts) for init in (root / "maskviz").rglob("__init__.py")}
    assert on_disk - listed == set()
