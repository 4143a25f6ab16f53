"""`boxes`: entity tracking, the word-level simplification of Kim & Schuster (ACL 2023) used by Prakash et al.
(ICLR 2024, "Fine-Tuning Enhances Existing Mechanisms").

Prompt (3 boxes; the paper uses 7):

    <bos> the apple is in box B , the pen is in box F , the cup is in box A . box F contains the  -> pen

One segment `the {object} is in box {label}` per box (7 words with its `,` or the final `.`), then the
query `box {label} contains the`; no state-changing operations, the query last (so the model cannot
string-match the answer). Objects are distinct nouns from `OBJECTS`, labels distinct upper-case letters;
the queried box is uniform over the boxes. Prompt length: 1 + 7 * num_boxes + 4.

Patching pairs keep the context and change only the query label to another box's label (position
last - 2, the paper's "query label" token); the corrupted answer is that box's object.

Training (`training_batch`, used by `jaxinterp mech train`; `sample` and `patching_pairs` always give the
paper format above): trained on the paper format alone, small models stay on the chance plateau (they
answer one of the objects in the context; see the README). Three changes, measured together, get past it:

  * Auxiliary targets at the label tokens: each context label is trained to predict its own object
    (`label_target_weight`) and the query label to predict the answer (`query_target_weight`), instead of
    the next word there. This supervises the first hops on their own (the object comes BEFORE its label, so
    the label must gather it; the query label must then find its context occurrence) rather than only
    through the final answer.
  * A mixture of prompt formats (`train_formats`): `short` (`apple B , pen F . F` -> pen: no filler words,
    the query label last), `label_query` (the paper's context, the query label last) and `paper`; the short
    forms are learned first and the paper format then reuses their circuit.
  * A mixture of box counts: every training prompt has `train_min_boxes`..`num_boxes` boxes.

The other prompt positions keep their next-word targets with weight `prompt_weight`, the answer weight 1.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import BOS, PAD, SPECIAL_TOKENS, Examples, PatchingPairs, TrainingBatch, encode, rng

# Common concrete nouns (single words), in the spirit of the paper's objects.csv.
OBJECTS = (
    "apple", "bag", "ball", "bell", "book", "bottle", "bowl", "brush", "camera", "chair",
    "card", "coin", "cup", "dish", "document", "drum", "fan", "flower", "glass", "hat",
    "key", "lamp", "letter", "map", "pen", "phone", "plate", "ring", "shoe", "watch",
)  # fmt: skip
LABELS = tuple(string.ascii_uppercase)
CONTEXT_WORDS = ("the", "is", "in", "box", ",", ".", "contains")
OBJ, LAB = "{object}", "{label}"
# Training formats: (words of one context segment before its `,` / `.`, words of the query).
TRAIN_FORMATS = {
    "paper": (("the", OBJ, "is", "in", "box", LAB), ("box", LAB, "contains", "the")),
    "label_query": (("the", OBJ, "is", "in", "box", LAB), (LAB,)),
    "short": ((OBJ, LAB), (LAB,)),
}


@dataclasses.dataclass(frozen=True)
class BoxesTask:
    """Entity tracking over `num_boxes` boxes (see the module docstring).

    Attributes:
      num_boxes: boxes per prompt (Prakash et al.: 7; 3 is enough for the small in-repo models).
      train_formats: prompt formats mixed (uniformly) into training batches, names of `TRAIN_FORMATS`;
        `("paper",)` trains on the evaluation format only (stays on the chance plateau).
      train_min_boxes: training prompts have `train_min_boxes`..`num_boxes` boxes (uniform).
      label_target_weight: loss weight of the auxiliary target at each context label (its object).
      query_target_weight: loss weight of the auxiliary target at the query label (the answer), in the
        formats where the query label is not the last token.
      prompt_weight: loss weight of the other prompt positions' next-word targets (the answer has 1).
    """

    num_boxes: int = 3
    train_formats: tuple[str, ...] = ("short", "label_query", "paper")
    train_min_boxes: int = 2
    label_target_weight: float = 1.0
    query_target_weight: float = 1.0
    prompt_weight: float = 0.05
    name: str = "boxes"

    def __post_init__(self):
        if not 2 <= self.num_boxes <= min(len(OBJECTS), len(LABELS)):
            raise ValueError(f"boxes: num_boxes must be in 2..{min(len(OBJECTS), len(LABELS))}, got {self.num_boxes}")
        object.__setattr__(self, "train_formats", tuple(self.train_formats))  # JSON settings give lists
        unknown = [f for f in self.train_formats if f not in TRAIN_FORMATS]
        if not self.train_formats or unknown:
            raise ValueError(f"boxes: train_formats must name some of {', '.join(TRAIN_FORMATS)}, got {unknown}")
        if not 2 <= self.train_min_boxes <= self.num_boxes:
            raise ValueError(f"boxes: train_min_boxes must be in 2..num_boxes, got {self.train_min_boxes}")
        weights = (self.label_target_weight, self.query_target_weight, self.prompt_weight)
        if min(weights) < 0:
            raise ValueError(f"boxes: loss weights must be >= 0, got {weights}")

    def vocabulary(self) -> list[str]:
        return [*SPECIAL_TOKENS, *CONTEXT_WORDS, *LABELS, *OBJECTS]

    def settings(self) -> dict[str, Any]:
        return {"num_boxes": self.num_boxes}

    def _draw(self, gen: np.random.Generator) -> tuple[list[str], list[str], int]:
        objects = [OBJECTS[i] for i in gen.choice(len(OBJECTS), self.num_boxes, replace=False)]
        labels = [LABELS[i] for i in gen.choice(len(LABELS), self.num_boxes, replace=False)]
        return objects, labels, int(gen.integers(self.num_boxes))

    def _prompt(self, objects: list[str], labels: list[str], query: int) -> list[str]:
        words = [BOS]
        for i, (obj, label) in enumerate(zip(objects, labels, strict=True)):
            words += ["the", obj, "is", "in", "box", label, "," if i < self.num_boxes - 1 else "."]
        return words + ["box", labels[query], "contains", "the"]

    def sample(self, seed: int, n: int) -> Examples:
        gen, prompts, answers = rng(seed), [], []
        for _ in range(n):
            objects, labels, query = self._draw(gen)
            prompts.append(self._prompt(objects, labels, query))
            answers.append([objects[query]])
        vocab = self.vocabulary()
        return Examples(encode(vocab, prompts), encode(vocab, answers)[:, 0])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        gen, clean, corrupted, correct, wrong = rng(seed), [], [], [], []
        for _ in range(n):
            objects, labels, query = self._draw(gen)
            other = (query + 1 + int(gen.integers(self.num_boxes - 1))) % self.num_boxes
            clean.append(self._prompt(objects, labels, query))
            corrupted.append(self._prompt(objects, labels, other))
            correct.append([objects[query]])
            wrong.append([objects[other]])
        vocab = self.vocabulary()
        return PatchingPairs(
            encode(vocab, clean), encode(vocab, corrupted), encode(vocab, correct)[:, 0], encode(vocab, wrong)[:, 0]
        )

    def training_batch(self, seed: int, n: int) -> TrainingBatch:
        """`n` training prompts in the mixture of `train_formats` and box counts, with their per-position
        targets and weights (see the module docstring); deterministic from `seed`, one shape for every seed.
        """
        gen, ids = rng(seed), {w: i for i, w in enumerate(self.vocabulary())}
        length = max(1 + len(s) * self.num_boxes + self.num_boxes + len(q) for s, q in TRAIN_FORMATS.values())
        tokens = np.full((n, length), ids[PAD], np.int32)
        targets, weights = np.zeros((n, length), np.int32), np.zeros((n, length), np.float32)
        answer_index = np.zeros(n, np.int32)
        for row in range(n):
            segment, query_words = TRAIN_FORMATS[self.train_formats[int(gen.integers(len(self.train_formats)))]]
            boxes = int(gen.integers(self.train_min_boxes, self.num_boxes + 1))
            objects = [OBJECTS[i] for i in gen.choice(len(OBJECTS), boxes, replace=False)]
            labels = [LABELS[i] for i in gen.choice(len(LABELS), boxes, replace=False)]
            query = int(gen.integers(boxes))
            words, aux = [BOS], {}  # aux: position -> (auxiliary target word, weight)
            for i, (obj, label) in enumerate(zip(objects, labels, strict=True)):
                for w in segment:
                    if w == LAB:
                        aux[len(words)] = (obj, self.label_target_weight)
                    words.append(obj if w == OBJ else label if w == LAB else w)
                words.append("," if i < boxes - 1 else ".")
            for w in query_words:
                if w == LAB and len(query_words) > 1:
                    aux[len(words)] = (objects[query], self.query_target_weight)
                words.append(labels[query] if w == LAB else w)
            words.append(objects[query])
            seq = [ids[w] for w in words]
            size = len(seq) - 1
            tokens[row, :size] = seq[:-1]
            targets[row, :size] = seq[1:]
            weights[row, :size] = self.prompt_weight
            weights[row, size - 1] = 1.0
            for pos, (word, weight) in aux.items():
                targets[row, pos], weights[row, pos] = ids[word], weight
            answer_index[row] = size - 1
        return TrainingBatch(tokens, targets, weights, answer_index)
