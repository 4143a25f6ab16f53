"""Circuit evaluation by position-wise mean ablation of head outputs (Prakash et al. 2024, §1.5 of the notes).

The site is "head_out", each head's output before the output projection (the `o_proj` input the paper's
code hooks). For a circuit run every head output that is not a circuit node is replaced by its mean over a
batch of "mean prompts", taken separately at each position: at positions outside the circuit's roles all
heads are ablated, at the role positions only the heads that are not in the circuit for that role. The
metric is top-1 accuracy at the last position; faithfulness = accuracy(circuit) / accuracy(full model).
Paper (LLaMA-7B, 500 prompts, means over 500 prompts whose query label is a random letter): 0.66 / 0.66,
random circuits of the same group sizes (10 draws) about 0.00.

Decisions:
  * A keep mask is a plain boolean numpy array [batch, layer, seq, heads] (`Circuit.keep_mask`), so any
    variant (knock-outs for completeness: `keep & ~other_keep`) is a numpy expression away.
  * Forward passes are jitted on the frozen model and run `chunk` prompts at a time; the last chunk is
    padded (its extra rows dropped), so one program is compiled per (model, chunk, seq).
  * Models must have one "heads" axis (multi-head attention); grouped-query models raise ValueError.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Bool, Float, Int
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.circuits.nodes import Circuit, random_circuit

SITE = "head_out"


def token_rows(tokens) -> Int[np.ndarray, "batch seq"]:
    """Token ids as a numpy array, from a {batch, seq} named array or any array."""
    if isinstance(tokens, pz.nx.NamedArray):
        tokens = tokens.unwrap("batch", "seq")
    return np.asarray(tokens, np.int32)


def head_axes(model, tokens) -> tuple[int, int, int]:
    """(layers, seq, heads) of the model's head outputs on `tokens`, from shapes only (no forward pass)."""
    one = pz.nx.wrap(jnp.asarray(token_rows(tokens)[:1])).tag("batch", "seq")
    shape = jax.eval_shape(lambda m, t: patching.capture(m, t, SITE), pz.freeze_params(model), one).named_shape
    if "heads" not in shape:
        raise ValueError(
            f"circuit evaluation needs one 'heads' axis (multi-head attention); head outputs have {dict(shape)}"
        )
    return shape["layer"], shape["seq"], shape["heads"]


def run_in_chunks(
    run: Callable[[jax.Array, jax.Array | None], jax.Array],
    tokens,
    mask: np.ndarray | None,
    chunk: int,
) -> np.ndarray:
    """`run(tokens_chunk, mask_chunk)` over the batch, `chunk` rows at a time, outputs concatenated on rows.

    The last chunk is padded (token row 0, all-False mask rows) so that every call has one shape.
    """
    rows = token_rows(tokens)
    count = rows.shape[0]
    chunk = max(1, min(chunk, count))
    pad = -count % chunk
    rows = np.concatenate([rows, np.repeat(rows[:1], pad, axis=0)])
    if mask is not None:
        mask = np.concatenate([np.asarray(mask, bool), np.zeros((pad, *mask.shape[1:]), bool)])
    outputs = [
        np.asarray(run(jnp.asarray(rows[i : i + chunk]), None if mask is None else jnp.asarray(mask[i : i + chunk])))
        for i in range(0, rows.shape[0], chunk)
    ]
    return np.concatenate(outputs)[:count]


def accuracy(logits: Float[np.ndarray, "batch vocabulary"], answers: Int[np.ndarray, " batch"]) -> float:
    """Top-1 accuracy: argmax of each prompt's logits == its answer."""
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(answers)))


def _wrap_tokens(rows: jax.Array) -> pz.nx.NamedArray:
    return pz.nx.wrap(rows).tag("batch", "seq")


def _wrap_heads(mask: jax.Array) -> pz.nx.NamedArray:
    return pz.nx.wrap(mask).tag("batch", "layer", "seq", "heads")


@jax.jit
def _head_sum(model, rows, weights):
    heads = patching.capture(model, _wrap_tokens(rows), SITE)
    return pz.nx.nmap(jnp.sum)((heads * pz.nx.wrap(weights).tag("batch")).untag("batch"))


@jax.jit
def _last_logits(model, rows):
    return model(_wrap_tokens(rows))[{"seq": -1}].unwrap("batch", "vocabulary")


@jax.jit
def _ablated_last_logits(sited, rows, mean_heads, keep):
    drop = pz.nx.nmap(jnp.logical_not)(_wrap_heads(keep))
    logits = sited(_wrap_tokens(rows), patch_source=mean_heads, patch_mask=drop)
    return logits[{"seq": -1}].unwrap("batch", "vocabulary")


def mean_head_outputs(model, tokens, chunk: int = 64) -> pz.nx.NamedArray:
    """Position-wise mean of every head output over the prompts `tokens`: {layer, seq, heads, projection}."""
    head_axes(model, tokens)
    frozen = pz.freeze_params(model)
    rows = token_rows(tokens)
    count = rows.shape[0]
    chunk = max(1, min(chunk, count))
    pad = -count % chunk
    rows = np.concatenate([rows, np.repeat(rows[:1], pad, axis=0)])
    weights = np.concatenate([np.ones(count, np.float32), np.zeros(pad, np.float32)])
    total = None
    for i in range(0, rows.shape[0], chunk):
        part = _head_sum(frozen, jnp.asarray(rows[i : i + chunk]), jnp.asarray(weights[i : i + chunk]))
        total = part if total is None else total + part
    return total / count


def last_logits(model, tokens, chunk: int = 64) -> Float[np.ndarray, "batch vocabulary"]:
    """The unmodified model's logits at the last position."""
    frozen = pz.freeze_params(model)
    return run_in_chunks(lambda rows, _: _last_logits(frozen, rows), tokens, None, chunk)


def circuit_logits(
    model,
    tokens,
    mean_heads: pz.nx.NamedArray,
    keep: Bool[np.ndarray, "batch layer seq heads"],
    chunk: int = 64,
) -> Float[np.ndarray, "batch vocabulary"]:
    """Last-position logits with every head output outside `keep` replaced by `mean_heads` (same seq)."""
    layers, seq, heads = head_axes(model, tokens)
    if mean_heads.named_shape["seq"] != seq:
        raise ValueError(f"mean head outputs have {mean_heads.named_shape['seq']} positions, prompts {seq}")
    if keep.shape != (token_rows(tokens).shape[0], layers, seq, heads):
        raise ValueError(f"keep mask {keep.shape} != [batch, layer, seq, heads] = {(len(keep), layers, seq, heads)}")
    sited = patching.with_sites(pz.freeze_params(model), SITE)
    return run_in_chunks(lambda rows, m: _ablated_last_logits(sited, rows, mean_heads, m), tokens, keep, chunk)


def circuit_accuracy(
    model,
    tokens,
    answers: Int[np.ndarray, " batch"],
    mean_heads: pz.nx.NamedArray,
    keep: Bool[np.ndarray, "batch layer seq heads"],
    chunk: int = 64,
) -> float:
    """Top-1 accuracy at the last position with the head outputs outside `keep` mean-ablated."""
    return accuracy(circuit_logits(model, tokens, mean_heads, keep, chunk), answers)


def faithfulness(
    model,
    tokens,
    answers: Int[np.ndarray, " batch"],
    mean_heads: pz.nx.NamedArray,
    circuit: Circuit,
    positions: dict[str, Int[np.ndarray, " batch"]],
    chunk: int = 64,
) -> dict[str, float]:
    """full_accuracy, circuit_accuracy and faithfulness = circuit / full (nan when the full model scores 0)."""
    layers, seq, heads = head_axes(model, tokens)
    full = accuracy(last_logits(model, tokens, chunk), answers)
    kept = circuit_accuracy(model, tokens, answers, mean_heads, circuit.keep_mask(positions, layers, heads, seq), chunk)
    return {"full_accuracy": full, "circuit_accuracy": kept, "faithfulness": kept / full if full else float("nan")}


def random_baseline(
    model,
    tokens,
    answers: Int[np.ndarray, " batch"],
    mean_heads: pz.nx.NamedArray,
    circuit: Circuit,
    positions: dict[str, Int[np.ndarray, " batch"]],
    draws: int = 10,
    seed: int = 0,
    chunk: int = 64,
    outside: bool = False,
) -> dict:
    """Circuit accuracy of `draws` random circuits with `circuit`'s group sizes (`random_circuit`, one
    generator seeded with `seed`, drawn in sequence; `outside`: only heads that are not circuit nodes):
    mean, std and every draw's accuracy."""
    layers, seq, heads = head_axes(model, tokens)
    rng = np.random.default_rng(seed)
    scores = [
        circuit_accuracy(
            model,
            tokens,
            answers,
            mean_heads,
            random_circuit(circuit, layers, heads, rng, outside).keep_mask(positions, layers, heads, seq),
            chunk,
        )
        for _ in range(draws)
    ]
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "accuracies": scores}
