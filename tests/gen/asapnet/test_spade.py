"""SPADE baseline: shapes, nearest resizing, and SPADE normalisation / residual block against PyTorch
references rebuilt here from upstream's definitions (NVlabs/SPADE `SPADE`, `SPADEResnetBlock`)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jaxinterp.gen.asapnet.config import spade_config
from jaxinterp.gen.asapnet.generator import make_generator
from jaxinterp.gen.asapnet.spade import SPADENorm, SPADEResBlock, nearest_resize, upsample2
from tests.gen.asapnet.helpers import one_hot_labels, random_variables

TINY = dict(ngf=2, spade_hidden=8)


def _t(a):
    return torch.tensor(np.asarray(a))


def _torch_conv(x, p, padding):
    bias = _t(p["bias"]) if "bias" in p else None
    return F.conv2d(x, _t(p["kernel"]).permute(3, 2, 0, 1), bias, padding=padding)


def _torch_spade(x, seg, p, features):
    """norm(x) * (1 + gamma) + beta with upstream's ops; our fused gamma|beta kernel is split in two."""
    normalized = F.instance_norm(x, eps=1e-5)
    seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
    actv = F.relu(_torch_conv(seg, p["shared"], 1))
    gb = p["gamma_beta"]
    gamma = _torch_conv(actv, {"kernel": gb["kernel"][..., :features], "bias": gb["bias"][:features]}, 1)
    beta = _torch_conv(actv, {"kernel": gb["kernel"][..., features:], "bias": gb["bias"][features:]}, 1)
    return normalized * (1 + gamma) + beta


def _nchw(a):
    return _t(a).permute(0, 3, 1, 2)


def test_spade_generator_shapes_and_range():
    g = make_generator("spade", 5, 32, 64, **TINY)
    x = one_hot_labels(jax.random.key(0), 2, 32, 64, 5)
    variables = random_variables(g, x, scale=0.3)
    y = jax.jit(g.apply)(variables, x)
    chex.assert_shape(y, (2, 32, 64, 3))
    chex.assert_type(y, jnp.float32)
    chex.assert_tree_all_finite(y)
    assert float(jnp.abs(y).max()) <= 1.0 and float(y.std()) > 0.05
    # The same weights serve any multiple of 32 (shape only: a second compilation costs ~10 s here).
    other = jax.eval_shape(g.apply, variables, jax.ShapeDtypeStruct((1, 96, 64, 5), jnp.float32))
    chex.assert_shape(other, (1, 96, 64, 3))


def test_spade_full_size_shape_with_defaults():
    g = make_generator("spade", 35, 1024, 2048)
    assert g.cfg.ngf == 64 and g.cfg.spade_hidden == 128
    x = jax.ShapeDtypeStruct((1, 1024, 2048, 35), jnp.float32)
    variables = jax.eval_shape(g.init, jax.random.key(0), x)
    chex.assert_shape(variables["params"]["fc"]["kernel"], (3, 3, 35, 1024))
    chex.assert_shape(variables["params"]["up_3"]["conv_s"]["kernel"], (1, 1, 128, 64))
    assert "conv_s" not in variables["params"]["head_0"]  # 16 nf -> 16 nf: identity shortcut
    chex.assert_shape(jax.eval_shape(g.apply, variables, x), (1, 1024, 2048, 3))


@pytest.mark.parametrize("src,dst", [((16, 24), (4, 6)), ((10, 14), (4, 6)), ((3, 5), (6, 10))])
def test_nearest_resize_matches_torch(src, dst):
    x = np.asarray(jax.random.normal(jax.random.key(0), (1, *src, 2)))
    ref = F.interpolate(_nchw(x), size=dst, mode="nearest").permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(np.asarray(nearest_resize(jnp.asarray(x), dst)), ref)
    up = np.asarray(upsample2(jnp.asarray(x)))
    np.testing.assert_array_equal(up, F.interpolate(_nchw(x), scale_factor=2).permute(0, 2, 3, 1).numpy())


def test_spade_norm_equals_hand_computation():
    features, hidden = 4, 6
    x = np.asarray(jax.random.normal(jax.random.key(0), (2, 6, 10, features))) * 3 + 1
    seg = np.asarray(one_hot_labels(jax.random.key(1), 2, 12, 20, 3))
    module = SPADENorm(features, hidden=hidden)
    variables = random_variables(module, x, seg, scale=0.3)
    out = np.asarray(jax.jit(module.apply)(variables, x, seg))
    p = variables["params"]

    # By hand in numpy for one pixel: instance norm, nearest label sample, two 3x3 convs.
    mean, var = x.mean(axis=(1, 2)), x.var(axis=(1, 2))
    seg_small = seg[:, ::2, ::2]  # nearest 12x20 -> 6x10 reads pixels 0, 2, 4, ...
    pad = np.pad(seg_small, ((0, 0), (1, 1), (1, 1), (0, 0)))
    sk, sb = np.asarray(p["shared"]["kernel"]), np.asarray(p["shared"]["bias"])
    actv = np.zeros((2, 6, 10, hidden))
    for i in range(6):
        for j in range(10):
            actv[:, i, j] = np.einsum("bklc,klcd->bd", pad[:, i : i + 3, j : j + 3], sk) + sb
    actv = np.pad(np.maximum(actv, 0), ((0, 0), (1, 1), (1, 1), (0, 0)))
    gk, gb = np.asarray(p["gamma_beta"]["kernel"]), np.asarray(p["gamma_beta"]["bias"])
    for b, i, j in [(0, 0, 0), (1, 3, 7), (0, 5, 9)]:
        gamma_beta = np.einsum("klc,klcd->d", actv[b, i : i + 3, j : j + 3], gk) + gb
        normalized = (x[b, i, j] - mean[b]) / np.sqrt(var[b] + 1e-5)
        expected = normalized * (1 + gamma_beta[:features]) + gamma_beta[features:]
        np.testing.assert_allclose(out[b, i, j], expected, atol=1e-4, rtol=1e-4)

    ref = _torch_spade(_nchw(x), _nchw(seg), p, features).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)


def test_spade_resblock_matches_torch_with_learned_shortcut():
    cfg = spade_config(3, 32, 32, **TINY)
    fin, fout = 6, 4
    x = np.asarray(jax.random.normal(jax.random.key(0), (1, 8, 8, fin)))
    seg = np.asarray(one_hot_labels(jax.random.key(1), 1, 32, 32, 3))
    block = SPADEResBlock(fin, fout, cfg)
    variables = random_variables(block, x, seg, scale=0.3)
    out = np.asarray(jax.jit(block.apply)(variables, x, seg))
    chex.assert_shape(out, (1, 8, 8, fout))

    p, tx, ts = variables["params"], _nchw(x), _nchw(seg)
    shortcut = _torch_conv(_torch_spade(tx, ts, p["norm_s"], fin), p["conv_s"], 0)
    dx = _torch_conv(F.leaky_relu(_torch_spade(tx, ts, p["norm_0"], fin), 0.2), p["conv_0"], 1)
    dx = _torch_conv(F.leaky_relu(_torch_spade(dx, ts, p["norm_1"], fout), 0.2), p["conv_1"], 1)
    np.testing.assert_allclose(out, (shortcut + dx).permute(0, 2, 3, 1).numpy(), atol=1e-4, rtol=1e-4)


def test_spade_sizes_are_checked():
    with pytest.raises(ValueError, match="multiples of 32"):
        spade_config(5, 48, 64)
    with pytest.raises(ValueError, match="multiples of 32"):
        make_generator("spade", 5, 64, 16)
    g = make_generator("spade", 5, 32, 32, **TINY)
    with pytest.raises(ValueError, match="label channels"):
        jax.eval_shape(g.init, jax.random.key(0), jnp.zeros((1, 32, 32, 6)))
