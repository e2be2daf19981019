"""``maskviz doctor`` and the check that replaces Qt's abort when the X11 plugin lacks libraries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from maskviz import doctor
from maskviz.cli import main


def test_install_lines_name_the_packages_of_each_family():
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    assert doctor.install_lines(missing, "debian") == [
        "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"]
    assert doctor.install_lines(missing, "fedora") == [
        "sudo dnf install xcb-util-cursor xcb-util-keysyms xcb-util-wm"]
    assert [line.split("#")[1].strip() for line in doctor.install_lines(missing, "")] == ["Debian", "Fedora"]


@pytest.mark.parametrize("env, expected", [
    ({}, "xcb"), ({"QT_QPA_PLATFORM": "offscreen"}, "offscreen"), ({"QT_QPA_PLATFORM": "xcb;wayland"}, "xcb"),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "wayland"),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland", "QT_QPA_PLATFORM": "xcb"}, "xcb"),
])
def test_chosen_platform_follows_qt(env, expected):
    assert doctor.chosen_platform(env) == expected


def test_missing_libraries_come_from_ldd(monkeypatch, tmp_path):
    ldd = ("\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x1)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n")
    monkeypatch.setattr(doctor.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, ldd, ""))
    assert doctor.missing_libraries(tmp_path / "libqxcb.so") == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_doctor_reports_python_torch_and_qt(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Python 3." in out and "torch 2." in out and "MPS" in out
    assert "platform plugins:" in out and "offscreen" in out and "X11 (xcb) plugin:" in out


APP_WITHOUT_ICCCM = """
import sys
from maskviz import doctor
doctor.missing_libraries = lambda library: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
doctor.linux_family = lambda: "debian"
from maskviz.cli import main
code = main([])
from PySide6.QtWidgets import QApplication
print(code, QApplication.instance() is None)
"""


def test_the_app_prints_the_install_line_instead_of_qts_abort():
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", APP_WITHOUT_ICCCM], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.split() == ["2", "True"]  # refused before any QApplication existed
    assert "missing: libxcb-icccm.so.4, libxcb-keysyms.so.1" in out.stderr
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in out.stderr
    assert "Traceback" not in out.stderr
