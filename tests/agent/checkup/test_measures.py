"""Fidelity (retrieval rank) and diversity (pairwise cosine distance): exact values on small cases."""

import numpy as np
import pytest

from jaxinterp.agent.checkup import measures


def test_fidelity_top1_and_percentile():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.2, 0.3]])
    truth = np.array([0, 2, 0])
    # Drawing 0: first of 3 (percentile 1); drawing 1: second (0.5); drawing 2: last (0).
    assert measures.fidelity(scores, truth) == {"top1": pytest.approx(1 / 3), "percentile": 0.5, "n": 3}


def test_fidelity_ties_are_not_a_hit_and_count_half():
    result = measures.fidelity(np.array([[1.0, 1.0, 0.0]]), np.array([0]))
    assert result == {"top1": 0.0, "percentile": 0.75, "n": 1}


def test_diversity_of_identical_orthogonal_and_opposite_samples():
    assert measures.diversity(np.ones((3, 4))) == pytest.approx(0.0)
    assert measures.diversity(np.eye(3)) == pytest.approx(1.0)
    assert measures.diversity(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(2.0)
    assert np.isnan(measures.diversity(np.ones((1, 4))))
