"""Explain in the native and tiles views (maskviz.explain.views): each against what the model view or
the model's own native forward gives for the same pixels and mask cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_

from maskviz.explain import ExplainError, run
from maskviz.explain.attention import attention_capture
from maskviz.explain.features import feature_lens, principal_components
from maskviz.explain.gradient import gradient_map
from maskviz.explain.occlusion import occlusion_map
from maskviz.explain.spread import spread_lens
from maskviz.explain.views import (
    TiledCapture,
    iter_view_attention,
    iter_view_features,
    iter_view_map,
    iter_view_spread,
    tile_crop,
    tile_layout,
)
from maskviz.masks import make_mask, to_pixel_mask
from maskviz.models import create_model
from maskviz.reconstruct import prepare_input
from maskviz.whole import View, ViewError, prepare_view

FAMILIES = ("mae_vit_tiny_test", "simmim_vit_tiny_test", "simmim_swin_tiny_test")


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    smooth = np.stack([np.sin(xx / 7.0 + c) * np.cos(yy / 5.0 - c) for c in range(3)], axis=-1)
    noisy = 0.5 + 0.35 * smooth + 0.1 * rng.standard_normal((h, w, 3))
    return Image.fromarray((np.clip(noisy, 0, 1) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: randomize_(create_model(name), seed=3).eval() for name in FAMILIES}


def masked(vimg, ratio: float = 0.6, seed: int = 1) -> np.ndarray:
    return make_mask(f"random:{ratio}", vimg.grid, vimg.patch_size, seed=seed)


def hidden(mask: np.ndarray, i: int = 0) -> tuple[int, int]:
    return tuple(int(v) for v in np.argwhere(mask)[i])


# ------------------------------------------------------------------------------------------ native


def test_native_gradient_is_autograd_of_the_native_forwards_target_loss(models):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("native"))  # 2× the model's 32 px input
    mask = masked(vimg)
    target = hidden(mask, 3)
    got = run(iter_view_map(model, vimg, mask, "gradient", target))
    assert got.values.shape == vimg.grid == (8, 8)

    _, x = prepare_input(model, vimg.image, vimg.grid)
    x = x.clone().requires_grad_(True)
    pred = model(x, torch.from_numpy(mask.reshape(1, -1)), grid=vimg.grid)
    loss = ((pred - model.target(x.detach())) ** 2).mean(dim=-1)[0, target[0] * 8 + target[1]]
    (grad,) = torch.autograd.grad(loss, x)
    expected = model.patchify(grad)[0].norm(dim=-1).view(8, 8).double().numpy()
    np.testing.assert_allclose(got.values, expected, rtol=1e-5, atol=1e-12)
    assert (got.values[mask] == 0).all() and got.values[~mask].max() > 0


def test_native_attention_is_the_native_forwards_softmax(models):
    from maskviz.models.blocks import record_attention

    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 48), View("native"))
    mask = masked(vimg)
    target = hidden(mask, 2)
    capture = run(iter_view_attention(model, vimg, mask))
    m = capture.layer_map(target, layer=-1, head=1)
    assert m.values.shape == vimg.grid == (6, 8)

    _, x = prepare_input(model, vimg.image, vimg.grid)
    with torch.inference_mode(), record_attention(model) as records:
        model(x, torch.from_numpy(mask.reshape(1, -1)), grid=vimg.grid)
    last = records[-1].weights[0, 1]  # the decoder's last layer, head 1: class token, then every patch
    row = last[1 + target[0] * 8 + target[1]].double().numpy()
    np.testing.assert_allclose(m.values.ravel(), row[1:] / row.sum(), rtol=1e-5)
    assert m.params["cls"] == pytest.approx(row[0] / row.sum(), rel=1e-5)
    rollout = capture.rollout_map(target)
    assert np.isnan(rollout.values[mask]).all() and np.nansum(rollout.values) == pytest.approx(1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_native_methods_run_every_family_on_the_pictures_grid(models, family):
    model = models[family]
    side = model.config.img_size * 2
    vimg = prepare_view(model, picture(side, side), View("native"))
    mask = masked(vimg)
    target = hidden(mask)
    for method in ("attention", "rollout", "gradient"):
        m = run(iter_view_map(model, vimg, mask, method, target))
        assert m.values.shape == vimg.grid and m.target == target and np.isfinite(m.values[~mask]).any()
    lens = run(iter_view_features(model, vimg, mask))
    assert lens.rgb.shape == (*vimg.grid, 3)
    same = feature_lens(model, vimg.image, mask, grid=vimg.grid)
    np.testing.assert_allclose(lens.scores, same.scores)


def test_native_occlusion_equals_the_core_with_the_grid(models):
    model = models["simmim_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 48), View("native"))
    mask = masked(vimg, 0.8)
    target = hidden(mask)
    got = run(iter_view_map(model, vimg, mask, "occlusion", target, batch=3))
    from maskviz.reconstruct import predict

    _, x = prepare_input(model, vimg.image, vimg.grid)
    flat = torch.from_numpy(mask.reshape(1, -1))
    index = target[0] * vimg.grid[1] + target[1]
    ref = predict(model, x, flat, grid=vimg.grid)[0, index]
    v = int(np.flatnonzero(~mask.ravel())[0])
    more = flat.clone()
    more[0, v] = True
    change = predict(model, x, more, grid=vimg.grid)[0, index]
    assert got.values.ravel()[v] == pytest.approx(float(((change - ref) ** 2).mean().sqrt()), rel=1e-5)
    assert np.isnan(got.values[mask]).all()


def test_native_swin_of_a_rectangle_is_refused_before_any_work(models):
    model = models["simmim_swin_tiny_test"]
    with pytest.raises(ViewError, match="not square"):
        prepare_view(model, picture(64, 48), View("native"))
    with pytest.raises(ExplainError, match="not square"):  # the core refuses too, before a forward
        gradient_map(model, picture(64, 48), np.ones((24, 32), bool), (0, 0), grid=(24, 32))


@pytest.mark.parametrize("method", ["attention", "rollout", "gradient"])
def test_a_native_explain_that_would_not_fit_memory_is_refused_before_any_forward(models, monkeypatch, method):
    """Native attention keeps every layer's scores (tokens²: the bundled MAE at 1024×680 px, 75 % hidden,
    ~8 GB) and a gradient every block's activations: refused with the reason where they would not fit."""
    from maskviz.explain.views import native_explain_bytes
    from maskviz.whole import memory

    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("native"))
    mask = masked(vimg)
    need = native_explain_bytes(model, vimg.grid, method, visible=int((~mask).sum()))
    monkeypatch.setattr(memory, "usable_bytes", lambda device="cpu": need - 1)
    hook = model.register_forward_pre_hook(lambda *_: pytest.fail("a forward ran before the refusal"))
    try:
        with pytest.raises(ExplainError, match=f"{method.replace('rollout', 'attention')} in the native view "
                                               "of a 64×64 px picture needs about .* free; use the tiles view"):
            run(iter_view_map(model, vimg, mask, method, hidden(mask)))
    finally:
        hook.remove()  # the model is the module's


def test_the_native_estimate_grows_with_the_square_of_the_tokens_for_attention(models):
    from maskviz.explain.views import native_explain_bytes

    model = models["mae_vit_tiny_test"]

    def beyond_a_forward(grid: tuple[int, int], method: str) -> int:
        return native_explain_bytes(model, grid, method) - native_explain_bytes(model, grid, "occlusion")

    assert 200 < beyond_a_forward((32, 32), "attention") / beyond_a_forward((8, 8), "attention") < 300  # 16² ×
    assert 12 < beyond_a_forward((32, 32), "gradient") / beyond_a_forward((8, 8), "gradient") < 20  # 16 ×


def test_native_target_errors_name_the_pictures_grid(models):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("native"))
    mask = masked(vimg)
    with pytest.raises(ExplainError, match="picture's 8×8 patch grid"):
        run(iter_view_map(model, vimg, mask, "gradient", (9, 0)))
    with pytest.raises(ExplainError, match="picture's grid is 8×8"):
        run(iter_view_map(model, vimg, np.ones((4, 4), bool), "gradient", (0, 0)))


# ------------------------------------------------------------------------------------------- tiles


@pytest.mark.parametrize(("family", "method"), [
    *[("mae_vit_tiny_test", m) for m in ("attention", "rollout", "gradient", "occlusion")],
    *[(f, m) for f in ("simmim_vit_tiny_test", "simmim_swin_tiny_test") for m in ("rollout", "gradient")],
])
def test_a_tiles_map_is_the_owning_tiles_model_view_map_placed_on_the_picture(models, family, method):
    model = models[family]
    vimg = prepare_view(model, picture(80, 56), View("tiles"))  # 10×7 patches: shifted edge tiles
    mask = masked(vimg)
    layout = tile_layout(model, vimg)
    owner = layout.owner_map()
    target = next((int(r), int(c)) for r, c in np.argwhere(mask) if owner[r, c] == 3)  # a shifted tile
    got = run(iter_view_map(model, vimg, mask, method, target))

    tile = layout.tiles[3]
    crop, cells = tile_crop(vimg, tile), layout.tile_mask(mask, tile)
    local = (target[0] - tile.top, target[1] - tile.left)
    if method in ("attention", "rollout"):
        capture = attention_capture(model, crop, cells)
        expected = capture.rollout_map(local) if method == "rollout" else capture.layer_map(local)
    elif method == "gradient":
        expected = gradient_map(model, crop, cells, local)
    else:
        expected = occlusion_map(model, crop, cells, local)
    assert got.values.shape == vimg.grid and got.target == target
    np.testing.assert_array_equal(got.values[tile.cells], expected.values)
    outside = np.ones(vimg.grid, bool)
    outside[tile.cells] = False
    assert np.isnan(got.values[outside]).all()
    rows, cols = tile.cells
    assert got.params["where"] == f"tile 3 (rows {rows.start}–{rows.stop - 1}, cols {cols.start}–{cols.stop - 1})"
    assert got.params["tile"] == 3


def test_tiles_attention_keeps_one_capture_per_tile_and_runs_only_new_tiles(models):
    model = models["simmim_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("tiles"))
    mask = masked(vimg)
    owner = tile_layout(model, vimg).owner_map()
    a = next(tuple(map(int, p)) for p in np.argwhere(mask) if owner[tuple(p)] == 0)
    b = next(tuple(map(int, p)) for p in np.argwhere(mask) if owner[tuple(p)] == 0 and tuple(map(int, p)) != a)
    c = next(tuple(map(int, p)) for p in np.argwhere(mask) if owner[tuple(p)] == 2)
    steps = iter_view_attention(model, vimg, mask, a)
    first = run(steps)
    assert isinstance(first, TiledCapture) and set(first.tiles) == {0} and first.covers(b) and not first.covers(c)
    assert len(list(iter_view_attention(model, vimg, mask, b, kept=first))) == 0  # no forward
    second = run(iter_view_attention(model, vimg, mask, c, kept=first))
    assert set(second.tiles) == {0, 2} and set(first.tiles) == {0}
    np.testing.assert_array_equal(second.layer_map(a).values, first.layer_map(a).values)
    with pytest.raises(ExplainError, match="visible"):
        second.layer_map(hidden(~mask))


def test_tiles_features_are_every_tiles_tokens_in_one_pca(models):
    from maskviz.explain.common import prepare
    from maskviz.explain.features import encoder_tokens

    model = models["simmim_vit_tiny_test"]  # a token per patch, hidden ones too
    vimg = prepare_view(model, picture(64, 48), View("tiles"))
    mask = masked(vimg)
    lens = run(iter_view_features(model, vimg, mask))
    layout = tile_layout(model, vimg)
    expected = np.zeros((*vimg.grid, lens.tokens.shape[1]))
    for tile in layout.tiles:
        inp = prepare(model, tile_crop(vimg, tile), layout.tile_mask(mask, tile))
        tokens = encoder_tokens(model, inp.x, inp.mask_t).tokens.double().numpy().reshape(*model.grid_size, -1)
        expected[tile.own] = tokens[tile.own_in_tile]
    np.testing.assert_allclose(lens.tokens[lens.cells], expected, rtol=1e-6)
    scores, _ = principal_components(torch.from_numpy(expected.reshape(-1, expected.shape[-1])))
    np.testing.assert_allclose(np.abs(lens.scores[lens.cells.ravel()]), np.abs(scores), rtol=1e-6, atol=1e-9)
    assert lens.rgb.shape == (*vimg.grid, 3) and np.isfinite(lens.rgb).all()
    sim = lens.similarity((5, 7))
    assert sim.values.shape == vimg.grid and sim.values[5, 7] == pytest.approx(1.0)


def test_tiles_features_of_mae_have_no_token_on_hidden_patches(models):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("tiles"))
    mask = masked(vimg)
    steps = list(iter_view_features(model, vimg, mask))
    assert [s.done for s in steps] == [1, 2, 3, 4] and steps[-1].unit == "tile"
    lens = run(iter_view_features(model, vimg, mask))
    assert (lens.cells[mask] == -1).all() and (lens.cells[~mask] >= 0).all() and len(lens.tokens) == (~mask).sum()


def test_tiles_spread_is_each_tiles_spread_stitched(models):
    model = models["simmim_vit_tiny_test"]
    vimg = prepare_view(model, picture(64, 48), View("tiles"))
    masks = [make_mask("random:0.5", vimg.grid, vimg.patch_size, seed=s) for s in range(3)]
    steps = list(iter_view_spread(model, vimg, masks, batch=2))
    layout = tile_layout(model, vimg)
    assert steps[-1].done == steps[-1].total == 3 * len(layout.tiles) and steps[-1].unit == "tile"
    assert f"3 masks × {len(layout.tiles)} tiles" in steps[-1].what
    got = run(iter_view_spread(model, vimg, masks))
    assert got.std.shape == vimg.original().shape[:2] and got.mean.shape == vimg.original().shape
    p = vimg.patch_size
    for tile in layout.tiles:
        own = spread_lens(model, tile_crop(vimg, tile), [layout.tile_mask(m, tile) for m in masks])
        (r, c), (rr, cc) = tile.own, tile.own_in_tile
        shown = (slice(r.start * p, r.stop * p), slice(c.start * p, c.stop * p))
        local = (slice(rr.start * p, rr.stop * p), slice(cc.start * p, cc.stop * p))
        np.testing.assert_allclose(got.mean[shown], own.mean[local], atol=1e-6)
        np.testing.assert_allclose(got.std[shown], own.std[local], atol=1e-6)
    np.testing.assert_array_equal(got.count, np.sum(masks, axis=0))
    assert not np.isnan(got.mean[to_pixel_mask(np.logical_or.reduce(masks), p)]).any()


def test_model_view_is_the_model_view_methods(models):
    model = models["mae_vit_tiny_test"]
    photo = picture(50, 40)
    vimg = prepare_view(model, photo, View())
    mask = masked(vimg)
    target = hidden(mask)
    got = run(iter_view_map(model, vimg, mask, "gradient", target))
    np.testing.assert_array_equal(got.values, gradient_map(model, photo, mask, target).values)
    lens = run(iter_view_features(model, vimg, mask))
    np.testing.assert_array_equal(lens.scores, feature_lens(model, photo, mask).scores)


def test_native_swin_attention_is_the_weights_of_the_encoder_built_for_the_picture(models):
    from maskviz.models.blocks import record_attention

    model = models["simmim_swin_tiny_test"]
    vimg = prepare_view(model, picture(64, 64), View("native"))  # 32×32 patches: the official Swin at 64 px
    mask = masked(vimg)
    target = hidden(mask, 5)
    capture = run(iter_view_attention(model, vimg, mask))
    m = capture.layer_map(target, layer=0, head=0)  # stage 0, first block: unshifted windows
    assert m.values.shape == (32, 32) and m.params["layer_name"].startswith("encoder.layers.0.")

    encoder = model.encoder_for_grid(vimg.grid)
    _, x = prepare_input(model, vimg.image, vimg.grid)
    with torch.inference_mode(), record_attention(encoder) as records:
        encoder(x, torch.from_numpy(mask.reshape(1, -1)))
    w = encoder.layers[0].blocks[0].window_size[0]
    r, c = target
    weights = records[0].weights[(r // w) * (32 // w) + c // w, 0, (r % w) * w + c % w].double().numpy()
    window = (slice(r // w * w, r // w * w + w), slice(c // w * w, c // w * w + w))
    np.testing.assert_allclose(m.values[window].ravel(), weights / weights.sum(), rtol=1e-5)
    outside = np.ones((32, 32), bool)
    outside[window] = False
    assert (m.values[outside] == 0).all()
