"""ASAPNet generator: configs, coordinate encoding, tent filter, LR stream and pixel-wise MLPs.

Parity references are written independently: numpy loops here for the per-pixel MLP and the encoding, and
PyTorch (CPU) for the tent filter and the LR stream, built as upstream builds them in
scripts/make_test_fixtures.py, whose outputs tests/fixtures/asapnet_generator.npz stores (no torch here).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinterp.gen.asapnet.config import asapnet_config
from jaxinterp.gen.asapnet.encoding import coordinate_encoding, tile_encoding
from jaxinterp.gen.asapnet.generator import (
    ASAPNetGenerator,
    LowResStream,
    make_generator,
    pixelwise_mlp,
    prepare_inference,
    split_mlp_params,
    tent_downsample,
)
from tests.fixtures import reference, unflatten
from tests.gen.asapnet.helpers import one_hot_labels, random_variables

TINY = dict(lr_width=8, lr_max_width=16, lr_depth=2, hr_width=8, hr_depth=3)


def test_params_per_cell_facades_512():
    cfg = asapnet_config(13, 512, 512)
    assert cfg.downsampling == 32 and cfg.num_encoding_channels == 20
    assert cfg.mlp_channels == (33, 64, 64, 64, 64, 3)
    assert cfg.num_mlp_params == 14_851
    assert asapnet_config(13, 1024, 1024).num_mlp_params == 15_107  # facades-1024, S = 64 -> 24 coords
    # The LR stream really predicts that many numbers per 32 x 32 cell (shape only, paper-size widths).
    x = jax.ShapeDtypeStruct((1, 512, 512, 13), jnp.float32)
    g = ASAPNetGenerator(cfg)
    variables = jax.eval_shape(g.init, jax.random.key(0), x)
    params = jax.eval_shape(lambda v, x: g.apply(v, x, method="predict_params"), variables, x)
    assert all(w.shape[:3] == (1, 16, 16) and b.shape[:3] == (1, 16, 16) for w, b in params)
    assert sum(w.shape[3] * w.shape[4] + b.shape[3] for w, b in params) == 14_851


@pytest.mark.parametrize(
    "h,w,overrides,cell,fixed",
    [
        (32, 64, {}, 2, 1),  # S = 32 // 16 = 2, learned entirely by one strided conv
        (64, 32, dict(learned_downsampling=2), 4, 2),  # S = 4: tent filter x2, then one strided conv
    ],
)
def test_asapnet_shapes_and_range(h, w, overrides, cell, fixed):
    g = make_generator("asapnet", 5, h, w, **TINY, **overrides)
    assert g.cfg.downsampling == cell and g.cfg.fixed_factor == fixed
    x = one_hot_labels(jax.random.key(0), 2, h, w, 5)
    variables = random_variables(g, x, scale=0.5)
    y = jax.jit(g.apply)(variables, x)
    chex.assert_shape(y, (2, h, w, 3))
    chex.assert_type(y, jnp.float32)
    chex.assert_tree_all_finite(y)
    assert float(jnp.abs(y).max()) <= 1.0 and float(y.std()) > 0.05
    params = g.apply(variables, x, method="predict_params")
    assert [p[0].shape for p in params] == [
        (2, h // cell, w // cell, ci, co) for ci, co in [(5 + 4 * (cell.bit_length() - 1), 8), (8, 8), (8, 3)]
    ]


def test_full_size_shapes_with_paper_defaults():
    for label_nc, h, w, cell in [(35, 256, 512, 16), (35, 1024, 2048, 64)]:
        g = make_generator("asapnet", label_nc, h, w)
        assert g.cfg.downsampling == cell and g.cfg.lr_max_width == 1024 and g.cfg.lr_depth == 7
        x = jax.ShapeDtypeStruct((1, h, w, label_nc), jnp.float32)
        variables = jax.eval_shape(g.init, jax.random.key(0), x)
        y = jax.eval_shape(g.apply, variables, x)
        chex.assert_shape(y, (1, h, w, 3))
        assert y.dtype == jnp.float32


def _reference_pixel(flat_cell, pixel_inputs, channels):
    """One pixel through the MLP read straight from upstream's flat layout (bias, then row-major weights)."""
    x, start = np.asarray(pixel_inputs, np.float64), 0
    for layer, (ci, co) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        bias = flat_cell[start : start + co]
        weight = flat_cell[start + co : start + co + ci * co].reshape(ci, co)
        start += co + ci * co
        x = x @ weight + bias
        x = np.tanh(x) if layer == len(channels) - 2 else np.where(x > 0, x, 0.01 * x)
    return x


def test_pixelwise_mlp_matches_per_pixel_reference():
    cell, b, h, w, c = 4, 2, 8, 12, 3
    channels = (c + 8, 6, 5, 3)  # 8 coordinate channels for S = 4
    num = sum(ci * co + co for ci, co in zip(channels[:-1], channels[1:], strict=True))
    k1, k2 = jax.random.split(jax.random.key(0))
    flat = jax.random.normal(k1, (b, h // cell, w // cell, num)) * 0.7
    feats = jax.random.normal(k2, (b, h, w, c))
    params = split_mlp_params(flat, channels)
    out = np.asarray(pixelwise_mlp(params, feats, cell, tile_encoding(cell)))
    chex.assert_shape(out, (b, h, w, 3))
    enc = coordinate_encoding(h, w, cell)
    flat_np, feats_np = np.asarray(flat, np.float64), np.asarray(feats, np.float64)
    for bi, y, x in [(0, 0, 0), (0, 3, 5), (1, 7, 11), (1, 4, 8), (0, 5, 2)]:
        inputs = np.concatenate([feats_np[bi, y, x], enc[y, x]])
        expected = _reference_pixel(flat_np[bi, y // cell, x // cell], inputs, channels)
        np.testing.assert_allclose(out[bi, y, x], expected, atol=2e-5, rtol=2e-5)
    # Sharing the tile encoding is the same as concatenating the full-resolution coordinate map.
    full = jnp.concatenate([feats, jnp.broadcast_to(enc, (b, h, w, 8))], axis=-1)
    np.testing.assert_allclose(out, np.asarray(pixelwise_mlp(params, full, cell)), atol=1e-5)
    with pytest.raises(ValueError):
        pixelwise_mlp(params, feats, cell)  # missing the 8 coordinate inputs


def test_encoding_matches_formula():
    cell, h, w = 8, 16, 24
    enc = coordinate_encoding(h, w, cell)
    chex.assert_shape(enc, (h, w, 12))
    assert enc.dtype == np.float32
    for y, x in [(0, 0), (3, 5), (15, 23), (9, 17)]:
        expected = []
        for f in (8, 4, 2):
            ax, ay = 2 * np.pi * (x % f) / f, 2 * np.pi * (y % f) / f
            expected += [np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)]
        np.testing.assert_allclose(enc[y, x], expected, atol=1e-6)
    np.testing.assert_allclose(enc[8:16, 16:24], tile_encoding(cell))  # every cell sees the same tile
    np.testing.assert_allclose(enc[0, 1, :4], [np.cos(np.pi / 4), np.sin(np.pi / 4), 1.0, 0.0], atol=1e-6)


@pytest.fixture(scope="module")
def torch_outputs():
    return reference("asapnet_generator")


@pytest.mark.parametrize("stride", [2, 4])
def test_tent_downsample_matches_upstream_filter(stride, torch_outputs):
    """Against upstream's MySeparableBilinearDownsample (reflect pad, separable tent kernel) in torch."""
    x = torch_outputs[f"tent_x_{stride}"]
    out = np.asarray(tent_downsample(jnp.asarray(x), stride))
    chex.assert_shape(out, (2, 16 // stride, 24 // stride, 3))
    np.testing.assert_allclose(out, torch_outputs[f"tent_{stride}"], atol=1e-5)


@pytest.mark.parametrize("reflection_pad", [False, True])
def test_lr_stream_matches_torch(reflection_pad, torch_outputs):
    """Against torch's conv / instance norm / ReLU stack (zero or reflection padding, then a 1 x 1 conv)."""
    # S = 4 learned by two strided convs (8 -> 8 -> 16 channels), no tent filter.
    cfg = asapnet_config(4, 32, 48, reflection_pad=reflection_pad, **TINY, downsampling=4, learned_downsampling=4)
    x = torch_outputs["lr_x"]
    module = LowResStream(cfg)
    variables = {"params": unflatten(torch_outputs, f"lr_params_{reflection_pad}")}
    chex.assert_trees_all_equal_shapes_and_dtypes(variables, dict(jax.eval_shape(module.init, jax.random.key(0), x)))
    out = np.asarray(jax.jit(module.apply)(variables, x))
    chex.assert_shape(out, (1, 8, 12, cfg.num_mlp_params))
    np.testing.assert_allclose(out, torch_outputs[f"lr_{reflection_pad}"], atol=1e-4, rtol=1e-4)


def test_generator_is_lr_stream_then_pixelwise_mlp():
    g = make_generator("asapnet", 5, 32, 64, **TINY)
    x = one_hot_labels(jax.random.key(0), 1, 32, 64, 5)
    variables = random_variables(g, x, scale=0.3)
    params = g.apply(variables, x, method="predict_params")
    full = jnp.concatenate([x, coordinate_encoding(32, 64, 2)[None]], axis=-1)
    np.testing.assert_allclose(jax.jit(g.apply)(variables, x), pixelwise_mlp(params, full, 2), atol=1e-5)


def test_generator_fits_one_target():
    """Gradients reach the LR stream through the pixel-wise MLPs: Adam on L1 to a fixed image lowers the loss."""
    g = make_generator("asapnet", 5, 32, 32, **TINY)
    x = one_hot_labels(jax.random.key(0), 1, 32, 32, 5)
    target = jnp.tanh(jax.random.normal(jax.random.key(3), (1, 32, 32, 3)))
    params = jax.jit(g.init)(jax.random.key(1), x)["params"]
    opt = optax.adam(3e-3)
    state = opt.init(params)

    def loss_fn(p):
        return jnp.abs(g.apply({"params": p}, x) - target).mean()

    @jax.jit
    def step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    losses = []
    for _ in range(101):  # `step` returns the loss before its update
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0]  # ~0.57 -> ~0.3


def test_sizes_and_kinds_are_checked():
    with pytest.raises(ValueError, match="power of 2"):
        asapnet_config(5, 48, 64)  # S = 3
    with pytest.raises(ValueError, match="power of 2"):
        asapnet_config(5, 16, 64)  # S = 1
    with pytest.raises(ValueError, match="multiples of 4"):
        asapnet_config(5, 64, 70)  # S = 4 does not divide 70
    with pytest.raises(ValueError, match="unknown generator kind"):
        make_generator("pix2pixhd", 5, 32, 64)
    g = make_generator("asapnet", 5, 32, 64, **TINY)
    with pytest.raises(ValueError, match="label channels"):
        jax.eval_shape(g.init, jax.random.key(0), jnp.zeros((1, 32, 64, 4)))


def test_prepare_inference_gives_the_same_images_through_winograd():
    """Pre-transformed kernels (CPU inference path) reproduce the plain forward pass; only the wide 3x3
    convs get one, and a model with none is returned as it is."""
    g = make_generator("asapnet", 5, 32, 64, **TINY)
    x = one_hot_labels(jax.random.key(0), 2, 32, 64, 5)
    variables = random_variables(g, x, scale=0.3)
    prepared = prepare_inference(variables, min_channels=TINY["lr_max_width"])
    wide = jax.tree.leaves(prepared["winograd"])
    assert len(wide) == TINY["lr_depth"] and all(k.shape == (16, 16, 16) for k in wide)
    np.testing.assert_allclose(jax.jit(g.apply)(prepared, x), jax.jit(g.apply)(variables, x), atol=2e-5)
    assert prepare_inference(variables) is variables  # no 3x3 kernel with >= 256 channels
