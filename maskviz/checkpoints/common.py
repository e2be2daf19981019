"""Helpers shared by the checkpoint loaders: strict loading with messages a user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from maskviz.errors import CheckpointError
from maskviz.models.base import MaskedImageModel, ModelConfig
from maskviz.models.registry import create_model

MAX_LISTED = 8
MAX_PARAMETERS = 4_000_000_000  # 16 GB of fp32 weights: far beyond ViT-H's 657 M


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


def load_strict(model: nn.Module, state_dict: Mapping[str, Tensor], what: str) -> list[str]:
    """Load every weight exactly or raise a ``CheckpointError`` naming what does not match.

    Returns the names of the float tensors holding NaN or ±inf, found while the weights are
    taken over (no second pass over them). A model built on the meta device
    (:func:`build_checked`) takes the file's tensors themselves (``assign``): no random
    initialisation and no second copy of the weights; only a tensor stored in another dtype
    (fp16 files) is converted. Its deterministic buffers are computed afterwards.
    """
    own = model.state_dict()
    _raise_problems(_problems(own, state_dict), what)
    weights, nonfinite = {}, []
    for name, target in own.items():
        tensor = state_dict[name]
        if tensor.dtype != target.dtype:
            tensor = tensor.to(target.dtype)
        if tensor.is_floating_point() and not is_finite(tensor):
            nonfinite.append(name)
        weights[name] = tensor
    skeleton = any(t.is_meta for t in own.values())
    model.load_state_dict(weights, strict=True, assign=skeleton)
    if skeleton:
        init_buffers(model)
    return nonfinite


def is_finite(tensor: Tensor) -> bool:
    """No NaN and no ±inf, in one reading pass: the sum of squares (a BLAS dot for fp32/fp64, about
    twice as fast as ``sum``) is NaN or inf whenever a value is, since squares cannot cancel. Only
    a result that overflowed from finite values gets the exact, element-wise check."""
    with torch.no_grad():
        flat = tensor.reshape(-1)
        fast = torch.dot(flat, flat) if flat.dtype in (torch.float32, torch.float64) else flat.sum()
        return bool(torch.isfinite(fast)) or bool(torch.isfinite(flat).all())


def init_buffers(model: nn.Module) -> None:
    """Give the deterministic (non-persistent) buffers of a model built on the meta device their values.

    Modules that own such buffers recompute them in ``init_non_persistent_buffers()`` (timm's
    convention, which maskviz's blocks follow) once their weights are real.
    """
    for module in model.modules():
        if _owns_buffers(module):
            for name, buf in module.named_buffers(recurse=False):
                module.register_buffer(name, torch.empty_like(buf, device="cpu"), persistent=False)
            module.init_non_persistent_buffers()
    left = [name for name, buf in model.named_buffers() if buf.is_meta]
    if left:
        raise CheckpointError(f"cannot compute the buffers {list_keys(left)} of this architecture")


def _owns_buffers(module: nn.Module) -> bool:
    return any(True for _ in module.named_buffers(recurse=False))


def _recomputes_buffers(model: nn.Module) -> bool:
    """Every module that owns a buffer can compute it again (older timm Swin blocks cannot)."""
    return all(hasattr(m, "init_non_persistent_buffers") for m in model.modules() if _owns_buffers(m))


def nonfinite_warnings(names: list[str]) -> list[str]:
    """What :attr:`LoadedModel.warnings` says about weights holding NaN or ±inf (nothing when none do)."""
    if not names:
        return []
    return [f"{len(names)} weight tensors hold NaN or infinite values (first: {list_keys(names, 3)}): "
            "reconstructions will be NaN"]


def nonfinite_tensors(model: nn.Module) -> list[str]:
    """Names of the float weights and buffers holding NaN or ±inf (in state-dict order)."""
    return [name for name, t in model.state_dict().items() if t.is_floating_point() and not is_finite(t)]


def make_config(cls: type[ModelConfig], what: str, **fields: object) -> ModelConfig:
    """``cls(**fields)``, or a ``CheckpointError`` saying why the file's geometry cannot be built."""
    try:
        return cls(**fields)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{what} describes a model maskviz cannot build: {exc}") from None


def build_checked(config: ModelConfig, state_dict: Mapping[str, Tensor], what: str) -> MaskedImageModel:
    """The architecture a checkpoint describes, on the meta device, once its weights are known to fit it.

    The sizes come from the file, so a crafted file could declare a model of hundreds of GB with
    a few zero-size tensors: the skeleton takes no memory and is compared key by key and shape by
    shape first. :func:`load_strict` then gives it the file's weights (no random initialisation).
    An architecture whose buffers cannot be recomputed afterwards is built for real instead. Stored
    buffers the model recomputes (SimMIM's index tables) are left to the loaders.
    """
    with torch.device("meta"):
        skeleton = create_model(config)
    recomputed = {name for name, _ in skeleton.named_buffers()}  # stored copies are the loaders' business
    _raise_problems(_problems(skeleton.state_dict(), state_dict, tolerated=recomputed), what)
    count = sum(p.numel() for p in skeleton.parameters())
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{what} describes a model of {count:,} parameters, beyond what maskviz can run")
    return skeleton if _recomputes_buffers(skeleton) else create_model(config)


def _problems(
    own: Mapping[str, Tensor], state_dict: Mapping[str, Tensor], tolerated: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    missing = set(own) - set(state_dict)
    extra = set(state_dict) - set(own) - tolerated
    mismatched = [
        f"{k} {list(state_dict[k].shape)} (model expects {list(own[k].shape)})"
        for k in sorted(set(own) & set(state_dict))
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {list_keys(missing)}")
    if extra:
        problems.append(f"unexpected keys: {list_keys(extra)}")
    if mismatched:
        problems.append(f"shape mismatch: {'; '.join(mismatched[:MAX_LISTED])}")
    return problems


def _raise_problems(problems: list[str], what: str) -> None:
    if problems:
        raise CheckpointError(f"{what} does not match the architecture: " + " | ".join(problems))
