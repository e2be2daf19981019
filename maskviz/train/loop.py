"""The training loop: :func:`train` starts a run, :func:`resume` continues one as if never stopped.

Exactness comes from three choices: every random draw is derived from ``(seed, step, micro-step,
position)`` (see :mod:`maskviz.train.data`; the global torch generator is reseeded per step for
anything else, such as dropout), the learning rate is a pure function of the step, and the saved
state holds the weights, the AdamW moments and the fp16 scaler. Nothing else carries over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from torch.nn.parallel import DistributedDataParallel

from maskviz.checkpoints import load_model, save_model
from maskviz.device import autocast, check_precision
from maskviz.errors import MaskvizError
from maskviz.models.base import MaskedImageModel, config_from_dict
from maskviz.models.registry import MODEL_CONFIGS, create_model
from maskviz.sources import model_path
from maskviz.train.config import MIN_VAL_IMAGES, Plan, TrainConfig, TrainError, resolve
from maskviz.train.data import (
    MaskMaker,
    SampleStream,
    TrainBatches,
    ValSet,
    derived_seed,
    scan_images,
    split_files,
)
from maskviz.train.dist import World, start_world
from maskviz.train.events import TrainEvent
from maskviz.train.optim import build_optimizer, lr_at, set_lr
from maskviz.train.provenance import portable_info
from maskviz.train.rundir import (
    RUN_FORMAT,
    Reporter,
    RunDir,
    RunLock,
    describe_holder,
    disk_errors_explained,
    disk_full_error,
)
from maskviz.train.signals import StopFlag

StopFn = Callable[[], bool]
Streams = tuple[TextIO | None, TextIO | None]  # (human log lines, JSON events)
_TORCH_RNG = 7  # derived_seed tag of the per-step global torch seed
_PRECISION = {"none": "fp32", "bf16": "bf16", "fp16": "fp16"}


@dataclass
class TrainResult:
    """How a run ended (the same on every process)."""

    run_dir: Path
    reason: str  # "done" or "stopped"
    steps: int
    total_steps: int
    loss: float | None
    val_loss: float | None
    best_val_loss: float | None
    last_checkpoint: Path
    best_checkpoint: Path | None
    seconds: float
    best_step: int | None = None  # the step of the best validation (0: the starting model)


def train(config: TrainConfig, stop: StopFn | None = None, *, stop_at: int | None = None,
          echo: TextIO | None = None, jsonl: TextIO | None = None) -> TrainResult:
    """Start a new run in ``config.out``.

    ``stop`` is polled after every step (True → save and end with reason "stopped"; a
    :class:`~maskviz.train.signals.StopFlag` also during a step, which is then dropped); ``stop_at``
    ends the run the same way after that global step, so it can be resumed later. ``echo`` gets
    the human log lines, ``jsonl`` every event; both only on the main process.
    """
    config.validate()
    run = RunDir(config.out)
    run.check_new()
    world, device = start_world(config.device)
    try:
        with _writer_lock(run, world, new=True) as lock:
            return _Session.new(config, world, device, (echo, jsonl), lock).run(stop, stop_at)
    finally:
        world.close()


def resume(run_dir: str | Path, stop: StopFn | None = None, *, stop_at: int | None = None,
           device: str | None = None, workers: int | None = None, echo: TextIO | None = None,
           jsonl: TextIO | None = None) -> TrainResult:
    """Continue the run in ``run_dir`` from its last saved step with its saved config.

    ``device`` and ``workers`` may differ from the original run: neither changes the result."""
    run = RunDir(run_dir)
    config, plan = run.read()
    if workers is not None:
        config = dataclasses.replace(config, workers=workers)
        config.validate()
    world, dev = start_world(device or config.device)
    try:
        with _writer_lock(run, world, new=False) as lock:
            return _Session.resumed(run, config, plan, world, dev, (echo, jsonl), lock).run(stop, stop_at)
    finally:
        world.close()


@contextlib.contextmanager
def _writer_lock(run: RunDir, world: World, new: bool) -> Iterator[RunLock | None]:
    """The run folder's lock, held by the main process while it writes; a new run that fails before
    writing its config leaves no folder behind."""
    if not world.is_main:
        yield None
        return
    existed = run.path.exists()
    lock = RunLock(run)
    lock.acquire()
    try:
        if new:
            run.check_new()  # again, under the lock: another run may have created it meanwhile
        yield lock
    except BaseException:
        lock.release()
        if new and not existed and not run.config.exists():
            with contextlib.suppress(OSError):
                run.lock.unlink()
                run.path.rmdir()
        raise
    else:
        lock.release()


def build_model(config: TrainConfig) -> tuple[MaskedImageModel, str, dict[str, Any]]:
    """The starting model, where it came from (a checkpoint or a fresh init) and that checkpoint's own
    maskviz provenance, so a model trained in stages keeps the whole chain of recipes."""
    path = model_path(config.model)
    if path.exists():
        if config.img_size is not None:
            raise TrainError("--img-size only applies to a model trained from scratch, not to a checkpoint")
        loaded = load_model(path, norm_pix=config.norm_pix)
        return loaded.model, f"{loaded.format} checkpoint {path.resolve()}", loaded.info
    if config.model not in MODEL_CONFIGS:
        raise TrainError(f"--model {config.model!r} is neither a checkpoint nor a named architecture "
                         f"(see 'maskviz models')")
    base = MODEL_CONFIGS[config.model]
    changes: dict[str, Any] = {}
    if config.img_size is not None and config.img_size != base.img_size:
        if config.img_size % base.patch_size:
            raise TrainError(f"--img-size {config.img_size} is not a multiple of the patch size {base.patch_size}")
        changes.update(img_size=config.img_size, name="")
    if config.norm_pix is not None:
        changes["norm_pix_loss"] = config.norm_pix
    try:
        model_config = base.replace(**changes)
    except ValueError as exc:
        raise TrainError(f"cannot build {config.model}: {exc}") from None
    torch.manual_seed(config.seed)
    return create_model(model_config), f"new {config.model} (seed {config.seed})", {}


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """A resume may start from another folder: record where the images and the base model are."""
    model = model_path(config.model)
    return dataclasses.replace(config, data=str(Path(config.data).expanduser().resolve()),
                               model=str(model.resolve()) if model.exists() else config.model)


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and any(s in text for s in ("out of memory", "not enough memory",
                                                                  "can't allocate memory")))


class _Session:
    """One process's part in one invocation of a run: model, optimizer, data and bookkeeping."""

    def __init__(self, run: RunDir, config: TrainConfig, plan: Plan, model: MaskedImageModel, world: World,
                 device: torch.device, streams: Streams, files: tuple[list[Path], list[Path]],
                 warnings: list[str] | None = None) -> None:
        self.rundir, self.config, self.plan, self.world, self.device = run, config, plan, world, device
        self.model = model.to(device).train()
        self.net: torch.nn.Module = model
        if world.distributed:
            self.net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = build_optimizer(model, config.lr, config.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.precision = _PRECISION[config.amp]
        masks = MaskMaker(config.mask, model.config)
        self.reporter = Reporter(run if world.is_main else None, *streams)
        stream = SampleStream(files[0], config.seed, model.config, masks, warn=self.reporter.log,
                              synthetic=config.synthetic, augmentation=config.augment)
        # On a GPU one data process by default, so the next batches load while the model trains.
        self.batches = TrainBatches(stream, self._batch_keys, config.workers or int(device.type != "cpu"),
                                    pin_memory=device.type == "cuda")
        self.valset = ValSet(files[1], config.seed, model.config, masks, crops=config.val_crops or 1)
        self.step, self.loss, self.val_loss = 0, math.nan, math.nan
        self.best_val_loss, self.best_step = math.inf, -1
        self.resumed = False
        self.warnings = list(warnings or [])  # reported once the run is announced
        self._val_failed = False
        self._step_seconds: float | None = None
        self._interrupt: StopFn | None = None  # a stop that may drop the step in progress (see _loop)
        _watch_backward(self.model, self._check_interrupt)

    # ------------------------------------------------------------------ construction

    @classmethod
    def new(cls, config: TrainConfig, world: World, device: torch.device, streams: Streams,
            lock: RunLock | None = None) -> _Session:
        check_precision(_PRECISION[config.amp], device)
        config = _absolute_paths(config)
        run = RunDir(config.out)
        world.barrier()  # every process has looked before the main one creates the run
        folder = scan_images(config.data)
        val_min = MIN_VAL_IMAGES if config.val_min is None else config.val_min
        files = split_files(folder.files, config.val_split, config.seed, val_min)
        model, source, source_info = build_model(config)
        config = resolve(config, train_images=len(files[0]), val_images=len(files[1]), world_size=world.size,
                         family=model.config.family, pretrained=model_path(config.model).exists())
        MaskMaker(config.mask, model.config).probe(config.seed)
        plan = Plan(world.size, config.batch * config.accum * world.size, len(files[0]), len(files[1]),
                    folder.skipped, folder.fingerprint(), model.config.family, model.config.to_dict(), source,
                    source_info)
        if world.is_main:
            run.create(config, plan)
        return cls(run, config, plan, model, world, device, streams, files, [*_took_over(lock),
                                                                             *_split_warnings(config, plan)])

    @classmethod
    def resumed(cls, run: RunDir, config: TrainConfig, plan: Plan, world: World, device: torch.device,
                streams: Streams, lock: RunLock | None = None) -> _Session:
        check_precision(_PRECISION[config.amp], device)
        if plan.world_size != world.size:
            raise TrainError(f"{run.path} was trained by {plan.world_size} process(es); resume it with the "
                             f"same number (now {world.size})")
        folder = scan_images(config.data)
        if folder.fingerprint() != plan.images_fingerprint:
            raise TrainError(f"the images in {config.data} changed since the run started "
                             f"({plan.train_images + plan.val_images} then, {len(folder.files)} now); "
                             "resuming needs the same images")
        files = split_files(folder.files, config.val_split, config.seed, config.val_min or 0)
        state, weights, notes = _saved_progress(run, config)
        step = state["step"] if state else weights[1]["steps"] if weights else 0
        if world.is_main:  # before the reporter opens it for appending; a restart from 0 redoes step 0 too
            run.trim_metrics(step if step > 0 else -1)
        if weights is not None:
            model = weights[0]
        else:
            model = build_model(config)[0] if state is None else create_model(config_from_dict(plan.model_config))
        session = cls(run, config, plan, model, world, device, streams, files,
                      [*_took_over(lock), *notes, *_split_warnings(config, plan)])
        if state is not None:
            session.load_state(state)
        elif weights is not None:
            session.adopt_checkpoint(weights[1])
        session.resumed = True
        return session

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors, numbers and strings only (``weights_only`` loadable)."""
        return {
            "format": RUN_FORMAT, "version": 1, "step": self.step,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict()["state"],
            "scaler": self.scaler.state_dict(),
            "loss": self.loss, "val_loss": self.val_loss,
            "best_val_loss": self.best_val_loss, "best_step": self.best_step,
            "rng": {"scheme": "derived per step from (seed, step, micro-step, sample position)",
                    "seed": self.config.seed},
        }

    def adopt_checkpoint(self, info: dict[str, Any]) -> None:
        """Continue from a checkpoint's weights alone (the training state was lost): step and losses
        from its provenance, a fresh optimizer."""
        self.step = int(info["steps"])
        self.loss, self.val_loss = _float(info.get("train_loss")), _float(info.get("val_loss"))
        best, best_step = info.get("best_val_loss"), info.get("best_step")
        if best is not None and isinstance(best_step, int):
            self.best_val_loss, self.best_step = float(best), best_step

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        fresh = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": state["optimizer"], "param_groups": fresh["param_groups"]})
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.loss, self.val_loss = state["step"], state["loss"], state["val_loss"]
        self.best_val_loss, self.best_step = state["best_val_loss"], state["best_step"]

    # ------------------------------------------------------------------ the run

    def run(self, stop: StopFn | None, stop_at: int | None) -> TrainResult:
        """Train until done or stopped; every way out writes an end event."""
        start = time.time()
        try:
            self._announce()
            if self.step == 0 and len(self.valset):
                self._validate_start()
            reason = self._loop(stop, stop_at)
        except BaseException as exc:
            err = self._explain(exc)
            self._end("stopped" if isinstance(exc, KeyboardInterrupt) else "error", err)
            if err is exc:
                raise
            raise err from exc
        else:
            self._end(reason)
        finally:
            self.batches.close()
            self.reporter.close()
        return self._result(reason, time.time() - start)

    def _loop(self, stop: StopFn | None, stop_at: int | None) -> str:
        total = self.config.steps
        if stop_at is not None and self.step >= stop_at:
            return "stopped"
        # A signal's stop (Ctrl-C, the panel's Stop) is also heeded inside a step, in a single process:
        # the step is dropped before its forward or its backward, so a ViT-H run does not finish one
        # more step before saving. Other stop functions are polled once per step (a benchmark runs work
        # in them). Several processes must agree, so they only stop between steps.
        self._interrupt = stop if isinstance(stop, StopFlag) and not self.world.distributed else None
        while self.step < total:
            t0 = time.perf_counter()
            try:
                local_loss, lr = self._train_step()
            except _StepDropped:
                self.optimizer.zero_grad(set_to_none=True)
                self.reporter.log(f"stop asked during step {self.step + 1}: the step is dropped (a resume redoes "
                                  "it); saving")
                self._save_last()
                return "stopped"
            wants_stop = bool(stop and stop()) or (stop_at is not None and self.step + 1 >= stop_at)
            loss_sum, votes = self.world.sum([local_loss, float(wants_stop)], self.device)
            self.step, self.loss = self.step + 1, loss_sum / self.world.size
            if not math.isfinite(self.loss):
                raise TrainError(f"the loss became {self.loss} at step {self.step}: training diverged; "
                                 "try a lower --lr or --blr")
            self._after_step(lr, time.perf_counter() - t0, stopping=votes > 0)
            if votes > 0 and self.step < total:
                return "stopped"
        return "done"

    def _train_step(self) -> tuple[float, float]:
        """One optimizer step over ``accum`` micro-batches; returns this process's mean loss and the lr.

        A stop (``self._interrupt``) is checked before each forward, before each backward and in the
        backward after each block: it drops the step (``_StepDropped``) before anything of it reached
        the weights."""
        c, world = self.config, self.world
        lr = lr_at(self.step, c.steps, c.warmup_steps, c.lr, c.min_lr)
        set_lr(self.optimizer, lr)
        self._seed_torch()
        losses = []
        for micro in range(c.accum):
            imgs, mask = self.batches.next(self._first(self.step, micro), c.batch)
            imgs, mask = imgs.to(self.device, non_blocking=True), mask.to(self.device)
            sync = micro == c.accum - 1 or not world.distributed
            with contextlib.nullcontext() if sync else self.net.no_sync():
                self._check_interrupt()
                with autocast(self.device, self.precision):
                    loss = self.model.loss(imgs, self.net(imgs, mask), mask)
                self._check_interrupt()
                self.scaler.scale(loss / c.accum).backward()
            losses.append(loss.detach().float())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return float(torch.stack(losses).mean()), lr

    def _check_interrupt(self, _grad: torch.Tensor | None = None) -> None:
        if self._interrupt is not None and self._interrupt():
            raise _StepDropped

    def _first(self, step: int, micro: int) -> int:
        """Stream position of this process's first sample in a micro-batch (ranks take consecutive slices)."""
        c, world = self.config, self.world
        return ((step * c.accum + micro) * world.size + world.rank) * c.batch

    def _batch_keys(self) -> Iterator[tuple[int, int]]:
        """``(first position, count)`` of this process's micro-batches from the current step to the end."""
        c = self.config
        for step in range(self.step, c.steps):
            for micro in range(c.accum):
                yield self._first(step, micro), c.batch

    def _seed_torch(self) -> None:
        """Reseed the global generators from (seed, step, rank) for any layer that draws (dropout...).

        Cheaper than ``torch.manual_seed``, which visits every backend each time."""
        seed = derived_seed(self.config.seed, _TORCH_RNG, self.step, self.world.rank)
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)

    def _after_step(self, lr: float, seconds: float, stopping: bool) -> None:
        """Validate, report and save as the schedule (or a stop) asks."""
        c, step = self.config, self.step
        done = step == c.steps
        val = self._validate() if len(self.valset) and (step % c.val_every == 0 or done) else None
        ema = self._step_seconds
        self._step_seconds = seconds if ema is None else 0.9 * ema + 0.1 * seconds
        event = TrainEvent("step", step, loss=self.loss, lr=lr, images_per_s=self.plan.effective_batch / seconds,
                           eta_s=(c.steps - step) * self._step_seconds, epoch=self.plan.epoch_at(step),
                           val_loss=val, best_val_loss=self.best_val_loss if val is not None else None)
        self.reporter.event(event)
        if step % c.log_every == 0 or val is not None or done or stopping:
            self.reporter.log(_describe_step(event, c.steps))
        if step % c.save_every == 0 or done or stopping:
            self._save_last()

    def _validate_start(self) -> None:
        """The starting model's validation loss, as step 0: every curve starts where the model was."""
        val = self._validate()
        if val is not None:
            self.reporter.event(TrainEvent("step", 0, val_loss=val, best_val_loss=self.best_val_loss))
            self.reporter.log(f"step 0/{self.config.steps}  val {val:.4f} (the starting model)")

    @torch.no_grad()
    def _validate(self) -> float | None:
        """Mean per-view loss on the held-out images (main process only; saves best on improvement)."""
        if not self.world.is_main:
            return None
        self.model.eval()
        losses = []
        for imgs, mask in self.valset.batches(self.config.batch):
            imgs, mask = imgs.to(self.device), mask.to(self.device)
            with autocast(self.device, self.precision):
                losses.append(self.model.loss(imgs, self.model(imgs, mask), mask, reduce_batch=False).float())
        self.model.train()
        if not losses:
            if not self._val_failed:
                self._val_failed = True
                reason = self.valset.unreadable[0] if self.valset.unreadable else "no views"
                self.reporter.warn(self.step, f"validation cannot run: none of the {len(self.valset)} held-out "
                                              f"image(s) could be read ({reason}); no validation curve and no "
                                              "best checkpoint")
            return None
        self.val_loss = float(torch.cat(losses).mean())
        if self.val_loss < self.best_val_loss:
            self.best_val_loss, self.best_step = self.val_loss, self.step
            self._save_model(self.rundir.best, self.step)
        return self.val_loss

    # ------------------------------------------------------------------ files

    def _save_last(self) -> None:
        if self.world.is_main:
            self._save_model(self.rundir.last, self.step)
            self.rundir.save_state(self.state_dict())

    def _save_model(self, path: Path, step: int) -> None:
        with disk_errors_explained(str(path)):
            save_model(self.model, path, self._info(step))

    def _info(self, step: int) -> dict[str, Any]:
        """Provenance stored in the checkpoint (shown by ``maskviz info`` and the GUI), without machine paths."""
        c, p = self.config, self.plan
        return portable_info({
            "trained_by": "maskviz train", "steps": step, "total_steps": c.steps,
            "train_loss": _number(self.loss), "val_loss": _number(self.val_loss),
            "best_val_loss": _number(self.best_val_loss), "best_step": self.best_step if self.best_step >= 0 else None,
            "data_dir": str(Path(c.data).expanduser().resolve()), "train_images": p.train_images,
            "val_images": p.val_images, "skipped_files": p.skipped_files, "base_model": p.base_model,
            "command": c.command, "run_dir": str(self.rundir.path.resolve()), "world_size": p.world_size,
            "effective_batch": p.effective_batch, "recipe": c.to_dict(),
            "images_fingerprint": p.images_fingerprint, "base_model_info": p.base_model_info or None,
        }, self.rundir.path.resolve())

    def _announce(self) -> None:
        c, p = self.config, self.plan
        self.reporter.event(TrainEvent("start", self.step, total_steps=c.steps, resumed=self.resumed))
        verb = f"resuming at step {self.step} of" if self.resumed else "training"
        crops = f" x {c.val_crops} crops" if (c.val_crops or 1) > 1 else ""
        self.reporter.log(
            f"{verb} {p.base_model} on {p.train_images} images ({p.val_images} held out{crops}, {p.skipped_files} "
            f"skipped) for {c.steps} steps; batch {c.batch} x accum {c.accum} x {p.world_size} process(es) = "
            f"{p.effective_batch}; lr {c.describe_lr()} (warm-up {c.warmup_steps}); mask {c.mask}; "
            f"device {self.device}")
        for message in self.warnings:
            self.reporter.warn(self.step, message)

    def _explain(self, exc: BaseException) -> BaseException:
        """Turn the failures a user can act on into one-line TrainErrors."""
        if isinstance(exc, (MaskvizError, KeyboardInterrupt)):
            return exc
        if _is_oom(exc):
            return TrainError(f"out of memory on {self.device} with --batch {self.config.batch}: use a smaller "
                              f"--batch (and a larger --accum to keep the effective batch of "
                              f"{self.plan.effective_batch})")
        return disk_full_error(exc, f"the run folder {self.rundir.path}") or exc

    def _end(self, reason: str, error: BaseException | None = None) -> None:
        message = None
        if isinstance(error, KeyboardInterrupt):
            message = f"interrupted during step {self.step + 1}; resume repeats it from the last checkpoint"
        elif error is not None:
            message = str(error) if isinstance(error, MaskvizError) else f"{type(error).__name__}: {error}"
        best = self.best_val_loss if math.isfinite(self.best_val_loss) else None
        with contextlib.suppress(OSError, MaskvizError):  # a full disk must not hide the real error
            self.reporter.event(TrainEvent("end", self.step, reason=reason, message=message, best_val_loss=best))
            self.reporter.log(f"{reason} at step {self.step}" + (f": {message}" if message else ""))

    def _result(self, reason: str, seconds: float) -> TrainResult:
        best = self.best_val_loss if math.isfinite(self.best_val_loss) else None
        return TrainResult(self.rundir.path, reason, self.step, self.config.steps, _number(self.loss),
                           _number(self.val_loss), best, self.rundir.last,
                           self.rundir.best if self.rundir.best.exists() else None, seconds,
                           self.best_step if self.best_step >= 0 else None)


class _StepDropped(Exception):
    """A stop asked for in the middle of a step: the step is not applied."""


def _watch_backward(model: torch.nn.Module, check: Callable[[torch.Tensor], None]) -> None:
    """Call ``check`` in the backward pass whenever the gradient of a block's output arrives (the
    blocks are the members of the model's ModuleLists), so a stop can end a backward within one block.
    An exception raised there leaves ``backward()``; the partial gradients are then thrown away."""
    def on_forward(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(check)

    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            for block in module:
                block.register_forward_hook(on_forward)


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _float(x: Any) -> float:
    return float(x) if isinstance(x, int | float) else math.nan


def _took_over(lock: RunLock | None) -> list[str]:
    if lock is None or lock.took_over is None:
        return []
    return [f"took over the run folder's lock from {describe_holder(lock.took_over)}, which is no longer running"]


def _split_warnings(config: TrainConfig, plan: Plan) -> list[str]:
    """A validation split too small to choose a best checkpoint by, said at every start."""
    n = plan.val_images
    if config.val_split > 0 and n == 0:
        return [f"no images held out for validation ({plan.train_images} in the folder): no validation curve "
                "and no best checkpoint; add images to see whether training helps unseen ones"]
    if 0 < n < MIN_VAL_IMAGES:
        return [f"only {n} held-out image{'s' * (n != 1)} (x {config.val_crops or 1} crops): too few to pick a "
                f"best checkpoint reliably; compare the final model (add images for at least {MIN_VAL_IMAGES})"]
    return []


def _saved_progress(run: RunDir, config: TrainConfig
                    ) -> tuple[dict[str, Any] | None, tuple[MaskedImageModel, dict[str, Any]] | None, list[str]]:
    """What a resume continues from: the full training state; else the last checkpoint's weights (with a
    warning); else nothing, when the run had not saved yet. Refuses when saved progress cannot be read."""
    try:
        state = run.load_state()
    except TrainError as exc:
        problem = str(exc)
    else:
        if state is not None:
            return state, None, []
        problem = f"{run.state.name} is missing"
    if run.last.exists():
        try:
            loaded = load_model(run.last)
            steps = loaded.info.get("steps")
            if not isinstance(steps, int) or steps < 0:
                raise TrainError(f"{run.last} does not record its step")
        except MaskvizError as exc:
            raise TrainError(f"cannot resume {run.path}: {problem} and the last checkpoint cannot be used "
                             f"either ({exc}); start a new run") from None
        note = (f"{problem}: resuming at step {steps} from {run.last.name}'s weights; the optimiser state "
                "(AdamW moments) and data position were rebuilt, so the rest of the run will not match an "
                "uninterrupted one exactly")
        return None, (loaded.model, loaded.info), [note]
    recorded = run.recorded_step()
    if recorded >= config.save_every:
        raise TrainError(f"cannot resume {run.path}: {problem} and there is no {run.last.name}, although the "
                         f"run recorded {recorded} steps; its checkpoints were removed or never written. "
                         "Start a new run (the old metrics stay in this folder)")
    damaged = run.state.exists()
    notes = [f"{problem}{'' if damaged else ' (the run stopped before its first save)'}: starting again from "
             "step 0"] if recorded or damaged else []
    return None, None, notes


def _describe_step(e: TrainEvent, total: int) -> str:
    text = (f"step {e.step}/{total}  loss {e.loss:.4f}  lr {e.lr:.3g}  {e.images_per_s:.1f} img/s  "
            f"eta {_duration(e.eta_s)}")
    return text + (f"  val {e.val_loss:.4f} (best {e.best_val_loss:.4f})" if e.val_loss is not None else "")


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
