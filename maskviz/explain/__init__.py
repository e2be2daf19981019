"""Explain a reconstruction: which visible patches a hidden patch's prediction used, what the encoder
sees, and how sure the model is. Qt-free; the CLI (``maskviz explain``), the GUI and tests call these.

Per-target maps (one value per patch for one hidden *target* patch, NaN where undefined):

* :func:`gradient_map` — gradient of the target's own training loss w.r.t. each input patch;
* :func:`occlusion_map` — change of the target's prediction when each visible patch is hidden too;
* :func:`attention_capture` — the model's real attention weights from one explicit forward, giving
  per-layer/head attention and rollout maps for every hidden target.

Whole-image lenses: :func:`feature_lens` (PCA colours and cosine similarity of the encoder tokens)
and :func:`spread_lens` (mean and spread of reconstructions over K random masks).

Every method also comes as a generator (``iter_gradient``, ``iter_occlusion``, ...) that yields a
:class:`Step` after each forward and returns its result: stop iterating to cancel;
:func:`run` drives one to the end.

Every view of a picture (``model``, ``tiles``, ``native``: :mod:`maskviz.whole`) goes through
:mod:`maskviz.explain.views` (``iter_view_map``, ``iter_view_attention``, ``iter_view_features``,
``iter_view_spread`` on a ``ViewImage``): the CLI and the GUI call those.
"""

from maskviz.explain.attention import AttentionCapture, attention_capture, attention_map, iter_attention
from maskviz.explain.common import ExplainError, ExplainMap, Step, check_target, plan_batch, run, to_rows
from maskviz.explain.features import FeatureLens, feature_lens, iter_features
from maskviz.explain.gradient import gradient_map, iter_gradient
from maskviz.explain.occlusion import iter_occlusion, occlusion_map
from maskviz.explain.spread import DEFAULT_MASKS, SpreadLens, iter_spread, spread_lens, spread_masks
from maskviz.explain.views import (
    TiledCapture,
    iter_view_attention,
    iter_view_features,
    iter_view_map,
    iter_view_spread,
)

__all__ = [
    "DEFAULT_MASKS", "AttentionCapture", "ExplainError", "ExplainMap", "FeatureLens", "SpreadLens", "Step",
    "attention_capture", "attention_map", "check_target", "feature_lens", "gradient_map", "iter_attention",
    "iter_features", "iter_gradient", "iter_occlusion", "iter_spread", "occlusion_map", "plan_batch", "run",
    "spread_lens", "spread_masks", "to_rows", "TiledCapture", "iter_view_attention", "iter_view_features",
    "iter_view_map", "iter_view_spread",
]
