"""Lazy package exports, so ``import maskviz`` (and the CLI's quick answers) never import torch.

A package lists where each public name lives; the submodule is imported on the first attribute
access (PEP 562 module ``__getattr__``) and the value cached on the package.

Also :func:`dynamo_deferred`: timm imported without the torch._dynamo it never uses at import time.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


# --- torch._dynamo, deferred while timm is imported -------------------------------------------------
# timm.layers imports torchvision.ops (for FrozenBatchNorm2d), whose roi_align module imports
# torch._dynamo for one helper, and timm.models decorates a few methods with torch.compiler.disable.
# torch._dynamo (and the sympy it pulls in) is about a third of the app's time to its first
# reconstruction on a 2-core machine, and maskviz never compiles on that path. So, only while timm
# is imported, sys.modules holds stand-ins for ``torch._dynamo`` and ``torch._dynamo.utils`` that
# serve just those two names (each calls the real function when it is first *called*); any other
# attribute imports the real torch._dynamo there and then. Correctness never depends on the
# stand-ins: at worst a future timm touches something else and start-up is as slow as without them.
# tests/test_startup.py checks that importing the model families leaves torch._dynamo unimported.

_DYNAMO = ("torch._dynamo", "torch._dynamo.utils")


class _DynamoStandIn(types.ModuleType):
    """A placeholder module: any attribute it does not serve itself comes from the real module."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # inspect and pickle probe __file__ & co.: not a reason to load
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


def _remove_dynamo_stand_ins() -> None:
    for name in _DYNAMO:
        if isinstance(sys.modules.get(name), _DynamoStandIn):
            del sys.modules[name]


def _real(module: str) -> types.ModuleType:
    """The real ``module``, imported now if need be, with the stand-ins out of its way."""
    _remove_dynamo_stand_ins()
    return importlib.import_module(module)


def _is_compile_supported(device_type: Any) -> Any:
    return _real("torch._dynamo.utils").is_compile_supported(device_type)


def _disable(fn: Callable | None = None, recursive: bool = True, **options: Any) -> Callable:
    """``torch._dynamo.disable`` applied on the first call instead of at decoration time."""
    if fn is None:
        return lambda f: _disable(f, recursive, **options)
    wrapped: list[Callable] = []

    @functools.wraps(fn)
    def deferred(*args: Any, **kwargs: Any) -> Any:
        if not wrapped:
            wrapped.append(_real("torch._dynamo").disable(fn, recursive, **options))
        return wrapped[0](*args, **kwargs)

    return deferred


@contextmanager
def dynamo_deferred() -> Iterator[None]:
    """Within the block, importing modules that only *mention* torch._dynamo does not import it."""
    if any(name in sys.modules for name in _DYNAMO):  # loaded already, or a stand-in is up: nothing to do
        yield
        return
    package, utils = _DynamoStandIn(_DYNAMO[0]), _DynamoStandIn(_DYNAMO[1])
    package.disable, package.utils, utils.is_compile_supported = _disable, utils, _is_compile_supported
    sys.modules.update(zip(_DYNAMO, (package, utils), strict=True))
    try:
        yield
    finally:
        _remove_dynamo_stand_ins()
