"""``maskviz train``: pre-train or continue training MAE / SimMIM models on a folder of images.

The same code serves the CLI, scripts and (through ``metrics.jsonl``) the GUI::

    from maskviz.train import TrainConfig, train, resume
    result = train(TrainConfig(data="imgs/", model="mae_vit_small_patch8_64", out="runs/a", steps=1000))

Modules: :mod:`~maskviz.train.config` (recipe and derived plan), :mod:`~maskviz.train.data`
(seeded images, crops and masks), :mod:`~maskviz.train.optim` (AdamW groups, lr schedule),
:mod:`~maskviz.train.loop` (the loop, resume), :mod:`~maskviz.train.rundir` (files),
:mod:`~maskviz.train.events` (the metrics schema), :mod:`~maskviz.train.dist` (torchrun),
:mod:`~maskviz.train.signals` (Ctrl-C); what the app's Train panel and the CLI say about runs:
:mod:`~maskviz.train.monitor` (history, verdict, texts), :mod:`~maskviz.train.runs` (run list,
checkpoint notes, model names), :mod:`~maskviz.train.launch` (the child's command line, its ending),
:mod:`~maskviz.train.before_after` (base vs fine-tuned on one image, one forward per step).

The names below are imported on first use (:mod:`maskviz.lazy`): ``maskviz train --help`` reads the
recipe defaults from :mod:`~maskviz.train.config` without importing torch.
"""

from typing import TYPE_CHECKING

from maskviz.lazy import lazy_exports

_WHERE = {
    **dict.fromkeys(["Plan", "TrainConfig", "TrainError"], "maskviz.train.config"),
    **dict.fromkeys(["EventTail", "TrainEvent", "read_events", "write_event"], "maskviz.train.events"),
    **dict.fromkeys(["TrainResult", "resume", "train"], "maskviz.train.loop"),
    "RunDir": "maskviz.train.rundir",
    **dict.fromkeys(["StopFlag", "stop_on_signals"], "maskviz.train.signals"),
}
__all__ = [
    "EventTail", "Plan", "RunDir", "StopFlag", "TrainConfig", "TrainError", "TrainEvent", "TrainResult",
    "read_events", "resume", "stop_on_signals", "train", "write_event",
]
__getattr__ = lazy_exports(__name__, _WHERE)

if TYPE_CHECKING:
    from maskviz.train.config import Plan, TrainConfig, TrainError
    from maskviz.train.events import EventTail, TrainEvent, read_events, write_event
    from maskviz.train.loop import TrainResult, resume, train
    from maskviz.train.rundir import RunDir
    from maskviz.train.signals import StopFlag, stop_on_signals
