"""Entity-tracking datasets: positions point at the right words, noise carries no query, and every
desideratum's target is the object its rule names (and differs from the other rules' targets)."""

import numpy as np
import pytest

from jaxinterp.mech.tasks import boxes_counterfactuals as cf
from jaxinterp.mech.tasks import get_task
from jaxinterp.mech.tasks.base import decode

TASK = get_task("boxes", num_boxes=4)
VOCAB = TASK.vocabulary()


def _words(examples, i):
    return decode(VOCAB, examples.tokens[i])


def test_role_positions_point_at_the_query_label_and_its_context_occurrence():
    ex = cf.sample(TASK, 0, 40)
    assert ex.tokens.shape == (40, cf.prompt_length(TASK))
    for i in range(40):
        words, q = _words(ex, i), ex.query_index[i]
        pos = {r: ex.positions[r][i] for r in cf.ROLES}
        assert words[pos["query_label"]] == words[pos["prev_query_label"]]
        assert words[pos["last"]] == "the" and words[pos["last"] - 1] == "contains"
        assert VOCAB[ex.answers[i]] == words[int(cf.object_position(q))]
        assert [words[pos[r]] for r in ("queried_is", "queried_in", "queried_box")] == ["is", "in", "box"]
        assert pos["queried_box"] + 1 == pos["prev_query_label"]
        assert sum(w == words[pos["query_label"]] for w in words) == 2  # labels are distinct


def test_noise_and_mean_prompts_query_an_absent_label():
    clean, noise = cf.path_patching_pairs(TASK, 1, 30)
    mean = cf.mean_prompts(TASK, 2, 30)
    assert clean.tokens.shape == noise.tokens.shape == mean.tokens.shape
    for examples in (noise, mean):
        for i in range(30):
            words = _words(examples, i)
            labels = {words[int(p)] for p in cf.label_position(range(TASK.num_boxes))}
            assert words[-3] not in labels
    assert not np.array_equal(clean.tokens, cf.path_patching_pairs(TASK, 2, 30)[0].tokens)
    np.testing.assert_array_equal(clean.tokens, cf.path_patching_pairs(TASK, 1, 30)[0].tokens)


@pytest.mark.parametrize("kind", cf.DESIDERATA)
def test_desiderata_targets_follow_their_rule(kind):
    pairs = cf.desiderata_pairs(TASK, kind, 3, 50)
    base, source = pairs.base, pairs.source
    for i in range(50):
        b, s = _words(base, i), _words(source, i)
        b_objects = [b[int(cf.object_position(k))] for k in range(TASK.num_boxes)]
        b_labels = [b[int(cf.label_position(k))] for k in range(TASK.num_boxes)]
        s_objects = [s[int(cf.object_position(k))] for k in range(TASK.num_boxes)]
        sq = int(source.query_index[i])
        rules = {
            "object": s_objects[sq],
            "position": b_objects[sq],
            "label": b_objects[b_labels.index(s[-3])] if s[-3] in b_labels else None,
        }
        assert VOCAB[pairs.targets[i]] == rules[kind]
        assert not set(s_objects) & set(b_objects)
        assert sq != base.query_index[i] and pairs.targets[i] != base.answers[i]
        distinct = [t for t in rules.values() if t is not None]
        assert len(set(distinct)) == len(distinct)  # the three rules disagree, so each is identifiable
        if kind == "label":
            assert b_labels.index(s[-3]) not in (sq, base.query_index[i])
