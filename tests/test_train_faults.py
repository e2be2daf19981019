"""``maskviz train`` against faults: a second writer, lost or damaged training state, a full disk,
Ctrl-C during start-up, validation that cannot run; and the fine-tune defaults and validation split.

Tiny models on a dozen 40x48 images, as in test_train.py (its helpers are reused).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from test_train import REPO, child_env, cli, config, events, make_images, step_events

from maskviz.checkpoints import load_model
from maskviz.train import RunDir, TrainConfig, TrainError, resume, train
from maskviz.train.config import FINETUNE_LR, MIN_VAL_IMAGES, resolve
from maskviz.train.data import split_files
from maskviz.train.rundir import RunLock, read_lock, this_host

TORCH_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"  # what torch.save raises
SAFETENSORS_FULL = ('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left '
                    'on device" })')


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("data") / "imgs")


def warnings_of(run: Path) -> list[str]:
    return [e.message for e in events(run) if e.event == "warning"]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------ the lock


def test_a_second_writer_is_refused_naming_the_holder(images, tmp_path, capsys):
    run = tmp_path / "run"
    train(config(images, run, steps=4), stop_at=2)
    holder = RunLock(RunDir(run))
    holder.acquire()  # another trainer writing this folder
    try:
        assert cli("--resume", run) == 2
        err = capsys.readouterr().err
        assert f"being written by process {os.getpid()} on {this_host()}" in err
        assert cli("--data", images, "--model", "mae_vit_tiny_test", "--out", run, "--steps", 4) == 2
        assert "already holds a training run" in capsys.readouterr().err
        assert max(e.step for e in step_events(run)) == 2  # nothing written by the refused ones
    finally:
        holder.release()
    assert read_lock(RunDir(run)) is None  # released = nobody named
    assert resume(run).steps == 4


def test_a_new_run_on_a_locked_empty_folder_is_refused(images, tmp_path):
    run = RunDir(tmp_path / "run")
    with RunLock(run), pytest.raises(TrainError, match="being written by"):
        train(config(images, run.path, steps=2))
    assert not run.config.exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(images, tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.lock.write_text(f'{{"pid": {dead_pid()}, "host": "{this_host()}", "since": 0}}')
    assert train(config(images, run.path, steps=2)).reason == "done"
    assert any("took over the run folder's lock" in w for w in warnings_of(run.path))


def test_runs_go_to_the_runs_folder_by_default(images, tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_RUNS", str(tmp_path / "runs"))
    assert cli("--data", images, "--model", "mae_vit_tiny_test", "--steps", 1, "--batch", 2, "--val-split", 0) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "checkpoints" / "last.safetensors").exists() and read_lock(RunDir(run)) is None


# ------------------------------------------------------------------------------------ lost training state


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_resume_without_a_usable_state_continues_from_the_last_checkpoint(images, tmp_path, damage):
    run = tmp_path / "run"
    train(config(images, run, steps=10, save_every=4), stop_at=6)  # last save at step 6 (the stop)
    state = RunDir(run).state
    state.unlink() if damage == "missing" else state.write_bytes(b"not a torch file")
    result = resume(run)
    assert result.reason == "done" and result.steps == 10
    notes = warnings_of(run)
    assert any("resuming at step 6 from last.safetensors" in n and "optimiser state" in n for n in notes)
    assert [e.step for e in step_events(run)] == list(range(1, 11))  # steps 1-6 kept, not redone from 0


def test_resume_refuses_when_saved_progress_is_gone(images, tmp_path, capsys):
    run = tmp_path / "run"
    train(config(images, run, steps=10, save_every=2), stop_at=4)
    RunDir(run).state.unlink()
    RunDir(run).last.unlink()
    before = (run / "metrics.jsonl").read_text()
    assert cli("--resume", run) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert (run / "metrics.jsonl").read_text() == before  # no metrics deleted


def test_replaced_events_are_kept_aside(images, tmp_path):
    run = RunDir(tmp_path / "run")
    train(config(images, run.path, steps=8, save_every=100), stop_at=3)
    with open(run.metrics, "a") as fh:
        fh.write('{"event": "step", "step": 4, "loss": 9.0}\n')
    resume(run.path)
    assert '"loss": 9.0' in run.replaced.read_text() and '"loss": 9.0' not in run.metrics.read_text()


# ------------------------------------------------------------------------------------ full disk


def failing_after(calls: int, exc: BaseException):  # noqa: ANN201 - a writer stand-in
    """A writer that works ``calls`` times, then raises ``exc`` (what a full disk makes it raise)."""
    count = [0]

    def write(real, *args, **kwargs):  # noqa: ANN001, ANN202
        count[0] += 1
        if count[0] > calls:
            raise exc
        return real(*args, **kwargs)
    return write


@pytest.mark.parametrize("writer", ["torch", "torch-oserror", "safetensors"])
def test_a_full_disk_during_a_save_stops_with_a_plain_message(images, tmp_path, capsys, monkeypatch, writer):
    import maskviz.checkpoints.maskviz_format as fmt
    import maskviz.train.rundir as rundir

    if writer == "safetensors":
        real, patched = fmt.save_file, failing_after(1, SafetensorError(SAFETENSORS_FULL))
        monkeypatch.setattr(fmt, "save_file", lambda *a, **k: patched(real, *a, **k))
    else:
        exc = RuntimeError(TORCH_FULL) if writer == "torch" else OSError(errno.ENOSPC, "No space left on device")
        real, patched = rundir.torch.save, failing_after(1, exc)
        monkeypatch.setattr(rundir.torch, "save", lambda *a, **k: patched(real, *a, **k))
        monkeypatch.setattr(rundir, "free_space", lambda path: 1 << 20)  # what the file system says then
    run = tmp_path / "run"
    code = cli("--data", images, "--model", "mae_vit_tiny_test", "--out", run, "--steps", 12, "--batch", 4,
               "--save-every", 4, "--val-split", 0)
    err = capsys.readouterr().err
    assert code == 2 and "maskviz: error: disk full while writing" in err and "Traceback" not in err, err
    # The file whose write failed still holds the previous save (step 4), whole.
    if writer == "safetensors":
        assert load_model(run / "checkpoints" / "last.safetensors").info["steps"] == 4
    else:
        assert torch.load(run / "checkpoints" / "train_state.pt", weights_only=True)["step"] == 4
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert [e.reason for e in events(run) if e.event == "end"] == ["error"]


# ------------------------------------------------------------------------------------ Ctrl-C at start-up


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_during_start_up_exits_130_without_a_traceback(images, tmp_path):
    for i, delay in enumerate((0.3, 1.5)):  # while Python, then PyTorch loads
        cmd = [sys.executable, "-m", "maskviz", "train", "--data", str(images), "--model", "mae_vit_tiny_test",
               "--out", str(tmp_path / f"run{i}"), "--steps", "100000", "--batch", "4"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (130, -signal.SIGINT), err.decode()
        assert b"Traceback" not in err, err.decode()


# ------------------------------------------------------------------------------------ validation


def test_the_starting_model_is_validated_at_step_0_on_enough_views(images, tmp_path):
    run = tmp_path / "run"
    result = train(config(images, run, steps=4, val_every=2, model=_saved_tiny(tmp_path)))
    first = [e for e in events(run) if e.event == "step"][0]
    assert first.step == 0 and first.loss is None and first.val_loss > 0
    c = RunDir(run).read()[0]
    assert c.val_min == MIN_VAL_IMAGES and c.val_crops * 3 >= 16  # 3 held out (12 // 4), crops make up 16
    assert result.best_checkpoint is not None


def test_a_tiny_split_is_called_out(tmp_path):
    folder = make_images(tmp_path / "few", n=6)
    run = tmp_path / "run"
    train(config(folder, run, steps=2))
    assert any("only 1 held-out image" in w and "best checkpoint" in w for w in warnings_of(run))


def test_validation_that_cannot_run_says_so(tmp_path):
    folder = make_images(tmp_path / "imgs", n=8)
    files = sorted(folder.iterdir())
    for f in split_files(files, 0.1, 0, MIN_VAL_IMAGES)[1]:
        f.write_bytes(f.read_bytes()[:60])  # the header opens, the pixels do not decode
    run = tmp_path / "run"
    result = train(config(folder, run, steps=4, val_every=2))
    assert result.reason == "done" and result.val_loss is None
    notes = [n for n in warnings_of(run) if "validation cannot run" in n]
    assert len(notes) == 1 and "img" in notes[0]  # said once, naming the image
    assert "validation cannot run" in (run / "train.log").read_text()


def test_held_out_images_scale_with_the_folder():
    files = [Path(f"{i}.png") for i in range(40)]
    assert [len(split_files(files[:n], 0.1, 0, MIN_VAL_IMAGES)[1]) for n in (2, 9, 16, 40)] == [1, 2, 4, 4]


# ------------------------------------------------------------------------------------ learning-rate defaults


@pytest.mark.parametrize("pretrained, given, lr, rule, warmup", [
    (True, {}, FINETUNE_LR, "finetune", 15),
    (False, {}, 1.5e-4 * 16 / 256, "blr", 30),
    (True, {"blr": 1e-3}, 1e-3 * 16 / 256, "blr", 30),
    (True, {"lr": 5e-5}, 5e-5, "given", 30),
])
def test_fine_tuning_a_pretrained_model_gets_its_own_lr(pretrained, given, lr, rule, warmup):
    c = TrainConfig(data="d", model="m", out="o", steps=300, batch=16, **given)
    r = resolve(c, train_images=50, val_images=5, world_size=1, family="mae", pretrained=pretrained)
    assert r.lr == pytest.approx(lr) and r.lr_rule == rule and r.warmup_steps == warmup
    assert resolve(r, train_images=50, val_images=5, world_size=1, family="mae", pretrained=False) == r
    assert ("fine-tune default" in r.describe_lr()) == (rule == "finetune")


def _saved_tiny(tmp_path: Path) -> str:
    from maskviz.checkpoints import save_model
    from maskviz.models import create_model

    path = tmp_path / "tiny.safetensors"
    save_model(create_model("mae_vit_tiny_test"), path)
    return str(path)
