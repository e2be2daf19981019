"""The core is usable without Qt: importing every core module loads no Qt binding."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import maskviz

CORE_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(maskviz.__path__, "maskviz.")
    if not m.name.startswith(("maskviz.gui", "maskviz.resources", "maskviz.__main__"))
)


def test_core_imports_no_qt():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "maskviz.cli" in CORE_MODULES and "maskviz.train.loop" in CORE_MODULES
    assert out.stdout.strip() == "", f"core modules pulled in Qt: {out.stdout}"
