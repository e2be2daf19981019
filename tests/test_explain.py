"""maskviz.explain on the tiny synthetic models: each method against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import randomize_

from maskviz.explain import (
    ExplainError,
    Step,
    check_target,
    feature_lens,
    gradient_map,
    iter_occlusion,
    occlusion_map,
    plan_batch,
    run,
    spread_lens,
    spread_masks,
)
from maskviz.explain.common import MAX_BATCH, prepare
from maskviz.masks import complementary_masks, make_mask
from maskviz.models import create_model
from maskviz.models.configs import get_config
from maskviz.reconstruct import full_reconstruction, reconstruct

FAMILIES = ["mae_vit_tiny_test", "simmim_vit_tiny_test", "simmim_swin_tiny_test"]


def tiny(name: str, norm_pix: bool = False, seed: int = 0):
    config = get_config(name)
    if norm_pix:
        config = config.replace(norm_pix_loss=True)
    return randomize_(create_model(config), seed).eval()


@pytest.fixture
def image():
    return (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)


def some(patches: np.ndarray, n: int = 6) -> np.ndarray:
    """At most about ``n`` of the patches, spread over the list (Swin's 16×16 grid has 64 visible)."""
    return patches[:: max(1, len(patches) // n)]


def first_hidden(mask: np.ndarray) -> tuple[int, int]:
    row, col = np.argwhere(mask)[len(np.argwhere(mask)) // 2]
    return int(row), int(col)


def setup(name: str, image, norm_pix: bool = False, ratio: float = 0.75, seed: int = 0):
    model = tiny(name, norm_pix)
    mask = make_mask(f"random:{ratio}", model.grid_size, model.patch_size, seed=seed)
    return model, mask, first_hidden(mask)


# ------------------------------------------------------------------------------------------ gradient


@pytest.mark.parametrize("name,norm_pix", [(n, False) for n in FAMILIES] + [("mae_vit_tiny_test", True)])
def test_gradient_equals_finite_differences(name, norm_pix, image):
    model, mask, target = setup(name, image, norm_pix)
    result = gradient_map(model, image, mask, target)

    # Central differences in float64 on every pixel of the visible patches, the target's truth held fixed.
    model64 = model.double()
    inp = prepare(model64, image, mask)
    x = inp.x.double()
    index = target[0] * mask.shape[1] + target[1]
    p, gw = model.patch_size, mask.shape[1]
    checked = some(np.argwhere(~mask))
    coords = [(c, r * p + i, col * p + j) for r, col in checked for c in range(3) for i in range(p) for j in range(p)]
    eps = 1e-5
    batch = x.repeat(2 * len(coords), 1, 1, 1)
    for k, (c, i, j) in enumerate(coords):
        batch[2 * k, c, i, j] += eps
        batch[2 * k + 1, c, i, j] -= eps
    with torch.no_grad():
        pred = model64(batch, inp.mask_t.expand(len(batch), -1))
        loss = model64.patch_loss(x.expand(len(batch), -1, -1, -1), pred)[:, index]
    deriv = ((loss[0::2] - loss[1::2]) / (2 * eps)).numpy()
    grad = np.zeros(x.shape[1:])
    for (c, i, j), d in zip(coords, deriv, strict=True):
        grad[c, i, j] = d
    for r, col in checked:
        expected = np.linalg.norm(grad[:, r * p:(r + 1) * p, col * p:(col + 1) * p])
        assert result.values[r, col] == pytest.approx(expected, rel=2e-3)
    assert gw == mask.shape[1]
    assert (result.values[~mask] > 0).all()
    assert (result.values[mask] == 0).all()  # exactly: hidden patches never reach the prediction
    assert result.target == target and result.method == "gradient"


def test_gradient_leaves_parameters_as_they_were(image):
    model, mask, target = setup("mae_vit_tiny_test", image)
    flags = [p.requires_grad for p in model.parameters()]
    gradient_map(model, image, mask, target)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------------------- occlusion


@pytest.mark.parametrize("name", FAMILIES)
def test_occlusion_equals_explicit_forwards(name, image):
    model, mask, target = setup(name, image)
    result = occlusion_map(model, image, mask, target, batch=5)
    inp = prepare(model, image, mask)
    index = target[0] * mask.shape[1] + target[1]
    with torch.no_grad():
        reference = model(inp.x, inp.mask_t)[0, index]
        for r, c in some(np.argwhere(~mask), 8):
            bigger = mask.copy()
            bigger[r, c] = True
            pred = model(inp.x, torch.from_numpy(bigger.reshape(1, -1)))[0, index]
            rms = float(((pred - reference) ** 2).mean().sqrt())
            assert result.values[r, c] == pytest.approx(rms, rel=1e-4, abs=1e-7)
    assert np.isnan(result.values[mask]).all()
    assert (result.values[~mask] > 0).all()


def test_occlusion_steps_and_cancel(image):
    model, mask, target = setup("mae_vit_tiny_test", image, ratio=0.5)
    visible = int((~mask).sum())
    steps = list(iter_occlusion(model, image, mask, target, batch=1))
    assert [s.done for s in steps] == list(range(1, visible + 2))
    assert {s.total for s in steps} == {visible + 1}

    gen = iter_occlusion(model, image, mask, target, batch=1)
    assert isinstance(next(gen), Step)
    gen.close()  # cancelled after the reference forward: nothing more runs, nothing raises
    with pytest.raises(StopIteration):
        next(gen)


def test_run_returns_the_result_and_reports_each_step(image):
    model, mask, target = setup("simmim_vit_tiny_test", image)
    seen = []
    result = run(iter_occlusion(model, image, mask, target, batch=2), seen.append)
    assert result.method == "occlusion" and len(seen) == 1 + int(np.ceil((~mask).sum() / 2))
    batch_one = occlusion_map(model, image, mask, target, batch=1)
    np.testing.assert_allclose(result.values, batch_one.values, rtol=1e-5, atol=1e-7)


def test_plan_batch_follows_the_budget():
    model = tiny("mae_vit_tiny_test")
    assert plan_batch(model, 4, budget=1) == 1
    assert plan_batch(model, 4, budget=1 << 40) == MAX_BATCH
    small = plan_batch(model, 4, budget=1 << 20)
    assert 1 <= small <= MAX_BATCH and plan_batch(model, 4, budget=small * (1 << 20)) >= small


# ------------------------------------------------------------------------------------------ features


@pytest.mark.parametrize("name", FAMILIES)
def test_features_pca_matches_numpy_svd(name, image):
    model, mask, _ = setup(name, image)
    lens = feature_lens(model, image, mask)
    tokens = lens.tokens
    centred = tokens - tokens.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    scores = centred @ vt[:3].T
    for k in range(3):
        a, b = lens.scores[:, k], scores[:, k]
        sign = np.sign(a @ b)
        np.testing.assert_allclose(a, sign * b, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lens.explained, s[:3] ** 2 / (s**2).sum(), rtol=1e-6)
    rgb = lens.rgb
    has_token = lens.cells >= 0
    assert np.isfinite(rgb[has_token]).all() and rgb[has_token].min() == 0 and rgb[has_token].max() == 1
    assert np.isnan(rgb[~has_token]).all()


def test_features_tokens_per_family(image):
    model, mask, _ = setup("mae_vit_tiny_test", image)
    lens = feature_lens(model, image, mask)
    assert ((lens.cells >= 0) == ~mask).all()  # MAE: visible patches only
    model, mask, _ = setup("simmim_swin_tiny_test", image)
    lens = feature_lens(model, image, mask)
    assert len(lens.tokens) == 16 and lens.cells.shape == (16, 16)  # last stage 4×4, each 4×4 patches
    assert (lens.cells[:4, :4] == 0).all() and lens.cells[15, 15] == 15


def test_similarity_is_cosine(image):
    model, mask, _ = setup("simmim_vit_tiny_test", image)
    lens = feature_lens(model, image, mask)
    sim = lens.similarity((1, 2))
    t = lens.tokens
    expected = t @ t[6] / (np.linalg.norm(t, axis=1) * np.linalg.norm(t[6]))
    np.testing.assert_allclose(sim.values.reshape(-1), expected, rtol=1e-10)
    assert sim.values[1, 2] == pytest.approx(1.0)


def test_similarity_needs_a_token(image):
    model, mask, target = setup("mae_vit_tiny_test", image)
    lens = feature_lens(model, image, mask)
    with pytest.raises(ExplainError, match="hidden"):
        lens.similarity(target)
    with pytest.raises(ExplainError, match="outside"):
        lens.similarity((4, 0))


# -------------------------------------------------------------------------------------------- spread


@pytest.mark.parametrize("name", ["mae_vit_tiny_test", "simmim_vit_tiny_test"])
def test_spread_mean_is_the_full_reconstruction_when_masks_cover_each_patch_once(name, image):
    model = tiny(name)
    masks = complementary_masks(model.grid_size, 4, seed=3)
    lens = spread_lens(model, image, masks, batch=3)
    full = full_reconstruction(model, image, 4, seed=3)
    np.testing.assert_allclose(lens.mean, full.prediction, atol=2e-6)
    assert (lens.count == 1).all() and np.isnan(lens.std).all()  # hidden once: a mean, no spread


def test_spread_statistics_equal_separate_reconstructions(image):
    model = tiny("mae_vit_tiny_test")
    masks = spread_masks("random:0.5", model.grid_size, model.patch_size, k=5, seed=2)
    lens = spread_lens(model, image, masks, batch=2)
    pictures = np.stack([reconstruct(model, image, [m])[0].prediction for m in masks]).astype(np.float64)
    p = model.patch_size
    for r, c in [(0, 0), (1, 3), (3, 2)]:
        hid = [i for i, m in enumerate(masks) if m[r, c]]
        px = pictures[hid][:, r * p + 1, c * p + 2]  # one pixel of the patch, [n, 3]
        if not hid:
            assert np.isnan(lens.mean[r * p + 1, c * p + 2]).all()
            continue
        np.testing.assert_allclose(lens.mean[r * p + 1, c * p + 2], px.mean(axis=0), atol=2e-6)
        if len(hid) >= 2:
            assert lens.std[r * p + 1, c * p + 2] == pytest.approx(np.sqrt(px.var(axis=0).mean()), abs=2e-6)
    assert (lens.count == np.sum(masks, axis=0)).all() and lens.k == 5


def test_spread_masks_are_seeded_and_start_with_the_current_mask():
    grid = (8, 8)
    masks = spread_masks("random:0.75", grid, 8, k=4, seed=7)
    assert (masks[0] == make_mask("random:0.75", grid, 8, seed=7)).all()
    assert all((a == b).all() for a, b in zip(masks, spread_masks("random:0.75", grid, 8, k=4, seed=7),
                                                strict=True))
    assert not (masks[0] == masks[1]).all()
    assert (spread_masks("random:0.75,seed=3", grid, 8, k=2, seed=7)[0]
            == make_mask("random:0.75", grid, 8, seed=3)).all()


# -------------------------------------------------------------------------------------------- errors


def test_one_clear_message_per_bad_request(image):
    model, mask, target = setup("mae_vit_tiny_test", image)
    visible = tuple(int(v) for v in np.argwhere(~mask)[0])
    with pytest.raises(ExplainError, match=r"target patch \(\d, \d\) is visible under this mask"):
        gradient_map(model, image, mask, visible)
    with pytest.raises(ExplainError, match=r"outside the model's 4×4 patch grid \(rows 0–3, columns 0–3\)"):
        occlusion_map(model, image, mask, (0, 4))
    with pytest.raises(ExplainError, match="hides no patch"):
        gradient_map(model, image, np.zeros((4, 4), bool), (0, 0))
    with pytest.raises(ExplainError, match="at least 2 masks"):
        spread_masks("random:0.75", (4, 4), 8, k=1)
    with pytest.raises(ExplainError, match="at least 2 masks"):
        spread_lens(model, image, [mask])
    with pytest.raises(ExplainError, match="same every time"):
        spread_masks("center:0.5", (4, 4), 8, k=4)
    with pytest.raises(ExplainError, match="hides no patch"):
        spread_masks("random:0", (4, 4), 8, k=4)
    with pytest.raises(ExplainError, match="row and column"):
        check_target(mask, ("a", 1))
