"""How much memory a run may take, asked before anything is allocated.

The whole-photo views size their work from the image's numbers and compare it with what the
device has free, so a size that cannot fit is refused with a sentence instead of an
out-of-memory crash half-way through (or a machine that starts swapping).
"""

from __future__ import annotations

import os

import torch

#: Share of the free memory a run may plan to use: the rest is for the app, the OS and estimate error.
USABLE_SHARE = 0.8


def available_bytes(device: torch.device | str = "cpu") -> int | None:
    """Free memory of ``device`` in bytes (None when the platform does not say)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def usable_bytes(device: torch.device | str = "cpu") -> int | None:
    free = available_bytes(device)
    return None if free is None else int(free * USABLE_SHARE)


def human_bytes(n: float) -> str:
    """A byte count for a message: ``3.2 GB`` (decimal units, as file managers show them)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"
