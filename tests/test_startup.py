"""Quick answers stay quick: the CLI's --version, --help and models, and ``import maskviz``, never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from maskviz.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
print("torch" in sys.modules, code)
"""


def heavy_modules_after(argv: list[str]) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                         check=True).stdout
    return out.splitlines()[-1]


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["models"], ["train", "--help"]])
def test_quick_commands_do_not_import_torch(argv: list[str]) -> None:
    assert heavy_modules_after(argv) == "False 0"


def test_public_api_is_lazy_and_complete() -> None:
    probe = ("import sys, maskviz; before = 'torch' in sys.modules; "
             "from maskviz import load_model, load_image, reconstruct, parse_mask_spec; "
             "print(before, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_reconstruct_name_stays_the_function_after_its_module_is_imported() -> None:
    import maskviz.reconstruct  # noqa: F401 - binds the submodule, which must not shadow the function
    from maskviz import reconstruct
    from maskviz.reconstruct import reconstruct as implementation

    assert reconstruct is implementation and maskviz.reconstruct is implementation


@pytest.mark.parametrize("package", ["maskviz", "maskviz.models", "maskviz.train"])
def test_every_lazy_export_resolves(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_help_shows_the_apps_own_arguments(capsys):
    from maskviz.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "doctor" in out and "opens the desktop app" in out
    assert "maskviz [IMAGE] [--model PATH]" in out and "--reset-session" in out


def test_reconstruct_without_outputs_prints_the_metrics_line(tmp_path, monkeypatch, capsys):
    from maskviz.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["reconstruct", "sample:coffee", "--mask", "center:0.4", "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("center:0.4: loss ") and " psnr " in line and "masked " in line
    assert list(tmp_path.iterdir()) == []  # nothing written
