"""Lazy package exports, so ``import maskviz`` (and the CLI's quick answers) never import torch.

A package lists where each public name lives; the submodule is imported on the first attribute
access (PEP 562 module ``__getattr__``) and the value cached on the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from module ``where[name]``."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the hook's required name
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
