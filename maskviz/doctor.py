"""``maskviz doctor``: import and exercise what maskviz needs, and name the fix for each problem in one line.

An install that pip called a success can still fail in three ways, each with a misleading message:

* torch and torchvision that do not belong together (a CPU torch beside PyPI's CUDA torchvision, or
  two releases apart): torchvision's compiled operators do not register, and timm, which imports
  torchvision, dies with "operator torchvision::nms does not exist". The fix is the matching pair
  from one index (:func:`pair_command`).
* Qt's X11 plugin (``libqxcb.so``) links about twenty system libraries; when one is missing, Qt
  aborts naming only the first (``libxcb-cursor0``). ``ldd`` lists every one the plugin cannot find;
  :data:`PACKAGES` turns them into one install line for Debian/Ubuntu or Fedora.
* No display (``DISPLAY`` empty: an SSH login, a container, a CI job): Qt aborts with the same
  ``xcb-cursor0`` text although nothing is missing.

The CLI and the app turn the same failures into the same line when they meet them
(:func:`setup_problem` for an exception, :func:`window_problem` before Qt loads its plugin).

No torch or Qt import at module level: the CLI's quick answers and the app's pre-Qt checks use it.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PYTORCH_INDEX = "https://download.pytorch.org/whl"
NO_DISPLAY_FIX = "use the CLI (maskviz --help) or set QT_QPA_PLATFORM=offscreen"

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

# The pip names of what maskviz imports, where they differ from the module name.
PIP_NAMES = {"PIL": "pillow", "PySide6": "PySide6-Essentials"}
REQUIRED = ("torch", "torchvision", "timm", "safetensors", "numpy", "PIL", "platformdirs", "huggingface_hub",
            "PySide6", "pyqtgraph", "tqdm")


# --- torch and torchvision ----------------------------------------------------------------------


def dist_version(name: str) -> str | None:
    """The installed distribution's version (with its local label, e.g. ``2.13.0+cpu``), without importing it."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release built with ``torch_version``: torch 2.N.P goes with torchvision 0.(N+15).P."""
    m = re.match(r"2\.(\d+)\.(\d+)", torch_version)
    return f"0.{int(m.group(1)) + 15}.{m.group(2)}" if m else None


def pair_command(torch_version: str | None, torchvision_version: str | None = None, reinstall: bool = False) -> str:
    """The one pip command that installs torch and its torchvision from one index.

    A local label (``+cpu``, ``+cu130``) names PyTorch's index of that build, and is pinned on both, so
    pip replaces a torchvision of another build even when its version number is the same.
    ``reinstall``: the versions are right but the files are not (pip would call them satisfied).
    """
    if not torch_version:
        return (f"pip install torch torchvision --index-url {PYTORCH_INDEX}/cpu "
                "(CPU only; plain 'pip install torch torchvision' for CUDA)")
    base, _, label = torch_version.partition("+")
    vision = matching_torchvision(base)
    if vision is None:
        return f"pip install --force-reinstall torch=={torch_version} torchvision (from the index torch came from)"
    other_build = not label and torchvision_version is not None and "+" in torchvision_version
    force = "--force-reinstall --no-deps " if reinstall or other_build else ""  # a labelled build satisfies a plain pin
    if label:
        pins = f'"torch=={base}+{label}" "torchvision=={vision}+{label}"'
        return f"pip install {force}{pins} --index-url {PYTORCH_INDEX}/{label}"
    return f'pip install {force}"torch=={base}" "torchvision=={vision}"'


def torchvision_message(reason: str) -> str:
    """The one line for a torchvision that does not work with the installed torch."""
    torch_v, vision_v = dist_version("torch"), dist_version("torchvision")
    if vision_v is None:
        return f"torchvision is not installed (timm needs it): {pair_command(torch_v)}"
    pair = f"torchvision {vision_v} does not work with torch {torch_v}" if torch_v else f"torchvision {vision_v}"
    return f"{pair} ({reason}); install the matching pair from one index: {pair_command(torch_v, vision_v)}"


def torch_message(exc: BaseException) -> str:
    version = dist_version("torch")
    if isinstance(exc, ModuleNotFoundError) and version is None:
        return f"torch is not installed: {pair_command(None)}"
    return (f"torch {version or ''} does not import ({first_line(exc)}); reinstall it with its torchvision: "
            f"{pair_command(version, reinstall=True)}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- a failure met at run time ------------------------------------------------------------------


def setup_problem(exc: BaseException) -> str | None:
    """The one line for an exception caused by this installation (a package missing or broken), else None.

    Recognised: a required package that is not installed, torchvision's operators missing, and an
    import of torch, torchvision or timm that fails inside that package (an ABI mismatch, a missing
    shared library). Anything else is maskviz's own bug and stays one.
    """
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top in REQUIRED and not _installed(top):
            if top in ("torch", "torchvision"):
                return torch_message(exc) if top == "torch" else torchvision_message("not installed")
            return f"{top} is not installed: pip install {PIP_NAMES.get(top, top)}"
    library = re.search(r"(lib[\w.+-]+\.so[.\d]*): cannot open shared object file", str(exc))
    if library and isinstance(exc, (ImportError, OSError)) and library.group(1) in PACKAGES:
        fix = " or ".join(install_lines([library.group(1)]))
        return f"the system library {library.group(1)} is missing: {fix}"
    if re.search(r"operator torchvision::\w+ does not exist", str(exc)):
        return torchvision_message(first_line(exc))
    culprit = _failed_import(exc)
    if culprit == "torchvision":
        return torchvision_message(first_line(exc))
    if culprit == "torch":
        return torch_message(exc)
    if culprit == "timm":
        return f"timm {dist_version('timm')} does not import ({first_line(exc)}): pip install --upgrade timm"
    return None


def _failed_import(exc: BaseException) -> str | None:
    """torch, torchvision or timm when ``exc`` was raised while one of their modules was being imported.

    The deepest module-level frame of the traceback is the module whose import failed.
    """
    modules = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(exc.__traceback__)
               if frame.f_code.co_name == "<module>"]
    if not modules:
        return None
    failed = Path(modules[-1]).resolve()
    for package in ("torchvision", "torch", "timm"):
        folder = _package_folder(package)
        if folder and failed.is_relative_to(folder):
            return package
    return None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module that failed half-way, or blocked in sys.modules
        return False


def _package_folder(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).resolve() if locations else None


# --- Qt and the display ---------------------------------------------------------------------------


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


def chosen_platform(env: Mapping[str, str] = os.environ) -> str:
    """The platform plugin Qt 6 will load: QT_QPA_PLATFORM, else wayland in a Wayland session, else xcb."""
    if env.get("QT_QPA_PLATFORM"):
        return env["QT_QPA_PLATFORM"].split(";")[0].split(":")[0]
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def _uses_xcb(env: Mapping[str, str]) -> bool:
    return sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and chosen_platform(env) == "xcb"


def xcb_problem() -> str | None:
    """With the xcb platform: one line naming what Qt's X11 plugin lacks and how to install it."""
    folder = qt_plugin_folder()
    if not _uses_xcb(os.environ) or folder is None:
        return None
    missing = missing_libraries(folder / "libqxcb.so")
    if not missing:
        return None
    fix = " or ".join(install_lines(missing)) or "install the packages that provide them"
    return (f"Qt cannot open a window: its X11 plugin needs system libraries that are missing: "
            f"{', '.join(missing)}: {fix}")


# xcb_connection_has_error codes (xcb.h) as a person would say them.
_XCB_ERRORS = {1: "no X server answers there, or it refused this user", 5: "not a display name",
               6: "no such screen on that server"}


def x_connect_error(display: str) -> str | None:
    """Why libxcb (the library Qt's plugin connects with) cannot connect to ``display``; None when it can.

    None as well when libxcb itself is missing: :func:`xcb_problem` names it.
    """
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    code = xcb.xcb_connection_has_error(connection)
    xcb.xcb_disconnect(connection)
    return _XCB_ERRORS.get(code, f"libxcb error {code}") if code else None


def display_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """With the xcb platform: the one line saying there is no X display to open a window on."""
    if not _uses_xcb(env):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        what = "DISPLAY is empty" if "DISPLAY" in env else "DISPLAY is not set"
        return f"no display ({what}, no Wayland session): {NO_DISPLAY_FIX}"
    reason = x_connect_error(display)
    if reason:
        return f"no display: cannot connect to the X display {display!r} ({reason}): {NO_DISPLAY_FIX}"
    return None


def window_problem() -> str | None:
    """What stops Qt from opening a window here, checked before Qt loads its platform plugin."""
    return xcb_problem() or display_problem()


# --- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One thing maskviz needs: what was found, or (``problem``) the one line that says what to do."""

    name: str
    found: str = ""
    problem: str = ""
    skipped: bool = False  # not tried: something it needs has a problem

    @property
    def line(self) -> str:
        if self.problem:
            return f"problem  {self.name}: {self.problem}"
        status = "skipped" if self.skipped else "ok"
        return f"{status:9}{self.name}" + (f": {self.found}" if self.found else "")


def checks() -> list[Check]:
    """Import and exercise, in order: torch, torchvision, timm, one reconstruction, Qt, the display."""
    results = []
    torch, check = _try(_check_torch, "torch")
    results.append(check)
    results += _model_checks(torch) if torch is not None else [
        Check("torchvision, timm, reconstruction", "need torch", skipped=True)]
    results += _qt_checks()
    return results


def report() -> tuple[list[str], int]:
    """The lines ``maskviz doctor`` prints, and how many problems it found."""
    from maskviz import __version__

    found = checks()
    problems = sum(bool(c.problem) for c in found)
    lines = [f"maskviz {__version__}, Python {platform.python_version()} ({sys.executable})"]
    lines += [c.line for c in found]
    if problems:
        app_only = all(c.name.startswith(("Qt", "X11", "display")) for c in found if c.problem)
        lines.append(f"{problems} problem{'s' * (problems > 1)}" + (
            ": the app cannot open a window; the command line works" if app_only else
            f": fix {'them as their lines say' if problems > 1 else 'it as its line says'}, "
            "then run 'maskviz doctor' again"))
    else:
        lines.append("everything maskviz needs is here")
    return lines, problems


def _try(check: Callable[[], tuple[ModuleType | None, Check]], name: str) -> tuple[ModuleType | None, Check]:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - a check that fails is a finding, not a crash
        return None, Check(name, problem=setup_problem(exc) or f"{type(exc).__name__}: {first_line(exc)}")


def _check_torch() -> tuple[ModuleType | None, Check]:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError (a missing CUDA library), ...
        return None, Check("torch", problem=torch_message(exc))
    build = "CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    cuda = (f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
            + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            if torch.cuda.is_available() else f"no CUDA device ({build})")
    mps = "available" if torch.backends.mps.is_available() else "not available"
    return torch, Check(f"torch {torch.__version__}", f"{cuda}; MPS {mps}; {torch.get_num_threads()} threads "
                                                      f"on {os.cpu_count()} cores")


def _model_checks(torch: ModuleType) -> list[Check]:
    vision = _check_torchvision(torch)
    if vision.problem:
        return [vision, Check("timm, reconstruction", "need torchvision", skipped=True)]
    _, timm = _try(_check_timm, "timm")
    if timm.problem:
        return [vision, timm]
    return [vision, timm, _try(_check_reconstruction, "reconstruction")[1]]


def _check_torchvision(torch: ModuleType) -> Check:
    version = dist_version("torchvision")
    try:
        import torchvision  # the import registers its operators, or fails

        torch.ops.torchvision.nms  # noqa: B018 - missing when its compiled library did not load
    except Exception as exc:  # noqa: BLE001 - RuntimeError, ImportError, OSError, AttributeError
        return Check("torchvision", problem=torchvision_message(first_line(exc)))
    expected = matching_torchvision(torch.__version__)
    if expected and version and version.split("+")[0] != expected:
        return Check("torchvision", problem=torchvision_message(f"torch {torch.__version__.split('+')[0]} "
                                                                f"goes with torchvision {expected}"))
    return Check(f"torchvision {torchvision.__version__}", "its operators are registered (torchvision::nms)")


def _check_timm() -> tuple[None, Check]:
    import timm

    return None, Check(f"timm {timm.__version__}")


def _check_reconstruction() -> tuple[None, Check]:
    """The bundled model (or the built-in one) reconstructs a bundled sample on the CPU."""
    import math

    from maskviz.bundled import default_sample
    from maskviz.checkpoints import load_default_model
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.reconstruct import reconstruct

    loaded = load_default_model("cpu")
    model = loaded.model
    mask = make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)
    image = load_image(default_sample())
    reconstruct(model, image, [mask])  # the first call pays one-off costs
    start = time.perf_counter()
    result = reconstruct(model, image, [mask])[0]
    ms = 1000 * (time.perf_counter() - start)
    name = Path(loaded.source).name
    if result.loss is None or not math.isfinite(result.loss):
        return None, Check("reconstruction", problem=f"{name} gives a loss of {result.loss} on the CPU: "
                                                     "reinstall maskviz (pip install --force-reinstall maskviz)")
    return None, Check("reconstruction", f"{name} on the CPU, {default_sample()}: loss {result.loss:.4f} "
                                         f"in {ms:.0f} ms")


QT_PROBE = ("from PySide6.QtWidgets import QApplication, QWidget\n"
            "app = QApplication(['maskviz-doctor']); w = QWidget(); w.show(); app.processEvents()\n"
            "print(app.platformName())")


def _qt_checks() -> list[Check]:
    spec = importlib.util.find_spec("PySide6")
    if spec is None:
        return [Check("Qt", problem="PySide6 is not installed (the app needs it): pip install PySide6-Essentials")]
    import PySide6

    results = [Check(f"Qt: PySide6 {PySide6.__version__}", f"platform plugins: {', '.join(platform_plugins())}")]
    folder = qt_plugin_folder()
    if sys.platform.startswith("linux") and folder is not None:
        results.append(_check_xcb_libraries(folder))
    results.append(_check_display())
    if not any(c.problem for c in results):
        results.append(_check_qt_window())
    return results


def _check_xcb_libraries(folder: Path) -> Check:
    missing = missing_libraries(folder / "libqxcb.so")
    if missing is None:
        return Check("X11 (xcb) plugin", "cannot check (ldd not found)")
    if not missing:
        return Check("X11 (xcb) plugin", "all system libraries present")
    if _uses_xcb(os.environ):
        return Check("X11 (xcb) plugin", problem=xcb_problem() or "")
    return Check("X11 (xcb) plugin", f"missing {', '.join(missing)} (not used with QT_QPA_PLATFORM="
                                     f"{chosen_platform()}; for X11: {' or '.join(install_lines(missing))})")


def _check_display() -> Check:
    env = os.environ
    platform_name = chosen_platform(env)
    problem = display_problem(env)
    if problem:
        return Check("display", problem=problem)
    where = {"xcb": f"X11, DISPLAY={env.get('DISPLAY', '')!r}", "wayland": f"Wayland, {env.get('WAYLAND_DISPLAY')}"}
    return Check("display", where.get(platform_name, f"Qt platform {platform_name!r} (QT_QPA_PLATFORM)"))


def _check_qt_window() -> Check:
    """Qt itself opens a window, in a child process: a failing plugin aborts the process it loads in."""
    try:
        out = subprocess.run([sys.executable, "-c", QT_PROBE], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return Check("Qt window", problem="Qt did not open a window within 60 s: run 'QT_DEBUG_PLUGINS=1 maskviz'")
    if out.returncode == 0:
        return Check("Qt window", f"opens on the {out.stdout.strip()!r} platform")
    said = [line for line in out.stderr.splitlines() if line.strip()]
    reason = next((line for line in said if "qt.qpa" in line), said[-1] if said else f"exit {out.returncode}")
    return Check("Qt window", problem=f"Qt cannot open a window ({reason.strip()}): run 'QT_DEBUG_PLUGINS=1 maskviz' "
                                      "to see why")
