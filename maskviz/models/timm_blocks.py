"""The timm building blocks the model families are made of, imported in one place.

Importing them imports all of timm, which mentions torch._dynamo without needing it at import time;
:func:`maskviz.lazy.dynamo_deferred` keeps that (a third of the app's start-up) off the path.
"""

from maskviz.lazy import dynamo_deferred

with dynamo_deferred():
    from timm.layers import PatchEmbed, trunc_normal_
    from timm.models.beit import Block as BeitBlock
    from timm.models.beit import RelativePositionBias
    from timm.models.swin_transformer import PatchMerging, SwinTransformerBlock
    from timm.models.vision_transformer import Block

__all__ = ["BeitBlock", "Block", "PatchEmbed", "PatchMerging", "RelativePositionBias", "SwinTransformerBlock",
           "trunc_normal_"]
