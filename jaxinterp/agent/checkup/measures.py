"""Fidelity and diversity of generated drawings, given any recogniser's scores and embeddings.

The paper (section "generation") measures
- **fidelity** by retrieval: a CLIP-style model scores the drawing against the captions of every concept in
  its group, and the drawing counts as faithful when its own caption ranks first. We report top-1 retrieval
  accuracy and the mean percentile of the true caption (1 = ranked first, 0 = ranked last; the average
  over all other captions of "scored below the true one"), which still moves when the top-1 does not;
- **diversity** of several drawings of one concept as their spread in the recogniser's feature space: the
  mean pairwise cosine distance (0 when all samples look alike to it).

The exact definitions in the paper could not be checked (notes: [mem]); these are the standard forms.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int


def fidelity(scores: Float[np.ndarray, "n k"], truth: Int[np.ndarray, " n"]) -> dict[str, float]:
    """Top-1 retrieval accuracy and mean percentile of the true caption among `k` captions.

    Args:
        scores: Each drawing's score for each caption (higher = more alike).
        truth: The index of each drawing's own caption.
    """
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth)
    if len(scores) == 0:
        return {"top1": float("nan"), "percentile": float("nan"), "n": 0}
    own = scores[np.arange(len(scores)), truth][:, None]
    others = scores.shape[1] - 1
    below = (scores < own).sum(1) + 0.5 * ((scores == own).sum(1) - 1)  # ties count half
    top1 = (scores.argmax(1) == truth) & ((scores == own).sum(1) == 1)
    return {
        "top1": float(top1.mean()),
        "percentile": float((below / max(others, 1)).mean()),
        "n": len(scores),
    }


def diversity(embeddings: Float[np.ndarray, "n d"]) -> float:
    """Mean pairwise cosine distance between the embeddings of samples of one concept (nan below 2 samples)."""
    e = np.asarray(embeddings, np.float64)
    if len(e) < 2:
        return float("nan")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    cos = e @ e.T
    n = len(e)
    return float((1.0 - cos)[~np.eye(n, dtype=bool)].mean())
