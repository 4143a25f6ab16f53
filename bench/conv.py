"""Convolution micro-benchmark: XLA's own convolution vs `jaxinterp.gen.conv` on SinGAN's shapes.

For chosen scales of the paper pyramid of a bundled image, times (median of `--repeats`) in one run:
  * the critic's gradient-penalty step (grad w.r.t. the critic's parameters of WGAN-GP, i.e. a double
    backward through five convolutions), with `lax.conv` vs with `gen.conv.conv2d_valid`;
  * each kind of convolution in the critic (head 3->N, body N->N, tail N->1): forward, input gradient and
    kernel gradient, XLA vs the algorithm `gen.conv` picks on this backend.
Writes `bench/results/conv-<device>.json` and prints a markdown table of milliseconds and ratios
(XLA / ours, > 1 means ours is faster).

    python bench/conv.py                      # scales 0,4,7,8,9
    python bench/conv.py --scales 8 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinterp.data.images import load_rgb
from jaxinterp.gen import conv as gen_conv
from jaxinterp.gen.gan_losses import gradient_penalty
from jaxinterp.gen.singan.config import SinGANConfig
from jaxinterp.gen.singan.train import geometry_for

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _header import run_header  # noqa: E402


def xla_conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def median_seconds(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def critic(conv, params, image):
    """SinGAN's critic trunk (conv -> instance-of-one BatchNorm -> LeakyReLU) with a given conv."""
    x = image
    for kernel in params[:-1]:
        x = conv(x, kernel)
        mean, var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
        x = jax.nn.leaky_relu((x - mean) / jnp.sqrt(var + 1e-5), 0.2)
    return conv(x, params[-1])


def critic_params(key, channels: int, layers: int = 5) -> list:
    widths = [3] + [channels] * (layers - 1) + [1]
    keys = jax.random.split(key, layers)
    return [0.02 * jax.random.normal(k, (3, 3, i, o)) for k, i, o in zip(keys, widths[:-1], widths[1:], strict=True)]


def time_scale(cfg: SinGANConfig, hw: tuple[int, int], scale: int, repeats: int) -> dict:
    channels = cfg.channels(scale)
    key = jax.random.PRNGKey(scale)
    params = critic_params(key, channels)
    real = jax.random.uniform(key, (1, *hw, 3), minval=-1, maxval=1)
    fake = jnp.roll(real, 3, axis=2)
    row = {"scale": scale, "hw": list(hw), "channels": channels}

    def gp_step(conv):
        return jax.jit(jax.grad(lambda p: gradient_penalty(lambda x: critic(conv, p, x), real, fake, key, 0.1)))

    row["gp_step_ms"] = {
        "xla": 1e3 * median_seconds(gp_step(xla_conv), params, repeats=repeats),
        "ours": 1e3 * median_seconds(gp_step(gen_conv.conv2d_valid), params, repeats=repeats),
    }
    layers = {
        "head": (3, channels, hw),
        "body": (channels, channels, (hw[0] - 2, hw[1] - 2)),
        "tail": (channels, 1, (hw[0] - 8, hw[1] - 8)),
    }
    row["convs"] = {}
    for name, (c_in, c_out, (h, w)) in layers.items():
        x = jax.random.normal(key, (1, h, w, c_in))
        kernel = 0.02 * jax.random.normal(key, (3, 3, c_in, c_out))
        dy = jax.random.normal(key, (1, h - 2, w - 2, c_out))
        entry = {
            "forward_algorithm": gen_conv.forward_algorithm(x.shape, kernel.shape),
            "kernel_gradient_algorithm": gen_conv.kernel_gradient_algorithm(x.shape, dy.shape, 3, 3),
        }
        for label, conv in (("xla", xla_conv), ("ours", gen_conv.conv2d_valid)):
            vjp = jax.jit(lambda x, k, dy, conv=conv: jax.vjp(conv, x, k)[1](dy))
            entry[f"{label}_forward_ms"] = 1e3 * median_seconds(jax.jit(conv), x, kernel, repeats=repeats)
            entry[f"{label}_backward_ms"] = 1e3 * median_seconds(vjp, x, kernel, dy, repeats=repeats)
        row["convs"][name] = entry
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| scale | size | ch | GP step XLA ms | GP step ours ms | ratio "
        "| body fwd XLA/ours | tail fwd XLA/ours | body bwd XLA/ours |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        gp, body, tail = r["gp_step_ms"], r["convs"]["body"], r["convs"]["tail"]
        lines.append(
            f"| {r['scale']} | {r['hw'][0]}x{r['hw'][1]} | {r['channels']} | {gp['xla']:.1f} | {gp['ours']:.1f} | "
            f"{gp['xla'] / gp['ours']:.2f}x | {body['xla_forward_ms'] / body['ours_forward_ms']:.2f}x | "
            f"{tail['xla_forward_ms'] / tail['ours_forward_ms']:.2f}x | "
            f"{body['xla_backward_ms'] / body['ours_backward_ms']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="builtin:hubble")
    parser.add_argument("--scales", default="0,4,7,8,9", help="comma-separated pyramid scales")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    cfg = SinGANConfig()
    geometry = geometry_for(cfg, load_rgb(args.image).shape[:2])
    device = jax.devices()[0]
    rows = []
    for scale in (int(s) for s in args.scales.split(",")):
        rows.append(time_scale(cfg, geometry.shapes[scale], scale, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    result = run_header("conv-xla-vs-jaxinterp", argv) | {
        "versions": {"jax": jax.__version__},
        "image": args.image,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"conv-{device.platform}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + markdown(rows) + f"\n\ndevice: {device.platform} ({getattr(device, 'device_kind', '')}); wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
