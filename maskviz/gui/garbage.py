"""Python's cyclic garbage collector, run on the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed. If that is
a worker thread (model loads, reconstructions, baselines) and the garbage holds a Qt object (a
closed dialog, a replaced widget), Qt destroys it off the GUI thread: undefined behaviour, seen
here as a deadlock between shiboken's GIL handling and the GUI thread. So the app turns automatic
collection off and collects on a GUI-thread timer instead, generation by generation, with the same
thresholds Python would use (pyqtgraph ships the same remedy as ``GarbageCollector``).

Everything alive when collection moves here (the imported torch, timm, Qt and pyqtgraph: about
300 000 objects) is frozen (``gc.freeze``) into the permanent generation first: it lives as long as
the process anyway, and a full collection that walked it took 0.3–0.65 s on a busy 2-core machine,
a stall of the window every few seconds of painting; without it a full collection takes a few
milliseconds. Objects made later (windows, models, results) are collected as before.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QTimer

INTERVAL_MS = 500
_timer: QTimer | None = None
_frozen = False


def collect_on_gui_thread() -> None:
    """Disable automatic collection; collect from a timer owned by the application (idempotent)."""
    global _timer, _frozen
    gc.disable()
    if not _frozen:
        gc.freeze()
        _frozen = True
    app = QCoreApplication.instance()
    if _timer is None and app is not None:
        _timer = QTimer(app)
        _timer.setInterval(INTERVAL_MS)
        _timer.timeout.connect(collect_due_generations)
        _timer.start()


def collect_due_generations() -> None:
    """Collect the generations whose allocation counts passed Python's own thresholds."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        gc.collect(generation)
