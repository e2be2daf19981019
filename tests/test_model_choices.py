"""The model picker's list and the one display name, without Qt or torch (issue 22, points 3 and 12)."""

from __future__ import annotations

import json
import subprocess
import sys

from maskviz.bundled import bundled_model_paths
from maskviz.model_choices import GROUPS, RunFacts, check_source, list_model_choices
from maskviz.model_names import display_name, model_name
from maskviz.sources import url_target
from maskviz.train.events import TrainEvent
from maskviz.zoo.catalogue import find_entry


def _events(folder, events) -> None:
    (folder / "metrics.jsonl").write_text("".join(TrainEvent(**e).to_json() + "\n" for e in events))


def make_run(root, name: str, best_at_start: bool = False):
    """A run folder as maskviz train leaves it: config, metrics (validation at 0, 15, 30), checkpoints."""
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    vals = [0.2653, 0.2801, 0.2938] if best_at_start else [0.2653, 0.2401, 0.2302]
    _events(run, [{"event": "start", "step": 0, "total_steps": 30},
                  {"event": "step", "step": 0, "val_loss": vals[0], "best_val_loss": vals[0]},
                  {"event": "step", "step": 15, "loss": 0.3, "val_loss": vals[1]},
                  {"event": "step", "step": 30, "loss": 0.28, "val_loss": vals[2]},
                  {"event": "end", "step": 30, "reason": "done"}])
    for stem in ("last", "best"):
        (run / "checkpoints" / f"{stem}.safetensors").write_bytes(b"x")
    return run


def test_display_names_say_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    bundled_name, bundled_file = next(iter(bundled_model_paths().items()))
    assert display_name(f"bundled:{bundled_name}") == f"{bundled_name} (bundled)"
    assert display_name(bundled_file) == f"{bundled_name} (bundled)"  # the resolved path names it alike
    assert display_name("mae-vit-base") == "mae-vit-base (catalogue)"
    cached = tmp_path / "cache" / "models" / "mae-vit-base" / "mae_visualize_vit_base.pth"
    assert display_name(cached) == "mae-vit-base (catalogue)"
    run = make_run(tmp_path / "runs", "20261206-052000")
    assert display_name(run / "checkpoints" / "best.safetensors") == "20261206-052000 best (training run)"
    assert display_name(run / "checkpoints" / "last.safetensors") == "20261206-052000 final (training run)"
    assert display_name("builtin:mae_vit_small_patch8_64") == "mae_vit_small_patch8_64 (random weights)"
    assert display_name(tmp_path / "ckpt" / "finetuned.pth") == "finetuned (file)"
    assert model_name(tmp_path).origin == "folder"


def test_a_hub_snapshot_is_named_by_its_catalogue_name_never_its_hash(tmp_path):
    snapshot = tmp_path / "hub" / "models--facebook--vit-mae-base" / "snapshots" / ("0123456789abcdef" * 3)[:40]
    assert display_name(snapshot) == "hf-vit-mae-base (catalogue)"
    assert display_name(snapshot / "config.json") == "hf-vit-mae-base (catalogue)"
    other = tmp_path / "hub" / "models--someone--their-mae" / "snapshots" / ("f" * 40)
    assert display_name(other) == "someone/their-mae (hub)"


def test_the_list_has_bundled_catalogue_recent_and_runs_with_their_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    make_run(tmp_path / "runs", "good")
    make_run(tmp_path / "runs", "worse", best_at_start=True)
    recent_file = tmp_path / "mine.pth"
    recent_file.write_bytes(b"x")
    choices = list_model_choices([str(recent_file), str(tmp_path / "gone.pth")], tmp_path / "runs")
    groups = {c.group for c in choices}
    assert groups == {"Bundled", "Catalogue", "Recent", "Training runs"}
    assert [c.group for c in choices] == sorted((c.group for c in choices), key=GROUPS.index)  # grouped, in order
    assert {c.source for c in choices if c.group == "Bundled"} == {f"bundled:{n}" for n in bundled_model_paths()}
    catalogue = {c.source: c for c in choices if c.group == "Catalogue"}
    assert "mae-vit-large" in catalogue and not catalogue["mae-vit-large"].ready  # downloadable, not here
    assert "download" in catalogue["mae-vit-large"].detail
    assert "by hand" in catalogue["simmim-vit-base-800ep"].detail  # Google Drive only
    recent = [c for c in choices if c.group == "Recent"]
    assert [(c.name, c.ready) for c in recent] == [("mine (file)", True), ("gone (file)", False)]
    runs = {c.name: c for c in choices if c.group == "Training runs"}
    assert runs["good final (training run)"].detail == "final · step 30/30, done · val 0.2302 (start 0.2653)"
    assert runs["good best (training run)"].detail == "best · val 0.2302 at step 30 (start 0.2653)"
    assert runs["worse best (training run)"].detail == "best · val 0.2653 at the starting model"
    assert runs["worse final (training run)"].detail.endswith("val 0.2938 (start 0.2653)")


def test_a_downloaded_catalogue_entry_is_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    target = url_target(find_entry("mae-vit-huge"))  # third in the catalogue
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    catalogue = [c for c in list_model_choices([], tmp_path / "none") if c.group == "Catalogue"]
    assert catalogue[0].source == "mae-vit-huge" and catalogue[0].ready and "downloaded" in catalogue[0].detail
    assert not any(c.ready for c in catalogue[1:])


def test_run_facts_of_an_unfinished_run_without_validation():
    facts = RunFacts.of([TrainEvent("start", 0, total_steps=100), TrainEvent("step", 7, loss=0.5)])
    assert facts.final_text() == "final · step 7/100, unfinished"
    assert facts.best_text() == "best · no validation recorded"


def test_check_source_explains_what_cannot_be_opened(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    name = next(iter(bundled_model_paths()))
    assert check_source(f"bundled:{name}") == ""
    assert "no bundled model named 'nope'" in check_source("bundled:nope")
    assert "not downloaded yet" in check_source("mae-vit-base")
    assert check_source(str(tmp_path / "missing.pth")).startswith("not found:")


def test_listing_imports_neither_torch_nor_qt():
    code = ("import sys, json; from maskviz.model_choices import list_model_choices; list_model_choices(); "
            "print(json.dumps(sorted(m for m in ('torch', 'PySide6') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
