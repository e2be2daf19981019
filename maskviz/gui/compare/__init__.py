"""The Compare dock: strategies × models on the viewer's image or a folder, and ratio sweeps.

``state`` (what to compare and what came back), ``controller`` (runs it through the viewer
controller's job API, follows the viewer, exports), ``view`` and its parts (``table``, ``plots``):
the same pattern as the viewer. The work itself is :mod:`maskviz.compare_jobs` (Qt-free).
"""
