"""The Train dock as its own small MVC: fine-tune the viewer's model on a folder and watch it learn.

* :mod:`~maskviz.gui.training.state` — :class:`TrainingState`, what the dock shows;
* :mod:`~maskviz.gui.training.controller` — :class:`TrainingController`, the only code that starts,
  follows, stops and resumes runs (through :mod:`~maskviz.gui.training.process`) and runs the
  before/after comparison on the viewer's worker (through the viewer controller's job API, the
  part of it described in :mod:`~maskviz.gui.training.jobs`);
* views that redraw from the state: :mod:`~.form`, :mod:`~.run_list`, :mod:`~.monitor`, :mod:`~.curves`,
  :mod:`~.log_view`, :mod:`~.before_after`, laid out by :mod:`~.panel` (:class:`TrainingPanel`).

The analytics, texts and run listing they use are Qt-free: :mod:`maskviz.train.monitor`,
:mod:`maskviz.train.runs`, :mod:`maskviz.train.launch`, :mod:`maskviz.train.before_after`.
"""

from maskviz.gui.training.controller import TrainingController
from maskviz.gui.training.jobs import JobRunner
from maskviz.gui.training.panel import TrainingPanel
from maskviz.gui.training.state import TrainingState

__all__ = ["JobRunner", "TrainingController", "TrainingPanel", "TrainingState"]
