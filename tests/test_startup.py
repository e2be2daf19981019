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



DYNAMO_PROBE = """
import importlib, sys
import torch
import maskviz.checkpoints  # the model families, hence all of timm and torchvision.ops
print("imported", "torch._dynamo" in sys.modules, "sympy" in sys.modules)

from maskviz.models import create_model
model = create_model("mae_vit_tiny_test").eval()
size = model.config.img_size
with torch.no_grad():
    model(torch.rand(1, 3, size, size), torch.rand(1, model.config.num_patches) < 0.75)
print("reconstructed", "torch._dynamo" in sys.modules)

served = importlib.import_module("torchvision.ops.roi_align").is_compile_supported("cpu")
from torch._dynamo.utils import is_compile_supported
print("served", served == is_compile_supported("cpu"), type(sys.modules["torch._dynamo"]).__name__,
      hasattr(torch._dynamo, "optimize"))
"""

FALLBACK_PROBE = """
import sys
import torch
from maskviz.lazy import dynamo_deferred
with dynamo_deferred():
    import torch._dynamo
    stand_in = type(torch._dynamo).__name__
    add_one = torch.compiler.disable(lambda x: x + 1)  # served: decorating does not load it
    still_deferred = type(sys.modules["torch._dynamo"]).__name__
    limit = torch._dynamo.config.cache_size_limit  # not served: the real module is imported right here
print(stand_in, still_deferred, type(sys.modules["torch._dynamo"]).__name__,
      limit == torch._dynamo.config.cache_size_limit, add_one(1))
"""


def _probe(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_model_families_import_and_run_without_torch_dynamo() -> None:
    """timm mentions torch._dynamo at import time; maskviz defers it until something really uses it."""
    assert _probe(DYNAMO_PROBE) == ["imported False False", "reconstructed False", "served True module True"]


def test_anything_the_stand_in_does_not_serve_comes_from_the_real_torch_dynamo() -> None:
    assert _probe(FALLBACK_PROBE) == ["_DynamoStandIn _DynamoStandIn module True 2"]
