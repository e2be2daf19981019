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
from maskviz.launch import main
code = main([])
from PySide6.QtWidgets import QApplication
print(code, QApplication.instance() is None)
"""


def test_the_app_prints_the_install_line_instead_of_qts_abort():
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", APP_WITHOUT_ICCCM], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.split() == ["3", "True"]  # refused before any QApplication existed
    assert "missing: libxcb-icccm.so.4, libxcb-keysyms.so.1" in out.stderr
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in out.stderr
    assert "Traceback" not in out.stderr


# --- a torch/torchvision pair that does not belong together -------------------------------------


@pytest.mark.parametrize("torch_version, vision_version, expected", [
    ("2.13.0+cpu", "0.28.0", 'pip install "torch==2.13.0+cpu" "torchvision==0.28.0+cpu" '
                             "--index-url https://download.pytorch.org/whl/cpu"),
    ("2.14.1+cu130", "0.27.0", 'pip install "torch==2.14.1+cu130" "torchvision==0.29.1+cu130" '
                               "--index-url https://download.pytorch.org/whl/cu130"),
    ("2.4.1", "0.18.0", 'pip install "torch==2.4.1" "torchvision==0.19.1"'),
    ("2.14.1", "0.29.1+cpu", 'pip install --force-reinstall --no-deps "torch==2.14.1" "torchvision==0.29.1"'),
])
def test_the_fix_installs_the_matching_pair_from_one_index(torch_version, vision_version, expected):
    assert doctor.pair_command(torch_version, vision_version) == expected


def test_run_time_failures_of_the_install_are_recognised(monkeypatch):
    versions = {"torch": "2.13.0+cpu", "torchvision": "0.28.0"}
    monkeypatch.setattr(doctor, "dist_version", versions.get)
    line = doctor.setup_problem(RuntimeError("operator torchvision::nms does not exist"))
    assert line.startswith("torchvision 0.28.0 does not work with torch 2.13.0+cpu (operator torchvision::nms")
    assert line.endswith('"torchvision==0.28.0+cpu" --index-url https://download.pytorch.org/whl/cpu')
    missing = ModuleNotFoundError("No module named 'timm'", name="timm")
    monkeypatch.setattr(doctor.importlib.util, "find_spec", lambda name: None)
    assert doctor.setup_problem(missing) == "timm is not installed: pip install timm"
    lib = ImportError("libEGL.so.1: cannot open shared object file: No such file or directory")
    monkeypatch.setattr(doctor, "linux_family", lambda: "debian")
    assert doctor.setup_problem(lib) == "the system library libEGL.so.1 is missing: sudo apt-get install libegl1"
    assert doctor.setup_problem(RuntimeError("shape mismatch")) is None  # maskviz's own bug stays one
    assert doctor.setup_problem(ModuleNotFoundError("No module named 'foo'", name="foo")) is None


def test_an_import_that_fails_inside_torchvision_is_the_installs_fault(tmp_path, monkeypatch):
    package = tmp_path / "maskviz_fake_vision"
    package.mkdir()
    (package / "__init__.py").write_text('raise ImportError("_C.so: undefined symbol: _ZN3c1017RegisterOperators")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(doctor, "_package_folder", lambda name: package if name == "torchvision" else None)
    monkeypatch.setattr(doctor, "dist_version", {"torch": "2.14.1", "torchvision": "0.29.1"}.get)
    with pytest.raises(ImportError) as info:
        import maskviz_fake_vision  # noqa: F401
    assert doctor.setup_problem(info.value) == (
        "torchvision 0.29.1 does not work with torch 2.14.1 (_C.so: undefined symbol: _ZN3c1017RegisterOperators); "
        'install the matching pair from one index: pip install "torch==2.14.1" "torchvision==0.29.1"')
    try:
        raise ImportError("same text, raised by maskviz itself, not while importing torchvision")
    except ImportError as exc:
        assert doctor.setup_problem(exc) is None


def _fake_broken_torchvision(folder):
    """A torchvision that fails to import as PyPI's CUDA build does beside a CPU torch, and a torch
    distribution record that says +cpu (the real torch still imports): the issue's machine."""
    (folder / "torchvision").mkdir()
    (folder / "torchvision" / "__init__.py").write_text(
        'raise RuntimeError("operator torchvision::nms does not exist")\n')
    for name, version in (("torchvision", "0.28.0"), ("torch", "2.13.0+cpu")):
        info = folder / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return {**os.environ, "PYTHONPATH": str(folder), "QT_QPA_PLATFORM": "offscreen"}


BROKEN_LINE = ('maskviz: error: torchvision 0.28.0 does not work with torch 2.13.0+cpu (operator torchvision::nms '
               'does not exist); install the matching pair from one index: pip install "torch==2.13.0+cpu" '
               '"torchvision==0.28.0+cpu" --index-url https://download.pytorch.org/whl/cpu')

# Which command imports torchvision (through timm) changes as the code moves; these probes make the
# command the test runs import it, so they test how the CLI and the app report the failure.
CLI_PROBE = """
import sys
import maskviz.cli as cli
cli.COMMANDS["info"] = lambda args: __import__("torchvision")
sys.exit(cli.main(sys.argv[1:]))
"""
APP_PROBE = """
import sys
from PySide6.QtWidgets import QMessageBox
shown = []
QMessageBox.critical = staticmethod(lambda parent, title, text, *a, **k: shown.append(text))
from maskviz.gui import app
app.PRELOAD = (*app.PRELOAD, "torchvision")
code = app.run_app(["--reset-session"])
print(code, shown)
"""


def test_a_broken_torchvision_gets_one_line_from_doctor_the_cli_and_the_app(tmp_path):
    env = {**_fake_broken_torchvision(tmp_path), "MASKVIZ_CONFIG_DIR": str(tmp_path / "config")}
    run = lambda *args: subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,  # noqa: E731
                                       timeout=300)
    found = run("-m", "maskviz", "doctor")
    assert found.returncode == 3
    problem = next(line for line in found.stdout.splitlines() if line.startswith("problem"))
    assert problem == "problem  torchvision: " + BROKEN_LINE.removeprefix("maskviz: error: ")
    assert "skipped  timm, reconstruction" in found.stdout

    cli = run("-c", CLI_PROBE, "info", "model.pth")
    assert (cli.returncode, cli.stderr.strip()) == (3, BROKEN_LINE)
    debug = run("-c", CLI_PROBE, "info", "model.pth", "--debug")
    assert "Traceback" in debug.stderr and debug.stderr.strip().endswith(BROKEN_LINE)
    assert "--debug for details" not in debug.stderr

    app = run("-c", APP_PROBE)
    text = BROKEN_LINE.removeprefix("maskviz: error: ")
    assert app.stdout.strip().splitlines()[-1] == f"3 [{text!r}]"  # the dialog says it, and only it
    assert BROKEN_LINE in app.stderr and "Your work is still open" not in app.stderr + app.stdout


# --- no display -----------------------------------------------------------------------------------


def _without_display(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    return {**env, **extra}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are a Linux matter here")
@pytest.mark.parametrize("display, said", [
    (None, "no display (DISPLAY is not set, no Wayland session)"),
    ("", "no display (DISPLAY is empty, no Wayland session)"),
    (":1234", "no display: cannot connect to the X display ':1234' (no X server answers there"),
])
def test_without_a_display_the_app_says_so_in_one_line(tmp_path, display, said):
    env = _without_display(MASKVIZ_CONFIG_DIR=str(tmp_path), **({} if display is None else {"DISPLAY": display}))
    out = subprocess.run([sys.executable, "-m", "maskviz"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 3
    assert out.stderr.startswith(f"maskviz: error: {said}") and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.strip().endswith("use the CLI (maskviz --help) or set QT_QPA_PLATFORM=offscreen")
    assert "xcb-cursor0" not in out.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are a Linux matter here")
def test_doctor_explains_an_empty_display(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", "")
    assert main(["doctor"]) == 3
    out = capsys.readouterr().out
    assert ("problem  display: no display (DISPLAY is empty, no Wayland session): use the CLI (maskviz --help) "
            "or set QT_QPA_PLATFORM=offscreen") in out.splitlines()
    assert out.splitlines()[-1] == "1 problem: the app cannot open a window; the command line works"
