"""``maskviz doctor``: what this machine offers maskviz, and what a window on X11 still needs.

Qt's X11 platform plugin (``libqxcb.so``) links about twenty system libraries; when one is missing,
Qt aborts with a message that names only the first (``libxcb-cursor0``), so installing that one is
not enough. ``ldd`` lists every library the plugin cannot find; :data:`PACKAGES` turns them into one
install line for Debian/Ubuntu or Fedora. The app runs the same check before it creates its
QApplication (:func:`xcb_problem`), so a user sees that line instead of Qt's abort.

No Qt import here: the check must run before Qt loads the plugin.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> (Debian/Ubuntu package, Fedora package): what Qt 6's xcb plugin (libqxcb.so and
# libQt6XcbQpa.so.6) links, from ldd on PySide6 6.11's plugin.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}


def qt_plugin_folder() -> Path | None:
    """PySide6's ``Qt/plugins/platforms`` folder, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    return folder if folder.is_dir() else None


def platform_plugins() -> list[str]:
    folder = qt_plugin_folder()
    names = sorted(p.name for p in folder.glob("libq*.so")) if folder else []
    return [n.removeprefix("libq").removesuffix(".so") for n in names]


def missing_libraries(library: Path) -> list[str] | None:
    """The sonames ``library`` needs and the dynamic loader cannot find; None when ``ldd`` cannot tell."""
    if shutil.which("ldd") is None:
        return None
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def linux_family() -> str:
    """"debian", "fedora" or "" (unknown), from /etc/os-release's ID and ID_LIKE."""
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    ids = " ".join(fields.get(k, "").strip('"') for k in ("ID", "ID_LIKE")).split()
    for family, members in (("debian", {"debian", "ubuntu"}), ("fedora", {"fedora", "rhel", "centos"})):
        if members & set(ids):
            return family
    return ""


def install_lines(sonames: list[str], family: str | None = None) -> list[str]:
    """The command(s) that install the packages holding ``sonames`` (both families when unknown)."""
    family = linux_family() if family is None else family
    lines = []
    for name, column, tool in (("debian", 0, "sudo apt-get install"), ("fedora", 1, "sudo dnf install")):
        if family in (name, ""):
            packages = sorted({PACKAGES[s][column] for s in sonames if s in PACKAGES})
            if packages:
                lines.append(f"{tool} {' '.join(packages)}" + ("" if family else f"   # {name.title()}"))
    return lines


def chosen_platform(env: dict[str, str] | os._Environ = os.environ) -> str:
    """The platform plugin Qt 6 will load: QT_QPA_PLATFORM, else wayland in a Wayland session, else xcb."""
    if env.get("QT_QPA_PLATFORM"):
        return env["QT_QPA_PLATFORM"].split(";")[0].split(":")[0]
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def xcb_problem() -> str | None:
    """On Linux with the xcb platform: a message naming what the plugin lacks and how to install it."""
    folder = qt_plugin_folder()
    if not sys.platform.startswith("linux") or chosen_platform() != "xcb" or folder is None:
        return None
    missing = missing_libraries(folder / "libqxcb.so")
    if not missing:
        return None
    fix = "\n".join(f"  {line}" for line in install_lines(missing)) or "  (install the packages that provide them)"
    return (f"Qt cannot open a window: its X11 plugin needs system libraries that are missing: "
            f"{', '.join(missing)}.\nInstall them with:\n{fix}")


def report() -> list[str]:
    """The lines ``maskviz doctor`` prints."""
    from maskviz import __version__

    lines = [f"maskviz {__version__}", f"Python {platform.python_version()} ({sys.executable})"]
    lines += _torch_lines()
    spec = importlib.util.find_spec("PySide6")
    if spec is None:
        return [*lines, "Qt: PySide6 is not installed (pip install PySide6-Essentials)"]
    import PySide6

    lines.append(f"Qt: PySide6 {PySide6.__version__}; platform plugins: {', '.join(platform_plugins()) or 'none'}")
    display, wayland = os.environ.get("DISPLAY", ""), os.environ.get("WAYLAND_DISPLAY", "")
    lines.append(f"Qt platform for a window: {chosen_platform()} (DISPLAY={display!r}, WAYLAND_DISPLAY={wayland!r})")
    folder = qt_plugin_folder()
    if sys.platform.startswith("linux") and folder is not None:
        missing = missing_libraries(folder / "libqxcb.so")
        if missing is None:
            lines.append("X11 (xcb) plugin: cannot check (ldd not found)")
        elif missing:
            lines.append(f"X11 (xcb) plugin: missing {', '.join(missing)}")
            lines += [f"  install: {line}" for line in install_lines(missing)]
        else:
            lines.append("X11 (xcb) plugin: all system libraries present")
    return lines


def _torch_lines() -> list[str]:
    try:
        import torch
    except ImportError as exc:
        return [f"torch: not importable ({exc})"]
    build = "CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    cuda = (f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
            + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            if torch.cuda.is_available() else f"no CUDA device ({build})")
    mps = torch.backends.mps.is_available()
    return [f"torch {torch.__version__}: {cuda}; MPS {'available' if mps else 'not available'}",
            f"torch threads: {torch.get_num_threads()} of {os.cpu_count()} cores"]
