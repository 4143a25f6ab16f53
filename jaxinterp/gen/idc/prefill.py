"""IDC's Deep-Image-Prior pre-fill of the coarse scales (upstream `calc_init_inpaint`, after Ulyanov et
al. 2018): at the coarse levels where the hole leaves the patch critic too few visible windows
(below `masks.first_masked_scale`), an untrained encoder-decoder is fitted to the visible pixels of the
finest such level, from a fixed noise image, and its output inside the hole becomes the content those
scales train on as plain SinGAN; the finer, masked scales then learn to refine it.

Why it works: a convolutional net fits natural structure long before it fits noise, so fitted only on
the visible pixels it continues their colours and edges smoothly into the hole.

The net (upstream's `skip` with no skip channels): `depth` levels, each Conv3x3 stride 2 -> BN ->
LeakyReLU(0.2) -> Conv3x3 -> BN -> LeakyReLU, the deeper level, x2 nearest upsampling, then BN ->
Conv3x3 -> BN -> LeakyReLU -> Conv1x1 -> BN -> LeakyReLU (128 channels everywhere); a final Conv1x1 to
RGB clipped to [-1, 1] (Hardtanh); the output's top-left h x w crop is the image. depth = how often
the shorter side halves (floor) before reaching 1 (3 for 25 px). Loss per iteration: the MSE over the
image of known * (out - image), plus 0.05 x the MSE between every hole pixel and its nearest visible
colour (upstream `RGB_1NN`); the input is the fixed 2-channel noise plus fresh N(0, 0.03^2) noise;
Adam 1e-3, 1001 iterations. Training-mode BatchNorm throughout (upstream never calls eval()).

Decisions: upstream regenerates the input noise in place each iteration (`net_input_saved.normal_()`),
so its input is fresh noise x 1.03 rather than DIP's fixed code + 0.03 noise; we follow DIP (fixed
code). The colour loss's nearest neighbours are searched among at most `PALETTE_SIZE` visible colours
(a seeded subset; upstream all of them). Flax's default initialisers (upstream PyTorch's).
"""

from __future__ import annotations

import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from jaxinterp import loop
from jaxinterp.data.images import save_png
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.idc.config import IDCConfig
from jaxinterp.gen.pyramid import PyramidGeometry
from jaxinterp.gen.resize import resize_by
from jaxinterp.gen.singan.train import nearest_colour

PALETTE_SIZE = 2048
INPUT_CHANNELS = 2  # upstream input_depth


def _block(x, features: int, kernel: int, stride: int = 1):
    """Conv (zero padding as PyTorch's padding=(k-1)/2) -> BatchNorm -> LeakyReLU(0.2)."""
    pad = (kernel - 1) // 2
    x = nn.Conv(features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)))(x)
    return nn.leaky_relu(nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)(x), 0.2)


class _Level(nn.Module):
    channels: int
    remaining: int

    @nn.compact
    def __call__(self, x):
        y = _block(_block(x, self.channels, 3, 2), self.channels, 3)
        if self.remaining > 1:
            y = _Level(self.channels, self.remaining - 1)(y)
        y = jnp.repeat(jnp.repeat(y, 2, axis=1), 2, axis=2)
        y = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)(y)
        return _block(_block(y, self.channels, 3), self.channels, 1)


class SkipNet(nn.Module):
    """The pre-fill net: noise (b, h, w, 2) -> image (b, >= h, >= w, 3) in [-1, 1]."""

    channels: int = 128
    depth: int = 3

    @nn.compact
    def __call__(self, code: Float[Array, "b h w c"]) -> Float[Array, "b H W 3"]:
        x = _Level(self.channels, self.depth)(code)
        return jnp.clip(nn.Conv(3, (1, 1))(x), -1.0, 1.0)


def net_depth(hw: tuple[int, int]) -> int:
    """Upstream's depth rule: how often floor-halving the shorter side stays above 1 (25 px -> 3)."""
    side, depth = min(hw), 0
    while side // 2 > 1:
        side //= 2
        depth += 1
    return max(depth, 1)


def fit_loss(out, image, known, palette, colour_weight):
    """MSE of known * (out - image) over the image + colour_weight x MSE of hole pixels to their nearest
    visible colour (the neighbour is a constant: only the output moves)."""
    k = known[..., None]
    fit = jnp.mean((k * (out - image)) ** 2)
    target = nearest_colour(jax.lax.stop_gradient(out), palette)
    colour = jnp.sum((1.0 - k) * (out - target) ** 2) / (3.0 * jnp.maximum(jnp.sum(1.0 - k), 1.0))
    return fit + colour_weight * colour, (fit, colour)


@functools.lru_cache(maxsize=8)
def _compiled_chunk(channels: int, lr: float, reg_noise: float, colour_weight: float, hw: tuple, length: int):
    """`length` pre-fill steps as one program: (state, data, key) -> (state, metrics), the state donated."""
    net = SkipNet(channels, net_depth(hw))
    tx = optax.adam(lr)

    def step(state, data, key):
        key = jax.random.fold_in(key, state["step"])
        code = data["code"] + reg_noise * jax.random.normal(key, data["code"].shape)

        def loss(params):
            out = net.apply({"params": params, "batch_stats": state["stats"]}, code, mutable=["batch_stats"])[0]
            out = out[0, : hw[0], : hw[1]]
            return fit_loss(out, data["image"], data["known"], data["palette"], colour_weight)

        (total, (fit, colour)), grads = jax.value_and_grad(loss, has_aux=True)(state["params"])
        updates, opt = tx.update(grads, state["opt"], state["params"])
        new = {**state, "params": optax.apply_updates(state["params"], updates), "opt": opt, "step": state["step"] + 1}
        return new, {"loss": total, "fit": fit, "colour": colour}

    def chunk(state, data, key):
        if length == 1:
            return step(state, data, key)
        return jax.lax.scan(lambda s, _: step(s, data, key), state, None, length=length)

    def render(state, code):
        variables = {"params": state["params"], "batch_stats": state["stats"]}
        return net.apply(variables, code, mutable=["batch_stats"])[0][0, : hw[0], : hw[1]]

    return loop.jit_step(chunk), jax.jit(net.init), jax.jit(render), tx


def fit_hole(
    image: Float[np.ndarray, "h w 3"],
    known: Float[np.ndarray, "h w"],
    cfg: IDCConfig,
    key: Array,
    show_progress: bool = False,
) -> tuple[Float[np.ndarray, "h w 3"], list[float]]:
    """Fits the pre-fill net to the visible pixels; returns the image with its hole filled by the fitted
    net's output for the fixed code (visible pixels unchanged) and the loss per iteration."""
    hw = tuple(image.shape[:2])
    k_code, k_init, k_palette, k_steps = jax.random.split(key, 4)
    visible = np.asarray(image)[np.asarray(known) > 0.5]
    if len(visible) > PALETTE_SIZE:
        visible = visible[np.asarray(jax.random.choice(k_palette, len(visible), (PALETTE_SIZE,), replace=False))]
    data = {
        "code": jax.random.normal(k_code, (1, *hw, INPUT_CHANNELS)),
        "image": jnp.asarray(image),
        "known": jnp.asarray(known),
        "palette": jnp.asarray(visible),
    }
    # Whole chunks of `per_call` steps (one lax.scan each on GPU/TPU), then the remainder one by one.
    per_call = min(pyramid_train.iterations_per_call(cfg), cfg.dip_iters)
    fields = (cfg.dip_channels, cfg.dip_lr, cfg.dip_reg_noise, cfg.dip_colour_weight)
    single, init, render, tx = _compiled_chunk(*fields, hw, 1)
    variables = init(k_init, data["code"])
    state = {
        "params": variables["params"],
        "stats": variables["batch_stats"],
        "opt": tx.init(variables["params"]),
        "step": jnp.zeros((), jnp.int32),
    }
    with loop.progress_bar(cfg.dip_iters, "IDC pre-fill", show_progress) as progress:
        state, history = loop.fit(
            _compiled_chunk(*fields, hw, per_call)[0],
            state,
            cfg.dip_iters,
            batch_for=lambda _: data,
            rng=k_steps,
            steps_per_call=per_call,
            remainder_step=single,
            log_every=cfg.iters_per_call,
            progress=progress,
            label="IDC pre-fill",
        )
    out = np.asarray(render(state, data["code"]))
    k = np.asarray(known)[..., None]
    return k * np.asarray(image) + (1.0 - k) * out, history["loss"].tolist()


def fill_coarse(
    reals: list[dict],
    start: int,
    geometry: PyramidGeometry,
    cfg: IDCConfig,
    cache: Path,
    show_progress: bool = False,
) -> list[dict]:
    """The levels below `start` with their holes filled: the pre-fill of level start - 1 (read from
    `cache`, an .npy, or fitted and written there with a PNG beside it), resized to each coarser level
    and pasted into its hole (upstream `imresize_to_shape`). Levels from `start` on are unchanged."""
    top = start - 1
    if Path(cache).is_file():
        filled = np.load(cache)
    else:
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 7919)  # a branch of its own
        filled, _ = fit_hole(reals[top]["image"], reals[top]["known"], cfg, key, show_progress)
        np.save(cache, filled)
        save_png(Path(cache).with_suffix(".png"), filled)
    out = list(reals)
    for j in range(start):
        content = filled
        if j != top:
            content = np.asarray(resize_by(jnp.asarray(filled), geometry.scale_factor ** (top - j), geometry.shapes[j]))
        k = reals[j]["known"][..., None]
        out[j] = {"image": (k * reals[j]["image"] + (1.0 - k) * content).astype(np.float32), "known": reals[j]["known"]}
    return out
