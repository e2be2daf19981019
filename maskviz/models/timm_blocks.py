"""timm's Swin building blocks: the one place the model families import timm.

Imported when a Swin model is built (:class:`maskviz.models.simmim.SimMIMSwinStage`), never on the
way to the ViT families, which use :mod:`maskviz.models.blocks`.
"""

from timm.models.swin_transformer import PatchMerging, SwinTransformerBlock, WindowAttention

__all__ = ["PatchMerging", "SwinTransformerBlock", "WindowAttention"]
