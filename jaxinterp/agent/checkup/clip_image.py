"""CLIP's image preprocessing (transformers' `CLIPImageProcessor`), in numpy + PIL for uint8 RGB arrays.

Each image is resized so its shortest side is `size` (PIL bicubic; the longer side becomes
`int(size * long / short)`, as transformers computes it), centre-cropped to `crop` x `crop` (top-left corner at
`(h - crop) // 2, (w - crop) // 2`), scaled to [0, 1] and standardised per channel with CLIP's mean / std
(the statistics of OpenAI's training images). A checkpoint folder's `preprocessor_config.json` overrides
`size`, `crop_size`, `image_mean` and `image_std`; without one the CLIP defaults apply with `size` and `crop`
set to the model's input resolution. Other fields (`do_resize: false`, other resampling filters) are not read:
every released CLIP checkpoint uses the defaults.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float, UInt8
from PIL import Image

from jaxinterp.errors import InputError
from jaxinterp.hf import read_json

PREPROCESSOR_FILE = "preprocessor_config.json"
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # transformers.image_utils.OPENAI_CLIP_MEAN
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)  # transformers.image_utils.OPENAI_CLIP_STD


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """Resize / crop sizes and channel statistics; defaults are OpenAI CLIP's at 224 px."""

    size: int = 224  # shortest side after resizing
    crop: int = 224  # side of the centre crop (= the model's image_size)
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD

    @classmethod
    def from_folder(cls, folder: str | Path, image_size: int) -> ImageSettings:
        """The settings of `folder/preprocessor_config.json`, else the defaults at `image_size`."""
        path = Path(folder) / PREPROCESSOR_FILE
        if not path.is_file():
            return cls(size=image_size, crop=image_size)
        raw = read_json(path)
        settings = cls(
            size=_side(raw.get("size", image_size), "shortest_edge"),
            crop=_side(raw.get("crop_size", image_size), "height"),
            mean=tuple(float(v) for v in raw.get("image_mean", OPENAI_CLIP_MEAN)),
            std=tuple(float(v) for v in raw.get("image_std", OPENAI_CLIP_STD)),
        )
        if settings.crop != image_size:
            raise InputError(f"{path} crops to {settings.crop} px but the model takes {image_size} px images")
        return settings


def _side(value: Any, key: str) -> int:
    """An int, or transformers' dict form (`{"shortest_edge": n}`, `{"height": n, "width": n}`)."""
    if isinstance(value, dict):
        if key not in value or value.get("width", value[key]) != value[key]:
            raise InputError(f"{PREPROCESSOR_FILE}: unsupported size {value} (want {key!r}, square crops)")
        value = value[key]
    return int(value)


def preprocess(images: UInt8[np.ndarray, "n h w 3"], settings: ImageSettings) -> Float[np.ndarray, "n s s 3"]:
    """uint8 RGB images of any size -> CLIP's normalised float32 input, NHWC, `settings.crop` square."""
    return np.stack([_one(np.asarray(im, np.uint8), settings) for im in images]).astype(np.float32)


def _one(image: np.ndarray, s: ImageSettings) -> np.ndarray:
    h, w = image.shape[:2]
    short, long = (h, w) if h <= w else (w, h)
    new_long = int(s.size * long / short)
    new_h, new_w = (s.size, new_long) if h <= w else (new_long, s.size)
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BICUBIC), np.float32)
    if min(new_h, new_w) < s.crop:
        raise InputError(f"image resized to {new_h}x{new_w} is smaller than the {s.crop} px crop")
    top, left = (new_h - s.crop) // 2, (new_w - s.crop) // 2
    crop = resized[top : top + s.crop, left : left + s.crop] / 255.0
    return (crop - np.asarray(s.mean, np.float32)) / np.asarray(s.std, np.float32)
