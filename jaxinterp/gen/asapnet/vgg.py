"""VGG19 features for the perceptual loss: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.

The official loss (tamarott/ASAPNet `models/networks/architecture.py`, NVlabs/SPADE `VGG19`) slices
torchvision's `vgg19(pretrained=True).features` at indices [0:2], [2:7], [7:12], [12:21], [21:30] and keeps
each slice's output. torchvision's layout: 3x3 convs (zero padding 1) each followed by a ReLU, and 2x2
max pools, in blocks of 2, 2, 4, 4 convs of widths 64, 128, 256, 512, 512; the conv at index i is stored as
`features.{i}.weight` (out, in, 3, 3) and `features.{i}.bias`.

Weights cannot be downloaded here: `load_vgg19` reads torchvision's state dict from a local `.safetensors`,
`.npz` or (when torch is importable) `.pth`/`.pt` file, with or without the `features.` prefix. The block
widths are read from the file, so a small random network with the same layout loads too (tests).

Input scaling. The official code feeds the generator's [-1, 1] images to VGG as they are, without
torchvision's ImageNet normalisation; `imagenet_normalize=False` (the default) does the same. With True,
x -> ((x + 1) / 2 - mean) / std, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), as torchvision
expects. Training without a weights file drops the VGG term (`train.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_WIDTHS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = (2, 2, 4, 4, 4)
LAST_INDEX = 29  # relu5_1


def layout(widths: tuple[int, ...] = VGG19_WIDTHS) -> list[tuple[str, int, int]]:
    """torchvision's `features` up to relu5_1 as (kind, index, width): kind "conv" (its ReLU is index + 1),
    "pool" (width 0), "tap" marks a ReLU whose output is returned."""
    ops, index = [], 0
    for block, (width, count) in enumerate(zip(widths, CONVS_PER_BLOCK, strict=True)):
        if block:
            ops.append(("pool", index, 0))
            index += 1
        for _ in range(count):
            ops.append(("conv", index, width))
            index += 2
    ops = [op for op in ops if op[1] < LAST_INDEX]
    taps = {1, 6, 11, 20, 29}
    return [("tap" if kind == "conv" and i + 1 in taps else kind, i, w) for kind, i, w in ops]


class VGG19Features(nn.Module):
    """VGG19 up to relu5_1; returns the five relu*_1 maps (NHWC). Conv i is named `features_{i}`."""

    widths: tuple[int, ...] = VGG19_WIDTHS
    imagenet_normalize: bool = False

    @nn.compact
    def __call__(self, x: Float[Array, "b h w 3"]) -> tuple[Array, ...]:
        if self.imagenet_normalize:
            x = ((x + 1.0) / 2.0 - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)
        feats = []
        for kind, index, width in layout(self.widths):
            if kind == "pool":
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
                continue
            x = nn.relu(nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=f"features_{index}")(x))
            if kind == "tap":
                feats.append(x)
        return tuple(feats)


class PerceptualNet(NamedTuple):
    """A loaded VGG19: the module and its (frozen) variables."""

    module: VGG19Features
    variables: dict

    def __call__(self, images: Float[Array, "b h w 3"]) -> tuple[Array, ...]:
        return self.module.apply(self.variables, images)


def _read_state_dict(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(str(path)))
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    if suffix in (".pth", ".pt"):
        try:
            import torch
        except ImportError as e:
            raise InputError(f"{path}: reading .pth needs torch; convert it to .safetensors or .npz") from e
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}
    raise InputError(f"{path}: VGG19 weights must be .safetensors, .npz or .pth, not {suffix or 'no suffix'!r}")


def load_vgg19(path: str | Path, imagenet_normalize: bool = False) -> PerceptualNet:
    """Reads torchvision's VGG19 state dict (`features.{i}.weight/bias`, OIHW) into `VGG19Features`.

    Raises:
      InputError: the file is missing, unreadable or of another format, or lacks (or mis-shapes) a layer.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"VGG19 weights file not found: {path}")
    try:
        raw = _read_state_dict(path)
    except InputError:
        raise
    except Exception as e:  # corrupt archives raise all sorts of errors
        raise InputError(f"cannot read VGG19 weights from {path}: {e}") from e
    state = {k.removeprefix("features."): np.asarray(v, np.float32) for k, v in raw.items()}
    convs = [i for kind, i, _ in layout() if kind != "pool"]
    missing = [f"features.{i}.{p}" for i in convs for p in ("weight", "bias") if f"{i}.{p}" not in state]
    if missing:
        raise InputError(f"{path} is not a torchvision VGG19 state dict: missing {', '.join(missing[:4])}")
    widths = tuple(int(state[f"{i}.weight"].shape[0]) for i in (0, 5, 10, 19, 28))
    params, in_ch = {}, 3
    for kind, index, width in layout(widths):
        if kind == "pool":
            continue
        w, b = state[f"{index}.weight"], state[f"{index}.bias"]
        if w.shape != (width, in_ch, 3, 3) or b.shape != (width,):
            raise InputError(f"{path}: features.{index} has shape {w.shape}, expected {(width, in_ch, 3, 3)}")
        params[f"features_{index}"] = {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0)), "bias": jnp.asarray(b)}
        in_ch = width
    return PerceptualNet(VGG19Features(widths, imagenet_normalize), {"params": params})
