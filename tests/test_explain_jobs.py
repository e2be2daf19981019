"""maskviz.explain.jobs: the GUI lens's job gives the core functions' answers and the figure's panel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic import randomize_

from maskviz.explain import ExplainError, attention_capture, feature_lens, gradient_map, occlusion_map, run
from maskviz.explain.figure import explain_sheet
from maskviz.explain.jobs import ExplainJob, Lens, explain_outcome, explain_steps
from maskviz.figures import Inputs
from maskviz.figures.sheet import panel_pixels
from maskviz.masks import make_mask
from maskviz.models import create_model
from maskviz.models.configs import get_config
from maskviz.reconstruct import prepare_input


@pytest.fixture(scope="module")
def model():
    return randomize_(create_model(get_config("mae_vit_tiny_test")), 0).eval()


@pytest.fixture(scope="module")
def image():
    return Image.fromarray((np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def mask(model):
    return make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)


def hidden(mask, i=0):
    return tuple(int(v) for v in np.argwhere(mask)[i])


def visible(mask):
    return tuple(int(v) for v in np.argwhere(~mask)[0])


@pytest.mark.parametrize("name", ["simmim_vit_tiny_test", "simmim_swin_tiny_test"])
@pytest.mark.parametrize("method", ["rollout", "occlusion", "features"])
def test_simmim_vit_and_swin_outcomes_are_the_core_results(image, name, method):
    other = randomize_(create_model(get_config(name)), 0).eval()
    mask = make_mask("random:0.6", other.grid_size, other.patch_size, seed=1)
    target = hidden(mask, 1) if method != "features" else visible(mask)
    out = explain_outcome(ExplainJob(other, image, mask, Lens(method, target)))
    if method == "rollout":
        expected = attention_capture(other, image, mask).rollout_map(target)
    elif method == "occlusion":
        expected = occlusion_map(other, image, mask, target)
    else:
        expected = feature_lens(other, image, mask).similarity(target)
        assert out.similarity is not None
        out.result = out.similarity
    np.testing.assert_allclose(out.result.values, expected.values, rtol=1e-5, atol=1e-7, equal_nan=True)


def figure_pixels(model, image, result, similarity=None):
    original = prepare_input(model, image)[0]
    sheet = explain_sheet(result, original, model.patch_size, Inputs(), similarity, model.config.mean)
    return panel_pixels(sheet.rows[0].blocks[-1])


@pytest.mark.parametrize("method", ["attention", "rollout", "gradient", "occlusion"])
def test_per_target_outcome_is_the_core_map_and_the_figure_panel(model, image, mask, method):
    target = hidden(mask, 2)
    lens = Lens(method, target, layer=0, head=1)
    out = explain_outcome(ExplainJob(model, image, mask, lens))
    if method in ("attention", "rollout"):
        capture = attention_capture(model, image, mask)
        expected = capture.rollout_map(target) if method == "rollout" else capture.layer_map(target, 0, 1)
    else:
        core = gradient_map if method == "gradient" else occlusion_map
        expected = core(model, image, mask, target)
    np.testing.assert_allclose(out.result.values, expected.values, rtol=1e-5, atol=1e-7, equal_nan=True)
    assert out.result.target == target
    np.testing.assert_array_equal(out.picture, figure_pixels(model, image, out.result))


def test_kept_forward_answers_another_target_without_running_the_model(model, image, mask):
    first = explain_outcome(ExplainJob(model, image, mask, Lens("rollout", hidden(mask, 0))))
    calls = []
    hook = model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        steps = explain_steps(ExplainJob(model, image, mask, Lens("rollout", hidden(mask, 3)), base=first.base))
        second = run(steps)
    finally:
        hook.remove()
    assert calls == []
    expected = attention_capture(model, image, mask).rollout_map(hidden(mask, 3))
    np.testing.assert_allclose(second.result.values, expected.values, rtol=1e-5, equal_nan=True)


def test_a_visible_target_gives_a_note_not_a_map(model, image, mask):
    out = explain_outcome(ExplainJob(model, image, mask, Lens("attention", visible(mask))))
    assert out.result is None and "visible" in out.note
    assert out.base is not None  # the forward is kept for the next target


def test_features_with_a_target_show_the_similarity(model, image, mask):
    out = explain_outcome(ExplainJob(model, image, mask, Lens("features", visible(mask))))
    lens = feature_lens(model, image, mask)
    expected = lens.similarity(visible(mask))
    np.testing.assert_allclose(out.similarity.values, expected.values, rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(out.picture, figure_pixels(model, image, out.result, out.similarity))


def test_spread_needs_a_pattern_and_yields_per_batch(model, image, mask):
    with pytest.raises(ExplainError, match="painted"):
        explain_outcome(ExplainJob(model, image, mask, Lens("spread", masks=4)))
    steps = list(explain_steps(ExplainJob(model, image, mask, Lens("spread", masks=4),
                                           spec="random:0.75", seed=0)))
    assert steps and steps[-1].done == steps[-1].total


def test_job_copies_the_mask(model, image):
    mask = make_mask("random:0.75", model.grid_size, model.patch_size, seed=0)
    job = ExplainJob(model, image, mask, Lens("attention"))
    mask[:] = False
    assert job.mask.any()


def test_unknown_method_is_one_clear_error():
    with pytest.raises(ExplainError, match="unknown explain method"):
        Lens("saliency")


def test_features_keep_their_colours_when_the_pointer_is_on_a_patch_without_a_token(model, image, mask):
    out = explain_outcome(ExplainJob(model, image, mask, Lens("features", hidden(mask))))
    assert out.similarity is None and "no token" in out.note
    np.testing.assert_array_equal(out.picture, figure_pixels(model, image, out.result))
