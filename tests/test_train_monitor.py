"""What the training panel and the CLI say about a run, without Qt: history, verdict, texts, runs, names,
the child's command line, the cadence defaults and the before/after comparison's steps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.checkpoints import LoadedModel, load_model, save_model
from maskviz.cli import build_parser, run_model_note, train_end_lines
from maskviz.errors import MaskvizError
from maskviz.models import create_model
from maskviz.train import RunDir, TrainConfig, TrainError, TrainEvent
from maskviz.train.before_after import ViewerContext, comparison_steps
from maskviz.train.config import Plan, default_save_every, default_val_every, resolve
from maskviz.train.launch import (
    TextTail,
    TrainForm,
    TrainRequest,
    check_new_run,
    child_environment,
    form_request,
    judge_ending,
    lower_priority,
    parse_learning_rate,
    trainer_threads,
)
from maskviz.train.loop import TrainResult
from maskviz.train.monitor import (
    RunHistory,
    ema,
    ending_text,
    idle_text,
    progress_text,
    training_text,
    validation_verdict,
)
from maskviz.train.runs import (
    list_runs,
    lr_hint,
    model_argument,
    model_name,
    result_checkpoint,
    run_checkpoint_note,
    run_summary,
)


@pytest.fixture
def tiny_saved(tmp_path) -> str:
    path = tmp_path / "tiny.safetensors"
    save_model(create_model("mae_vit_tiny_test"), path)
    return str(path)


def step(n: int, loss: float | None = None, val: float | None = None, **kw) -> TrainEvent:
    return TrainEvent("step", n, loss=loss, val_loss=val, **kw)


# ---------------------------------------------------------------------------- history and verdict


def test_the_verdict_compares_validation_with_the_starting_model():
    steps, falling = list(range(1, 101)), [1.0 - 0.005 * s for s in range(1, 101)]
    v = validation_verdict([0, 20, 40, 60], [0.40, 0.36, 0.35, 0.34], steps, falling)
    assert v.text.startswith("validation -15.0 % vs the starting model (0.4000 → 0.3400)") and not v.bad
    v = validation_verdict([0, 20, 40, 60, 80], [0.40, 0.36, 0.37, 0.38, 0.39], steps, falling)
    assert v.bad and "not improved since step 20" in v.text and "training loss falls" in v.text
    v = validation_verdict([0, 20, 40, 60], [0.40, 0.41, 0.42, 0.42], steps, falling)
    assert v.bad and "not helping unseen images" in v.text and "starting model is as good or better" in v.text
    assert validation_verdict([], [], steps, falling).text == ""


def test_a_best_that_is_the_starting_model_is_said_even_in_a_short_run():
    v = validation_verdict([0, 5, 10], [0.2653, 0.2800, 0.2938], [1, 2], [0.3, 0.29])
    assert v.bad and v.text.startswith("validation +10.7 % vs the starting model (0.2653 → 0.2938)")
    assert "the best checkpoint is the starting model" in v.text
    assert v.sentence().startswith("Validation +10.7 %") and v.sentence().endswith(".")
    assert "starting model" not in validation_verdict([0, 5], [0.3, 0.2], [1], [0.3]).text.split(")", 1)[1]


def test_history_folds_events_and_a_resume_replaces_the_repeated_steps():
    events = [TrainEvent("start", 0, total_steps=6), step(0, val=0.5), step(1, 0.6), step(2, 0.5, 0.45),
              TrainEvent("warning", 2, message="tiny split"), step(3, 0.4), TrainEvent("end", 3, reason="stopped")]
    h = RunHistory.from_events(events)
    assert (h.steps, h.val_steps, h.total_steps, h.step, h.warnings) == ([1, 2, 3], [0, 2], 6, 3, ["tiny split"])
    assert h.end.reason == "stopped" and h.start_val == 0.5 and h.best_step == 2
    h.add([TrainEvent("start", 2, total_steps=6, resumed=True), step(3, 0.41), step(4, 0.39)])  # resumed at 2
    assert h.steps == [1, 2, 3, 4] and h.losses[-2:] == [0.41, 0.39] and h.end is None
    np.testing.assert_allclose(h.smoothed, ema(h.losses))  # kept up to date incrementally, same numbers
    assert "-10.0 % vs the starting model" in h.verdict().text


def test_texts_follow_the_runs_state():
    e = step(40, 0.3, images_per_s=12.0, eta_s=30.0)
    assert progress_text(e, 100) == "step 40/100 · 12.0 img/s · ETA 0:30"
    assert progress_text(e, 100, running=False) == "step 40/100" and progress_text(None, 100) == "step 0/100"
    h = RunHistory.from_events([TrainEvent("start", 0, total_steps=300), step(0, val=0.5), step(1, 0.5, 0.45)])
    assert training_text("run", h).startswith("Training run: step 1/300 · loss 0.5000 (smoothed) · validation")
    assert ending_text("stopped", "", 5, 10) == "Stopped at step 5/10. Resume continues from its last checkpoint."
    assert ending_text("error", "disk full", 5, 10) == "The run failed at step 5/10: disk full"


# ---------------------------------------------------------------------------- runs and names


def make_run(root: Path, name: str, events: list[TrainEvent], best_step: int | None = 3,
             last_step: int = 10) -> RunDir:
    run = RunDir(root / name)
    config = TrainConfig(data="d", model="mae_vit_tiny_test", out=str(run.path), steps=10, batch=2)
    run.create(config, Plan(1, 2, 7, 1, 0, "x", "mae", {}, "new mae_vit_tiny_test"))
    run.metrics.write_text("".join(e.to_json() + "\n" for e in events))
    model = create_model("mae_vit_tiny_test")
    save_model(model, run.last, {"steps": last_step, "total_steps": 10})
    if best_step is not None:
        save_model(model, run.best, {"steps": best_step, "total_steps": 10, "best_val_loss": 0.25})
    return run


def test_runs_are_listed_newest_first_with_their_state(tmp_path):
    old = make_run(tmp_path, "a", [TrainEvent("start", 0, total_steps=10), step(10, 0.2),
                                   TrainEvent("end", 10, reason="done")])
    os.utime(old.path, (time.time() - 100, time.time() - 100))
    new = make_run(tmp_path, "b", [TrainEvent("start", 0, total_steps=10), step(4, 0.3)])
    (tmp_path / "not-a-run").mkdir()
    assert [r.path.name for r in list_runs(tmp_path)] == ["b", "a"]
    assert run_summary(old) == ("done", "a — done, step 10/10")
    assert run_summary(new) == ("unfinished", "b — unfinished, step 4/10")
    assert result_checkpoint(new) == new.last and result_checkpoint(new, "best") == new.best


def test_the_note_says_which_checkpoint_of_a_run_opened_and_why(tmp_path):
    run = make_run(tmp_path, "r", [], best_step=3)
    note = run_checkpoint_note(run, run.best, load_model(run.best).info)
    assert note == ("run r: opened checkpoints/best.safetensors, the lowest validation loss (0.2500 at step 3 of "
                    "10); the final model is checkpoints/last.safetensors")
    start = make_run(tmp_path, "s", [], best_step=0)
    note = run_checkpoint_note(start, start.best, load_model(start.best).info)
    assert "which is the starting model (step 0)" in note and "checkpoints/last.safetensors (step 10)" in note
    unvalidated = make_run(tmp_path, "u", [], best_step=None)
    loaded = load_model(unvalidated.path)  # a run folder opens its best checkpoint, else the last
    assert run_model_note(str(unvalidated.path), loaded).endswith("the run has no best checkpoint (it did not "
                                                                  "validate)")
    assert run_model_note(str(start.path), load_model(start.path)).startswith("run s: opened checkpoints/best")
    assert run_model_note(str(start.last), load_model(start.last)) == ""  # a file, not a run folder


def test_models_are_named_readably(tmp_path):
    snapshot = tmp_path / "hub" / "models--facebook--vit-mae-base" / "snapshots" / ("0123456789abcdef" * 2 + "01234567")
    snapshot.mkdir(parents=True)
    hub = LoadedModel(create_model("mae_vit_tiny_test"), str(snapshot), "hf-vitmae")
    assert model_name(None, hub) == model_name("hf-vit-mae-base", hub) == "hf-vit-mae-base (catalogue)"  # no hash
    run = make_run(tmp_path, "20240101-1200", [])
    tuned = load_model(run.last)
    assert model_name(str(run.last), tuned) == "20240101-1200 final (training run), step 10"
    assert model_name(str(run.best), load_model(run.best)) == "20240101-1200 best (training run), step 3"
    assert model_name(str(run.path), load_model(run.path)) == "20240101-1200 best (training run), step 3"
    from maskviz.bundled import bundled_model_paths

    for name, path in bundled_model_paths().items():
        assert model_name(None, LoadedModel(tuned.model, str(path), "maskviz")) == f"{name} (bundled)"
    builtin = LoadedModel(create_model("mae_vit_tiny_test"), "builtin:mae_vit_tiny_test", "builtin")
    assert model_name(None, builtin) == "mae_vit_tiny_test (random weights)"
    assert model_argument(builtin) == "mae_vit_tiny_test"
    assert model_argument(tuned, "bundled:mae_small") == "bundled:mae_small"  # a name the trainer resolves itself
    relative = LoadedModel(tuned.model, os.path.relpath(run.last), "maskviz")
    assert Path(model_argument(relative)).is_absolute()  # the trainer runs in its run folder
    assert lr_hint(tuned, 32)[0] == "0.0001" and lr_hint(builtin, 256)[0] == "0.00015"


# ---------------------------------------------------------------------------- the child process


def test_the_panels_command_line_is_one_the_cli_accepts_with_the_same_cadence(tmp_path):
    request = TrainRequest(str(tmp_path / "-odd data"), "mae_vit_tiny_test", str(tmp_path / "run"), 250, 8,
                           "block:0.5", 2e-4, augment="strong", workers=2, amp="bf16", device="cpu")
    args = build_parser().parse_args(["train", *request.arguments()])
    assert (args.data, args.model, args.steps, args.batch, args.mask, args.lr) == (
        request.data, "mae_vit_tiny_test", 250, 8, "block:0.5", 2e-4)
    assert (args.augment, args.workers, args.amp, args.device) == ("strong", 2, "bf16", "cpu")
    assert not hasattr(args, "val_every") and not hasattr(args, "save_every")  # the CLI's defaults, as typed
    plain = " ".join(TrainRequest("d", "m", "o", 10, 1).arguments())
    assert "--mask" not in plain and "--augment" not in plain and "--device" not in plain


@pytest.mark.parametrize("steps, val, save", [(1, 5, 10), (10, 5, 10), (30, 5, 10), (400, 40, 40),
                                               (2000, 100, 200), (10**6, 100, 500)])
def test_validation_and_saves_are_never_every_step(steps, val, save):
    assert (default_val_every(steps), default_save_every(steps)) == (val, save)
    c = resolve(TrainConfig(data="d", model="m", out="o", steps=steps, batch=8), train_images=40, val_images=4,
                world_size=1, family="mae", pretrained=True)
    assert (c.val_every, c.save_every) == (val, save)
    given = resolve(TrainConfig(data="d", model="m", out="o", steps=steps, batch=8, val_every=1), train_images=40,
                    val_images=4, world_size=1, family="mae", pretrained=True)
    assert given.val_every == 1  # what the user asks for still goes


def test_the_form_becomes_the_request_the_trainer_would_accept(tmp_path, tiny_saved):
    form = TrainForm(folder="typed", out=str(tmp_path / "new"), steps=20, batch=4, lr=" 2e-4 ")
    assert form_request(form, None, None, None, tmp_path).arguments()[:2] == ["--data=typed", "--model=MODEL"]
    request = form_request(form, tmp_path / "imgs", load_model(tiny_saved), None, tmp_path)
    assert (request.data, request.model, request.lr) == (str(tmp_path / "imgs"), tiny_saved, 2e-4)
    for lr in ("fast", "-1", "nan"):
        with pytest.raises(TrainError, match="learning rate must be a positive number"):
            parse_learning_rate(lr)
    check_new_run(form, tmp_path)
    with pytest.raises(MaskvizError, match="stripes"):
        check_new_run(TrainForm(mask="stripes:9", out=str(tmp_path / "new")), tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainError, match="is a file"):
        check_new_run(TrainForm(out=str(tmp_path / "file")), tmp_path)
    run = make_run(tmp_path, "old", [])
    with pytest.raises(TrainError, match="already holds a training run"):
        check_new_run(TrainForm(out=str(run.path)), tmp_path)
    assert idle_text(True, 24, True, 150).startswith("Ready: 24 images, 150 steps")
    assert idle_text(False, 24, True, 150) == "Waiting for the viewer's model."


def test_the_child_gets_the_idle_cores_at_a_lower_priority():
    assert [trainer_threads(2, load) for load in (0.0, 0.9, 1.2, 12.0)] == [2, 2, 1, 1]
    assert trainer_threads(16, 2.5) == 14 and trainer_threads(1, 0.0) == 1
    env = child_environment({"PATH": "/bin"})
    assert 1 <= int(env["OMP_NUM_THREADS"]) <= (os.cpu_count() or 1) and env["PYTHONUNBUFFERED"] == "1"
    assert child_environment({"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"  # the user's choice stays
    if not hasattr(os, "setpriority"):
        pytest.skip("no process priorities on this platform")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lower_priority(child.pid)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    finally:
        child.kill()
        child.wait()


def test_the_ending_is_judged_from_the_end_event_first():
    stopped = TrainEvent("end", 5, reason="stopped")
    assert judge_ending(stopped, 143, False, True, False, [], 15).reason == "stopped"
    failed = TrainEvent("end", 5, reason="error", message="disk full while writing x")
    assert judge_ending(failed, 2, False, False, False, [], 15).message == "disk full while writing x"
    lines = ["log", "maskviz: error: no image files in /x"]
    assert judge_ending(None, 2, False, False, False, lines, 15).message == "no image files in /x"
    crash = judge_ending(None, 9, True, False, False, ["log"], 15)
    assert crash.reason == "error" and "smaller batch" in crash.message
    assert judge_ending(None, 9, True, True, True, [], 15).reason == "killed"


def test_text_tail_waits_for_whole_lines_and_stays_bounded(tmp_path):
    path = tmp_path / "out.log"
    path.write_text("old\n")
    tail = TextTail(path, limit=3)
    assert tail.poll() == []  # what was there before the run is not this run's
    with open(path, "a") as fh:
        fh.write("a\nb\npart")
    assert tail.poll() == ["a", "b"]
    with open(path, "a") as fh:
        fh.write("ial\nc\nd\n")
    assert tail.poll() == ["partial", "c", "d"]
    assert list(tail.lines) == ["partial", "c", "d"]


# ---------------------------------------------------------------------------- the CLI's last lines


def test_the_cli_ends_with_the_panels_verdict_and_names_a_best_that_is_the_starting_model(tmp_path):
    run = make_run(tmp_path, "r", [TrainEvent("start", 0, total_steps=30), step(0, val=0.2653),
                                   step(15, 0.3, 0.2800), step(30, 0.28, 0.2938)], best_step=0)
    result = TrainResult(run.path, "done", 30, 30, 0.28, 0.2938, 0.2653, run.last, run.best, 1.0, best_step=0)
    lines = train_end_lines(result)
    assert lines[0] == f"done after 30/30 steps: {run.last}, best {run.best} (the starting model, step 0)"
    assert lines[1] == RunHistory.from_events(
        [step(0, val=0.2653), step(15, 0.3, 0.28), step(30, 0.28, 0.2938)]).verdict().sentence()
    assert lines[1].startswith("Validation +10.7 % vs the starting model") and "starting model (no" in lines[1]


# ---------------------------------------------------------------------------- before / after


@pytest.fixture
def trained_run(tmp_path) -> tuple[RunDir, str]:
    """A run folder (as the trainer writes it) that started from a saved tiny model."""
    torch.manual_seed(0)
    base = tmp_path / "base.safetensors"
    save_model(create_model("mae_vit_tiny_test"), base)
    run = RunDir(tmp_path / "run")
    config = TrainConfig(data="d", model=str(base), out=str(run.path), steps=4, batch=2, mask="random:0.75")
    run.create(config, Plan(1, 2, 7, 1, 0, "x", "mae", {}, f"maskviz checkpoint {base}"))
    tuned = create_model("mae_vit_tiny_test")
    save_model(tuned, run.last, {"steps": 4})
    save_model(load_model(base).model, run.best, {"steps": 0})
    return run, str(base)


def _context(source: str, mask: np.ndarray | None = None) -> ViewerContext:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    mask = np.eye(4, dtype=bool) if mask is None else mask
    return ViewerContext(load_model(source), source, image, mask)


def _run_steps(gen) -> tuple[list[str], object]:  # noqa: ANN001
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as done:
        return steps, done.value


def test_the_comparison_uses_the_viewers_model_when_it_is_the_runs_base(trained_run, monkeypatch):
    run, base = trained_run
    import maskviz.train.loop as loop

    monkeypatch.setattr(loop, "build_model", lambda *_: pytest.fail("the base was rebuilt from its file"))
    context = _context(base)
    steps, c = _run_steps(comparison_steps(run.path, context, "last"))
    assert steps == ["loaded the fine-tuned model", "reconstructed with the starting model"]  # one forward each
    assert c.base_label == "base: base (file)" and c.tuned_label == "fine-tuned, final (step 4)"
    np.testing.assert_array_equal(c.tuned.mask, context.mask)
    assert c.base.loss != c.tuned.loss and c.checkpoint == run.last


def test_the_comparison_rebuilds_another_base_and_says_when_best_is_the_start(trained_run, tmp_path):
    run, base = trained_run
    other = tmp_path / "other.safetensors"
    save_model(create_model("mae_vit_tiny_test"), other)
    steps, c = _run_steps(comparison_steps(run.path, _context(str(other), np.zeros((4, 4), bool)), "best"))
    assert steps[0] == "built the starting model" and len(steps) == 3
    assert c.tuned_label == "best validation = the starting model (step 0)" and c.base.loss == c.tuned.loss
    assert "does not fit" not in c.note and "its best checkpoint is the starting model itself" in c.note
    misfit = _run_steps(comparison_steps(run.path, _context(base, np.zeros((2, 2), bool))))[1]
    assert "does not fit this model's 4×4 grid: showing random:0.75" in misfit.note
    whole = replace(_context(base, np.eye(4, dtype=bool)), view="tiles 32x32 px")  # a mask of a whole view's grid
    note = _run_steps(comparison_steps(run.path, whole))[1].note
    assert note == "the viewer's mask is on the tiles 32x32 px view's grid, and before/after shows the model's " \
                   "input: showing random:0.75"
