"""Quick answers stay quick: the CLI's --version, --help and models, and ``import maskviz``, never import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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




VIT_PROBE = """
import sys
import torch
import maskviz.checkpoints, maskviz.reconstruct  # the loaders and every model family's module
from maskviz.models import create_model

for name in ("mae_vit_tiny_test", "simmim_vit_tiny_test"):
    model = create_model(name).eval()
    size = model.config.img_size
    with torch.no_grad():
        model(torch.rand(1, 3, size, size), torch.rand(1, model.config.num_patches) < 0.75)
print(sorted(m for m in ("timm", "torchvision", "torch._dynamo", "sympy") if m in sys.modules))
"""


def test_vit_families_load_and_run_without_timm() -> None:
    """The ViT families use maskviz's own blocks: no timm, torchvision or torch._dynamo on that path."""
    out = subprocess.run([sys.executable, "-c", VIT_PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"


def _writes_into_sys_modules(tree: ast.AST) -> list[int]:
    """Lines that assign, delete or mutate ``sys.modules`` entries (reading them is fine)."""

    def is_sys_modules(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "modules" and \
            isinstance(node.value, ast.Name) and node.value.id == "sys"

    lines = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if is_sys_modules(target) or (isinstance(target, ast.Subscript) and is_sys_modules(target.value)):
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_modules(node.func.value) \
                and node.func.attr in ("update", "setdefault", "pop", "popitem", "clear", "__setitem__",
                                       "__delitem__"):
            lines.append(node.lineno)
    return lines


def test_nothing_in_maskviz_writes_into_sys_modules() -> None:
    import maskviz

    root = Path(maskviz.__file__).parent
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 40
    found = {str(path.relative_to(root)): lines for path in sources
             if (lines := _writes_into_sys_modules(ast.parse(path.read_text(encoding="utf-8"))))}
    assert found == {}
    planted = ast.parse("import sys\nsys.modules['x'] = object()\nsys.modules.update(y=1)\ndel sys.modules['x']\n")
    assert sorted(_writes_into_sys_modules(planted)) == [2, 3, 4]  # the check sees each kind of write
