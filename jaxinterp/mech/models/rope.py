"""Rotary position embeddings with the frequency scalings of today's checkpoints, as a penzai layer.

RoPE (Su et al. 2021) rotates each pair of query/key dimensions `(i, i + d/2)` of a head of size `d` by the
angle `position * inv_freq[i]`, with `inv_freq[i] = theta ** (-2i / d)`; a query-key dot product then depends
on the two positions only through their difference. Models trained on a context of `L` tokens are stretched
to longer contexts by changing `inv_freq` (the wavelength of pair `i` is `2 pi / inv_freq[i]`). The variants
below follow transformers 5.25 (`transformers/modeling_rope_utils.py`; `hf.RopeSettings` holds their fields):

- "linear" (Chen et al. 2023, position interpolation): every `inv_freq` divided by `factor`.
- "dynamic" (NTK-aware scaling): for a sequence of `n > L = max_position_embeddings` tokens the base becomes
  `theta * (factor * n / L - (factor - 1)) ** (d / (d - 2))`; up to `L` tokens it is plain RoPE.
- "llama3" (Llama 3.1/3.2): with `L = original_max_position_embeddings`, wavelengths above
  `L / low_freq_factor` are divided by `factor`, those below `L / high_freq_factor` kept, and between them
  `inv_freq` is blended: `(1 - s) * inv_freq / factor + s * inv_freq`, `s = (L / wavelength - low) / (high - low)`.
- "yarn" (Peng et al. 2023): pair `i` mixes the interpolated `inv_freq / factor` and the original `inv_freq`
  with weight `ramp(i)`, a linear ramp between the pairs that turn `beta_fast` and `beta_slow` times over `L`
  (`d * log(L / (2 pi * beta)) / (2 log theta)`, rounded outwards when `truncate`); cos and sin are multiplied
  by an attention factor (`attention_factor`, else `0.1 * log(factor) + 1`, or the ratio of that formula with
  `mscale` and with `mscale_all_dim` when both are set), so q.k is scaled by its square.

`ApplyScaledRoPE` replaces penzai's `pz.nn.ApplyRoPE` in a built model (`with_scaled_rope`) and keeps its
contract: positions come from the `token_positions` side input (the one penzai's KV-caching sampler fills) and
the rotated pairs are the two halves of the axis, as in transformers' `rotate_half`. Plain RoPE keeps penzai's
own layer, so default checkpoints compute exactly what they did before this module.

Decisions:
- Static inverse frequencies are computed in float32 numpy with transformers' order of operations (it computes
  them in float32 torch); angles are `position * inv_freq` in float32, cos and sin are scaled, and the rotation
  runs in float32 before casting back to the input's dtype (transformers casts cos/sin to the input dtype
  first; the same in float32, within rounding in bf16).
- Dynamic NTK: transformers' rotary module recomputes its frequencies when `max(position_ids) + 1` exceeds the
  longest length it has seen and resets them when a sequence shorter than `L` comes (state kept between
  calls). Here they are a function of the current call only: `n = max(token_positions) + 1` over the whole
  call (padding's -1 never counts), computed inside the jitted function, so shapes stay static. For one
  forward pass on a fresh transformers model the two agree. In KV-cached decoding each call rotates its new
  queries and keys with the frequencies for its own largest position, and keys already in the cache keep the
  rotation of the call that wrote them; transformers' `generate` with a cache does the same (its state only
  grows with the positions), so cached decoding matches it step by step. Cached logits beyond `L` therefore
  differ from a full uncached forward over the same tokens (which re-rotates every key with the final
  frequencies), in transformers and here alike. A transformers model reused after a longer input keeps the
  longer input's frequencies for inputs between `L` and that length; this layer does not.
- Only whole-head rotation (`partial_rotary_factor` 1): the LLaMA-like families that use these scalings.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from penzai import pz

from jaxinterp.errors import InputError
from jaxinterp.hf import RopeSettings


def _default_inverse_frequencies(theta: float, dim: int) -> Float[np.ndarray, " half"]:
    """`theta ** (-2i / dim)` for `i < dim / 2`, float32."""
    return 1.0 / (theta ** (np.arange(0, dim, 2).astype(np.float32) / dim))


def _llama3(rope: RopeSettings, inv_freq: np.ndarray) -> np.ndarray:
    original, low, high, factor = (
        rope.original_max_position_embeddings,
        rope.low_freq_factor,
        rope.high_freq_factor,
        rope.factor,
    )
    wavelength = 2 * math.pi / inv_freq
    scaled = np.where(wavelength > original / low, inv_freq / factor, inv_freq)
    with np.errstate(divide="ignore", invalid="ignore"):  # high == low: the band is empty, as in transformers
        smooth = (original / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
    in_band = ~(wavelength < original / high) & ~(wavelength > original / low)
    return np.where(in_band, blended, scaled).astype(np.float32)


def _yarn_correction_range(rope: RopeSettings, dim: int) -> tuple[float, float]:
    """The (fractional) pair indices that turn `beta_fast` and `beta_slow` times over the original context."""

    def pair(rotations: float) -> float:
        turns = rope.original_max_position_embeddings / (rotations * 2 * math.pi)
        return dim * math.log(turns) / (2 * math.log(rope.theta))

    low, high = pair(rope.beta_fast), pair(rope.beta_slow)
    if rope.truncate:
        low, high = math.floor(low), math.ceil(high)
    return max(low, 0), min(high, dim - 1)


def _yarn(rope: RopeSettings, dim: int) -> np.ndarray:
    powers = rope.theta ** (np.arange(0, dim, 2).astype(np.float32) / dim)
    low, high = _yarn_correction_range(rope, dim)
    if low == high:
        high += 0.001  # transformers' guard against a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1).astype(np.float32)
    keep = 1 - ramp  # weight of the original (extrapolated) frequency
    return ((1 / (rope.factor * powers)) * (1 - keep) + (1 / powers) * keep).astype(np.float32)


def inverse_frequencies(rope: RopeSettings, dim: int) -> Float[np.ndarray, " half"]:
    """The `dim // 2` inverse frequencies of a static RoPE type (all but "dynamic"), float32.

    Args:
      rope: the checkpoint's RoPE settings.
      dim: rotated dimensions per head (even).
    """
    base = _default_inverse_frequencies(rope.theta, dim)
    if rope.rope_type == "default":
        return base
    if rope.rope_type == "linear":
        return (base / rope.factor).astype(np.float32)
    if rope.rope_type == "llama3":
        return _llama3(rope, base)
    if rope.rope_type == "yarn":
        return _yarn(rope, dim)
    raise ValueError(f"rope_type {rope.rope_type!r} has no static frequencies (dynamic: `dynamic_inverse_frequencies`)")


def dynamic_inverse_frequencies(rope: RopeSettings, dim: int, seq_len: Int[Array, ""]) -> Float[Array, " half"]:
    """Dynamic NTK inverse frequencies for a sequence of `seq_len` tokens (a traced scalar is fine), float32."""
    original = rope.max_position_embeddings
    stretch = rope.factor * jnp.maximum(seq_len, original).astype(jnp.float32) / original - (rope.factor - 1)
    base = jnp.where(seq_len > original, rope.theta * stretch ** (dim / (dim - 2)), jnp.float32(rope.theta))
    return 1.0 / (base ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))


def _yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def attention_factor(rope: RopeSettings) -> float:
    """The factor on cos and sin (yarn; 1 for the other types), so q.k is scaled by its square."""
    if rope.rope_type != "yarn":
        return 1.0
    if rope.attention_factor is not None:
        return rope.attention_factor
    if rope.mscale and rope.mscale_all_dim:
        return _yarn_mscale(rope.factor, rope.mscale) / _yarn_mscale(rope.factor, rope.mscale_all_dim)
    return _yarn_mscale(rope.factor)


@pz.pytree_dataclass
class ApplyScaledRoPE(pz.nn.Layer):
    """RoPE with a checkpoint's frequency scaling; a drop-in replacement for `pz.nn.ApplyRoPE`.

    Attributes:
      embedding_axis: the axis that is rotated (e.g. "projection"); all of it rotates, in two halves.
      positions_input_name: side input with each token's integer position (named axes a subset of the
        input's, no embedding axis), e.g. "token_positions".
      rope: the RoPE settings (`rope.theta` is the base wavelength).
    """

    embedding_axis: str = dataclasses.field(metadata={"pytree_node": False})
    positions_input_name: str = dataclasses.field(metadata={"pytree_node": False})
    rope: RopeSettings = dataclasses.field(metadata={"pytree_node": False})

    def __call__(self, inputs: pz.nx.NamedArray, **side_inputs) -> pz.nx.NamedArray:
        """Rotates `inputs` {..., embedding_axis} by the positions side input {...}."""
        positions = side_inputs[self.positions_input_name]
        if self.embedding_axis in positions.named_shape or positions.positional_shape:
            raise ValueError(f"positions must have only named axes and not {self.embedding_axis!r}")
        dim = inputs.named_shape[self.embedding_axis]
        if self.rope.rope_type == "dynamic":
            longest = jnp.max(positions.unwrap(*positions.named_shape)) + 1
            inv_freq = dynamic_inverse_frequencies(self.rope, dim, longest)
        else:
            inv_freq = jnp.asarray(inverse_frequencies(self.rope, dim))
        scale = jnp.float32(attention_factor(self.rope))

        def rotate(x: Float[Array, " dim"], position: Int[Array, ""]) -> Float[Array, " dim"]:
            angles = position.astype(jnp.float32) * inv_freq
            cos, sin = jnp.cos(angles) * scale, jnp.sin(angles) * scale
            first, second = jnp.split(x.astype(jnp.float32), 2)
            return jnp.concatenate([first * cos - second * sin, second * cos + first * sin])

        rotated = pz.nx.nmap(rotate)(inputs.untag(self.embedding_axis), positions)
        return rotated.tag(self.embedding_axis).astype(inputs.dtype)


def with_scaled_rope(model: pz.nn.Layer, rope: RopeSettings) -> pz.nn.Layer:
    """`model` with every `pz.nn.ApplyRoPE` replaced by `ApplyScaledRoPE(rope)`; unchanged for plain RoPE.

    Raises:
      InputError: a partial rotary fraction (only whole-head rotation is supported with scaling).
    """
    if rope.rope_type == "default":
        return model
    if rope.fraction != 1.0:
        raise InputError(f"RoPE scaling {rope.rope_type!r} with partial_rotary_factor {rope.fraction} is not supported")

    def replace(layer: pz.nn.ApplyRoPE) -> ApplyScaledRoPE:
        if not math.isclose(layer.max_wavelength, rope.theta):
            raise ValueError(f"the model's RoPE base {layer.max_wavelength} is not the settings' {rope.theta}")
        return ApplyScaledRoPE(
            embedding_axis=layer.embedding_axis, positions_input_name=layer.positions_input_name, rope=rope
        )

    return pz.select(model).at_instances_of(pz.nn.ApplyRoPE).apply(replace)
