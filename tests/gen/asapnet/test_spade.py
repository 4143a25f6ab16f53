"""SPADE baseline: shapes, nearest resizing, and SPADE normalisation / residual block against PyTorch
references rebuilt from upstream's definitions (NVlabs/SPADE `SPADE`, `SPADEResnetBlock`) in
scripts/make_test_fixtures.py, whose outputs tests/fixtures/spade.npz stores (no torch here)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.gen.asapnet.config import spade_config
from jaxinterp.gen.asapnet.generator import make_generator
from jaxinterp.gen.asapnet.spade import SPADENorm, SPADEResBlock, nearest_resize, upsample2
from tests.fixtures import reference, unflatten
from tests.gen.asapnet.helpers import one_hot_labels, random_variables

TINY = dict(ngf=2, spade_hidden=8)


@pytest.fixture(scope="module")
def torch_outputs():
    return reference("spade")


def _variables(module, torch_outputs, name, *args):
    """The stored variables `name` (N(0, 0.3^2) entries), checked against `module.init`'s shapes."""
    variables = {"params": unflatten(torch_outputs, name)}
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)
    chex.assert_trees_all_equal_shapes_and_dtypes(variables, dict(shapes))
    return variables


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


@pytest.mark.parametrize("case,src,dst", [(0, (16, 24), (4, 6)), (1, (10, 14), (4, 6)), (2, (3, 5), (6, 10))])
def test_nearest_resize_matches_torch(case, src, dst, torch_outputs):
    """Against F.interpolate(mode="nearest"); upsample2 against F.interpolate(scale_factor=2)."""
    x = torch_outputs[f"resize_x_{case}"]
    chex.assert_shape(x, (1, *src, 2))
    np.testing.assert_array_equal(np.asarray(nearest_resize(jnp.asarray(x), dst)), torch_outputs[f"nearest_{case}"])
    np.testing.assert_array_equal(np.asarray(upsample2(jnp.asarray(x))), torch_outputs[f"upsample2_{case}"])


def test_spade_norm_equals_hand_computation(torch_outputs):
    features, hidden = 4, 6
    x, seg = torch_outputs["norm_x"], torch_outputs["norm_seg"]
    chex.assert_shape([x, seg], [(2, 6, 10, features), (2, 12, 20, 3)])
    module = SPADENorm(features, hidden=hidden)
    variables = _variables(module, torch_outputs, "norm_params", x, seg)
    out = np.asarray(jax.jit(module.apply)(variables, x, seg))
    p = jax.tree.map(np.asarray, variables["params"])

    # By hand in numpy for one pixel: instance norm, nearest label sample, two 3x3 convs.
    mean, var = x.mean(axis=(1, 2)), x.var(axis=(1, 2))
    seg_small = seg[:, ::2, ::2]  # nearest 12x20 -> 6x10 reads pixels 0, 2, 4, ...
    pad = np.pad(seg_small, ((0, 0), (1, 1), (1, 1), (0, 0)))
    sk, sb = p["shared"]["kernel"], p["shared"]["bias"]
    actv = np.zeros((2, 6, 10, hidden))
    for i in range(6):
        for j in range(10):
            actv[:, i, j] = np.einsum("bklc,klcd->bd", pad[:, i : i + 3, j : j + 3], sk) + sb
    actv = np.pad(np.maximum(actv, 0), ((0, 0), (1, 1), (1, 1), (0, 0)))
    gk, gb = p["gamma_beta"]["kernel"], p["gamma_beta"]["bias"]
    for b, i, j in [(0, 0, 0), (1, 3, 7), (0, 5, 9)]:
        gamma_beta = np.einsum("klc,klcd->d", actv[b, i : i + 3, j : j + 3], gk) + gb
        normalized = (x[b, i, j] - mean[b]) / np.sqrt(var[b] + 1e-5)
        expected = normalized * (1 + gamma_beta[:features]) + gamma_beta[features:]
        np.testing.assert_allclose(out[b, i, j], expected, atol=1e-4, rtol=1e-4)

    # torch: F.instance_norm, nearest F.interpolate of the labels, F.conv2d for gamma and beta.
    np.testing.assert_allclose(out, torch_outputs["norm"], atol=1e-4, rtol=1e-4)


def test_spade_resblock_matches_torch_with_learned_shortcut(torch_outputs):
    """Against upstream's SPADEResnetBlock in torch: SPADE + conv shortcut, two SPADE-leaky-ReLU-conv steps."""
    cfg = spade_config(3, 32, 32, **TINY)
    fin, fout = 6, 4
    x, seg = torch_outputs["block_x"], torch_outputs["block_seg"]
    chex.assert_shape([x, seg], [(1, 8, 8, fin), (1, 32, 32, 3)])
    block = SPADEResBlock(fin, fout, cfg)
    variables = _variables(block, torch_outputs, "block_params", x, seg)
    out = np.asarray(jax.jit(block.apply)(variables, x, seg))
    chex.assert_shape(out, (1, 8, 8, fout))
    np.testing.assert_allclose(out, torch_outputs["block"], atol=1e-4, rtol=1e-4)


def test_spade_sizes_are_checked():
    with pytest.raises(ValueError, match="multiples of 32"):
        spade_config(5, 48, 64)
    with pytest.raises(ValueError, match="multiples of 32"):
        make_generator("spade", 5, 64, 16)
    g = make_generator("spade", 5, 32, 32, **TINY)
    with pytest.raises(ValueError, match="label channels"):
        jax.eval_shape(g.init, jax.random.key(0), jnp.zeros((1, 32, 32, 6)))
