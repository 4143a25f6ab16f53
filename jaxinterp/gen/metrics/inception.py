"""The first layers of InceptionV3, as SIFID uses them, in Flax (NHWC) with a local weight loader.

SIFID (Rott Shaham et al. 2019) only needs InceptionV3 up to its second pooling layer:

    Conv2d_1a_3x3 (3->32, stride 2) -> Conv2d_2a_3x3 (32->32) -> Conv2d_2b_3x3 (32->64, pad 1)
    -> [dims=64 stops here] -> MaxPool 3x3 stride 2 -> Conv2d_3b_1x1 (64->80)
    -> Conv2d_4a_3x3 (80->192) -> [dims=192 stops here]

Every layer is torchvision's `BasicConv2d`: a convolution without bias, BatchNorm with eps = 0.001
in inference mode (running statistics), then ReLU. Unpadded layers are 'VALID'; max pooling has no
padding and rounds down, like `nn.MaxPool2d(3, stride=2)`.

Which feature map (decision): the paper takes "the output of the convolutional layer just before
the second pooling layer" (Conv2d_4a_3x3, 192 channels). The official `SIFID/sifid_score.py` calls
its `InceptionV3` with `dims=64`, and its `inception.py` (unlike pytorch-fid's) puts no max pool in
block 0, so 64 means the Conv2d_2b_3x3 output *before the first* pooling layer (reported upstream as
issue #155 and PR #158, still open). The published SIFID numbers come from that code, so `dims=64`
is our default; `dims=192` gives the paper's description. Note pytorch-fid's own "64" and "192"
blocks end with a max pool; SIFID's do not, and neither do ours.

Preprocessing (what upstream does, and what we do):
* pytorch-fid/SIFID expect RGB in [0, 1] and map it to [-1, 1] with `2 x - 1`; our images are
  already in [-1, 1], so they go in unchanged (same numbers as upstream on 8-bit JPEGs:
  2 * (u8 / 255) - 1). Upstream reads PNGs with matplotlib, which already returns [0, 1], and then
  divides by 255 again; we do not reproduce that bug.
* SIFID builds `InceptionV3` with `resize_input=False` (pytorch-fid's default is True): images are
  NOT resized to 299 x 299; the network runs at the image's own size, which is what makes the
  statistics "single image" ones. We do the same.
* SIFID calls the torchvision sub-modules directly, so torchvision's `transform_input` (ImageNet
  mean/std re-normalisation) is never applied. We apply none either.
* One-channel images are repeated to RGB; other channel counts are rejected.

Weights (decision): nothing is downloaded. `load_inception_variables` reads a local `.safetensors`
or `.npz` file holding a PyTorch state dict's tensors under their usual names
(`Conv2d_1a_3x3.conv.weight` in OIHW, `Conv2d_1a_3x3.bn.weight|bias|running_mean|running_var`);
`scripts/convert_inception_weights.py` writes one from a `.pth` file. Both pytorch-fid's
`pt_inception-2015-12-05-*.pth` (the TF FID network) and torchvision's `inception_v3_google-*.pth`
use these names. The official SIFID code loads torchvision's ImageNet weights
(`models.inception_v3(pretrained=True)`), so only those reproduce the paper's numbers; pytorch-fid's
weights give a valid but different feature extractor.

Convolutions run at `Precision.HIGHEST` so GPU results do not silently drop to TF32.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError

SUPPORTED_DIMS = (64, 192)


class ConvSpec(NamedTuple):
    """One `BasicConv2d`: its state-dict name and geometry."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0


# Layers up to the first pool (dims=64), then up to the second (dims=192).
BLOCK_64 = (
    ConvSpec("Conv2d_1a_3x3", 3, 32, 3, stride=2),
    ConvSpec("Conv2d_2a_3x3", 32, 32, 3),
    ConvSpec("Conv2d_2b_3x3", 32, 64, 3, padding=1),
)
BLOCK_192 = (
    ConvSpec("Conv2d_3b_1x1", 64, 80, 1),
    ConvSpec("Conv2d_4a_3x3", 80, 192, 3),
)
BN_EPS = 1e-3
BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def layers_for(dims: int) -> tuple[ConvSpec, ...]:
    """The `BasicConv2d` layers needed for a feature map of `dims` channels."""
    if dims not in SUPPORTED_DIMS:
        raise InputError(f"SIFID dims must be one of {SUPPORTED_DIMS}, got {dims}")
    return BLOCK_64 if dims == 64 else BLOCK_64 + BLOCK_192


def state_dict_shapes(dims: int = 192) -> dict[str, tuple[int, ...]]:
    """PyTorch state-dict names and shapes (OIHW kernels) that `dims` needs."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in layers_for(dims):
        shapes[f"{spec.name}.conv.weight"] = (spec.out_channels, spec.in_channels, spec.kernel, spec.kernel)
        for key in BN_KEYS:
            shapes[f"{spec.name}.bn.{key}"] = (spec.out_channels,)
    return shapes


def feature_hw(hw: tuple[int, int], dims: int) -> tuple[int, int]:
    """Spatial size of the `dims` feature map for an `hw` input (0 or less: too small)."""

    def through(n: int) -> int:
        for spec in layers_for(dims):
            n = (n + 2 * spec.padding - spec.kernel) // spec.stride + 1
            if spec.name == "Conv2d_2b_3x3" and dims == 192:
                n = (n - 3) // 2 + 1  # max pool 3x3, stride 2
        return n

    return through(hw[0]), through(hw[1])


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3, running statistics) -> ReLU, NHWC."""

    spec: ConvSpec

    @nn.compact
    def __call__(self, x: Float[Array, "n h w ci"]) -> Float[Array, "n ho wo co"]:
        s = self.spec
        x = nn.Conv(
            s.out_channels,
            (s.kernel, s.kernel),
            strides=(s.stride, s.stride),
            padding=((s.padding, s.padding), (s.padding, s.padding)),
            use_bias=False,
            precision=jax.lax.Precision.HIGHEST,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name="bn")(x)
        return nn.relu(x)


class InceptionFeatures(nn.Module):
    """InceptionV3 up to SIFID's feature map: 64 channels (official code) or 192 (paper).

    Attributes:
      dims: 64 (Conv2d_2b_3x3 output, before the first pool) or 192 (Conv2d_4a_3x3 output,
        before the second pool).
    """

    dims: int = 64

    @nn.compact
    def __call__(self, x: Float[Array, "n h w 3"]) -> Float[Array, "n fh fw dims"]:
        """Maps RGB images in [-1, 1] to their feature maps (no resizing, no re-normalisation)."""
        for spec in layers_for(self.dims):
            if spec.name == "Conv2d_3b_1x1":
                x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
            x = BasicConv2d(spec, name=spec.name)(x)
        return x


def _read_tensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"Inception weights file not found: {path} (weights are never downloaded)")
    if path.endswith(".pth") or path.endswith(".pt"):
        raise InputError(f"{path} is a PyTorch checkpoint; convert it first with scripts/convert_inception_weights.py")
    try:
        if path.endswith(".safetensors"):
            from safetensors.numpy import load_file

            return load_file(path)
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
    except Exception as err:  # SafetensorError, or numpy's OSError / ValueError / BadZipFile
        raise InputError(f"cannot read Inception weights from {path}: {err}") from err
    raise InputError(f"Inception weights must be a .safetensors or .npz file, got {path}")


def load_inception_variables(path: str | os.PathLike, dims: int = 64) -> dict:
    """Reads InceptionV3 weights for `InceptionFeatures(dims)` from a local file.

    Args:
      path: `.safetensors` or `.npz` with PyTorch state-dict names and layouts (see module doc).
      dims: 64 or 192; only the tensors that this feature map needs are read and checked.

    Returns:
      Flax variables `{"params": ..., "batch_stats": ...}` (float32; kernels converted OIHW -> HWIO).

    Raises:
      InputError: the file is missing, unreadable or not a supported format, or a needed tensor is
        missing or has the wrong shape.
    """
    tensors = _read_tensors(path)
    expected = state_dict_shapes(dims)
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise InputError(f"Inception weights file {os.fspath(path)} lacks {len(missing)} tensor(s): {missing}")
    wrong = {n: tuple(tensors[n].shape) for n, shape in expected.items() if tuple(tensors[n].shape) != shape}
    if wrong:
        detail = ", ".join(f"{n}: {got} (expected {expected[n]})" for n, got in wrong.items())
        raise InputError(f"Inception weights file {os.fspath(path)} has wrong shapes: {detail}")
    params, stats = {}, {}
    for spec in layers_for(dims):

        def get(key: str, name: str = spec.name) -> jnp.ndarray:
            return jnp.asarray(np.asarray(tensors[f"{name}.{key}"], np.float32))

        params[spec.name] = {
            "conv": {"kernel": jnp.transpose(get("conv.weight"), (2, 3, 1, 0))},  # OIHW -> HWIO
            "bn": {"scale": get("bn.weight"), "bias": get("bn.bias")},
        }
        stats[spec.name] = {"bn": {"mean": get("bn.running_mean"), "var": get("bn.running_var")}}
    return {"params": params, "batch_stats": stats}


def _as_rgb(images: Float[Array, "n h w c"]) -> Float[Array, "n h w 3"]:
    if images.shape[-1] == 1:
        return jnp.repeat(images, 3, axis=-1)
    if images.shape[-1] != 3:
        raise InputError(f"Inception needs RGB (or one-channel) images, got {images.shape[-1]} channels")
    return images


@functools.partial(jax.jit, static_argnames=("dims",))
def _apply(variables: dict, images: Float[Array, "n h w 3"], dims: int) -> Float[Array, "n fh fw d"]:
    return InceptionFeatures(dims).apply(variables, images)


def inception_features(
    variables: dict, images: Float[Array, "n h w c"], dims: int = 64
) -> Float[Array, "n fh fw dims"]:
    """Feature maps of `images` (values in [-1, 1], no resizing); jitted per input shape.

    Raises:
      InputError: unsupported `dims` or channel count, or images too small to give a feature map
        with at least two positions.
    """
    images = _as_rgb(jnp.asarray(images, jnp.float32))
    fh, fw = feature_hw(images.shape[1:3], dims)
    if fh < 1 or fw < 1 or fh * fw < 2:
        raise InputError(
            f"image of {images.shape[1]}x{images.shape[2]} px is too small for SIFID with dims={dims}: "
            f"its feature map would be {max(fh, 0)}x{max(fw, 0)}"
        )
    return _apply(variables, images, dims)
