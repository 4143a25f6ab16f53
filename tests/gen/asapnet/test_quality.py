"""Translation quality measures: exact per-pixel errors, SWD zero for a perfect translator and larger for a
textureless one."""

import numpy as np
import pytest

from jaxinterp.gen.asapnet.quality import pixel_errors, translation_quality


def test_pixel_errors_known_values():
    real = np.zeros((2, 4, 4, 3), np.float32)
    fake = real + 0.1  # 0.1 units = 12.75 levels everywhere
    out = pixel_errors(fake, real)
    assert out["l1_255"] == pytest.approx(12.75)
    assert out["psnr"] == pytest.approx(10 * np.log10(255.0**2 / 12.75**2))
    with pytest.raises(ValueError, match="shape"):
        pixel_errors(fake[:1], real)


def test_translation_quality_ranks_perfect_above_flat():
    rng = np.random.default_rng(0)
    labels = np.zeros((3, 32, 32, 2), np.float32)
    labels[..., 0] = 1.0
    images = np.clip(rng.normal(0, 0.4, (3, 32, 32, 3)), -1, 1).astype(np.float32)
    # one batch of all three pairs, so "perfect" can return the real images in order
    perfect = translation_quality(lambda x: images, labels, images, batch_size=3)
    flat = translation_quality(lambda x: np.zeros((len(x), 32, 32, 3), np.float32), labels, images, batch_size=3)
    assert perfect["l1_255"] == 0.0 and perfect["swd"] == pytest.approx(0.0, abs=1e-6)
    assert flat["l1_255"] > 10 and flat["swd"] > 100 * max(perfect["swd"], 1e-3)
    assert perfect["pairs"] == 3
    with pytest.raises(ValueError, match="pair up"):
        translation_quality(lambda x: x, labels[:2], images)
