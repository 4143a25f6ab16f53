"""Single Image Fréchet Inception Distance (SIFID; Rott Shaham et al. 2019, SinGAN section 4.2).

FID fits one Gaussian to the pooled Inception vectors of many images. SIFID instead treats every
*position* of an early InceptionV3 feature map as one sample: an image of `fh x fw` feature positions
gives `fh * fw` vectors of `dims` channels. It fits N(mu_r, S_r) to the real image's vectors and
N(mu_f, S_f) to one fake's, and reports the Fréchet (2-Wasserstein) distance between them:

    d^2 = |mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^(1/2)).

It therefore compares the internal patch statistics of two single images, at the receptive field
of the chosen layer (see `inception.py` for `dims` = 64, the official code's default, vs 192, the
paper's text, and for the input preprocessing). SIFID is per (real, fake) pair; over a set of fakes
we report each value and their mean, as upstream's `sifid_score.py` prints the mean.

Numerics (decisions):
* Features come from the jitted Flax network; the statistics and the distance are computed on the
  host in float64 NumPy, like upstream (float32 loses the small SIFID values to cancellation between
  traces of size ~1e2). Covariances use `np.cov` (unbiased, N - 1), as upstream does.
* tr((S_r S_f)^(1/2)) is computed without `scipy.linalg.sqrtm`: S_r S_f is similar to the symmetric
  PSD matrix A = S_r^(1/2) S_f S_r^(1/2), so the trace is the sum of the square roots of A's
  eigenvalues (clipped at 0). This is stable for the singular covariances that ReLU features give
  (dead channels), where upstream falls back to adding 1e-6 to the diagonals. The result is clipped
  at 0, since a squared distance cannot be negative (round-off can give -1e-12).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.metrics.inception import inception_features, layers_for, load_inception_variables


def gaussian_stats(features: Float[Array, "fh fw d"]) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d), in float64, of the spatial feature vectors."""
    vectors = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    return vectors.mean(axis=0), np.cov(vectors, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Args:
      mu1, mu2: means, shape (d,).
      sigma1, sigma2: symmetric PSD covariances, shape (d, d).

    Returns:
      |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)), clipped at 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise InputError(f"mismatched Gaussian shapes: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean, 0.0))


def sifid(
    real: Float[Array, "h w c"],
    fakes: Float[Array, "n H W c"] | Sequence[Float[Array, "H W c"]],
    weights: str | os.PathLike | dict,
    *,
    dims: int = 64,
) -> dict[str, float | list[float]]:
    """SIFID of each fake against the real image, and their mean. Lower is better.

    Args:
      real: the training image, RGB (or one channel) in [-1, 1], at its own size (no resizing).
      fakes: samples, as one `n H W c` array or a sequence of `H W c` arrays of any sizes.
      weights: path to a local `.safetensors` / `.npz` InceptionV3 state dict, or the variables
        returned by `load_inception_variables(path, dims)` (load once when calling repeatedly).
      dims: 64 (official code, default) or 192 (the paper's "before the second pooling layer").

    Returns:
      `{"sifid_per_image": [d_1, ..., d_n], "sifid_mean": mean}`.

    Raises:
      InputError: bad weights file, unsupported `dims` or channels, no fakes, or images too small.
    """
    variables = weights if isinstance(weights, dict) else load_inception_variables(weights, dims)
    absent = [spec.name for spec in layers_for(dims) if spec.name not in variables.get("params", {})]
    if absent:
        raise InputError(f"the Inception variables lack {absent}: load them with dims={dims}")
    fakes = list(fakes)
    if not fakes:
        raise InputError("SIFID needs at least one fake image")
    bad = [np.shape(image) for image in [real, *fakes] if np.ndim(image) != 3]
    if bad:
        raise InputError(f"SIFID expects 'h w c' images (fakes may be stacked 'n h w c'), got shape {bad[0]}")
    mu_r, sigma_r = gaussian_stats(inception_features(variables, np.asarray(real)[None], dims)[0])
    values = []
    for fake in fakes:
        mu_f, sigma_f = gaussian_stats(inception_features(variables, np.asarray(fake)[None], dims)[0])
        values.append(frechet_distance(mu_r, sigma_r, mu_f, sigma_f))
    return {"sifid_per_image": values, "sifid_mean": float(np.mean(values))}
