"""What the explain CLI tests share: run ``maskviz explain`` to a JSON file, and read its map back."""

from __future__ import annotations

import json

import numpy as np

from maskviz.cli import main


def run(tmp_path, *argv) -> dict:  # noqa: ANN001 - pytest's tmp_path
    js = tmp_path / "out.json"
    assert main(["explain", *argv, "--json", str(js), "--device", "cpu"]) == 0
    return json.loads(js.read_text())


def as_array(rows) -> np.ndarray:  # noqa: ANN001 - the JSON's nested lists
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
