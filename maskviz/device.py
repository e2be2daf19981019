"""Where models run: CUDA when present, MPS on macOS, else CPU; optional reduced precision on GPUs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from maskviz.errors import MaskvizError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def available_devices() -> list[str]:
    """Devices this machine can use, best first ("cuda", "mps", "cpu")."""
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices + ["cpu"]


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks the best available device; an unavailable one is a plain error."""
    if name is None or str(name) == "auto":
        return torch.device(available_devices()[0])
    device = torch.device(name)
    if device.type not in available_devices():
        available = ", ".join(available_devices())
        raise MaskvizError(f"device {device.type!r} is not available here (available: {available})")
    return device


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise MaskvizError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and device.type == "cpu":
        raise MaskvizError(f"{precision} is offered on GPUs only; use fp32 on the CPU")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "fp32") -> Iterator[None]:
    """Mixed precision on GPUs when asked for; a no-op for fp32."""
    check_precision(precision, device)
    dtype = PRECISIONS[precision]
    if dtype is None:
        yield
    else:
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
