"""Model-file provenance keeps what happened and drops where on the machine it happened."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from maskviz.train.provenance import portable_info

REPO = Path(__file__).resolve().parents[1]
# The check of /work/shared/hooks/before-stop: absolute paths under the usual top-level folders.
MACHINE_PATH = re.compile(r"(?<![A-Za-z0-9:.])/(?:root|home|tmp|work|Users|var|opt|mnt|srv)/[^\s\"',)]*")


def test_paths_become_relative_to_the_run_or_their_names():
    run = Path("/home/ada/runs/mae")
    info = {
        "data_dir": "/home/ada/pictures/cats", "run_dir": "/home/ada/runs/mae",
        "base_model": "maskviz checkpoint /home/ada/runs/mae/checkpoints/best.safetensors",
        "command": "maskviz train --data /home/ada/pictures/cats --out /home/ada/runs/mae --mask random:0.75 "
                   "--model ./stage1/last.safetensors",
        "base_model_info": {"recipe": {"out": "/tmp/r/1", "steps": 10, "note": "see https://example.org/a/b"}},
    }
    assert portable_info(info, run) == {
        "data_dir": "cats", "run_dir": "mae", "base_model": "maskviz checkpoint checkpoints/best.safetensors",
        "command": "maskviz train --data cats --out mae --mask random:0.75 --model ./stage1/last.safetensors",
        "base_model_info": {"recipe": {"out": "1", "steps": 10, "note": "see https://example.org/a/b"}},
    }


def shipped_model_files() -> list[Path]:
    return sorted((REPO / "resources").rglob("*.safetensors"))


def safetensors_metadata(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(size)).get("__metadata__", {})


@pytest.mark.parametrize("path", shipped_model_files(), ids=lambda p: p.name)
def test_shipped_model_files_hold_no_machine_paths(path):
    text = json.dumps({k: json.loads(v) if v[:1] in "[{" else v for k, v in safetensors_metadata(path).items()})
    assert "trained_by" in text  # the provenance is still there...
    assert MACHINE_PATH.findall(text) == []  # ...without the build machine's folders


def test_every_shipped_model_file_is_checked():
    assert [p.name for p in shipped_model_files()] == ["maskviz_mae_small.safetensors",
                                                        "maskviz_simmim_small.safetensors"]
