"""The Qt desktop app: views and widgets over the Qt-free maskviz core.

pyqtgraph picks the first Qt binding it can import; pinning PySide6 here, before any gui module
imports pyqtgraph, keeps a stray PyQt install from being chosen.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
