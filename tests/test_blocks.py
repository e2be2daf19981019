"""maskviz's own transformer blocks equal timm's on the same weights, and attention can be recorded.

Same state-dict keys (strict loading both ways), same submodule names, same outputs; a seeded
construction draws the same random numbers. ``record_attention`` switches every attention of a
model to the explicit softmax and gives the weights without changing the output.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
from synthetic import randomize_
from torch import nn

from maskviz.models import blocks as ours
from maskviz.models import create_model
from maskviz.models.blocks import AttentionRecord, record_attention

timm_vit = pytest.importorskip("timm.models.vision_transformer")
timm_beit = pytest.importorskip("timm.models.beit")
timm_layers = pytest.importorskip("timm.layers")

NORM = partial(nn.LayerNorm, eps=1e-6)


def _weighted_modules(module: nn.Module) -> set[str]:
    return {name for name, m in module.named_modules() if any(True for _ in m.parameters(recurse=False))}


def assert_same(mine: nn.Module, theirs: nn.Module, *inputs: torch.Tensor, **kwargs) -> None:
    """Same keys and shapes, strict loads both ways, the same output on the same weights."""
    randomize_(theirs, seed=1)
    want_sd, got_sd = theirs.state_dict(), mine.state_dict()
    assert list(got_sd) == list(want_sd)  # names and order
    assert {k: v.shape for k, v in got_sd.items()} == {k: v.shape for k, v in want_sd.items()}
    assert _weighted_modules(mine) == _weighted_modules(theirs)
    mine.load_state_dict(want_sd, strict=True)
    theirs.load_state_dict(mine.state_dict(), strict=True)
    mine.eval(), theirs.eval()
    with torch.no_grad():
        got, want = mine(*inputs, **kwargs), theirs(*inputs, **kwargs)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 1e-5


@pytest.mark.parametrize("init_values", [None, 0.1])
@pytest.mark.parametrize("qk_norm", [False, True])
def test_vit_block_equals_timm(init_values, qk_norm):
    kw = dict(mlp_ratio=4.0, qkv_bias=True, qk_norm=qk_norm, init_values=init_values, norm_layer=NORM)
    x = torch.randn(2, 17, 48, generator=torch.Generator().manual_seed(0))
    assert_same(ours.Block(48, 4, **kw), timm_vit.Block(48, 4, **kw), x)


def test_vit_block_without_qkv_bias_equals_timm():
    x = torch.randn(1, 5, 32)
    assert_same(ours.Block(32, 2, qkv_bias=False), timm_vit.Block(32, 2, qkv_bias=False, norm_layer=nn.LayerNorm), x)


@pytest.mark.parametrize("init_values", [None, 0.1])
def test_beit_block_with_shared_relative_bias_equals_timm(init_values):
    window, heads, dim = (4, 4), 4, 32
    kw = dict(qkv_bias=True, mlp_ratio=4.0, init_values=init_values, norm_layer=NORM)
    mine_bias, timm_bias = ours.RelativePositionBias(window, heads), timm_beit.RelativePositionBias(window, heads)
    assert torch.equal(mine_bias.relative_position_index, timm_bias.relative_position_index)
    assert_same(mine_bias, timm_bias)
    x = torch.randn(2, 17, dim, generator=torch.Generator().manual_seed(3))
    bias = timm_bias()
    assert_same(ours.BeitBlock(dim, heads, **kw), timm_beit.Block(dim, heads, **kw), x, shared_rel_pos_bias=bias)


@pytest.mark.parametrize("window", [(3, 3), (2, 5)])
def test_relative_position_index_equals_timm(window):
    assert torch.equal(ours.relative_position_index(window), timm_beit.gen_relative_position_index(window))


@pytest.mark.parametrize("norm", [None, nn.LayerNorm])
def test_patch_embed_equals_timm(norm):
    x = torch.randn(2, 3, 32, 32)
    mine, theirs = ours.PatchEmbed(32, 8, 3, 24, norm_layer=norm), timm_layers.PatchEmbed(32, 8, 3, 24, norm_layer=norm)
    assert_same(mine, theirs, x)


def test_seeded_construction_draws_like_timm():
    """The same seed gives the same default init, so seeded models stay the models they were."""
    torch.manual_seed(5)
    mine = ours.Block(32, 2, qkv_bias=True, norm_layer=NORM)
    torch.manual_seed(5)
    theirs = timm_vit.Block(32, 2, qkv_bias=True, norm_layer=NORM)
    for (name, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


# --- record_attention -----------------------------------------------------------------------------


def _run(model, seed=0):
    c = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c.in_chans, c.img_size, c.img_size, generator=g)
    mask = torch.zeros(2, c.num_patches, dtype=torch.bool)
    mask[:, torch.randperm(c.num_patches, generator=g)[: c.num_patches // 2]] = True
    with torch.no_grad():
        return model(x, mask)


def test_record_attention_mae_records_every_block_in_call_order_and_keeps_the_output():
    model = randomize_(create_model("mae_vit_tiny_test")).eval()
    fused = _run(model)
    with record_attention(model) as records:
        explicit = _run(model)
    c = model.config
    assert [r.name for r in records] == [f"blocks.{i}.attn" for i in range(c.depth)] + [
        f"decoder_blocks.{i}.attn" for i in range(c.decoder_depth)]
    assert all(isinstance(r, AttentionRecord) for r in records)
    visible = c.num_patches - c.num_patches // 2
    assert records[0].weights.shape == (2, c.num_heads, visible + 1, visible + 1)  # encoder: visible + CLS
    assert records[-1].weights.shape == (2, c.decoder_num_heads, c.num_patches + 1, c.num_patches + 1)
    for r in records:
        assert torch.allclose(r.weights.sum(-1), torch.ones(()), atol=1e-5)
    assert not torch.equal(records[0].weights, records[1].weights)
    assert (explicit - fused).abs().max() <= 1e-5
    with record_attention(model) as again:  # the switch was undone and can be made again
        pass
    assert again == [] and model.blocks[0].attn.recorder is None


def test_record_attention_explicit_weights_are_the_softmax_of_the_scores():
    model = randomize_(create_model("mae_vit_tiny_test"), seed=4).eval()
    block = model.blocks[0]
    x = torch.randn(1, 9, model.config.embed_dim)
    with record_attention(block) as records, torch.no_grad():
        block(x)
    a = block.attn
    q, k, _ = a.qkv(block.norm1(x)).reshape(1, 9, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
    want = torch.softmax(q @ k.transpose(-2, -1) / a.head_dim**0.5, dim=-1)
    assert records[0].name == "attn" and torch.allclose(records[0].weights, want, atol=1e-6)


def test_record_attention_simmim_vit_includes_the_relative_bias():
    model = randomize_(create_model("simmim_vit_tiny_test")).eval()
    fused = _run(model)
    with record_attention(model) as records:
        explicit = _run(model)
    c = model.config
    assert [r.name for r in records] == [f"encoder.blocks.{i}.attn" for i in range(c.depth)]
    assert records[0].weights.shape == (2, c.num_heads, c.num_patches + 1, c.num_patches + 1)
    assert (explicit - fused).abs().max() <= 1e-5
    with torch.no_grad():  # without the bias the weights would differ: it is part of what is recorded
        model.encoder.rel_pos_bias.relative_position_bias_table.zero_()
        with record_attention(model) as unbiased:
            _run(model)
    assert not torch.allclose(unbiased[0].weights, records[0].weights, atol=1e-4)


def test_record_attention_swin_records_raw_window_weights():
    model = randomize_(create_model("simmim_swin_tiny_test")).eval()
    fused_flags = [m.fused_attn for n, m in model.named_modules() if n.endswith(".attn")]
    fused = _run(model)
    with record_attention(model) as records:
        explicit = _run(model)
    c = model.config
    names = [f"encoder.layers.{s}.blocks.{b}.attn" for s in range(c.num_stages) for b in range(c.depths[s])]
    assert [r.name for r in records] == names
    window, _ = c.stage_window(0)
    windows = (c.stage_resolution(0) // window) ** 2
    assert records[0].weights.shape == (2 * windows, c.num_heads[0], window**2, window**2)
    assert all(torch.allclose(r.weights.sum(-1), torch.ones(()), atol=1e-5) for r in records)
    assert (explicit - fused).abs().max() <= 1e-5
    assert [m.fused_attn for n, m in model.named_modules() if n.endswith(".attn")] == fused_flags
    _run(model)
    assert len(records) == len(names)  # the hooks are gone
