"""Image-quality metrics for single-image GANs: one real image against a set of generated samples.

* `sliced_wasserstein` (swd.py): multi-scale SWD of 7x7 Laplacian-pyramid patches (Karras et al.
  2018). Weight-free, pure JAX; the default quality metric.
* `sifid` (sifid.py, inception.py): SinGAN's single-image FID on early InceptionV3 feature maps;
  needs a local weights file (nothing is downloaded).
* `diversity` (diversity.py): SinGAN's mean per-pixel std across samples over the real image's std.
* Audio (audio.py, for Catch-A-Waveform): multi-resolution STFT distance (CAW's reconstruction loss),
  log-spectral distance, SNR, `audio_quality` (band statistics of a clip against generations of any
  length) and `audio_diversity`.

`evaluate` runs all that apply and returns one flat dict, ready for a JSON report.
"""

from __future__ import annotations

import os

from jaxtyping import Array, Float, PRNGKeyArray

from jaxinterp.gen.metrics.audio import (
    audio_diversity,
    audio_quality,
    log_spectral_distance,
    multi_resolution_stft_distance,
    snr,
)
from jaxinterp.gen.metrics.diversity import diversity
from jaxinterp.gen.metrics.inception import InceptionFeatures, inception_features, load_inception_variables
from jaxinterp.gen.metrics.sifid import frechet_distance, gaussian_stats, sifid
from jaxinterp.gen.metrics.swd import laplacian_pyramid, sliced_wasserstein

__all__ = [
    "InceptionFeatures",
    "audio_diversity",
    "audio_quality",
    "diversity",
    "evaluate",
    "frechet_distance",
    "gaussian_stats",
    "inception_features",
    "laplacian_pyramid",
    "load_inception_variables",
    "log_spectral_distance",
    "multi_resolution_stft_distance",
    "sifid",
    "sliced_wasserstein",
    "snr",
]


def evaluate(
    real: Float[Array, "h w c"],
    fakes: Float[Array, "n H W c"],
    key: PRNGKeyArray,
    inception_weights: str | os.PathLike | None = None,
    *,
    sifid_dims: int = 64,
) -> dict[str, float | list[float]]:
    """SWD and diversity of `fakes` against `real`, plus SIFID when a weights file is given.

    Args:
      real: the training image, values in [-1, 1].
      fakes: at least two generated samples of one size.
      key: PRNG key for SWD's patch positions and directions (same key, same numbers).
      inception_weights: local `.safetensors` / `.npz` InceptionV3 state dict; None skips SIFID.
      sifid_dims: 64 (official SIFID code) or 192 (SinGAN paper's text).

    Returns:
      `swd_{h}x{w}` per pyramid level and `swd_mean` (x 1e3), `diversity`, and with weights
      `sifid_mean` and `sifid_per_image`.

    Raises:
      InputError: bad shapes or an unusable weights file (see the individual metrics).
    """
    result: dict[str, float | list[float]] = dict(sliced_wasserstein(real, fakes, key))
    result["diversity"] = diversity(real, fakes)
    if inception_weights is not None:
        result.update(sifid(real, fakes, inception_weights, dims=sifid_dims))
    return result
