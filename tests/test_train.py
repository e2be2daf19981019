"""``maskviz train``: learning, exact resume, clean stops, torchrun, plain errors, the event schema.

Everything runs the 32 px test models on a dozen generated 40×48 images, so a run is a second.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.checkpoints import load_model
from maskviz.cli import main
from maskviz.errors import MaskError
from maskviz.masks import parse_mask_spec
from maskviz.models import create_model, get_config
from maskviz.train import EventTail, TrainConfig, TrainError, read_events, resume, train
from maskviz.train.config import resolve
from maskviz.train.data import MaskMaker, SampleStream, TrainBatches, augment, random_resized_crop_box
from maskviz.train.events import TrainEvent, write_event
from maskviz.train.optim import build_optimizer, lr_at

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ helpers


def make_images(folder: Path, n: int = 12, seed: int = 0) -> Path:
    """Smooth random colour waves: learnable structure, nothing to download."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:40] / 40.0
    for i in range(n):
        f = rng.uniform(0.5, 2.5, size=(3, 2))
        phase = rng.uniform(0, 6, size=3)
        arr = np.stack([np.sin(f[c, 0] * xx + f[c, 1] * yy + phase[c]) for c in range(3)], axis=-1)
        Image.fromarray(((arr + 1) * 127.5).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("data") / "imgs")


def config(data: Path, out: Path, **kw) -> TrainConfig:
    base = {"steps": 12, "batch": 4, "lr": 2e-3, "val_every": 4, "log_every": 100}
    return TrainConfig(data=str(data), model=kw.pop("model", "mae_vit_tiny_test"), out=str(out), **{**base, **kw})


def events(run: Path) -> list[TrainEvent]:
    return read_events(run / "metrics.jsonl")[0]


def step_events(run: Path) -> list[TrainEvent]:
    """The optimizer steps' events (not the starting model's validation, step 0)."""
    return [e for e in events(run) if e.event == "step" and e.step > 0]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).model.state_dict()


def cli(*args: str) -> int:
    return main(["train", *map(str, args)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


# ------------------------------------------------------------------------------------ training


def test_tiny_model_learns(images, tmp_path):
    result = train(config(images, tmp_path / "run", steps=40, batch=8, lr=4e-3, val_split=0.0))
    losses = [e.loss for e in step_events(tmp_path / "run")]
    assert result.reason == "done" and len(losses) == 40
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5])
    assert result.best_checkpoint is None  # no held-out images, nothing to call "best"
    info = load_model(result.last_checkpoint).info
    assert info["steps"] == 40 and info["train_images"] == 12 and info["base_model"].startswith("new mae_vit_tiny")


def test_run_folder_contents(images, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli("--data", images, "--model", "mae_vit_tiny_test", "--out", run, "--steps", 8, "--batch", 4,
               "--val-every", 4, "--blr", 1e-3, "--accum", 2, "--jsonl") == 0
    captured = capsys.readouterr()
    printed = [json.loads(line) for line in captured.out.splitlines()]
    end = captured.err.splitlines()[-2:]  # where the checkpoints are, then the panel's verdict
    assert end[0].startswith(f"done after 8/8 steps: {run / 'checkpoints' / 'last.safetensors'}, best ")
    assert " vs the starting model (" in end[1] and end[1].startswith("Validation ")
    assert printed == [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    doc = json.loads((run / "config.json").read_text())
    c = doc["config"]
    assert c["lr"] == pytest.approx(1e-3 * 8 / 256) and c["mask"] == "random:0.75" and c["warmup_steps"] == 1
    assert doc["plan"]["effective_batch"] == 8 and doc["plan"]["val_images"] == 3  # 12 // 4 (MIN_VAL_IMAGES rule)
    assert c["command"].startswith("maskviz train --data")
    state = torch.load(run / "checkpoints" / "train_state.pt", weights_only=True)
    assert state["step"] == 8
    kinds = [e.event for e in events(run)]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 9  # step 0 = the starting model
    assert kinds.count("warning") == 1  # 3 held-out images: too few to trust "best"
    vals = [e.step for e in step_events(run) if e.val_loss is not None]
    assert vals == [4, 8]
    best = load_model(run / "checkpoints" / "best.safetensors").info
    assert best["val_loss"] == best["best_val_loss"] and best["data_dir"] == images.name
    assert str(tmp_path) not in json.dumps(best)  # no machine paths in a model file (run_dir, recipe, command)
    assert best["run_dir"] == run.name and best["recipe"]["data"] == images.name
    assert "step 8/8" in (run / "train.log").read_text()


def test_resume_equals_uninterrupted_run(images, tmp_path):
    cfg = {"steps": 10, "accum": 2, "val_every": 3, "save_every": 4}
    train(config(images, tmp_path / "a", **cfg))
    first = train(config(images, tmp_path / "b", **cfg), stop_at=5)
    assert first.reason == "stopped" and first.steps == 5
    second = resume(tmp_path / "b")
    assert second.reason == "done" and second.steps == 10
    wa, wb = weights(tmp_path / "a/checkpoints/last.safetensors"), weights(tmp_path / "b/checkpoints/last.safetensors")
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-6
    curve = [(e.step, e.loss, e.val_loss) for e in step_events(tmp_path / "a")]
    assert curve == [(e.step, e.loss, e.val_loss) for e in step_events(tmp_path / "b")]
    assert [e.reason for e in events(tmp_path / "b") if e.event == "end"] == ["stopped", "done"]


@pytest.mark.parametrize("during", ["forward", "backward"])
def test_a_stop_during_a_step_drops_it_and_the_resume_redoes_it(images, tmp_path, monkeypatch, during):
    """The panel's Stop (SIGTERM) mid-step: that step never reaches the weights, the run saves the one before."""
    from maskviz.models.mae import MAEViT
    from maskviz.train import StopFlag

    cfg = {"steps": 6, "val_every": 3, "save_every": 100}
    train(config(images, tmp_path / "a", **cfg))
    flag, forwards, forward = StopFlag(), [], MAEViT.forward

    def stop_in_step_4(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = forward(self, *args, **kwargs)
        if self.training:
            forwards.append(1)
            if len(forwards) == 4 and during == "forward":
                flag.signum = signal.SIGTERM  # arrives while step 4's forward runs
            elif len(forwards) == 4:  # arrives when step 4's backward has begun
                out.register_hook(lambda grad: setattr(flag, "signum", signal.SIGTERM))
        return out

    monkeypatch.setattr(MAEViT, "forward", stop_in_step_4)
    first = train(config(images, tmp_path / "b", **cfg), flag)
    assert first.reason == "stopped" and first.steps == 3 and len(forwards) == 4  # no backward, no step 4
    assert load_model(tmp_path / "b/checkpoints/last.safetensors").info["steps"] == 3
    assert "stop asked during step 4" in (tmp_path / "b/train.log").read_text()
    monkeypatch.setattr(MAEViT, "forward", forward)
    assert resume(tmp_path / "b").steps == 6
    wa, wb = weights(tmp_path / "a/checkpoints/last.safetensors"), weights(tmp_path / "b/checkpoints/last.safetensors")
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-6


def test_resume_drops_events_past_the_saved_step(images, tmp_path):
    """A crash after the last save leaves later events (and maybe a torn line); resume rewrites them."""
    run = tmp_path / "run"
    train(config(images, run, steps=8, save_every=100), stop_at=3)
    with open(run / "metrics.jsonl", "a") as fh:
        write_event(fh, TrainEvent("step", 4, loss=9.0))
        fh.write('{"event": "st')
    resume(run)
    steps = [e.step for e in step_events(run)]
    assert steps == list(range(1, 9)) and all(e.loss != 9.0 for e in step_events(run))


def start_long_run(images: Path, run: Path, *options: str, steps: int = 3) -> subprocess.Popen:
    """``maskviz train`` in a child process, returned once it has made ``steps`` steps."""
    cmd = [sys.executable, "-m", "maskviz", "train", "--data", str(images), "--model", "mae_vit_tiny_test",
           "--out", str(run), "--steps", "100000", "--batch", "4", *options]
    proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180  # spawned data workers import PyTorch too: slow on a busy machine
    while len(step_events(run)) < steps:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(proc.stderr.read().decode())
        time.sleep(0.05)
    return proc


def test_sigint_stops_cleanly(images, tmp_path):
    run = tmp_path / "run"
    proc = start_long_run(images, run, "--val-every", "5")
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err.decode()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is complete JSON
    assert parsed[-1]["event"] == "end" and parsed[-1]["reason"] == "stopped"
    last_step = parsed[-2]["step"]
    assert load_model(run / "checkpoints" / "last.safetensors").info["steps"] == last_step
    assert torch.load(run / "checkpoints" / "train_state.pt", weights_only=True)["step"] == last_step
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_torchrun_two_processes(images, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "maskviz", "train", "--data", str(images),
           "--model", "mae_vit_tiny_test", "--out", str(run), "--steps", "6", "--batch", "4", "--val-every", "3",
           "--lr", "2e-3"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=child_env(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("metrics.jsonl")] == [Path("ddp/metrics.jsonl")]
    kinds = [e.event for e in events(run)]
    assert kinds == ["start", "warning"] + ["step"] * 7 + ["end"]  # step 0 validates; 3 held out is few
    assert sorted(p.name for p in run.rglob("*")) == sorted(
        ["checkpoints", "config.json", "metrics.jsonl", "train.log", "best.safetensors", "last.safetensors",
         "train_state.pt", "run.lock"])
    assert json.loads((run / "config.json").read_text())["plan"]["effective_batch"] == 8
    # The sample stream does not depend on the process count: one process with the whole batch agrees.
    single = tmp_path / "single"
    train(config(images, single, steps=6, batch=8, val_every=3))
    ddp_losses = [e.loss for e in step_events(run)]
    assert ddp_losses == pytest.approx([e.loss for e in step_events(single)], rel=1e-3)


@pytest.mark.parametrize("name", ["simmim_vit_tiny_test", "simmim_swin_tiny_test"])
def test_simmim_trains(images, tmp_path, name):
    result = train(config(images, tmp_path / "run", model=name, steps=4, val_every=2))
    doc = json.loads((tmp_path / "run" / "config.json").read_text())
    assert doc["config"]["mask"] == "simmim:0.6" and doc["plan"]["family"] == "simmim"
    assert result.best_val_loss is not None and all(math.isfinite(e.loss) for e in step_events(tmp_path / "run"))
    assert load_model(result.last_checkpoint).config.family == "simmim"


def test_continue_from_checkpoint(images, tmp_path):
    first = train(config(images, tmp_path / "a", steps=3))
    second = train(config(images, tmp_path / "b", model=str(first.last_checkpoint), steps=2))
    assert load_model(second.last_checkpoint).info["base_model"].startswith("maskviz checkpoint")


# ------------------------------------------------------------------------------------ errors


def error_line(capsys, *args) -> str:
    assert cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = error_line(capsys, "--data", tmp_path / "empty", "--model", "mae_vit_tiny_test", "--out", tmp_path / "r",
                     "--steps", 2)
    assert "no image files in" in err and not (tmp_path / "r").exists()


def test_only_unreadable_files(tmp_path, capsys):
    bad = tmp_path / "bad"
    (bad / "sub").mkdir(parents=True)
    (bad / "a.png").write_bytes(b"not a png")
    (bad / "sub" / "b.jpg").write_bytes(b"")
    (bad / "notes.txt").write_text("hello")
    err = error_line(capsys, "--data", bad, "--model", "mae_vit_tiny_test", "--out", tmp_path / "r", "--steps", 2)
    assert "no readable images" in err and "all 2 image files were skipped" in err


def test_unreadable_files_are_skipped_and_counted(images, tmp_path):
    data = make_images(tmp_path / "mixed", n=6)
    (data / "broken.png").write_bytes(b"garbage")
    result = train(config(data, tmp_path / "run", steps=2))
    assert load_model(result.last_checkpoint).info["skipped_files"] == 1


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert "is not a maskviz training run" in error_line(capsys, "--resume", tmp_path / "x")


def test_resume_refuses_new_recipe_options(images, tmp_path, capsys):
    train(config(images, tmp_path / "run", steps=2))
    assert "drop --batch" in error_line(capsys, "--resume", tmp_path / "run", "--batch", 8)


def test_existing_run_is_not_overwritten(images, tmp_path, capsys):
    train(config(images, tmp_path / "run", steps=1))
    assert "already holds a training run" in error_line(
        capsys, "--data", images, "--model", "mae_vit_tiny_test", "--out", tmp_path / "run", "--steps", 1)


@pytest.mark.parametrize(("mask", "message"), [
    ("simmim:0.6,mask_patch=24", "varying number of patches"),  # 2×2 coarse cells cropped to a 4×4 grid
    ("none", "hides no patches"),
])
def test_mask_unusable_for_mae(images, tmp_path, capsys, mask, message):
    err = error_line(capsys, "--data", images, "--model", "mae_vit_tiny_test", "--out", tmp_path / "r",
                     "--steps", 2, "--mask", mask)
    assert message in err


def test_disk_full_leaves_no_partial_checkpoint(images, tmp_path, monkeypatch):
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("maskviz.checkpoints.maskviz_format.save_file", full)
    with pytest.raises(TrainError, match="disk full while writing .*last.safetensors"):
        train(config(images, tmp_path / "run", steps=2, val_split=0.0))
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir()]
    end = events(tmp_path / "run")[-1]
    assert end.event == "end" and end.reason == "error" and "disk full" in end.message


def test_out_of_memory_advice(images, tmp_path, monkeypatch):
    def oom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr("maskviz.models.mae.MAEViT.forward", oom)
    with pytest.raises(TrainError, match="out of memory .* smaller --batch .* --accum"):
        train(config(images, tmp_path / "run", steps=2))


# ------------------------------------------------------------------------------------ pieces


def test_read_events_tolerates_a_partial_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    with open(path, "w") as fh:
        write_event(fh, TrainEvent("start", 0, total_steps=3))
        write_event(fh, TrainEvent("step", 1, loss=float("nan"), lr=0.1))
        fh.write("not json\n")
        fh.write('{"event": "step", "st')
    got, offset = read_events(path)
    assert [e.event for e in got] == ["start", "step"] and got[1].loss is None  # NaN is written as null
    with open(path, "a") as fh:
        fh.write('ep": 2, "loss": 0.5}\n')
    more, _ = read_events(path, offset)
    assert [(e.step, e.loss) for e in more] == [(2, 0.5)]


def test_event_tail_follows_a_rewritten_file(tmp_path):
    path = tmp_path / "m.jsonl"
    tail = EventTail(path)
    assert tail.poll() == ([], False)
    with open(path, "w") as fh:
        write_event(fh, TrainEvent("step", 1, loss=1.0))
        write_event(fh, TrainEvent("step", 2, loss=2.0))
    assert [e.step for e in tail.poll()[0]] == [1, 2]
    tmp = tmp_path / "new"
    with open(tmp, "w") as fh:
        write_event(fh, TrainEvent("step", 1, loss=1.0))
    os.replace(tmp, path)
    got, reset = tail.poll()
    assert reset and [e.step for e in got] == [1]


def test_lr_schedule():
    assert lr_at(0, 100, 10, 1.0) == 0.0
    assert lr_at(5, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0, 0.1) == pytest.approx(0.55)
    assert lr_at(100, 100, 10, 1.0, 0.1) == pytest.approx(0.1)


def test_lr_rule_uses_the_effective_batch():
    c = resolve(TrainConfig(data="d", model="m", out="o", epochs=2, batch=16, accum=4), train_images=1000,
                val_images=100, world_size=2, family="mae", pretrained=False)
    assert c.lr == pytest.approx(1.5e-4 * 128 / 256) and c.steps == 16 and c.warmup_steps == 2
    assert resolve(c, train_images=1000, val_images=100, world_size=2, family="mae", pretrained=True) == c


def test_weight_decay_groups_follow_the_official_recipes():
    def decayed(name: str) -> set[str]:
        model = create_model(name)
        opt = build_optimizer(model, 1e-3, 0.05)
        ids = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
        return {n for n, p in model.named_parameters() if id(p) in ids}

    mae = decayed("mae_vit_tiny_test")
    assert "blocks.0.attn.qkv.weight" in mae and "cls_token" in mae and "mask_token" in mae  # as official MAE
    assert not any(n.endswith(".bias") or "norm" in n or "pos_embed" in n for n in mae)
    simmim = decayed("simmim_vit_tiny_test")
    assert "encoder.cls_token" not in simmim and "encoder.mask_token" in simmim
    assert "encoder.rel_pos_bias.relative_position_bias_table" in simmim  # ViT lists no keywords
    swin = decayed("simmim_swin_tiny_test")
    assert "encoder.mask_token" not in swin and "encoder.layers.0.blocks.0.attn.qkv.weight" in swin
    assert not any("relative_position_bias_table" in n for n in swin)  # official keyword exemption


@pytest.mark.parametrize("workers", [0, 2])
def test_loaded_batches_and_warnings_are_the_streams_own(images, tmp_path, workers):
    """Through the DataLoader, in line or split among worker processes: the stream's samples, masks and
    skip warnings, in the keys' order."""
    cfg = get_config("mae_vit_tiny_test")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    files = [tmp_path / "broken.png", *sorted(images.glob("*.png"))]
    inline = SampleStream(files, 5, cfg, MaskMaker("random:0.75", cfg), synthetic=0.3, augmentation="strong")
    warned: list[str] = []
    loaded = SampleStream(files, 5, cfg, MaskMaker("random:0.75", cfg), warn=warned.append, synthetic=0.3,
                          augmentation="strong")
    keys = [(0, 13), (13, 13), (26, 13), (100, 13)]
    batches = TrainBatches(loaded, lambda: iter(keys), workers)
    try:
        for first, count in keys:
            got, want = batches.next(first, count), inline.batch(first, count)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        with pytest.raises(StopIteration):
            batches.next(200, 13)  # the keys said where the run ends
    finally:
        batches.close()
    assert warned and all("broken.png" in w for w in warned)


def test_strong_augmentation_varies_orientation_and_colour():
    """An image with one red top-left corner: strong views move the corner and change its colour."""
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[:16, :16] = (255, 0, 0)
    img = Image.fromarray(arr)
    corners, colours = set(), set()
    for seed in range(60):
        view = np.asarray(augment(img, 64, np.random.default_rng(seed), "strong")).astype(int)
        assert view.shape == (64, 64, 3)
        quads = [view[:32, :32], view[:32, 32:], view[32:, :32], view[32:, 32:]]
        brightest = int(np.argmax([q.sum() for q in quads]))
        corners.add(brightest)
        colours.add(int(np.argmax(quads[brightest].reshape(-1, 3).sum(axis=0))))
    assert corners == {0, 1, 2, 3} and colours == {0, 1, 2}
    again = augment(img, 64, np.random.default_rng(7), "strong")
    assert np.array_equal(np.asarray(again), np.asarray(augment(img, 64, np.random.default_rng(7), "strong")))
    mae_views = {int(np.argmax(np.asarray(augment(img, 64, np.random.default_rng(s))).reshape(-1, 3).sum(0)))
                 for s in range(20)}
    assert mae_views == {0}  # the official view never touches colour


def test_augment_and_workers_reach_the_recipe_and_resume(images, tmp_path):
    run = tmp_path / "run"
    assert cli("--data", images, "--model", "mae_vit_tiny_test", "--out", run, "--steps", 4, "--batch", 4,
               "--augment", "strong", "--workers", 1, "--stop-at", 2) == 0
    c = json.loads((run / "config.json").read_text())["config"]
    assert c["augment"] == "strong" and c["workers"] == 1
    assert cli("--resume", run, "--workers", 2) == 0  # speed only: allowed on resume
    assert [e.step for e in step_events(run)] == [1, 2, 3, 4]
    with pytest.raises(TrainError, match="--augment must be one of"):
        TrainConfig(data="d", model="m", out="o", steps=1, augment="heavy").validate()
    with pytest.raises(TrainError, match="--workers"):
        TrainConfig(data="d", model="m", out="o", steps=1, workers=-1).validate()


def test_random_resized_crop_stays_inside():
    rng = np.random.default_rng(0)
    for w, h in [(40, 48), (300, 20), (5, 400), (1, 1)]:
        for _ in range(50):
            left, top, cw, ch = random_resized_crop_box(w, h, rng)
            assert 0 <= left and 0 <= top and 0 < cw and 0 < ch and left + cw <= w and top + ch <= h


def _flat_folder(folder: Path, n: int = 4) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (40, 40), (30 * i, 90, 160)).save(folder / f"flat{i}.png")
    return folder


def test_synthetic_share_replaces_samples_with_dead_leaves(tmp_path):
    """--synthetic 1 trains on procedural images only; 0 keeps the photos (flat colours here)."""
    files = sorted(_flat_folder(tmp_path / "flat").glob("*.png"))
    cfg = get_config("mae_vit_tiny_test")
    masks = MaskMaker("random:0.75", cfg)
    photos, _ = SampleStream(files, 0, cfg, masks).batch(0, 8)
    leaves, _ = SampleStream(files, 0, cfg, masks, synthetic=1.0).batch(0, 8)
    assert float(photos.std(dim=(2, 3)).max()) < 1e-4  # every crop of a flat image is flat
    assert float(leaves.std(dim=(2, 3)).min()) > 0.05  # dead leaves have edges and shading
    again, _ = SampleStream(files, 0, cfg, masks, synthetic=1.0).batch(0, 8)
    assert torch.equal(leaves, again)


def test_synthetic_option_reaches_the_recipe(tmp_path):
    data = _flat_folder(tmp_path / "flat")
    assert cli("--data", str(data), "--model", "mae_vit_tiny_test", "--out", str(tmp_path / "run"),
               "--steps", "2", "--batch", "2", "--val-split", "0", "--synthetic", "0.5") == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["synthetic"] == 0.5
    with pytest.raises(TrainError, match="--synthetic"):
        TrainConfig(data="d", model="m", out="o", steps=1, synthetic=1.5).validate()


def test_decoded_cache_keeps_a_pixel_budget():
    from maskviz.train.data import DecodedCache

    cache, loads = DecodedCache(max_pixels=300), []

    def loader(key):
        loads.append(key)
        return Image.new("RGB", (10, 10))

    for key in (0, 1, 0, 2, 3, 0):
        cache.get(key, lambda key=key: loader(key))
    assert loads == [0, 1, 2, 3]  # 0 stayed (recently used), 1 was evicted first
    cache.get(1, lambda: loader(1))
    assert loads[-1] == 1


def test_data_workers_end_when_training_is_killed(images, tmp_path):
    """kill -9 of a run leaves no orphaned data processes behind."""
    proc = start_long_run(images, tmp_path / "run", "--workers", "2", steps=2)
    try:
        children = _children(proc.pid)
        assert len(children) >= 2
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(c) for c in children)
    finally:
        proc.kill()


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_mask_mixture_draws_one_spec_per_sample():
    """--mask A|B: each sample uses one of the specs (by its seed); one spec behaves as before."""
    cfg = get_config("simmim_vit_tiny_test")
    mixed = MaskMaker("random:0.25|random:0.75", cfg)
    counts = [int(mixed.make(seed).sum()) for seed in range(40)]
    assert set(counts) == {4, 12} and 10 < counts.count(4) < 30  # 16 patches: 25 % and 75 % hidden
    assert all(torch.equal(mixed.make(s), mixed.make(s)) for s in range(5))
    single = MaskMaker("random:0.75", cfg)
    spec = parse_mask_spec("random:0.75")
    assert all(np.array_equal(single.make(s).numpy(), spec.generate((4, 4), 8, seed=s).reshape(-1)) for s in range(5))
    with pytest.raises(TrainError, match="MAE needs the same count"):
        MaskMaker("random:0.25|random:0.75", get_config("mae_vit_tiny_test")).probe(0)


def test_mask_mixture_is_validated_and_trains(images, tmp_path):
    with pytest.raises(MaskError):
        TrainConfig(data="d", model="m", out="o", steps=1, mask="random:0.5|nope").validate()
    with pytest.raises(TrainError, match="mask file cannot be part of a mixture"):
        TrainConfig(data="d", model="m", out="o", steps=1, mask="random:0.5|file:m.png").validate()
    result = train(config(images, tmp_path / "run", model="simmim_vit_tiny_test", steps=2,
                          mask="random:0.4|block:0.5|simmim:0.6", workers=1))
    assert result.reason == "done"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["mask"] == (
        "random:0.4|block:0.5|simmim:0.6")
