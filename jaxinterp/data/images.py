"""Image files in and out, with the checks a user needs.

Images inside jaxinterp are float32 arrays laid out `h w c` with values in [-1, 1] (SinGAN's
`norm(x/255)` convention). Reading is strict on purpose: a grayscale, RGBA or 16-bit file is refused
with one clear line instead of being converted silently, since a silent conversion changes what a
single-image model learns. Masks are the exception: they are read as one channel in [0, 1].

Built-in photos come from scikit-image's bundled data (no download), named `builtin:<name>`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from jaxtyping import Float
from PIL import Image, UnidentifiedImageError

from jaxinterp.errors import InputError

# name -> scikit-image loader name. These files ship inside the scikit-image wheel.
BUILTIN_IMAGES = {
    "hubble": "hubble_deep_field",
    "rocket": "rocket",
    "coffee": "coffee",
    "chelsea": "chelsea",
    "astronaut": "astronaut",
    "ihc": "immunohistochemistry",
}
BUILTIN_PREFIX = "builtin:"

_MODE_HINTS = {
    "L": "grayscale",
    "LA": "grayscale with alpha",
    "1": "1-bit",
    "RGBA": "RGBA (has an alpha channel)",
    "I;16": "16-bit",
    "I;16B": "16-bit",
    "I;16L": "16-bit",
    "I": "32-bit integer",
    "F": "32-bit float",
    "CMYK": "CMYK",
}


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputError(f"cannot read image {path}: {err}") from None
    return image


def _builtin_uint8(name: str) -> np.ndarray:
    key = name.removeprefix(BUILTIN_PREFIX)
    if key not in BUILTIN_IMAGES:
        raise InputError(f"unknown built-in image {name!r}; choose one of: {', '.join(sorted(BUILTIN_IMAGES))}")
    import skimage.data

    return np.asarray(getattr(skimage.data, BUILTIN_IMAGES[key])(), dtype=np.uint8)


def uint8_to_unit(image_u8: np.ndarray) -> Float[np.ndarray, "h w c"]:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return (image_u8.astype(np.float32) / 255.0 - 0.5) * 2.0


def unit_to_uint8(image: Float[np.ndarray, "h w c"]) -> np.ndarray:
    """float [-1, 1] -> uint8, clipping out-of-range values."""
    image = np.clip((np.asarray(image, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    return np.round(image * 255.0).astype(np.uint8)


def load_rgb(path: str | os.PathLike) -> Float[np.ndarray, "h w 3"]:
    """Reads an 8-bit RGB image (or a palette image without transparency) as float32 in [-1, 1].

    `builtin:<name>` loads one of `BUILTIN_IMAGES`. Raises `InputError` for a missing or corrupt file
    and for grayscale, alpha, 16-bit or other modes.
    """
    if str(path).startswith(BUILTIN_PREFIX):
        return uint8_to_unit(_builtin_uint8(str(path)))
    image = _open(path)
    if image.mode == "P" and "transparency" not in image.info:
        image = image.convert("RGB")
    if image.mode != "RGB":
        kind = _MODE_HINTS.get(image.mode, f"mode {image.mode}")
        raise InputError(
            f"{path}: {kind} image; an 8-bit RGB image is needed (convert it first, "
            f"e.g. PIL: Image.open(p).convert('RGB').save(q))"
        )
    return uint8_to_unit(np.asarray(image, dtype=np.uint8))


def load_mask(path: str | os.PathLike) -> Float[np.ndarray, "h w"]:
    """Reads a mask image (any 8-bit mode) as float32 in [0, 1]; white = the region to change."""
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise InputError(f"{path}: {_MODE_HINTS[image.mode]} mask; an 8-bit mask is needed")
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def save_png(path: str | os.PathLike, image: Float[np.ndarray, "h w c"]) -> Path:
    """Writes a [-1, 1] float image as an 8-bit PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(unit_to_uint8(image)).save(path)
    return path


def save_gif(path: str | os.PathLike, frames: Float[np.ndarray, "t h w c"], fps: float = 10.0) -> Path:
    """Writes [-1, 1] float frames as a looping GIF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(unit_to_uint8(f)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def resize_uint8(image: Float[np.ndarray, "h w c"], size_hw: tuple[int, int]) -> Float[np.ndarray, "h w c"]:
    """Resizes a [-1, 1] image with PIL's bicubic filter (used for user-facing inputs, not training)."""
    u8 = Image.fromarray(unit_to_uint8(image)).resize((size_hw[1], size_hw[0]), Image.BICUBIC)
    return uint8_to_unit(np.asarray(u8))
