"""VGG19 features against torch.nn with torchvision's layout (random weights, narrow widths), in every file
format `load_vgg19` reads; unreadable or incomplete files are InputErrors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG19_WIDTHS, VGG19Features, load_vgg19

torch = pytest.importorskip("torch")
WIDTHS = (4, 6, 8, 10, 12)  # narrow stand-ins for (64, 128, 256, 512, 512)
SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))  # the official VGG19 slices -> relu1_1 ... relu5_1


def torch_vgg19(widths):
    """torchvision's `vgg19().features` layout (cfg "E"), built from torch.nn, under `.features`."""
    layers, in_ch = [], 3
    for block, width in enumerate(widths):
        for _ in range(2 if block < 2 else 4):
            layers += [torch.nn.Conv2d(in_ch, width, 3, padding=1), torch.nn.ReLU()]
            in_ch = width
        layers.append(torch.nn.MaxPool2d(2, 2))
    model = torch.nn.Module()
    model.features = torch.nn.Sequential(*layers)
    return model


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    model = torch_vgg19(WIDTHS).eval()
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 48, 3)).astype(np.float32)
    return model, x


def torch_features(model, x_nhwc):
    h = torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())
    out = []
    with torch.no_grad():
        for start, stop in SLICES:
            h = model.features[start:stop](h)
            out.append(h.numpy().transpose(0, 2, 3, 1))
    return out


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pth"])
def test_loaded_vgg_matches_torch_relu_features(reference, tmp_path, suffix):
    model, x = reference
    state = model.state_dict()
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif suffix == ".npz":
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    else:
        torch.save(state, path)
    net = load_vgg19(path)
    assert net.module.widths == WIDTHS
    ours = jax.jit(net.module.apply)(net.variables, jnp.asarray(x))
    expected = torch_features(model, x)
    assert len(ours) == 5
    for a, b in zip(ours, expected, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_imagenet_normalisation_maps_minus_one_one_to_torchvision_inputs(reference, tmp_path):
    model, x = reference
    path = tmp_path / "vgg.npz"
    np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})
    net = load_vgg19(path, imagenet_normalize=True)
    normalised = ((x + 1) / 2 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    ours = jax.jit(net.module.apply)(net.variables, jnp.asarray(x))
    np.testing.assert_allclose(ours[-1], torch_features(model, normalised)[-1], atol=1e-4, rtol=1e-4)


def test_default_widths_have_torchvision_vgg19_parameter_shapes():
    with torch.device("meta"):
        full = torch_vgg19(VGG19_WIDTHS)
    expected = {
        k.removeprefix("features.").replace(".", "/"): tuple(v.shape)
        for k, v in full.state_dict().items()
        if int(k.split(".")[1]) < 30
    }
    params = jax.eval_shape(VGG19Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))["params"]
    ours = {}
    for name, p in params.items():
        index = name.removeprefix("features_")
        o, i = p["kernel"].shape[3], p["kernel"].shape[2]
        ours[f"{index}/weight"] = (o, i, 3, 3)
        ours[f"{index}/bias"] = p["bias"].shape
    assert ours == expected


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.safetensors"):
        load_vgg19(tmp_path / "nope.safetensors")


def test_corrupt_file_is_an_input_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"this is not a safetensors file")
    with pytest.raises(InputError, match="broken.safetensors"):
        load_vgg19(path)


def test_missing_layer_is_an_input_error_naming_it(reference, tmp_path):
    model, _ = reference
    state = {k: v.numpy() for k, v in model.state_dict().items() if k != "features.28.weight"}
    path = tmp_path / "partial.npz"
    np.savez(path, **state)
    with pytest.raises(InputError, match=r"partial\.npz.*features\.28\.weight"):
        load_vgg19(path)


def test_unknown_format_is_an_input_error(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("1 2 3")
    with pytest.raises(InputError, match="weights.txt"):
        load_vgg19(path)
