"""Text generation from a penzai `TransformerLM`: one prefill, then a compiled decode loop over a key/value cache.

The method, in three steps (two compiled programs):

1. **Padding.** Prompts are left-padded to a bucket length P with the id `PAD = -1`. penzai's
   `KVCachingTransformerLM.from_uncached` swaps every `pz.nn.Attention` for a `KVCachingAttention` and gives
   each token the position "number of non-pad tokens before it"; a pad token gets position -1, and the causal
   mask (`query_pos >= kv_pos` and `kv_pos >= 0`) never attends to it. So the real tokens of a padded prompt
   see the same positions, keys and values as the unpadded prompt (up to float rounding: the matmuls have
   other shapes), and prompts of different lengths share one batch. Positions reach the model only through
   the "token_positions" side input, so any positional layer that reads it (penzai's RoPE, a scaled-RoPE
   replacement, GPT-2's learned table) works unchanged; no layer is special-cased.
2. **Prefill.** One call on the padded prompts {batch, seq=P} fills every layer's cache; the last
   position's logits give the first new token. Its wall time is the time to first token.
3. **Decode.** A `lax.while_loop` feeds the latest token {batch, seq=1} per step and writes the next one into
   an output buffer {batch, N}. A row that emits an end-of-sequence id is done: its later tokens are PAD (a
   mask, not a branch). The loop stops when every row is done or after `max_new_tokens`, which is a traced
   value, so one program serves every count up to the bucket N.

Compilation: `_prefill` compiles once per (batch, P, cache length, sampler kind) and `_decode` once per
(batch, cache length, N, sampler kind); P and N are powers of two from 8 (`bucket`), the cache length is P + N.
The prefill's cost grows with P, so short prompts get a short bucket: a 7-token prompt runs 8 positions, not 16.
Temperature, top-p, seed, the EOS ids and the token count are traced, so changing them does not recompile;
greedy vs sampled, top-k's k (`lax.top_k` needs it static) and whether top-p is on make the "sampler kind".
The model is an argument of both programs (a frozen pytree, `pz.freeze_variables`), not a constant baked into
them: XLA does not fold 0.5 GB of weights and a second model of the same shapes reuses the programs.

Decisions (there is no reference implementation to match beyond transformers' `generate`):
- PAD is -1, not the tokenizer's pad id: SmolLM2's pad id is its EOS id (2), so a generated EOS would read as
  padding. A PAD fed to the embedding reads some row, whose output no real token attends to.
- The returned tokens of a row end with its EOS, as transformers' `generate` returns them.
- The cache holds P + N positions and every decode step attends over all of them (penzai masks the slots not
  written yet): O(P + N) per step, small next to reading the weights for a 135M model.
- Context: a prompt longer than the model's context (`max_position_embeddings`) is an `InputError`; a prompt
  of length L leaves room for `context - L + 1` new tokens, and `max_new_tokens` is clamped to that, rather
  than run positions the model was not trained on.
- Sampling follows transformers' order: logits / temperature, then top-k, then top-p (nucleus: keep the most
  likely tokens while the probability of the tokens before them is below p, so the first is always kept),
  then a categorical draw with key `fold_in(key(seed), step)`. Temperature 0 is greedy (argmax), a separate
  program with no random numbers, so greedy output is exactly the argmax at each step.
- Prefill needs logits at the last position only. The unembedding (an `EmbeddingDecode`, or a `Linear` with a
  "vocabulary" output axis: LLaMA-like, GPT-2 and GPT-NeoX models all have one) gets a layer before it that
  keeps that position, found with `pz.select` by what it computes rather than where it sits. For SmolLM2 the
  unembedding holds 28M of the 135M weights: logits at every position would add about a quarter to the
  prefill's FLOPs. A model without such a layer still works, computing logits everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from penzai import pz
from penzai.models.transformer import model_parts, sampling_mode

from jaxinterp.errors import InputError
from jaxinterp.hf import read_json

PAD = -1
MIN_BUCKET = 8


def bucket(n: int) -> int:
    """The compiled length for `n` tokens: the next power of two, at least `MIN_BUCKET`."""
    return max(MIN_BUCKET, 1 << max(0, n - 1).bit_length())


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """How to pick new tokens.

    Attributes:
      max_new_tokens: new tokens per prompt at most (an EOS stops a row earlier).
      temperature: 0 = greedy (argmax); otherwise logits are divided by it before sampling.
      top_k: sample among the k most likely tokens only (None = all). Ignored when greedy.
      top_p: nucleus sampling: the most likely tokens whose preceding probability mass is below p (None = 1).
      seed: seed of the sampling key (greedy decoding uses no randomness).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise InputError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise InputError(f"top_k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclasses.dataclass(frozen=True)
class _Sampler:
    """The static part of a `SamplingConfig`: what changes the compiled program."""

    greedy: bool
    top_k: int | None
    top_p: bool

    @classmethod
    def of(cls, config: SamplingConfig, vocab_size: int) -> _Sampler:
        if config.temperature == 0:
            return cls(True, None, False)
        top_k = None if config.top_k is None or config.top_k >= vocab_size else config.top_k
        return cls(False, top_k, config.top_p is not None and config.top_p < 1)


@dataclasses.dataclass(frozen=True)
class Generation:
    """What `Generator.__call__` returns.

    Attributes:
      tokens: per prompt, the new token ids, ending with the first EOS id if one was generated.
      first_token_seconds: wall time from the call to the first new token of every row (prefill; includes
        compilation on a first call).
      seconds: wall time of the whole call.
    """

    tokens: tuple[tuple[int, ...], ...]
    first_token_seconds: float
    seconds: float


def _pick(
    logits: Float[Array, "batch vocabulary"],
    key: jax.Array,
    temperature: Float[Array, ""],
    top_p: Float[Array, ""],
    sampler: _Sampler,
) -> Int[Array, " batch"]:
    """One new token per row: argmax, or a draw after temperature, top-k and top-p."""
    logits = logits.astype(jnp.float32)
    if sampler.greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / temperature
    if sampler.top_k is None and not sampler.top_p:
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    values, index = jax.lax.top_k(logits, sampler.top_k or logits.shape[-1])  # sorted, most likely first
    if sampler.top_p:
        probs = jax.nn.softmax(values, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs
        values = jnp.where(before < top_p, values, -jnp.inf)
    choice = jax.random.categorical(key, values, axis=-1)
    return jnp.take_along_axis(index, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)


@pz.pytree_dataclass
class _LastPosition(pz.nn.Layer):
    """Keeps the last position of the "seq" axis: {..., seq, ...} -> {..., seq=1, ...}."""

    def __call__(self, x: pz.nx.NamedArray, **side_inputs) -> pz.nx.NamedArray:
        return x[{"seq": pz.slice[-1:]}]


def _unembed_last_position_only(model: model_parts.TransformerLM) -> model_parts.TransformerLM:
    """Puts `_LastPosition` before every layer that makes logits (an `EmbeddingDecode`, or a `Linear` whose outputs
    include "vocabulary"); a model with neither is returned unchanged and computes logits everywhere."""
    return (
        pz.select(model)
        .at_instances_of(pz.nn.EmbeddingDecode | pz.nn.Linear)
        .where(lambda layer: isinstance(layer, pz.nn.EmbeddingDecode) or "vocabulary" in layer.output_axes)
        .apply(lambda layer: pz.nn.Sequential([_LastPosition(), layer]))
    )


def _caching(model: model_parts.TransformerLM, batch: int, cache_len: int):
    """(caching model with state slots, initial frozen state: empty caches, end index 0)."""
    lm = sampling_mode.KVCachingTransformerLM.from_uncached(model, cache_len, {"batch": batch}, pad_id=PAD)
    return pz.unbind_state_vars(lm, freeze=True)


def _last_logits(logits: pz.nx.NamedArray) -> Float[Array, "batch vocabulary"]:
    return logits.unwrap("batch", "seq", "vocabulary")[:, -1]


@jax.jit(static_argnames=("cache_len", "sampler"))
def _prefill(model, tokens, key, temperature, top_p, *, cache_len: int, sampler: _Sampler):
    """Runs the padded prompts {batch, P} through the caching model; returns (cache state, first tokens)."""
    slots, state = _caching(_unembed_last_position_only(model), tokens.shape[0], cache_len)
    logits, state = slots.stateless_call(state, pz.nx.wrap(tokens).tag("batch", "seq"))
    first = _pick(_last_logits(logits), jax.random.fold_in(key, 0), temperature, top_p, sampler)
    return state, first


@jax.jit(static_argnames=("cache_len", "n_bucket", "sampler"))
def _decode(model, state, first, eos, max_new, key, temperature, top_p, *, cache_len, n_bucket, sampler):
    """The decode loop; returns the new tokens {batch, n_bucket} (PAD after a row's EOS and past the end)."""
    slots, _ = _caching(model, first.shape[0], cache_len)
    out = jnp.full((first.shape[0], n_bucket), PAD, jnp.int32).at[:, 0].set(first)

    def more(carry):
        step, _, _, done, _ = carry
        return (step < max_new) & ~jnp.all(done)

    def step_once(carry):
        step, state, token, done, out = carry
        logits, state = slots.stateless_call(state, pz.nx.wrap(token[:, None]).tag("batch", "seq"))
        token = _pick(_last_logits(logits), jax.random.fold_in(key, step), temperature, top_p, sampler)
        token = jnp.where(done, PAD, token)
        out = jax.lax.dynamic_update_slice(out, token[:, None], (0, step))
        return step + 1, state, token, done | jnp.isin(token, eos), out

    carry = (jnp.int32(1), state, first, jnp.isin(first, eos), out)
    return jax.lax.while_loop(more, step_once, carry)[-1]


@dataclasses.dataclass(frozen=True)
class Generator:
    """A model ready to generate: frozen parameters on the device, its EOS ids and context length.

    Attributes:
      model: the `TransformerLM` with frozen parameters (`pz.freeze_variables`), mapping tokens {batch, seq}
        to logits {batch, seq, vocabulary}.
      eos_ids: token ids that end a row's generation (none: always `max_new_tokens`).
      context: the model's context length (None: unchecked).
    """

    model: model_parts.TransformerLM
    eos_ids: tuple[int, ...] = ()
    context: int | None = None

    @classmethod
    def from_model(
        cls, model: model_parts.TransformerLM, eos_ids: Sequence[int] = (), context: int | None = None
    ) -> Generator:
        """Freezes `model`'s parameters and places them on the default device once."""
        return cls(jax.device_put(pz.freeze_variables(model)), tuple(int(i) for i in eos_ids), context)

    @classmethod
    def from_folder(cls, folder: str | Path, dtype: Any = np.float32) -> Generator:
        """Loads a HF checkpoint folder with `load_pretrained`; EOS ids and context come from its configs."""
        from jaxinterp.mech.models.load import checkpoint_config, load_pretrained

        context = context_of(checkpoint_config(folder))
        return cls.from_model(load_pretrained(folder, dtype), eos_ids_of(folder), context)

    def __call__(self, prompts: Sequence[Sequence[int]], config: SamplingConfig = SamplingConfig()) -> Generation:
        """Continues each prompt (a list of token ids); all prompts run as one batch.

        Raises:
          InputError: no prompts, an empty prompt, a token id outside the vocabulary, or a prompt longer than
            the context.
        """
        rows = [[int(t) for t in prompt] for prompt in prompts]
        vocab = self.model.metadata.vocab_size
        if not rows or not all(rows):
            raise InputError("generation needs at least one prompt, and every prompt at least one token")
        if any(t < 0 or t >= vocab for row in rows for t in row):
            raise InputError(f"a prompt token id is outside the vocabulary [0, {vocab})")
        longest = max(map(len, rows))
        max_new = config.max_new_tokens
        if self.context is not None:
            check_prompt_length(longest, self.context)
            max_new = min(max_new, self.context - longest + 1)
        sampler = _Sampler.of(config, vocab)
        p_len, n_len = bucket(longest), bucket(max_new)
        tokens = np.full((len(rows), p_len), PAD, np.int32)
        for i, row in enumerate(rows):
            tokens[i, p_len - len(row) :] = row
        key = jax.random.key(config.seed)
        temperature = jnp.float32(config.temperature or 1.0)
        top_p = jnp.float32(config.top_p or 1.0)
        static = {"cache_len": p_len + n_len, "sampler": sampler}

        start = time.perf_counter()
        state, first = _prefill(self.model, tokens, key, temperature, top_p, **static)
        first = np.asarray(first)
        first_seconds = time.perf_counter() - start
        if max_new == 1:
            out = first[:, None]
        else:
            eos = jnp.asarray(self.eos_ids, jnp.int32)
            args = (self.model, state, first, eos, jnp.int32(max_new), key, temperature, top_p)
            out = np.asarray(_decode(*args, n_bucket=n_len, **static))
        seconds = time.perf_counter() - start
        return Generation(tuple(self._cut(row) for row in out), first_seconds, seconds)

    def _cut(self, row: np.ndarray) -> tuple[int, ...]:
        """The row's tokens up to and including its first EOS, without padding."""
        kept = []
        for token in row.tolist():
            if token == PAD:
                break
            kept.append(token)
            if token in self.eos_ids:
                break
        return tuple(kept)


def check_prompt_length(n_tokens: int, context: int | None) -> None:
    """Raises `InputError` when a prompt of `n_tokens` does not fit the model's context."""
    if context is not None and n_tokens > context:
        raise InputError(f"the prompt has {n_tokens} tokens, more than the model's context of {context}")


def context_of(config: dict[str, Any]) -> int | None:
    """The context length a HF `config.json` declares (LLaMA/NeoX `max_position_embeddings`, GPT-2 `n_positions`)."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        if isinstance(config.get(name), int):
            return config[name]
    return None


def eos_ids_of(folder: str | Path) -> tuple[int, ...]:
    """End-of-sequence ids as transformers' `generate` takes them: `generation_config.json`, else `config.json`
    (a GGUF file: its tokenizer metadata's EOS id)."""
    from jaxinterp.mech.models.load import checkpoint_config

    if not Path(folder).is_dir():
        value = checkpoint_config(folder).get("eos_token_id")
        return () if value is None else (value,)
    for name in ("generation_config.json", "config.json"):
        if (Path(folder) / name).is_file():
            value = read_json(Path(folder) / name).get("eos_token_id")
            if value is not None:
                return tuple(value) if isinstance(value, list) else (value,)
    return ()
