"""The JSON of an explanation: ``maskviz explain --json`` and the GUI's export write the same document.

Every document names its inputs (model, image, mask spec, seed, view) beside the result; maps are lists
of rows on the view's grid with ``null`` where a value is undefined (JSON has no NaN).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from maskviz.explain.common import ExplainMap, to_rows
from maskviz.explain.features import FeatureLens
from maskviz.explain.spread import SpreadLens
from maskviz.fileio import atomic_write

SCHEMA = "maskviz.explain/1"
Result = ExplainMap | FeatureLens | SpreadLens


def document(result: Result, *, model: str, image: str, mask: str, seed: int | None, view: str = "model",
             model_info: dict[str, Any] | None = None, similarity: ExplainMap | None = None,
             **extra: Any) -> dict[str, Any]:
    """The JSON document of one result and the inputs it came from (``view``: ``model``, ``tiles 96x72 px``...;
    ``extra``: device, seconds...)."""
    head = {"schema": SCHEMA, **_kind(result), "model": model, "image": image, "mask": mask, "seed": seed,
            "view": view, "grid": list(result.mask.shape), "hidden_patches": int(result.mask.sum())}
    body = _body(result)
    if similarity is not None:
        body["similarity"] = _map_entry(similarity)
    return {**head, **body, "model_info": model_info or {}, **extra}


def _kind(result: Result) -> dict[str, Any]:
    if isinstance(result, ExplainMap):
        return {"method": result.method, "target": list(result.target)}
    return {"lens": "features" if isinstance(result, FeatureLens) else "spread"}


def _body(result: Result) -> dict[str, Any]:
    if isinstance(result, ExplainMap):
        return {"unit": result.unit, "params": _plain(result.params), "map": result.rows()}
    if isinstance(result, FeatureLens):
        return {"unit": "first three principal components of the encoder tokens, each scaled to [0, 1]",
                "explained_variance": [float(v) for v in result.explained], "tokens": len(result.tokens),
                "map": to_rows(result.rgb)}
    hidden = result.std[np.isfinite(result.std)]
    return {"unit": "standard deviation of the reconstruction over the masks that hid a pixel (display units 0-1)",
            "masks": result.k, "hidden_count": result.count.tolist(),
            "mean_std": float(hidden.mean()) if hidden.size else None, "map": to_rows(result.std)}


def _map_entry(m: ExplainMap) -> dict[str, Any]:
    return {"method": m.method, "target": list(m.target), "unit": m.unit, "map": m.rows()}


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Numbers and text only (numpy scalars become Python ones)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def dumps(doc: dict[str, Any]) -> str:
    """JSON text with one key per line and one map row per line (a 14×14 map stays readable)."""
    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n  ".join(json.dumps(row, allow_nan=False) for row in value)
            lines.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        elif isinstance(value, dict) and "map" in value:
            lines.append(f" {json.dumps(key)}: {dumps(value).replace(chr(10), chr(10) + ' ')}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def write_json(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    text = dumps(doc) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
