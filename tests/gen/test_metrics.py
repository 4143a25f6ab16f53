"""Single-image GAN metrics (SWD, SIFID, diversity) against independent NumPy/SciPy computations."""

import chex
import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import scipy.stats
from safetensors.numpy import save_file

from jaxinterp.errors import InputError
from jaxinterp.gen.metrics import (
    diversity,
    evaluate,
    frechet_distance,
    gaussian_stats,
    inception_features,
    laplacian_pyramid,
    load_inception_variables,
    sifid,
    sliced_wasserstein,
)
from jaxinterp.gen.metrics.inception import feature_hw, state_dict_shapes
from jaxinterp.gen.metrics.swd import pyr_up, sample_descriptors, sliced_wasserstein_1d
from tests.fixtures import reference_only

KEY = jax.random.PRNGKey(0)


def structured_image(h=64, w=64, seed=0):
    """Smooth colour gradients, hard edges and a little blurred texture, in [-1, 1]."""
    yy, xx = np.mgrid[0:h, 0:w] / 10.0
    image = 0.5 * np.stack([np.sin(yy + xx), np.cos(2 * yy) * np.sin(xx), np.sign(np.sin(3 * xx))], -1)
    texture = scipy.ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=image.shape), (1, 1, 0))
    return np.clip(image + 0.1 * texture, -1, 1).astype(np.float32)


def noisy_copies(image, n, sigma, seed):
    noise = np.random.default_rng(seed).normal(size=(n, *image.shape))
    return np.clip(image[None] + sigma * noise, -1, 1).astype(np.float32)


# --- SWD ---------------------------------------------------------------------------------------

_BINOMIAL_2D = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float64) / 256


def test_laplacian_pyramid_matches_scipy_mirror_filtering_and_reconstructs():
    x = np.random.default_rng(0).normal(size=(2, 32, 48, 3))
    kernel = _BINOMIAL_2D[None, :, :, None]
    g1 = scipy.ndimage.convolve(x, kernel, mode="mirror")[:, ::2, ::2]  # cv2.pyrDown
    up = np.zeros_like(x)
    up[:, ::2, ::2] = g1
    up = scipy.ndimage.convolve(up, 4 * kernel, mode="mirror")  # cv2.pyrUp
    band, low = laplacian_pyramid(x.astype(np.float32), 2)
    np.testing.assert_allclose(np.asarray(low), g1, atol=1e-5)
    np.testing.assert_allclose(np.asarray(band), x - up, atol=1e-5)
    # Odd sizes: the pyramid still inverts exactly (band + upsampled coarser level).
    odd = np.random.default_rng(1).normal(size=(1, 33, 25, 1)).astype(np.float32)
    levels = laplacian_pyramid(odd, 3)
    chex.assert_shape(levels, [(1, 33, 25, 1), (1, 17, 13, 1), (1, 9, 7, 1)])
    rebuilt = levels[2]
    for band in levels[1::-1]:
        rebuilt = pyr_up(rebuilt, band.shape[1:3]) + band
    np.testing.assert_allclose(np.asarray(rebuilt), odd, atol=1e-5)


def test_sliced_wasserstein_in_one_dimension_is_scipy_w1():
    # With 1-D descriptors every unit direction is +-1, so SWD is the exact 1-D W1 distance.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 1)), rng.gamma(2.0, size=(300, 1))
    ours = sliced_wasserstein_1d(a.astype(np.float32), b.astype(np.float32), KEY, 2, 8)
    np.testing.assert_allclose(float(ours), scipy.stats.wasserstein_distance(a[:, 0], b[:, 0]), rtol=1e-5)


def test_swd_is_zero_for_copies_and_grows_with_noise():
    real = structured_image()
    same = sliced_wasserstein(real, np.stack([real] * 3), KEY)
    assert list(same) == ["swd_64x64", "swd_32x32", "swd_16x16", "swd_mean"]
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in same.values())
    means = [sliced_wasserstein(real, noisy_copies(real, 3, s, seed=1), KEY)["swd_mean"] for s in (0.02, 0.1, 0.3)]
    assert 1.0 < means[0] < means[1] < means[2], means
    # Same key, same numbers; another key moves the estimate only a little.
    fakes = noisy_copies(real, 3, 0.1, seed=1)
    again = sliced_wasserstein(real, fakes, KEY)["swd_mean"]
    other = sliced_wasserstein(real, fakes, jax.random.PRNGKey(1))["swd_mean"]
    assert again == means[1]
    assert other != again and abs(other - again) < 0.25 * again


def test_swd_normalisation_modes_and_global_colour_shift():
    # A different contrast and offset per channel: Karras's per-set, per-channel standardisation
    # cancels it; standardising both sets with the real statistics does not.
    real = structured_image()
    shifted = np.stack([real * np.float32([0.5, 1.2, 0.3]) + np.float32([0.2, -0.1, 0.0])] * 3)
    assert sliced_wasserstein(real, shifted, KEY)["swd_mean"] < 0.1
    assert sliced_wasserstein(real, shifted, KEY, normalize="real")["swd_mean"] > 100.0


def test_descriptors_cover_the_whole_valid_range():
    # Uniform draws 0 and ~1 map to the first and the last top-left corner that fits a 7x7 patch;
    # with a single (real) image every row of draws reads that image.
    image = np.arange(2 * 20 * 30 * 2, dtype=np.float32).reshape(2, 20, 30, 2)
    uniforms = np.float32([[[0.0, 0.0], [0.99999, 0.99999]], [[0.5, 0.0], [0.0, 0.99999]]])
    patches = np.asarray(sample_descriptors(image, uniforms, 7))
    chex.assert_shape(patches, (4, 7, 7, 2))
    np.testing.assert_array_equal(patches[0], image[0, :7, :7])
    np.testing.assert_array_equal(patches[1], image[0, 13:, 23:])
    np.testing.assert_array_equal(patches[2], image[1, 7:14, :7])  # floor(0.5 * 14) = 7
    np.testing.assert_array_equal(patches[3], image[1, :7, 23:])
    single = np.asarray(sample_descriptors(image[1:], uniforms, 7))
    np.testing.assert_array_equal(single[1], image[1, 13:, 23:])


def test_swd_rejects_bad_inputs():
    with pytest.raises(InputError, match="at least 16 px"):
        sliced_wasserstein(np.zeros((12, 40, 3)), np.zeros((2, 12, 40, 3)), KEY)
    with pytest.raises(InputError, match="channels"):
        sliced_wasserstein(np.zeros((32, 32, 3)), np.zeros((2, 32, 32, 1)), KEY)
    with pytest.raises(InputError, match="normalize"):
        sliced_wasserstein(np.zeros((32, 32, 3)), np.zeros((2, 32, 32, 3)), KEY, normalize="global")


# --- Fréchet distance and SIFID ------------------------------------------------------------------


def random_spd(rng, d):
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d) + 0.1 * np.eye(d)


def test_frechet_distance_equals_scipy_sqrtm_formula():
    rng = np.random.default_rng(3)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), expected, rtol=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-10)


def random_state_dict(seed=0):
    """Random InceptionV3 tensors under pytorch-fid names, kernels OIHW, He-scaled."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in state_dict_shapes(192).items():
        if name.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            value = rng.normal(size=shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif name.endswith("bn.weight"):
            value = 1.0 + 0.1 * rng.normal(size=shape)
        else:
            value = 0.1 * rng.normal(size=shape)
        tensors[name] = value.astype(np.float32)
    return tensors


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "random.safetensors"
    save_file(random_state_dict(), str(path))
    return path


def numpy_basic_conv(x, tensors, name, stride=1, padding=0):
    """PyTorch's BasicConv2d in NumPy, from the OIHW state dict (independent of Flax)."""
    w = tensors[f"{name}.conv.weight"].astype(np.float64)
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(0, 1))[::stride, ::stride]
    y = np.einsum("hwcij,ocij->hwo", windows, w)
    bn = {k: tensors[f"{name}.bn.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    y = (y - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-3) * bn["weight"] + bn["bias"]
    return np.maximum(y, 0.0)


def test_inception_features_match_a_numpy_pytorch_reference(weights_file):
    tensors = random_state_dict()
    image = structured_image(37, 45)
    x = numpy_basic_conv(image.astype(np.float64), tensors, "Conv2d_1a_3x3", stride=2)
    x = numpy_basic_conv(x, tensors, "Conv2d_2a_3x3")
    f64 = numpy_basic_conv(x, tensors, "Conv2d_2b_3x3", padding=1)
    pooled = np.lib.stride_tricks.sliding_window_view(f64, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(-2, -1))
    f192 = numpy_basic_conv(numpy_basic_conv(pooled, tensors, "Conv2d_3b_1x1"), tensors, "Conv2d_4a_3x3")
    for dims, expected in ((64, f64), (192, f192)):
        feats = inception_features(load_inception_variables(weights_file, dims), image[None], dims)
        # 37x45 -> 18x22 -> 16x20 -> 16x20 (dims 64) -> pool 7x9 -> 7x9 -> 5x7 (dims 192)
        chex.assert_shape(feats, (1, *feature_hw((37, 45), dims), dims))
        chex.assert_type(feats, np.float32)
        np.testing.assert_allclose(np.asarray(feats[0]), expected, rtol=1e-4, atol=1e-4)
    assert feature_hw((37, 45), 64) == (16, 20) and feature_hw((37, 45), 192) == (5, 7)


def test_sifid_is_zero_for_the_real_image_and_grows_with_noise(weights_file):
    real = structured_image(48, 48)
    fakes = np.stack([real, noisy_copies(real, 1, 0.05, 2)[0], noisy_copies(real, 1, 0.3, 3)[0]])
    result = sifid(real, fakes, weights_file)
    values = result["sifid_per_image"]
    assert len(values) == 3 and result["sifid_mean"] == pytest.approx(np.mean(values))
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert 1e-3 < values[1] < values[2], values
    # One fake at another size works (statistics are spatial); same numbers from an .npz file.
    variables = load_inception_variables(weights_file, 64)
    assert sifid(real, [fakes[2][:40, :44]], variables)["sifid_mean"] > 0
    mu, sigma = gaussian_stats(inception_features(variables, real[None])[0])
    with pytest.raises(InputError, match="dims=192"):
        sifid(real, fakes, variables, dims=192)  # variables loaded for 64 lack the 192 layers
    chex.assert_shape((mu, sigma), [(64,), (64, 64)])


def test_npz_weights_load_like_safetensors(tmp_path, weights_file):
    np.savez(tmp_path / "w.npz", **random_state_dict())
    a = load_inception_variables(tmp_path / "w.npz", 192)
    b = load_inception_variables(weights_file, 192)
    chex.assert_trees_all_close(a, b)
    chex.assert_shape(a["params"]["Conv2d_4a_3x3"]["conv"]["kernel"], (3, 3, 80, 192))  # HWIO


def test_loader_rejects_unusable_weight_files(tmp_path):
    tensors = random_state_dict()
    del tensors["Conv2d_2b_3x3.bn.running_var"]
    save_file(tensors, str(tmp_path / "partial.safetensors"))
    with pytest.raises(InputError, match=r"lacks 1 tensor.*Conv2d_2b_3x3\.bn\.running_var"):
        load_inception_variables(tmp_path / "partial.safetensors", 64)
    # dims=192 needs more layers than a 64-only file has.
    tensors = {k: v for k, v in random_state_dict().items() if not k.startswith(("Conv2d_3b", "Conv2d_4a"))}
    save_file(tensors, str(tmp_path / "small.safetensors"))
    load_inception_variables(tmp_path / "small.safetensors", 64)
    with pytest.raises(InputError, match="Conv2d_4a_3x3"):
        load_inception_variables(tmp_path / "small.safetensors", 192)
    wrong = random_state_dict()
    wrong["Conv2d_1a_3x3.conv.weight"] = np.zeros((32, 3, 5, 5), np.float32)
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(InputError, match="wrong shapes"):
        load_inception_variables(tmp_path / "wrong.safetensors", 64)
    (tmp_path / "corrupt.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="cannot read"):
        load_inception_variables(tmp_path / "corrupt.safetensors")
    with pytest.raises(InputError, match="not found"):
        load_inception_variables(tmp_path / "absent.safetensors")
    (tmp_path / "w.pth").write_bytes(b"")
    with pytest.raises(InputError, match="convert_inception_weights"):
        load_inception_variables(tmp_path / "w.pth")
    with pytest.raises(InputError, match="dims"):
        load_inception_variables(tmp_path / "small.safetensors", 2048)


@reference_only
def test_convert_script_turns_a_pth_state_dict_into_loadable_safetensors(tmp_path, weights_file):
    """Reference-only: scripts/convert_inception_weights.py reads a torch.save file, which needs torch (the script
    is for people who have it; jaxinterp does not need it), so no stored fixture can stand in for torch here."""
    torch = pytest.importorskip("torch")
    import importlib.util
    import pathlib

    state = {k: torch.from_numpy(v) for k, v in random_state_dict().items()}
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(3)  # dropped: not a float tensor
    state["fc.weight"] = torch.zeros(4, 2)  # dropped: not needed by SIFID
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "pt_inception.pth")
    script = pathlib.Path(__file__).parents[2] / "scripts" / "convert_inception_weights.py"
    spec = importlib.util.spec_from_file_location("convert_inception_weights", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path / "pt_inception.pth"), str(tmp_path / "out.safetensors")]) == 0
    converted = load_inception_variables(tmp_path / "out.safetensors", 192)
    chex.assert_trees_all_close(converted, load_inception_variables(weights_file, 192))


# --- diversity and evaluate ---------------------------------------------------------------------


def test_diversity_by_hand_and_for_identical_samples():
    real = np.array([0.0, 2.0, 4.0, 6.0], np.float32).reshape(2, 2, 1)  # std sqrt(5)
    fakes = np.array([[0, 1, 5, 5], [2, 1, 1, 5]], np.float32).reshape(2, 2, 2, 1)
    # Per-pixel std over the two samples: 1, 0, 2, 0 -> mean 0.75.
    assert diversity(real, fakes) == pytest.approx(0.75 / np.sqrt(5.0), rel=1e-6)
    image = structured_image(16, 16)
    assert diversity(image, np.stack([image] * 4)) == 0.0
    # Grayscale: luma of (R, G, B) = 0.299 R + 0.587 G + 0.114 B, here two samples differing in G only.
    rgb_real = np.stack([real[..., 0]] * 3, -1)
    rgb_fakes = np.zeros((2, 2, 2, 3), np.float32)
    rgb_fakes[1, ..., 1] = 2.0
    assert diversity(rgb_real, rgb_fakes, grayscale=True) == pytest.approx(0.587 / np.sqrt(5.0), rel=1e-5)
    with pytest.raises(InputError, match="two samples"):
        diversity(real, fakes[:1])
    with pytest.raises(InputError, match="constant"):
        diversity(np.ones((2, 2, 1), np.float32), fakes)


def test_evaluate_adds_sifid_only_with_weights(weights_file):
    real = structured_image()
    fakes = noisy_copies(real, 3, 0.1, seed=1)
    base = evaluate(real, fakes, KEY)
    assert set(base) == {"swd_64x64", "swd_32x32", "swd_16x16", "swd_mean", "diversity"}
    assert base["swd_mean"] == sliced_wasserstein(real, fakes, KEY)["swd_mean"]
    full = evaluate(real, fakes, KEY, inception_weights=weights_file)
    assert set(full) == set(base) | {"sifid_mean", "sifid_per_image"}
    assert len(full["sifid_per_image"]) == 3 and full["sifid_mean"] > 0
