"""MAE: the model equals the published implementations for the same weights and kept patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from synthetic import hf_to_official, legacy_hf_state_dict, randomize_, save_official_mae, tiny_hf_mae

from maskviz.checkpoints import load_model
from maskviz.models import create_model
from maskviz.models.mae import sincos_pos_embed_2d


def kept_mask(batch: int, num_patches: int, keep: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, num_patches, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(num_patches, generator=g)[:keep]] = False
    return mask


def hf_forward_with_mask(hf, x: torch.Tensor, mask: torch.Tensor):
    """Drive transformers' random masking with `noise` so it keeps exactly our visible patches."""
    n = mask.shape[1]
    keep = int((~mask[0]).sum())
    hf.config.mask_ratio = 1 - (keep + 0.5) / n
    noise = mask.float() + 1e-3 * torch.rand(mask.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return hf(pixel_values=x, noise=noise)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_hf_folder_matches_transformers(tmp_path, norm_pix):
    hf = tiny_hf_mae(norm_pix=norm_pix, layer_norm_eps=1e-12)
    hf.save_pretrained(tmp_path / "hf")
    loaded = load_model(tmp_path / "hf")
    assert loaded.format == "hf-vitmae" and loaded.config.norm_pix_loss is norm_pix
    assert loaded.config.norm_eps == 1e-12  # read from config.json, as transformers does

    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    mask = kept_mask(3, 16, keep=4)
    out = hf_forward_with_mask(hf, x, mask)
    assert torch.equal(out.mask.bool(), mask)
    with torch.no_grad():
        pred = loaded.model(x, mask)
        loss = loaded.model.loss(x, pred, mask)
    assert (pred - out.logits).abs().max() <= 1e-5
    assert abs(float(loss) - float(out.loss)) <= 1e-5


def test_official_pth_converted_from_hf_matches_transformers(tmp_path):
    hf = tiny_hf_mae(layer_norm_eps=1e-6)
    torch.save({"model": hf_to_official(legacy_hf_state_dict(hf)), "epoch": 1}, tmp_path / "mae_tiny.pth")
    loaded = load_model(tmp_path / "mae_tiny.pth")
    assert loaded.format == "official-mae" and loaded.config.name == "mae_vit_tiny_test"

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    mask = kept_mask(2, 16, keep=5, seed=4)
    out = hf_forward_with_mask(hf, x, mask)
    with torch.no_grad():
        pred = loaded.model(x, mask)
    assert (pred - out.logits).abs().max() <= 1e-5


def test_legacy_hub_key_names_load(tmp_path):
    """Files on the hub carry transformers 4.x names (``attention.attention.query``)."""
    hf = tiny_hf_mae()
    folder = tmp_path / "legacy"
    hf.save_pretrained(folder)
    save_file(legacy_hf_state_dict(hf), str(folder / "model.safetensors"))
    loaded = load_model(folder)
    x = torch.randn(1, 3, 32, 32)
    mask = kept_mask(1, 16, keep=4)
    out = hf_forward_with_mask(hf, x, mask)
    with torch.no_grad():
        assert (loaded.model(x, mask) - out.logits).abs().max() <= 1e-5


def test_pytorch_model_bin_folder(tmp_path):
    hf = tiny_hf_mae()
    folder = tmp_path / "bin"
    hf.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(legacy_hf_state_dict(hf), folder / "pytorch_model.bin")
    assert load_model(folder).format == "hf-vitmae"


def test_custom_mask_equals_official_random_masking():
    """The official forward keeps the patches with the smallest noise; ours takes the mask itself."""
    model = randomize_(create_model("mae_vit_tiny_test")).eval()
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(5))
    keep = int(16 * (1 - 0.75))
    ids_shuffle = torch.argsort(noise, dim=1)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask.scatter_(1, ids_shuffle[:, :keep], False)
    with torch.no_grad():
        ours = model(x, mask)
        official = official_style_forward(model, x, ids_shuffle, keep)
    assert (ours - official).abs().max() <= 1e-5


def official_style_forward(model, x, ids_shuffle, keep):
    """models_mae.py's forward_encoder/forward_decoder, written against our modules."""
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    tokens = model.patch_embed(x) + model.pos_embed[:, 1:, :]
    ids_keep = ids_shuffle[:, :keep]
    tokens = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).repeat(1, 1, tokens.shape[-1]))
    cls = (model.cls_token + model.pos_embed[:, :1, :]).expand(tokens.shape[0], -1, -1)
    h = torch.cat([cls, tokens], dim=1)
    for blk in model.blocks:
        h = blk(h)
    h = model.decoder_embed(model.norm(h))
    mask_tokens = model.mask_token.repeat(h.shape[0], ids_restore.shape[1] + 1 - h.shape[1], 1)
    h_ = torch.cat([h[:, 1:, :], mask_tokens], dim=1)
    h_ = torch.gather(h_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, h.shape[2]))
    h = torch.cat([h[:, :1, :], h_], dim=1) + model.decoder_pos_embed
    for blk in model.decoder_blocks:
        h = blk(h)
    return model.decoder_pred(model.decoder_norm(h))[:, 1:, :]


def test_sincos_table_layout():
    """Per patch (r, c): [sin(c·ω) | cos(c·ω) | sin(r·ω) | cos(r·ω)], CLS row zero (official)."""
    dim, grid = 16, 4
    table = sincos_pos_embed_2d(dim, grid)[0]
    assert table.shape == (1 + grid * grid, dim) and torch.all(table[0] == 0)
    omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim / 4))
    r, c = 2, 3
    row = table[1 + r * grid + c].numpy()
    expected = np.concatenate([np.sin(c * omega), np.cos(c * omega), np.sin(r * omega), np.cos(r * omega)])
    assert np.allclose(row, expected, atol=1e-6)


def test_visible_count_must_match_in_batch():
    model = create_model("mae_vit_tiny_test").eval()
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :3] = True
    with pytest.raises(ValueError, match="same number of visible patches"):
        model(torch.zeros(2, 3, 32, 32), mask)


def test_norm_pix_target_uses_unbiased_patch_statistics():
    model = create_model("mae_vit_tiny_test").eval()
    model.config = model.config.replace(norm_pix_loss=True)
    x = torch.randn(1, 3, 32, 32)
    patches = model.patchify(x)
    t = model.target(x)
    manual = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, unbiased=True, keepdim=True) + 1e-6) ** 0.5
    assert torch.allclose(t, manual)


def test_training_checkpoint_with_args_loads_and_reads_norm_pix(tmp_path):
    sd = save_official_mae(tmp_path / "run.pth", norm_pix=True)
    loaded = load_model(tmp_path / "run.pth")
    assert loaded.config.norm_pix_loss is True
    assert any("training arguments" in n for n in loaded.notes)
    assert any("argparse.Namespace" in i for i in loaded.ignored)
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, sd[k])
