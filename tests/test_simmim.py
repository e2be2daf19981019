"""SimMIM: official key layout, buffers, loss and parity with Hugging Face, timm and a plain-torch ViT.

The official buffers (relative position indices, shifted-window attention masks) are recomputed here
with small independent loops that follow microsoft/SimMIM, so a synthetic checkpoint carries exactly
what a released ``simmim_pretrain__*.pth`` carries.
"""

from __future__ import annotations

import json
import re
from functools import partial
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from synthetic import randomize_
from torch import Tensor, nn

from maskviz.checkpoints import load_model
from maskviz.checkpoints.common import load_strict
from maskviz.checkpoints.official_simmim import (
    convert_simmim_state_dict,
    infer_simmim_config,
    is_simmim_state_dict,
)
from maskviz.errors import CheckpointError
from maskviz.models import create_model, get_config
from maskviz.models.base import config_from_dict
from maskviz.models.simmim import SimMIMSwinConfig

# --- the official layout, written out independently ---------------------------------------------

VIT_BLOCK = [
    "gamma_1", "gamma_2", "norm1.weight", "norm1.bias", "attn.q_bias", "attn.v_bias", "attn.qkv.weight",
    "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
    "mlp.fc2.weight", "mlp.fc2.bias",
]
SWIN_BLOCK = [
    "norm1.weight", "norm1.bias", "attn.relative_position_bias_table", "attn.relative_position_index",
    "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
]
HEAD = ["encoder.norm.weight", "encoder.norm.bias", "decoder.0.weight", "decoder.0.bias"]


def official_vit_keys(depth: int) -> set[str]:
    """Appendix B of the checkpoint spec, for any depth."""
    top = ["cls_token", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias",
           "rel_pos_bias.relative_position_bias_table", "rel_pos_bias.relative_position_index"]
    blocks = [f"blocks.{i}.{k}" for i in range(depth) for k in VIT_BLOCK]
    return {f"encoder.{k}" for k in top + blocks} | set(HEAD)


def official_swin_keys(depths: tuple[int, ...], shifted_stages: set[int]) -> set[str]:
    """Appendix C: ``attn_mask`` only on odd blocks of stages whose windows really shift."""
    keys = ["mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.norm.weight",
            "patch_embed.norm.bias"]
    for s, depth in enumerate(depths):
        for b in range(depth):
            keys += [f"layers.{s}.blocks.{b}.{k}" for k in SWIN_BLOCK]
            if b % 2 and s in shifted_stages:
                keys.append(f"layers.{s}.blocks.{b}.attn_mask")
        if s < len(depths) - 1:
            keys += [f"layers.{s}.downsample.{k}" for k in ("reduction.weight", "norm.weight", "norm.bias")]
    return {f"encoder.{k}" for k in keys} | set(HEAD)


def official_window(res: int, window: int) -> tuple[int, int]:
    """``SwinTransformerBlock.__init__``: no partition when the map is no larger than a window."""
    return (res, 0) if res <= window else (window, window // 2)


def official_rel_index(w: int, cls: bool) -> Tensor:
    """Index into a ``(2w−1)²`` table (+3 CLS rows for the ViT) for every query/key pair."""
    coords = [(i // w, i % w) for i in range(w * w)]
    idx = torch.tensor(
        [[(hi - hj + w - 1) * (2 * w - 1) + (wi - wj + w - 1) for hj, wj in coords] for hi, wi in coords]
    )
    if not cls:
        return idx
    n = (2 * w - 1) ** 2 + 3
    out = torch.empty(w * w + 1, w * w + 1, dtype=torch.long)
    out[1:, 1:] = idx
    out[0, :] = n - 3  # cls → token
    out[:, 0] = n - 2  # token → cls
    out[0, 0] = n - 1
    return out


def official_attn_mask(res: int, w: int, shift: int) -> Tensor:
    """−100 between tokens of one shifted window that come from different regions of the map."""

    def region(y: int) -> int:
        return 0 if y < res - w else (1 if y < res - shift else 2)

    masks = []
    for wy in range(0, res, w):
        for wx in range(0, res, w):
            labels = [3 * region(wy + i) + region(wx + j) for i in range(w) for j in range(w)]
            masks.append([[0.0 if a == b else -100.0 for b in labels] for a in labels])
    return torch.tensor(masks)


def official_buffers(config) -> dict[str, Tensor]:
    if config.kind == "simmim_vit":
        return {"encoder.rel_pos_bias.relative_position_index": official_rel_index(config.grid_size[0], True)}
    out = {}
    for s, depth in enumerate(config.depths):
        res = config.grid_size[0] // 2**s
        w, shift = official_window(res, config.window_size)
        for b in range(depth):
            out[f"encoder.layers.{s}.blocks.{b}.attn.relative_position_index"] = official_rel_index(w, False)
            if b % 2 and shift:
                out[f"encoder.layers.{s}.blocks.{b}.attn_mask"] = official_attn_mask(res, w, shift)
    return out


def official_state_dict(model) -> dict[str, Tensor]:
    """What ``SimMIM.state_dict()`` holds: our weights plus the official buffers."""
    return {**model.state_dict(), **official_buffers(model.config)}


def tiny(name: str, seed: int = 0):
    return randomize_(create_model(name), seed).eval()


def random_batch(config, batch: int = 2, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config.in_chans, config.img_size, config.img_size, generator=g)
    return x, torch.rand(batch, config.num_patches, generator=g) < 0.6


def load_official(sd: dict[str, Tensor], hints: dict | None = None):
    config, notes = infer_simmim_config(sd, hints or {})
    model = create_model(config).eval()
    converted, dropped = convert_simmim_state_dict(sd, model)
    load_strict(model, converted, "test checkpoint")
    return model, notes, dropped


# --- layout and geometry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, count, expected_keys",
    [
        ("simmim_vit_base_patch16_224", 190, official_vit_keys(12)),
        ("simmim_swin_base_w6_192", 365, official_swin_keys((2, 2, 18, 2), {0, 1, 2})),
        ("simmim_swin_large_w12_192", 356, official_swin_keys((2, 2, 18, 2), {0, 1})),
    ],
)
def test_published_architectures_have_the_official_keys(name, count, expected_keys):
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = create_model(name)
    buffers = {k: v for k, v in model.named_buffers() if k.endswith(("relative_position_index", "attn_mask"))}
    keys = set(model.state_dict()) | set(buffers)
    assert keys == expected_keys and len(keys) == count
    if name == "simmim_swin_base_w6_192":  # parameter count printed from the official model
        assert sum(v.numel() for v in model.state_dict().values()) == 89_874_104
        assert buffers["encoder.layers.0.blocks.1.attn_mask"].shape == (64, 36, 36)
    if name == "simmim_swin_large_w12_192":
        tables = [model.state_dict()[f"encoder.layers.{s}.blocks.0.attn.relative_position_bias_table"].shape
                  for s in range(4)]
        assert tables == [(529, 6), (529, 12), (529, 24), (121, 48)]
        assert buffers["encoder.layers.1.blocks.1.attn_mask"].shape == (4, 144, 144)


def test_swin_window_clamping_follows_official_rule():
    # Swin-L geometry (192 px, window 12) at a tiny width: stage maps 48, 24, 12, 6.
    config = SimMIMSwinConfig(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 1, 1), window_size=12)
    with torch.device("meta"):
        model = create_model(config)
    for s, stage in enumerate(model.encoder.layers):
        w, shift = official_window(config.grid_size[0] // 2**s, 12)
        assert config.stage_window(s) == (w, shift)
        assert [tuple(b.shift_size) for b in stage.blocks] == [(0, 0), (shift, shift)]
        assert all(tuple(b.window_size) == (w, w) for b in stage.blocks)
    assert [config.stage_window(s) for s in range(4)] == [(12, 6), (12, 6), (12, 0), (6, 0)]
    base = get_config("simmim_swin_base_w6_192")
    assert [base.stage_window(s) for s in range(4)] == [(6, 3), (6, 3), (6, 3), (6, 0)]


def test_patch_merging_order_is_official():
    """x0 = [0::2, 0::2], x1 = [1::2, 0::2], x2 = [0::2, 1::2], x3 = [1::2, 1::2], concatenated."""
    merge = create_model("simmim_swin_tiny_test").encoder.layers[0].downsample
    x = torch.randn(1, 4, 4, 3)
    merge.norm, merge.reduction = nn.Identity(), nn.Identity()  # look at what enters the reduction
    cat = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    assert torch.equal(merge(x), cat)


# --- round trips through the official layout -----------------------------------------------------


@pytest.mark.parametrize("name", ["simmim_vit_tiny_test", "simmim_swin_tiny_test"])
def test_official_layout_round_trip(name):
    src = tiny(name)
    sd = official_state_dict(src)
    c = src.config
    if c.kind == "simmim_vit":
        assert set(sd) == official_vit_keys(c.depth)
    else:
        assert set(sd) == official_swin_keys(c.depths, {0, 1})
    assert is_simmim_state_dict(sd)
    model, notes, dropped = load_official(sd)
    assert model.config == c and model.config.name == name
    assert sorted(dropped) == sorted(official_buffers(c))
    x, mask = random_batch(c)
    with torch.no_grad():
        assert torch.equal(model(x, mask), src(x, mask))
    assert any(name in n for n in notes)


@pytest.mark.parametrize(
    "name", ["simmim_vit_base_patch16_224", "simmim_swin_base_w6_192", "simmim_swin_large_w12_192"]
)
def test_published_architectures_are_inferred(name):
    with torch.device("meta"):
        model = create_model(name)
    sd = {**model.state_dict(), **{k: v for k, v in model.named_buffers() if not k.endswith("k_bias")}}
    config, _ = infer_simmim_config(sd, {})
    assert config == get_config(name)
    if "swin" in name:  # without the attention masks the size still follows from the tables or is 192
        no_masks = {k: v for k, v in sd.items() if not k.endswith("attn_mask")}
        config, notes = infer_simmim_config(no_masks, {})
        assert config == get_config(name)
        expected = "read from the clamped window sizes" if "large" in name else "assumed 192"
        assert any(expected in n for n in notes)


def test_swin_input_size_from_training_config():
    sd = {k: v for k, v in official_state_dict(tiny("simmim_swin_tiny_test")).items() if "attn_mask" not in k}
    for cfg in ({"DATA": {"IMG_SIZE": 32}}, SimpleNamespace(DATA=SimpleNamespace(IMG_SIZE=32))):
        config, notes = infer_simmim_config(sd, {"config": cfg})
        assert config.img_size == 32 and any("training config" in n for n in notes)
    config, notes = infer_simmim_config(sd, {})
    assert config.img_size == 192 and any("assumed 192" in n for n in notes)


class CfgNode(dict):
    """Pickles like yacs' ``CfgNode`` (a dict with state), which SimMIM saves as ``config``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["__immutable__"] = True


def test_training_checkpoint_loads_through_load_model(tmp_path):
    src = tiny("simmim_swin_tiny_test")
    sd = {k: v for k, v in official_state_dict(src).items() if "attn_mask" not in k}
    cfg = CfgNode(DATA=CfgNode(IMG_SIZE=32), MODEL=CfgNode(TYPE="swin"))
    torch.save({"model": sd, "config": cfg, "epoch": 99}, tmp_path / "simmim_pretrain__tiny.pth")
    loaded = load_model(tmp_path / "simmim_pretrain__tiny.pth")
    assert loaded.format == "official-simmim" and loaded.config.name == "simmim_swin_tiny_test"
    assert any("training config" in n for n in loaded.notes)
    x, mask = random_batch(src.config)
    with torch.no_grad():
        assert torch.equal(loaded.model(x, mask), src(x, mask))


@pytest.mark.parametrize("name", ["simmim_vit_tiny_test", "simmim_swin_tiny_test"])
def test_config_json_round_trip_and_training_step(name):
    config = get_config(name)
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    model = create_model(name)
    x, mask = random_batch(config)
    model.loss(x, model(x, mask), mask).backward()
    assert model.encoder.mask_token.grad.abs().sum() > 0  # hidden patches see the learned token


def test_stored_buffers_are_checked():
    sd = official_state_dict(tiny("simmim_swin_tiny_test"))
    model = create_model(get_config("simmim_swin_tiny_test"))
    bad = dict(sd)
    bad["encoder.layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(16, 16, dtype=torch.long)
    with pytest.raises(CheckpointError, match="relative_position_index"):
        convert_simmim_state_dict(bad, model)
    extra = {**sd, "encoder.layers.2.blocks.1.attn_mask": torch.zeros(1, 16, 16)}  # stage 2 never shifts
    with pytest.raises(CheckpointError, match="no counterpart"):
        convert_simmim_state_dict(extra, model)


# --- refusals ------------------------------------------------------------------------------------


CLASSIFIER_MESSAGE = "fine-tuned SimMIM classifier.*no decoder.*cannot reconstruct.*simmim_pretrain__"
ENCODER_ONLY_MESSAGE = "only the encoder.*no decoder, so it cannot reconstruct.*simmim_pretrain__"


def test_classifier_and_encoder_only_checkpoints_are_refused():
    sd = official_state_dict(tiny("simmim_vit_tiny_test"))
    classifier = {k.removeprefix("encoder."): v for k, v in sd.items() if not k.startswith("decoder.")}
    classifier |= {"head.weight": torch.zeros(10, 32), "head.bias": torch.zeros(10)}
    swin = official_state_dict(tiny("simmim_swin_tiny_test"))
    swin_classifier = {k.removeprefix("encoder."): v for k, v in swin.items() if k.startswith("encoder.")}
    for ckpt in (classifier, swin_classifier):
        assert is_simmim_state_dict(ckpt)
        with pytest.raises(CheckpointError, match=CLASSIFIER_MESSAGE):
            infer_simmim_config(ckpt, {})
    encoder_only = {k: v for k, v in sd.items() if not k.startswith("decoder.")}
    assert is_simmim_state_dict(encoder_only)
    with pytest.raises(CheckpointError, match=ENCODER_ONLY_MESSAGE):
        infer_simmim_config(encoder_only, {})
    with pytest.raises(CheckpointError, match=ENCODER_ONLY_MESSAGE):
        convert_simmim_state_dict(encoder_only, create_model(get_config("simmim_vit_tiny_test")))
    assert not is_simmim_state_dict(create_model("mae_vit_tiny_test").state_dict())


# --- loss ----------------------------------------------------------------------------------------


def test_loss_is_the_official_masked_l1():
    model = create_model("simmim_swin_tiny_test")
    x, mask = random_batch(model.config, batch=3)
    pred = torch.randn(3, model.config.num_patches, 12)
    rec = model.unpatchify(pred)
    p, gw = model.patch_size, model.grid_size[1]
    sums, counts = torch.zeros(3), torch.zeros(3)
    for b, patch in mask.nonzero().tolist():
        r, c = divmod(patch, gw)
        sl = (b, slice(None), slice(r * p, (r + 1) * p), slice(c * p, (c + 1) * p))
        sums[b] += (x[sl] - rec[sl]).abs().sum()
        counts[b] += p * p
    want = sums.sum() / (counts.sum() + 1e-5) / 3
    assert torch.allclose(model.loss(x, pred, mask), want, rtol=1e-5)
    per_sample = model.loss(x, pred, mask, reduce_batch=False)
    assert torch.allclose(per_sample, sums / (counts + 1e-5) / 3, rtol=1e-5)
    per_patch = model.patch_loss(x, pred)
    masked_mean = (per_patch * mask).sum() / mask.sum()
    assert per_patch.shape == mask.shape and torch.allclose(masked_mean, want, rtol=1e-5)


# --- parity: Hugging Face Swin -------------------------------------------------------------------

HF_RENAMES = [  # transformers 5.x module names and the legacy (4.x / hub) names
    (r"^swin\.embeddings\.mask_token$", "encoder.mask_token"),
    (r"^swin\.embeddings\.patch_embeddings\.projection\.", "encoder.patch_embed.proj."),
    (r"^swin\.embeddings\.norm\.", "encoder.patch_embed.norm."),
    (r"^swin\.layernorm\.", "encoder.norm."),
    (r"^swin\.encoder\.layers\.", "encoder.layers."),
    (r"\.layernorm_before\.", ".norm1."),
    (r"\.layernorm_after\.", ".norm2."),
    (r"\.attention\.(output\.dense|o_proj)\.", ".attn.proj."),
    (r"\.attention\.(self|relative_position_bias)\.relative_position_bias_table$",
     ".attn.relative_position_bias_table"),
    (r"\.intermediate\.dense\.", ".mlp.fc1."),
    (r"\.output\.dense\.", ".mlp.fc2."),
]
HF_QKV = re.compile(r"(.*)\.attention\.(?:self\.)?(query|key|value|q_proj|k_proj|v_proj)\.(weight|bias)$")


def hf_swin_to_official(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of ``convert_swin_simmim_to_pytorch.py``: rename, and stack q, k, v into ``qkv``."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, value in sd.items():
        if key.endswith("relative_position_index"):
            continue
        for pattern, repl in HF_RENAMES:
            key = re.sub(pattern, repl, key)
        m = HF_QKV.match(key)
        if m:
            qkv.setdefault((m[1], m[3]), {})[m[2][0]] = value
        else:
            out[key] = value
    for (block, kind), parts in qkv.items():
        out[f"{block}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def tiny_hf_swin(seed: int = 0):
    """A random SwinForMaskedImageModeling with the dims of ``simmim_swin_tiny_test``."""
    from transformers import SwinConfig, SwinForMaskedImageModeling

    cfg = SwinConfig(
        image_size=32, patch_size=2, num_channels=3, embed_dim=16, depths=[2, 2, 2], num_heads=[1, 2, 4],
        window_size=4, mlp_ratio=4.0, qkv_bias=True, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, drop_path_rate=0.0, use_absolute_embeddings=False,
        layer_norm_eps=1e-5, encoder_stride=8,
    )
    return randomize_(SwinForMaskedImageModeling(cfg), seed).eval()


def test_swin_matches_transformers():
    hf = tiny_hf_swin()
    sd = {**hf_swin_to_official(hf.state_dict()), **official_buffers(get_config("simmim_swin_tiny_test"))}
    model, _, _ = load_official(sd)
    assert model.config.name == "simmim_swin_tiny_test"
    x, mask = random_batch(model.config)
    with torch.no_grad():
        out = hf(pixel_values=x, bool_masked_pos=mask)
        ours = model.reconstruct_image(x, mask)
        pred = model(x, mask)
        hf_embed, _ = hf.swin.embeddings(x, bool_masked_pos=mask)
        enc = model.encoder
        our_embed = enc.patch_embed(x) * (~mask[..., None]) + enc.mask_token * mask[..., None]
    assert (hf_embed - our_embed).abs().max() <= 1e-6  # mask token blended after the patch LayerNorm
    assert (ours - out.reconstruction).abs().max() <= 1e-5
    assert torch.allclose(model.loss(x, pred, mask), out.loss, rtol=1e-5, atol=1e-7)


# --- parity: ViT against timm's BEiT and a plain-torch reference ---------------------------------


def test_vit_encoder_matches_timm_beit():
    from timm.models.beit import Beit

    model = tiny("simmim_vit_tiny_test")
    c = model.config
    beit = Beit(
        img_size=c.img_size, patch_size=c.patch_size, embed_dim=c.embed_dim, depth=c.depth,
        num_heads=c.num_heads, qkv_bias=True, use_abs_pos_emb=False, use_rel_pos_bias=False,
        use_shared_rel_pos_bias=True, init_values=0.1, norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_classes=0, global_pool="token",
    ).eval()
    sd = official_state_dict(model)
    enc = {k.removeprefix("encoder."): v for k, v in sd.items() if k.startswith("encoder.")}
    enc.pop("mask_token")
    missing, unexpected = beit.load_state_dict(enc, strict=False)
    assert not missing and set(unexpected) <= {"rel_pos_bias.relative_position_index"}
    x, _ = random_batch(c)
    with torch.no_grad():
        ours = model.encoder.forward_features(x, torch.zeros(2, c.num_patches, dtype=torch.bool))
        assert (ours - beit.forward_features(x)).abs().max() <= 1e-5


def reference_vit_reconstruction(sd: dict[str, Tensor], c, x: Tensor, mask: Tensor) -> Tensor:
    """Official ``VisionTransformerForSimMIM`` + decoder written out with plain tensor ops."""
    p, g, d, h = c.patch_size, c.grid_size[0], c.embed_dim, c.num_heads
    e = {k.removeprefix("encoder."): v for k, v in sd.items()}
    t = F.conv2d(x, e["patch_embed.proj.weight"], e["patch_embed.proj.bias"], stride=p)
    t = t.flatten(2).transpose(1, 2)
    w = mask.float()[..., None]
    t = t * (1 - w) + e["mask_token"] * w
    t = torch.cat([e["cls_token"].expand(len(x), -1, -1), t], 1)
    n = t.shape[1]
    idx = e["rel_pos_bias.relative_position_index"].reshape(-1)
    bias = e["rel_pos_bias.relative_position_bias_table"][idx].reshape(n, n, h).permute(2, 0, 1)
    for i in range(c.depth):
        b = {k.removeprefix(f"blocks.{i}."): v for k, v in e.items() if k.startswith(f"blocks.{i}.")}
        y = F.layer_norm(t, (d,), b["norm1.weight"], b["norm1.bias"], eps=1e-6)
        qkv_bias = torch.cat([b["attn.q_bias"], torch.zeros_like(b["attn.v_bias"]), b["attn.v_bias"]])
        qkv = F.linear(y, b["attn.qkv.weight"], qkv_bias).reshape(len(x), n, 3, h, d // h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q * (d // h) ** -0.5) @ k.transpose(-2, -1) + bias).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(len(x), n, d)
        y = F.linear(y, b["attn.proj.weight"], b["attn.proj.bias"])
        t = t + b["gamma_1"] * y
        y = F.layer_norm(t, (d,), b["norm2.weight"], b["norm2.bias"], eps=1e-6)
        y = F.gelu(F.linear(y, b["mlp.fc1.weight"], b["mlp.fc1.bias"]))
        y = F.linear(y, b["mlp.fc2.weight"], b["mlp.fc2.bias"])
        t = t + b["gamma_2"] * y
    t = F.layer_norm(t, (d,), e["norm.weight"], e["norm.bias"], eps=1e-6)[:, 1:]
    z = t.transpose(1, 2).reshape(len(x), d, g, g)
    return F.pixel_shuffle(F.conv2d(z, e["decoder.0.weight"], e["decoder.0.bias"]), p)


def test_vit_matches_plain_torch_reference():
    src = tiny("simmim_vit_tiny_test", seed=3)
    sd = official_state_dict(src)
    model, _, _ = load_official(sd)
    x, mask = random_batch(model.config, seed=1)
    with torch.no_grad():
        want = reference_vit_reconstruction(sd, model.config, x, mask)
        assert (model.reconstruct_image(x, mask) - want).abs().max() <= 1e-5
        assert not torch.allclose(model.reconstruct_image(x, ~mask), want, atol=1e-3)  # the mask matters
