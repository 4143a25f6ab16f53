"""VGG19 features against torch.nn with torchvision's layout (random weights, narrow widths; torch's features
stored in tests/fixtures/vgg.npz), in every file format `load_vgg19` reads; unreadable or incomplete files are
InputErrors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG19_WIDTHS, VGG19Features, load_vgg19
from tests.fixtures import FIXTURES, HAS_TORCH, reference

WIDTHS = (4, 6, 8, 10, 12)  # narrow stand-ins for (64, 128, 256, 512, 512)
STATE = FIXTURES / "vgg_tiny_state.npz"  # torchvision's state dict names, OIHW kernels (torch.manual_seed(0))


@pytest.fixture(scope="module")
def reference_features():
    """x, torch's relu1_1 ... relu5_1 of it (`features_0` ... `features_4`) and of ImageNet-normalised x."""
    return reference("vgg")


def _state() -> dict[str, np.ndarray]:
    with np.load(STATE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize(
    "suffix",
    [
        ".safetensors",
        ".npz",
        # Reading a .pth file is itself torch's (jaxinterp imports torch lazily for it).
        pytest.param(".pth", marks=pytest.mark.skipif(not HAS_TORCH, reason="reference-only: .pth needs torch")),
    ],
)
def test_loaded_vgg_matches_torch_relu_features(reference_features, tmp_path, suffix):
    x, state = reference_features["x"], _state()
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    elif suffix == ".npz":
        np.savez(path, **state)
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, path)
    net = load_vgg19(path)
    assert net.module.widths == WIDTHS
    ours = jax.jit(net.module.apply)(net.variables, jnp.asarray(x))
    assert len(ours) == 5
    for i, a in enumerate(ours):
        b = reference_features[f"features_{i}"]
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_imagenet_normalisation_maps_minus_one_one_to_torchvision_inputs(reference_features):
    x = reference_features["x"]
    net = load_vgg19(STATE, imagenet_normalize=True)
    ours = jax.jit(net.module.apply)(net.variables, jnp.asarray(x))
    # torch's relu5_1 of ((x + 1) / 2 - mean) / std, the ImageNet statistics below.
    normalised = ((x + 1) / 2 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    assert normalised.min() < -1.5 and normalised.max() > 1.5  # the reference saw the normalised input
    np.testing.assert_allclose(ours[-1], reference_features["normalised_features_4"], atol=1e-4, rtol=1e-4)


def test_default_widths_have_torchvision_vgg19_parameter_shapes(reference_features):
    expected = {
        k.removeprefix("shape|features.").replace(".", "/"): tuple(int(n) for n in v)
        for k, v in reference_features.items()
        if k.startswith("shape|")
    }  # the state dict of torchvision's full-width vgg19().features up to relu5_1
    params = jax.eval_shape(VGG19Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))["params"]
    ours = {}
    for name, p in params.items():
        index = name.removeprefix("features_")
        o, i = p["kernel"].shape[3], p["kernel"].shape[2]
        ours[f"{index}/weight"] = (o, i, 3, 3)
        ours[f"{index}/bias"] = p["bias"].shape
    assert VGG19_WIDTHS == (64, 128, 256, 512, 512) and len(expected) == 2 * 13
    assert ours == expected


@pytest.mark.skipif(HAS_TORCH, reason="checks the install without torch")
def test_pth_without_torch_is_an_input_error_saying_so(tmp_path):
    path = tmp_path / "vgg19.pth"
    path.write_bytes(b"a torch.save archive")
    with pytest.raises(InputError, match=r"vgg19\.pth: reading \.pth needs torch"):
        load_vgg19(path)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.safetensors"):
        load_vgg19(tmp_path / "nope.safetensors")


def test_corrupt_file_is_an_input_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"this is not a safetensors file")
    with pytest.raises(InputError, match="broken.safetensors"):
        load_vgg19(path)


def test_missing_layer_is_an_input_error_naming_it(tmp_path):
    state = {k: v for k, v in _state().items() if k != "features.28.weight"}
    path = tmp_path / "partial.npz"
    np.savez(path, **state)
    with pytest.raises(InputError, match=r"partial\.npz.*features\.28\.weight"):
        load_vgg19(path)


def test_unknown_format_is_an_input_error(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("1 2 3")
    with pytest.raises(InputError, match="weights.txt"):
        load_vgg19(path)
