"""Attention maps and rollout against the captured weights, rolled out directly with dense numpy matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_explain import FAMILIES, setup

from maskviz.explain import ExplainError
from maskviz.explain.attention import attention_capture, attention_map
from maskviz.explain.common import prepare
from maskviz.models.blocks import record_attention


@pytest.fixture
def image():
    return (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)


def records_of(model, image, mask):
    inp = prepare(model, image, mask)
    with torch.inference_mode(), record_attention(model) as records:
        model(inp.x, inp.mask_t)
    return [(r.name, r.weights.double().numpy()) for r in records], inp


def step(a: np.ndarray) -> np.ndarray:
    """(A + I) / 2 of the head mean, rows renormalised."""
    a = a.mean(axis=0) if a.ndim == 3 else a
    a = a / a.sum(axis=-1, keepdims=True)
    return (a + np.eye(len(a))) / 2


def chain(mats: list[np.ndarray]) -> np.ndarray:
    """Â_L ⋯ Â_1 for matrices listed from the first layer to the last."""
    out = np.eye(len(mats[-1]))
    for m in reversed(mats):
        out = out @ m
    return out


def finish(row_over_patches: np.ndarray, mask: np.ndarray) -> np.ndarray:
    values = np.where(mask.reshape(-1), np.nan, row_over_patches)
    return (values / np.nansum(values)).reshape(mask.shape)


def swin_dense(weights: np.ndarray, res: int, window: int, shift: int) -> np.ndarray:
    """The ``res² × res²`` matrix of one shifted-window attention (head mean), in grid coordinates."""
    a = weights.mean(axis=1)
    full = np.zeros((res * res, res * res))
    n = res // window

    def place(r, c):
        rs, cs = (r - shift) % res, (c - shift) % res
        return (rs // window) * n + cs // window, (rs % window) * window + cs % window

    for p in range(res * res):
        wp, ip = place(*divmod(p, res))
        for q in range(res * res):
            wq, iq = place(*divmod(q, res))
            if wp == wq:
                full[p, q] = a[wp, ip, iq]
    return full


def merge_matrix(res_fine: int) -> np.ndarray:
    """Coarse token → its four children, a quarter each."""
    half = res_fine // 2
    u = np.zeros((half * half, res_fine * res_fine))
    for r in range(res_fine):
        for c in range(res_fine):
            u[(r // 2) * half + c // 2, r * res_fine + c] = 0.25
    return u


@pytest.mark.parametrize("name", FAMILIES)
def test_recorded_rows_sum_to_one_and_layer_maps_read_them(name, image):
    model, mask, target = setup(name, image)
    records, _ = records_of(model, image, mask)
    for _, w in records:
        np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-6)
    capture = attention_capture(model, image, mask)
    for layer in range(len(capture.path)):
        for head in (None, 0):
            m = capture.layer_map(target, layer, head)
            per_token = m.params["patches_per_token"]
            assert np.nansum(m.values) / per_token + (m.params["cls"] or 0) == pytest.approx(1.0, abs=1e-6)


def test_layer_map_is_the_targets_row(image):
    model, mask, target = setup("simmim_vit_tiny_test", image)
    records, _ = records_of(model, image, mask)
    capture = attention_capture(model, image, mask)
    t = target[0] * 4 + target[1]
    m = capture.layer_map(target, 1, head=1)
    np.testing.assert_allclose(m.values.reshape(-1), records[1][1][0, 1, 1 + t, 1:], rtol=1e-6)
    assert m.params["cls"] == pytest.approx(records[1][1][0, 1, 1 + t, 0])
    mean = capture.layer_map(target, -1)
    np.testing.assert_allclose(mean.values.reshape(-1), records[1][1][0].mean(axis=0)[1 + t, 1:], rtol=1e-6)

    model, mask, target = setup("mae_vit_tiny_test", image)
    records, _ = records_of(model, image, mask)
    m = attention_capture(model, image, mask).layer_map(target, 0, head=0)
    assert m.params["layer_name"] == "decoder_blocks.0.attn"  # MAE: the hidden target lives in the decoder
    t = target[0] * 4 + target[1]
    np.testing.assert_allclose(m.values.reshape(-1), records[-1][1][0, 0, 1 + t, 1:], rtol=1e-6)


def test_rollout_matches_numpy_vit(image):
    model, mask, target = setup("simmim_vit_tiny_test", image)
    records, _ = records_of(model, image, mask)
    full = chain([step(w[0]) for _, w in records])
    t = target[0] * 4 + target[1]
    expected = finish(full[1 + t, 1:], mask)
    got = attention_capture(model, image, mask).rollout_map(target)
    np.testing.assert_allclose(got.values, expected, rtol=1e-5, equal_nan=True)


def test_rollout_matches_numpy_mae(image):
    model, mask, target = setup("mae_vit_tiny_test", image)
    records, _ = records_of(model, image, mask)
    depth = len(model.blocks)
    decoder = chain([step(w[0]) for _, w in records[depth:]])
    encoder = chain([step(w[0]) for _, w in records[:depth]])
    visible = np.flatnonzero(~mask.reshape(-1))
    handover = np.zeros((len(decoder), len(encoder)))  # decoder token → the encoder token it came from
    handover[0, 0] = 1
    handover[1 + visible, 1 + np.arange(len(visible))] = 1
    row = (decoder @ handover @ encoder)[1 + target[0] * 4 + target[1]]
    per_patch = np.zeros(mask.size)
    per_patch[visible] = row[1:]
    got = attention_capture(model, image, mask).rollout_map(target)
    np.testing.assert_allclose(got.values, finish(per_patch, mask), rtol=1e-5, equal_nan=True)
    assert 0 < got.params["visible_share"] < 1


def test_rollout_matches_numpy_swin(image):
    model, mask, target = setup("simmim_swin_tiny_test", image)
    records, _ = records_of(model, image, mask)
    mats, res_before = [], None
    for name, w in records:
        block = model.get_submodule(name.rsplit(".", 1)[0])
        res = block.input_resolution[0]
        if res_before is not None and res != res_before:
            mats.append(("merge", merge_matrix(res_before)))
        res_before = res
        mats.append(("attn", step(swin_dense(w, res, block.window_size[0], block.shift_size[0]))))
    row = np.eye(len(mats[-1][1]))
    for _, m in reversed(mats):
        row = row @ m
    last_res = res_before
    k = model.grid_size[0] // last_res
    token = (target[0] // k) * last_res + target[1] // k
    got = attention_capture(model, image, mask).rollout_map(target)
    np.testing.assert_allclose(got.values, finish(row[token], mask), rtol=1e-5, equal_nan=True)
    assert [kind for kind, _ in mats].count("merge") == 2


def test_rollout_of_every_hidden_target_at_once_equals_one_by_one(image):
    model, mask, _ = setup("simmim_swin_tiny_test", image)
    capture = attention_capture(model, image, mask)
    targets = capture.hidden_targets()[::17]
    maps, _ = capture.rollout(targets)
    for t, m in zip(targets, maps, strict=True):
        np.testing.assert_allclose(m, capture.rollout_map(t).values, rtol=1e-6, equal_nan=True)


def test_attention_errors(image):
    model, mask, target = setup("mae_vit_tiny_test", image)
    capture = attention_capture(model, image, mask)
    with pytest.raises(ExplainError, match="layer 3 does not exist.*only in the decoder"):
        capture.layer_map(target, 3)
    with pytest.raises(ExplainError, match="head 5 does not exist: decoder_blocks.0.attn has 2 heads"):
        capture.layer_map(target, 0, 5)
    visible = tuple(int(v) for v in np.argwhere(~mask)[0])
    with pytest.raises(ExplainError, match="visible under this mask"):
        capture.rollout_map(visible)
    with pytest.raises(ExplainError, match="hides no patch"):
        attention_map(model, image, np.zeros((4, 4), bool), (0, 0))
