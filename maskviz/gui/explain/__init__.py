"""The Explain lens: which visible patches a hidden patch's reconstruction used, what the encoder sees,
and how sure the model is, for the viewer's image, model and mask.

``state`` (what the user picked and what came back), ``controller`` (runs it through the viewer
controller's job API, follows the viewer and the pointer, exports), ``view`` (the dock): the same
pattern as the viewer and the Compare dock. The work itself is :mod:`maskviz.explain.jobs` (Qt-free).
"""
