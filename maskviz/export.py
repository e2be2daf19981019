"""The files of a reconstruction and of an explanation: the figure (PNG, SVG or PDF) and the JSON.

``maskviz reconstruct --out/--json`` and the GUI's *Export panels* / *Export metrics*, ``maskviz
explain --out/--json`` and the Explain lens's exports all call these (beside
:mod:`maskviz.compare_export` for comparisons), so the same inputs give the same bytes, named the
same way (model, image, mask spec, seed, view). Every file is written atomically (temporary file,
then rename).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maskviz.errors import MaskvizError
from maskviz.figures import figure_format, reconstruction_figure, write_figure
from maskviz.fileio import atomic_write, same_file


def check_outputs(figure: str | os.PathLike | None, metrics: str | os.PathLike | None) -> None:
    """Refuse, before any work, a figure name with an unknown suffix and two outputs that are one file."""
    if figure is not None:
        figure_format(figure)
    if figure is not None and metrics is not None and same_file(figure, metrics):
        raise MaskvizError(f"--json and --out name the same file ({metrics}); give two different paths")


def model_name(loaded: Any, source: str | os.PathLike | None = None) -> str:  # noqa: ANN401 - LoadedModel
    """How figures and files name a loaded model: its display name (:mod:`maskviz.model_names`), from the
    source it was opened with when given (a catalogue name), else from where it was loaded."""
    from maskviz.model_names import loaded_display_name

    return loaded_display_name(loaded, source)


def image_name(source: str | os.PathLike | None) -> str:
    """How figures name an image: its file name (``sample:coffee`` stays as typed)."""
    return Path(str(source)).name if source else "image"


def mask_and_seed(spec: str, seed: int | None) -> tuple[str, int | None]:
    """The mask spec as figures title it and the seed that made it (None for a fixed pattern).

    A ``seed=N`` inside the spec wins over ``seed`` and moves to the seed field, so ``--mask
    random:0.75 --seed 3`` and the GUI's ``random:0.75,seed=3`` are titled alike. Text that is no
    spec (``painted``, ``full:4``) keeps ``seed`` only when it is a full reconstruction.
    """
    from maskviz.masks import parse_mask_spec

    if spec.startswith("full:"):
        return spec, seed
    try:
        parsed = parse_mask_spec(spec)
    except MaskvizError:
        return spec, None
    if not parsed.pattern.seeded:
        return str(parsed), None
    own = dict(parsed.kwargs).get("seed")
    without = type(parsed)(parsed.name, parsed.args, tuple(kv for kv in parsed.kwargs if kv[0] != "seed"),
                           parsed.invert)
    return str(without), own if own is not None else seed


def write_reconstruction_figure(results: Sequence[Any], specs: Sequence[str], path: str | os.PathLike,
                                model: str, image: str, seed: int | None = None, *, heat: str = "pixel",
                                view: str = "model", baseline: tuple[str, Any] | None = None) -> Path:
    """The panel figure of ``results`` (one row per mask), PNG/SVG/PDF by the suffix of ``path``.

    ``baseline`` is ``(label, Reconstruction)`` of a non-learned fill of the (one) mask, drawn as
    an extra column, as the viewer shows it.
    """
    titled = [mask_and_seed(spec, seed) for spec in specs]
    fills = None if baseline is None else [baseline[1]] * len(results)
    figure = reconstruction_figure(results, [t[0] for t in titled], model, image, [t[1] for t in titled],
                                   heat=heat, view=view, baselines=fills,
                                   baseline_label=baseline[0] if baseline else "")
    return write_figure(figure.sheet(), path)


def explain_inputs(loaded: Any, image: str | os.PathLike | None, spec: str, seed: int | None,
                   view: str = "model", model_source: str | os.PathLike | None = None) -> Any:
    """How an explanation's figure and JSON name what it came from (``spec``: as typed or the GUI's
    pattern; ``model_source``: the model as it was opened, as :func:`model_name` takes it)."""
    from maskviz.figures import Inputs

    titled, seed = mask_and_seed(spec, seed)
    return Inputs(model=model_name(loaded, model_source), image=image_name(image), mask=titled, seed=seed, view=view)


def write_explain_figure(result: Any, path: str | os.PathLike, original: Any, patch: int, inputs: Any, *,
                         similarity: Any = None, masked_colour: Sequence[float] | None = None) -> Path:
    """The figure of an explanation (:mod:`maskviz.explain.figure`); ``original``: the image as the model saw it."""
    from maskviz.explain.figure import write_explain_figure as write
    from maskviz.models.configs import IMAGENET_MEAN

    return write(result, path, original, patch, inputs, similarity, masked_colour or IMAGENET_MEAN)


def write_explain_json(result: Any, path: str | os.PathLike, inputs: Any, *, model_info: dict[str, Any],
                       similarity: Any = None, **extra: Any) -> Path:
    """The JSON of an explanation (:mod:`maskviz.explain.export`): the map and the inputs it came from."""
    from maskviz.explain.export import document, write_json

    names = {"model": inputs.model, "image": inputs.image, "mask": inputs.mask, "seed": inputs.seed,
             "view": inputs.view}
    return write_json(document(result, **names, model_info=model_info, similarity=similarity, **extra), path)


def metrics_document(results: Sequence[Any], specs: Sequence[str], model: dict[str, Any], device: str,
                     seconds: float) -> dict[str, Any]:
    """What ``--json`` holds: the first mask's metrics at the top, every mask under ``results``."""
    entries = [{"mask": spec, **_finite(r.metrics())} for spec, r in zip(specs, results, strict=True)]
    warnings = list(model.get("warnings", [])) + sorted({r.problem for r in results if r.problem})
    return {**entries[0], "device": device, "seconds": seconds, "model": model, "warnings": warnings,
            "results": entries}


def write_metrics_json(results: Sequence[Any], specs: Sequence[str], model: dict[str, Any], device: str,
                       seconds: float, path: str | os.PathLike) -> Path:
    text = json.dumps(metrics_document(results, specs, model, device, seconds), indent=2)
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a perfect reconstruction's PSNR is written as null (per tile too)."""
    def plain(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return [_finite(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v

    return {k: plain(v) for k, v in d.items()}
