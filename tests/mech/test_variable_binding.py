"""The variable-binding study: kept-only accuracy is exact at its ends, and the whole study runs end to end
on a tiny model and writes its report."""

import dataclasses
import json

import jax
from penzai.models.transformer.variants import llamalike_common as llc

from jaxinterp.mech import variable_binding as vb
from jaxinterp.mech.circuits import mean_ablation
from jaxinterp.mech.tasks import get_task
from jaxinterp.mech.tasks.arithmetic_desiderata import value_pairs
from jaxinterp.mech.train import TrainConfig

TASK = get_task("arithmetic")


def _model(seed=0):
    config = llc.LlamalikeTransformerConfig(
        num_kv_heads=2,
        query_head_multiplier=1,
        embedding_dim=16,
        projection_dim=8,
        mlp_hidden_dim=32,
        num_decoder_blocks=2,
        vocab_size=len(TASK.vocabulary()),
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )
    return llc.build_llamalike_transformer(config, init_base_rng=jax.random.key(seed))


def test_kept_only_accuracy_with_everything_kept_is_the_model_and_with_nothing_uses_means():
    model = _model()
    examples, means = TASK.sample(0, 32), TASK.sample(1, 32)
    every = [(layer, head) for layer in range(2) for head in range(2)]
    plain = mean_ablation.accuracy(mean_ablation.last_logits(model, examples.tokens), examples.answers)
    assert vb.kept_only_accuracy(model, examples.tokens, examples.answers, means.tokens, every, [0, 1]) == plain
    # With nothing kept and the prompts as their own "mean" over a batch of one, nothing changes either.
    one = examples.tokens[:1]
    kept_nothing = vb.kept_only_accuracy(model, one, examples.answers[:1], one, [], [])
    assert kept_nothing == mean_ablation.accuracy(mean_ablation.last_logits(model, one), examples.answers[:1])


def test_retrieval_kept_accuracy_is_exact_at_both_ends():
    model = _model(1)
    pairs = value_pairs(TASK, 3, 32)
    every = [(layer, head) for layer in range(2) for head in range(2)]
    base_logits = mean_ablation.last_logits(model, pairs.base)
    # Every head kept: nothing is patched, so this is the model's own accuracy on the base prompts.
    assert vb.retrieval_kept_accuracy(model, pairs, every) == mean_ablation.accuracy(base_logits, pairs.base_answer)
    # Source = base: patching every head with its own activation changes nothing either.
    same = dataclasses.replace(pairs, source=pairs.base)
    assert vb.retrieval_kept_accuracy(model, same, []) == mean_ablation.accuracy(base_logits, pairs.base_answer)


def test_study_end_to_end_on_a_tiny_model(tmp_path):
    cfg = vb.VariableBindingConfig(
        model=TrainConfig(task="arithmetic", size="tiny", layers=2, d_model=32, steps=40, batch_size=32),
        train_pairs=32,
        test_pairs=32,
        sparsities=(0.09,),
        iterations=5,
        seeds=(0,),
    )
    page = vb.run_study(cfg, tmp_path, show_progress=False)
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    (row,) = numbers["results"]
    assert row["all_components"] == 2 * 4 + 2 and 0 <= row["components"] <= row["all_components"]
    keys = ("value_accuracy", "invariance_accuracy", "kept_only_accuracy", "retrieval_kept_accuracy")
    assert all(0.0 <= row[k] <= 1.0 for k in (*keys, "random_retrieval_kept_accuracy"))
    assert "9 heads + 1 MLP" in page.read_text() and (tmp_path / "accuracies.png").is_file()
