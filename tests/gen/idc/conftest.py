"""A 40 px striped test image with a hole near its bottom-right corner (2 levels with the tiny preset)."""

import numpy as np
import pytest
from PIL import Image


def striped_image() -> np.ndarray:
    """uint8 40x40 RGB: periodic stripes (period 8 px) plus mild noise."""
    y, x = np.mgrid[:40, :40]
    rng = np.random.default_rng(0)
    image = np.stack(
        [128 + 100 * np.sin(2 * np.pi * x / 8), 128 + 100 * np.cos(2 * np.pi * y / 8), 128 + 60 * np.sin(x / 5.0)], -1
    )
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def hole_mask(shape=(40, 40)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[26:36, 24:34] = 255
    return mask


@pytest.fixture(scope="session")
def idc_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idc_inputs")
    Image.fromarray(striped_image()).save(folder / "img.png")
    Image.fromarray(hole_mask()).save(folder / "mask.png")
    return folder / "img.png", folder / "mask.png"
