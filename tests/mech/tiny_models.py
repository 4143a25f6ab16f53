"""Tiny penzai transformers and prompts shared by the mech tests (a helper module, not a test module).

`tiny_llama`: a random 2-layer LLaMA-like model with distinct dimensions. `routed_model`: a hand-built
2-layer model whose only sender -> receiver route is known:

    embedding      writes E = dims 0-1
    layer 0 head 0 reads E, writes A = dims 2-3        layer 0 head 1 reads E, writes B = dims 4-5
    layer 1 head 0 reads A, writes C = dims 6-7        layer 1 head 1 reads B, writes D = dims 8-9
    unembedding    reads C only

(LLaMA-style, 2 layers x 2 heads, width 10, norms replaced by the identity so the residual stream's
sub-spaces do not mix, queries and keys zero so every head averages the positions so far, MLPs off.) So
the only route from the input to the logits is E -> L0H0 -> (value of) L1H0 -> logits.
"""

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz
from penzai.models.transformer.variants import llamalike_common


def tiny_llama(kv_heads=3, query_multiplier=1, layers=2, seed=0):
    config = llamalike_common.LlamalikeTransformerConfig(
        num_kv_heads=kv_heads,
        query_head_multiplier=query_multiplier,
        embedding_dim=24,
        projection_dim=8,
        mlp_hidden_dim=40,
        num_decoder_blocks=layers,
        vocab_size=37,
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )
    return llamalike_common.build_llamalike_transformer(config, init_base_rng=jax.random.key(seed))


def tokens(rows):
    return pz.nx.wrap(jnp.asarray(rows, jnp.int32)).tag("batch", "seq")


CLEAN = tokens([[1, 5, 7, 9, 2], [3, 4, 8, 8, 6]])
CORRUPT = tokens([[1, 6, 2, 3, 2], [3, 9, 1, 8, 5]])


def unwrap_logits(logits):
    return logits.unwrap("batch", "seq", "vocabulary")


# (layer, head) -> (dims read by the value projection, dims written by the output projection).
ROUTES = {(0, 0): ((0, 1), (2, 3)), (0, 1): ((0, 1), (4, 5)), (1, 0): ((2, 3), (6, 7)), (1, 1): ((4, 5), (8, 9))}
VOCAB = 11


def routed_model():
    config = llamalike_common.LlamalikeTransformerConfig(
        num_kv_heads=2,
        query_head_multiplier=1,
        embedding_dim=10,
        projection_dim=2,
        mlp_hidden_dim=4,
        num_decoder_blocks=2,
        vocab_size=VOCAB,
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )
    model = llamalike_common.build_llamalike_transformer(config, init_base_rng=jax.random.key(0))
    model = pz.select(model).at_instances_of(pz.nn.RMSLayerNorm).apply(lambda _: pz.nn.Identity())
    rng = np.random.default_rng(0)

    def weights(parameter):
        label, shape = parameter.label, parameter.value.named_shape
        value = np.zeros(tuple(shape.values()), np.float32)
        layer = int(label.split("block_")[1][0]) if "block_" in label else None
        if label.endswith("embedder.embeddings"):
            value[:, 0:2] = rng.normal(size=(VOCAB, 2))
        elif label.endswith("lm_head.weights"):
            value[6:8, :] = rng.normal(size=(2, VOCAB))
        elif label.endswith("attention/value.weights"):  # {embedding, heads, projection}
            for head in range(2):
                value[list(ROUTES[layer, head][0]), head, :] = rng.normal(size=(2, 2))
        elif label.endswith("attention/output.weights"):  # {heads, projection, embedding}
            for head in range(2):
                value[head, :, list(ROUTES[layer, head][1])] = rng.normal(size=(2, 2))
        # queries, keys and the MLPs stay zero.
        return pz.Parameter(value=pz.nx.wrap(jnp.asarray(value)).tag(*shape), label=label)

    return pz.select(model).at_instances_of(pz.Parameter).apply(weights)


ROUTED_CLEAN = tokens([[1, 5, 7, 9, 2, 4], [3, 4, 8, 8, 6, 10]])
ROUTED_CORRUPT = tokens([[1, 6, 2, 3, 2, 9], [3, 9, 1, 8, 5, 0]])
