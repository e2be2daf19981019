"""Helpers shared by the checkpoint loaders: strict loading with messages a user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from maskviz.errors import CheckpointError

MAX_LISTED = 8


def list_keys(keys: Iterable[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c (+12 more)``: enough to recognise the problem without flooding a dialog."""
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_tensors(state_dict: Mapping[str, object], what: str) -> dict[str, Tensor]:
    """Every value must be a tensor; a checkpoint holding anything else in its weights is refused."""
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{what}: these entries are not tensors: {list_keys(bad)}")
    return dict(state_dict)  # type: ignore[arg-type]


def drop_recomputed_buffer(
    state_dict: dict[str, Tensor], key: str, expected: Tensor | None, what: str, report_ignored: list[str]
) -> None:
    """Remove a deterministic buffer (index tables, attention masks) the model computes itself.

    The stored copy must agree with ours when we have one: a mismatch means the checkpoint was made
    for another window size or input size, and using it would silently give wrong pictures.
    """
    stored = state_dict.pop(key, None)
    if stored is None:
        return
    if expected is not None:
        if tuple(stored.shape) != tuple(expected.shape) or not torch.equal(
            stored.to(expected.dtype), expected.to(stored.device)
        ):
            raise CheckpointError(
                f"{what}: stored buffer {key} {list(stored.shape)} does not match the one this "
                f"architecture computes {list(expected.shape)} (different window or input size?)"
            )
    report_ignored.append(key)


def load_strict(model: nn.Module, state_dict: Mapping[str, Tensor], what: str) -> None:
    """Load every weight exactly or raise a ``CheckpointError`` naming what does not match."""
    own = model.state_dict()
    missing = set(own) - set(state_dict)
    unexpected = set(state_dict) - set(own)
    mismatched = [
        f"{k} {list(state_dict[k].shape)} (model expects {list(own[k].shape)})"
        for k in sorted(set(own) & set(state_dict))
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {list_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {list_keys(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {'; '.join(mismatched[:MAX_LISTED])}")
    if problems:
        raise CheckpointError(f"{what} does not match the architecture: " + " | ".join(problems))
    model.load_state_dict(state_dict, strict=True)
