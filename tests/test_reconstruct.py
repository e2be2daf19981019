"""reconstruct(): pictures and numbers, batching, norm-pix display modes, full reconstruction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_

from maskviz.masks import make_mask, random_mask
from maskviz.models import create_model
from maskviz.reconstruct import full_reconstruction, predict, prepare_input, reconstruct


@pytest.fixture
def mae():
    return randomize_(create_model("mae_vit_tiny_test")).eval()


@pytest.fixture
def image():
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_panels_are_consistent(mae, image):
    mask = random_mask((4, 4), 0.75, seed=0)
    (r,) = reconstruct(mae, image, [mask])
    px = np.repeat(np.repeat(mask, 8, 0), 8, 1)
    assert r.original.shape == r.prediction.shape == r.pasted.shape == (32, 32, 3)
    assert np.array_equal(r.original, np.asarray(image, dtype=np.float32) / 255)  # exact size: no resampling
    assert np.array_equal(r.pasted[~px], r.original[~px]) and np.array_equal(r.pasted[px], r.prediction[px])
    assert np.allclose(r.masked_input[px], mae.config.mean) and np.array_equal(r.masked_input[~px], r.original[~px])
    assert r.prediction.min() >= 0 and r.prediction.max() <= 1
    assert r.masked_patches == 12 and r.total_patches == 16
    assert math.isclose(r.mse, float(((r.prediction - r.original) ** 2).mean(-1)[px].mean()), rel_tol=1e-6)
    assert math.isclose(r.psnr, 10 * math.log10(1 / r.mse), rel_tol=1e-9)


def test_loss_is_the_models_own_training_loss(mae, image):
    mask = random_mask((4, 4), 0.75, seed=3)
    (r,) = reconstruct(mae, image, [mask])
    _, x = prepare_input(mae, image)
    m = torch.from_numpy(mask.reshape(1, -1))
    with torch.no_grad():
        pred = mae(x, m)
        expected = ((pred - mae.patchify(x)) ** 2).mean(-1)[m].mean()
    assert math.isclose(r.loss, float(expected), rel_tol=1e-6)
    assert np.allclose(r.patch_loss.reshape(-1), ((pred - mae.patchify(x)) ** 2).mean(-1)[0].numpy(), atol=1e-6)


def test_batched_masks_equal_single_runs(mae, image):
    masks = [random_mask((4, 4), 0.75, seed=s) for s in range(3)] + [random_mask((4, 4), 0.5, seed=9)]
    together = reconstruct(mae, image, masks)
    for mask, r in zip(masks, together, strict=True):
        (alone,) = reconstruct(mae, image, [mask])
        assert np.allclose(alone.prediction, r.prediction, atol=1e-5)
        assert math.isclose(alone.loss, r.loss, rel_tol=1e-5)


def test_nothing_hidden_reports_no_loss(mae, image):
    (r,) = reconstruct(mae, image, [np.zeros((4, 4), bool)])
    assert r.loss is None and r.mse is None and r.psnr is None and r.masked_patches == 0


def test_everything_hidden_runs(mae, image):
    (r,) = reconstruct(mae, image, [np.ones((4, 4), bool)])
    assert r.masked_patches == 16 and np.isfinite(r.loss)


def test_mask_of_the_wrong_grid_is_refused(mae, image):
    with pytest.raises(ValueError, match="does not fit"):
        reconstruct(mae, image, [np.zeros((14, 14), bool)])


def test_norm_pix_display_modes(image):
    model = randomize_(create_model(create_model("mae_vit_tiny_test").config.replace(norm_pix_loss=True))).eval()
    mask = random_mask((4, 4), 0.5, seed=2)
    true_patch, visible = (reconstruct(model, image, [mask], unnormalize=u)[0] for u in ("true-patch", "visible"))
    assert true_patch.unnormalize == "true-patch" and visible.unnormalize == "visible"
    px = np.repeat(np.repeat(mask, 8, 0), 8, 1)
    # Visible patches use their own statistics in both modes; hidden ones differ.
    assert np.allclose(true_patch.prediction[~px], visible.prediction[~px], atol=1e-6)
    assert not np.allclose(true_patch.prediction[px], visible.prediction[px], atol=1e-3)
    assert true_patch.loss == visible.loss  # the training loss does not depend on the display
    # A hidden patch gets its true statistics (true-patch) or those pooled over the visible ones.
    _, x = prepare_input(model, image)
    patches = model.patchify(x)[0]
    with torch.no_grad():
        pred = model(x, torch.from_numpy(mask.reshape(1, -1)))[0]
    means, variances = patches.mean(-1), patches.var(-1)
    vis = torch.from_numpy(~mask.reshape(-1))
    i = int(np.flatnonzero(mask.reshape(-1))[0])
    stats = {"true-patch": (means[i], variances[i]), "visible": (means[vis].mean(), variances[vis].mean())}
    for r in (true_patch, visible):
        m, v = stats[r.unnormalize]
        expected = model.unpatchify((pred[i] * (v + 1e-6) ** 0.5 + m).expand(1, 16, -1))[0]
        std, mean = (torch.tensor(t).view(3, 1, 1) for t in (model.config.std, model.config.mean))
        expected = expected * std + mean
        row, col = divmod(i, 4)
        shown = r.prediction[row * 8:(row + 1) * 8, col * 8:(col + 1) * 8]
        want = expected.clamp(0, 1).permute(1, 2, 0).numpy()[:8, :8]
        assert np.allclose(shown, want, atol=1e-5)


def test_pixel_model_has_no_unnormalisation(mae, image):
    (r,) = reconstruct(mae, image, [random_mask((4, 4), 0.75, seed=0)], unnormalize="visible")
    assert r.unnormalize == "none" and r.norm_pix is False


def test_full_reconstruction_takes_each_patch_from_the_pass_that_hid_it(mae, image):
    full = full_reconstruction(mae, image, k=4, seed=0)
    assert full.mask.all() and full.masked_patches == 16
    from maskviz.masks import complementary_masks

    parts = complementary_masks((4, 4), 4, seed=0)
    singles = reconstruct(mae, image, parts)
    for part, r in zip(parts, singles, strict=True):
        px = np.repeat(np.repeat(part, 8, 0), 8, 1)
        assert np.allclose(full.prediction[px], r.prediction[px], atol=1e-5)
    hidden_loss = sum(float(r.patch_loss[p].sum()) for p, r in zip(parts, singles, strict=True))
    assert math.isclose(full.loss, hidden_loss / 16, rel_tol=1e-5)


def test_large_image_is_fitted(mae):
    big = Image.fromarray(np.zeros((300, 200, 3), np.uint8))
    (r,) = reconstruct(mae, big, [make_mask("center:0.25", (4, 4), 8)])
    assert r.original.shape == (32, 32, 3)


def test_predict_groups_by_visible_count(mae, image):
    _, x = prepare_input(mae, image)
    masks = torch.from_numpy(np.stack([random_mask((4, 4), r, seed=1).reshape(-1) for r in (0.25, 0.75, 0.5)]))
    out = predict(mae, x, masks)
    assert out.shape == (3, 16, 192)
    with torch.no_grad():
        for i in range(3):
            assert torch.allclose(out[i], mae(x, masks[i : i + 1])[0], atol=1e-5)


def test_image_inputs_follow_the_file_rules(mae):
    """Float arrays in [0, 1] and RGBA images are accepted like files (alpha over white)."""
    arr = np.random.default_rng(3).random((32, 32, 3)).astype(np.float32)
    (from_float,) = reconstruct(mae, arr, [np.ones((4, 4), bool)])
    assert np.allclose(from_float.original, np.round(arr * 255) / 255, atol=1e-6)
    transparent = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    (r,) = reconstruct(mae, transparent, [np.ones((4, 4), bool)])
    assert np.allclose(r.original, 1.0)
    with pytest.raises(ValueError, match="at least one mask"):
        reconstruct(mae, arr, [])
