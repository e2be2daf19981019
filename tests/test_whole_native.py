"""The native view: the whole picture as one sequence, per family, and the refusals before any work."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_, tiny_hf_mae
from test_mae import official_style_forward

from maskviz.checkpoints.hf_vitmae import convert_hf_state_dict
from maskviz.masks import random_mask
from maskviz.models import create_model
from maskviz.models.mae import sincos_pos_embed_2d
from maskviz.reconstruct import reconstruct
from maskviz.whole import ViewError, prepare_view, reconstruct_view
from maskviz.whole.native import native_plan


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def mae_with_sincos_tables(seed: int = 1):
    """Random weights everywhere except the fixed sin-cos tables (as every published MAE has them)."""
    model = randomize_(create_model("mae_vit_tiny_test"), seed=seed).eval()
    grid = model.config.grid_size[0]
    model.pos_embed.data.copy_(sincos_pos_embed_2d(model.config.embed_dim, grid))
    model.decoder_pos_embed.data.copy_(sincos_pos_embed_2d(model.config.decoder_embed_dim, grid))
    return model


def built_at(model, img_size: int):
    """The same architecture built at ``img_size`` (its position tables computed by it), same weights."""
    big = create_model(model.config.replace(img_size=img_size)).eval()
    missing, unexpected = big.load_state_dict(
        {k: v for k, v in model.state_dict().items() if "pos_embed" not in k}, strict=False)
    assert sorted(missing) == ["decoder_pos_embed", "pos_embed"] and not unexpected
    return big


# ------------------------------------------------------------------------------------------- MAE


def test_mae_native_equals_the_official_model_built_at_that_size():
    small = mae_with_sincos_tables()
    big = built_at(small, 64)  # 32 px model, 64 px picture: an 8×8 grid instead of 4×4
    x = torch.randn(2, 3, 64, 64)
    noise = torch.rand(2, 64, generator=torch.Generator().manual_seed(0))
    ids_shuffle, keep = torch.argsort(noise, dim=1), 16
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask.scatter_(1, ids_shuffle[:, :keep], False)
    with torch.no_grad():
        official = official_style_forward(big, x, ids_shuffle, keep)
        native = small(x, mask, grid=(8, 8))
    assert (native - official).abs().max() <= 1e-5

    vimg = prepare_view(small, picture(64, 64), "native")
    patch_mask = random_mask(vimg.grid, 0.75, seed=3)
    (view,) = reconstruct_view(small, vimg, [patch_mask])
    (ref,) = reconstruct(big, vimg.image, [patch_mask])
    assert view.view == "native 64 px"
    assert np.abs(view.whole.prediction - ref.prediction).max() <= 1e-5
    assert view.whole.loss == pytest.approx(ref.loss, rel=1e-5) and view.whole.psnr == pytest.approx(ref.psnr, rel=1e-5)


def test_rectangular_sincos_table_is_the_official_formula_per_patch():
    dim, (gh, gw) = 16, (3, 5)
    table = sincos_pos_embed_2d(dim, (gh, gw))[0]
    omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim / 4))
    for r in range(gh):
        for c in range(gw):
            expected = np.concatenate([np.sin(c * omega), np.cos(c * omega), np.sin(r * omega), np.cos(r * omega)])
            assert np.allclose(table[1 + r * gw + c].numpy(), expected, atol=1e-6)
    square = sincos_pos_embed_2d(dim, 5)[0, 1:].view(5, 5, dim)
    assert torch.equal(table[1:].view(gh, gw, dim), square[:gh, :gw])  # the top-left part of the square table


def test_mae_native_on_a_rectangle_uses_the_rectangles_own_tables():
    model = mae_with_sincos_tables()
    pos, decoder_pos = model.pos_embed_for_grid((5, 7))
    assert torch.equal(pos, sincos_pos_embed_2d(model.config.embed_dim, (5, 7)))
    assert torch.equal(decoder_pos, sincos_pos_embed_2d(model.config.decoder_embed_dim, (5, 7)))
    assert model.pos_embed_for_grid(model.grid_size)[0] is model.pos_embed  # its own grid: the stored table
    vimg = prepare_view(model, picture(56, 40), "native")
    (r,) = reconstruct_view(model, vimg, [random_mask(vimg.grid, 0.5, seed=0)])
    assert r.whole.prediction.shape == (40, 56, 3) and np.isfinite(r.whole.loss) and r.view == "native 56x40 px"


def test_learned_tables_are_resized_as_transformers_interpolate_pos_encoding():
    """A learned (not sin-cos) encoder table: our encoder equals ViTMAE's with interpolate_pos_encoding=True.

    (transformers resizes the decoder's table in 1-D over the flattened sequence; maskviz resizes it
    in 2-D like the encoder's, so only the encoder is compared.)
    """
    hf = tiny_hf_mae(seed=2)
    with torch.no_grad():
        hf.vit.embeddings.position_embeddings.copy_(torch.randn(1, 17, 32, generator=torch.Generator().manual_seed(5)))
    ours = create_model("mae_vit_tiny_test").eval()
    ours.load_state_dict(convert_hf_state_dict(hf.state_dict()))
    grid, keep = (5, 7), 8  # a 56×40 px picture; ViTMAE keeps int(35 · 0.25) = 8
    x = torch.randn(1, 3, 40, 56)
    kept = torch.tensor(sorted(np.random.default_rng(0).choice(35, keep, replace=False).tolist()))
    noise = torch.ones(1, 35)
    noise[0, kept] = torch.arange(keep) / 100  # ViTMAE keeps the lowest noise, in that order: ascending ids
    with torch.no_grad():
        expected = hf.vit(pixel_values=x, noise=noise, interpolate_pos_encoding=True).last_hidden_state
        pos, _ = ours.pos_embed_for_grid(grid)
        got = ours.forward_encoder(x, kept.unsqueeze(0), pos)
    assert not torch.allclose(pos[0, 1:], sincos_pos_embed_2d(32, grid)[0, 1:], atol=1e-2)  # the learned path ran
    assert (got - expected).abs().max() <= 1e-5


# ------------------------------------------------------------------------------------------- SimMIM


def test_simmim_vit_bias_table_is_resized_keeping_what_it_learned_nearby():
    model = randomize_(create_model("simmim_vit_tiny_test"), seed=4).eval()
    enc = model.encoder
    own = enc.rel_pos_bias()
    table = enc.rel_pos_bias.relative_position_bias_table
    big = enc.rel_pos_bias_for_grid((6, 9))
    n = 6 * 9 + 1
    assert big.shape == (2, n, n)
    # Offsets 0 and ±1 sit on the geometric grid's own points: their learned values are kept, as are
    # the three CLS entries; farther offsets are interpolated between what the table holds.
    token = lambda r, c: 1 + r * 9 + c  # noqa: E731
    own_token = lambda r, c: 1 + r * 4 + c  # noqa: E731
    for dr, dc in ((0, 0), (0, 1), (1, 0), (-1, -1)):
        far, near = big[:, token(2 + dr, 3 + dc), token(2, 3)], own[:, own_token(1 + dr, 1 + dc), own_token(1, 1)]
        assert torch.allclose(far, near, atol=1e-6)
    assert torch.allclose(big[:, 0, 5], table[-3]) and torch.allclose(big[:, 5, 0], table[-2])
    assert torch.allclose(big[:, 0, 0], table[-1])
    lo, hi = table[:-3].min(0).values, table[:-3].max(0).values
    assert bool(((big[:, 1:, 1:] >= lo[:, None, None] - 1e-6) & (big[:, 1:, 1:] <= hi[:, None, None] + 1e-6)).all())

    vimg = prepare_view(model, picture(72, 48), "native")
    (r,) = reconstruct_view(model, vimg, [random_mask(vimg.grid, 0.6, seed=0)])
    assert r.whole.prediction.shape == (48, 72, 3) and np.isfinite(r.whole.loss)


def test_simmim_swin_native_equals_the_official_encoder_built_at_that_size():
    model = randomize_(create_model("simmim_swin_tiny_test"), seed=6).eval()
    big = create_model(model.config.replace(img_size=64)).eval()
    big.load_state_dict(model.state_dict())  # strict: the same weights fit the official model at 64 px
    x = torch.randn(1, 3, 64, 64)
    mask = torch.from_numpy(random_mask((32, 32), 0.5, seed=1).reshape(1, -1))
    with torch.no_grad():
        assert (model(x, mask, grid=(32, 32)) - big(x, mask)).abs().max() <= 1e-5
    sibling = model.encoder_for_grid((32, 32))
    weight = model.encoder.layers[0].blocks[0].attn.qkv.weight
    assert sibling.layers[0].blocks[0].attn.qkv.weight.data_ptr() == weight.data_ptr()  # shared, not copied
    assert not any(b.is_meta for b in sibling.buffers())


def test_simmim_swin_refusals_name_the_rule():
    model = create_model("simmim_swin_tiny_test")  # 32 px, patch 2, windows of 4; stage 2 clamped at 4×4
    with pytest.raises(ViewError, match="built for one square input size; a 64×32 px picture is not square"):
        native_plan(model, (64, 32))
    with pytest.raises(ViewError, match="48 px: .*stage 2 a 6×6 grid, which 4×4 windows do not tile"):
        native_plan(model, (48, 48))
    with pytest.raises(ViewError, match="at 16 px stage 2 .* 2×2 windows; its weights have a bias table for 4×4"):
        native_plan(model, (16, 16))
    assert native_plan(model, (64, 64)).grid == (32, 32)


# ------------------------------------------------------------------------------------------- refusals


@pytest.fixture
def vit_b():
    with torch.device("meta"):  # a ViT-B's numbers without its weights: the plan reads only the config
        return create_model("mae_vit_base_patch16")


@pytest.mark.parametrize("size, message", [
    ((1024, 768), r"1024×768 px picture \(3,073 tokens\) needs about 365 MB, more than the 100 MB free; use the tiles"),
    ((1000, 750), "needs whole 16 px patches; 1000×750 px is not"),
    ((448, 1), "the picture is 448×1 px: 1 px high is less than one 16 px patch"),
    ((20000, 20000), r"20000×20000 px picture \(1,562,501 tokens\) needs about 162 GB, more than the 100 MB free"),
])
def test_sizes_are_refused_with_one_sentence_before_anything_is_allocated(vit_b, size, message, monkeypatch):
    monkeypatch.setattr("maskviz.whole.native.usable_bytes", lambda device: 100 * 10**6)

    def must_not_run(*_a, **_k):
        raise AssertionError("work started before the size was refused")

    monkeypatch.setattr("maskviz.whole.native.reconstruct", must_not_run)
    monkeypatch.setattr("maskviz.models.mae.sincos_pos_embed_2d", must_not_run)
    tracemalloc.start()
    try:
        with pytest.raises(ViewError, match=message):
            native_plan(vit_b, size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # the refusal is arithmetic: no image, table or tensor was made


def test_a_size_that_fits_is_planned(vit_b, monkeypatch):
    monkeypatch.setattr("maskviz.whole.native.usable_bytes", lambda device: 16 * 10**9)
    plan = native_plan(vit_b, (448, 448))
    assert plan.grid == (28, 28) and plan.tokens == 785 and 10**7 < plan.bytes < 10**9


def test_prepare_view_refuses_before_resampling(monkeypatch):
    model = mae_with_sincos_tables()

    def touched(*_a, **_k):
        raise AssertionError("the picture was resampled before the size was refused")

    monkeypatch.setattr("maskviz.whole.reconstruct.make_working_image", touched)
    monkeypatch.setattr("maskviz.whole.native.usable_bytes", lambda device: 10**6)
    with pytest.raises(ViewError, match="needs about .* more than the 1 MB free; use the tiles view"):
        prepare_view(model, picture(512, 384), "native")
    with pytest.raises(ViewError, match="1 px high"):
        prepare_view(model, picture(64, 1), "native")
