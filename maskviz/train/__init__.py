"""``maskviz train``: pre-train or continue training MAE / SimMIM models on a folder of images.

The same code serves the CLI, scripts and (through ``metrics.jsonl``) the GUI::

    from maskviz.train import TrainConfig, train, resume
    result = train(TrainConfig(data="imgs/", model="mae_vit_small_patch8_64", out="runs/a", steps=1000))

Modules: :mod:`~maskviz.train.config` (recipe and derived plan), :mod:`~maskviz.train.data`
(seeded images, crops and masks), :mod:`~maskviz.train.optim` (AdamW groups, lr schedule),
:mod:`~maskviz.train.loop` (the loop, resume), :mod:`~maskviz.train.rundir` (files),
:mod:`~maskviz.train.events` (the metrics schema), :mod:`~maskviz.train.dist` (torchrun),
:mod:`~maskviz.train.signals` (Ctrl-C).
"""

from maskviz.train.config import Plan, TrainConfig, TrainError
from maskviz.train.events import EventTail, TrainEvent, read_events, write_event
from maskviz.train.loop import TrainResult, resume, train
from maskviz.train.rundir import RunDir
from maskviz.train.signals import StopFlag, stop_on_signals

__all__ = [
    "EventTail", "Plan", "RunDir", "StopFlag", "TrainConfig", "TrainError", "TrainEvent", "TrainResult",
    "read_events", "resume", "stop_on_signals", "train", "write_event",
]
