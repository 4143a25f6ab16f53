"""Linear-probe evaluation on real images that ship with a package: scikit-learn's handwritten digits.

The check-up's representation-learning experiment asks whether features learned from code-rendered images
transfer to real ones. The paper probes on ImageNet; on CPU with nothing to download we use the UCI
handwritten digits that scikit-learn ships (1797 images, 8 x 8, 10 classes, 0-16 grey levels). Decisions:

- **Images**: grey level / 16, inverted to dark ink on a white page (the drawings are dark-on-light too),
  resized to 24 x 24 (bilinear) and padded with white to the encoder's 32 x 32, copied to three channels.
- **Split**: stratified half / half with a fixed seed (899 train / 898 test images), the same for every
  encoder compared.
- **Probe**: multinomial logistic regression on the frozen, standardised features (train statistics), full
  batch, Adam for 500 steps with a small L2 penalty: the usual linear-evaluation protocol (SimCLR section
  B.6 uses L-BFGS on the same objective; the optimum is the same).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

DIGIT_SIZE = 24


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    steps: int = 500
    learning_rate: float = 0.05
    l2: float = 1e-4
    test_fraction: float = 0.5
    split_seed: int = 0


def digits(size: int = 32, digit_size: int = DIGIT_SIZE) -> tuple[Float[np.ndarray, "n size size 3"], np.ndarray]:
    """scikit-learn's digits as dark-on-white RGB images of `size` x `size` in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    ink = jnp.asarray(data.images / 16.0, jnp.float32)[..., None]
    ink = jax.image.resize(ink, (ink.shape[0], digit_size, digit_size, 1), "linear")
    lo = (size - digit_size) // 2
    page = jnp.pad(ink, ((0, 0), (lo, size - digit_size - lo), (lo, size - digit_size - lo), (0, 0)))
    images = np.asarray(jnp.clip(1.0 - page, 0.0, 1.0).repeat(3, axis=-1))
    return images, data.target.astype(np.int32)


def split(labels: np.ndarray, cfg: ProbeConfig = ProbeConfig()) -> tuple[np.ndarray, np.ndarray]:  # noqa: B008
    """Stratified train / test indices."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=cfg.test_fraction, stratify=labels, random_state=cfg.split_seed)
    return np.sort(train), np.sort(test)


def features(
    represent: Callable[[Float[Array, "b h w 3"]], Float[Array, "b d"]], images: np.ndarray, batch: int = 512
) -> Float[np.ndarray, "n d"]:
    """`represent` applied in batches (the same batch shape each time, the last one padded: one compilation)."""
    out = []
    for start in range(0, len(images), batch):
        part = images[start : start + batch]
        padded = np.concatenate([part, np.zeros((batch - len(part), *part.shape[1:]), part.dtype)])
        out.append(np.asarray(represent(jnp.asarray(padded)))[: len(part)])
    return np.concatenate(out)


def linear_probe(
    train_x: Float[np.ndarray, "n d"],
    train_y: Int[np.ndarray, " n"],
    test_x: Float[np.ndarray, "m d"],
    test_y: Int[np.ndarray, " m"],
    cfg: ProbeConfig = ProbeConfig(),  # noqa: B008 - frozen
) -> dict[str, float]:
    """Fit softmax regression on (train_x, train_y); return train and test accuracy."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xtr, xte = (jnp.asarray((x - mean) / std, jnp.float32) for x in (train_x, test_x))
    classes = int(max(train_y.max(), test_y.max())) + 1
    w, b = _fit(xtr, jnp.asarray(train_y), classes, cfg.steps, cfg.learning_rate, cfg.l2)

    def accuracy(x, y):
        return float(((x @ w + b).argmax(-1) == jnp.asarray(y)).mean())

    return {"train_accuracy": accuracy(xtr, train_y), "test_accuracy": accuracy(xte, test_y)}


@jax.jit(static_argnames=("classes", "steps"))
def _fit(x, y, classes: int, steps: int, learning_rate: float, l2: float):
    params = (jnp.zeros((x.shape[1], classes)), jnp.zeros(classes))
    tx = optax.adam(learning_rate)

    def loss(p):
        w, b = p
        ce = optax.softmax_cross_entropy_with_integer_labels(x @ w + b, y).mean()
        return ce + l2 * jnp.sum(w**2)

    def body(_, carry):
        p, s = carry
        updates, s = tx.update(jax.grad(loss)(p), s, p)
        return optax.apply_updates(p, updates), s

    params, _ = jax.lax.fori_loop(0, steps, body, (params, tx.init(params)))
    return params
