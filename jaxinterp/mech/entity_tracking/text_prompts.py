"""The boxes prompts as text, through a pretrained model's own tokenizer, with every role's token position.

Prompt (Kim & Schuster's format as Prakash et al. simplify it, with the conjunction a user writes):

    The ring is in Box Z, the cup is in Box A, and the lamp is in Box D. Box D contains the  -> " lamp"

Segments `the {object} is in Box {label}` are joined by ", " and the last one by ", and " (with 2 boxes:
"The ring is in Box Z, and the lamp is in Box D."); the first "the" is capitalised; the query
`Box {label} contains the` comes last. Decision: the paper's prompts have no "and"; we keep it because it
is the form the issue measured SmolLM2 on (0.47/0.37/0.35/0.25/0.15 on 2/3/4/5/7 boxes) and the more
natural English; `and_before_last=False` gives the paper's form. The text is tokenised as the tokenizer
does by default (SmolLM2 adds no BOS token; one that adds it keeps it at position 0).

Objects and labels must be single tokens with their leading space (" ring", " Z"): the answer is one
token and every prompt of a box count then has one length, so prompts batch without padding and a role
sits at one position per queried box. `vocabulary` keeps the candidates that are single tokens; the
positions are not computed by arithmetic but read from the tokenizer's character offsets (the token that
ends where the word ends), and a prompt whose word does not map to exactly one token, or whose length
differs from the others, is an `InputError`, so a tokenizer that merges across words cannot silently
shift a role.

Roles (those of `tasks.boxes_counterfactuals.ROLES`, so the circuit code runs unchanged): "last",
"query_label" (the query's label), "prev_query_label" (its occurrence in the context), "queried_object",
and the queried segment's "queried_is", "queried_in", "queried_box".

Samplers, pure functions of (seed, n) like the word-level ones: `sample` (evaluation), `path_patching_pairs`
(clean + noise: another context whose query label is a letter absent from it), `mean_prompts` (one prompt
per context, query label absent: the mean-ablation values), `training_batch` (a mixture of box counts,
right-padded to one length, for fine-tuning).
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.mech.tasks.base import rng
from jaxinterp.mech.tasks.boxes import OBJECTS
from jaxinterp.mech.tasks.boxes_counterfactuals import ROLES, EntityExamples

SEGMENT_WORDS = ("object", "is", "in", "box", "label")  # the words of a segment whose tokens we locate
ROLE_OF_WORD = {"object": "queried_object", "is": "queried_is", "in": "queried_in", "box": "queried_box"}


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def single_tokens(tokenizer, words: Sequence[str]) -> tuple[str, ...]:
    """The words that are one known token with a leading space (" ring"), in order, without duplicates."""
    unknown = getattr(tokenizer, "unk_token_id", None)
    keep = []
    for word in words:
        ids = _ids(tokenizer, " " + word)
        if len(ids) == 1 and ids[0] != unknown and word not in keep:
            keep.append(word)
    return tuple(keep)


@dataclasses.dataclass(frozen=True)
class TextBoxes:
    """Boxes prompts of `num_boxes` boxes as text, tokenised by `tokenizer` (see the module docstring).

    Attributes:
      tokenizer: a Hugging Face fast tokenizer (it must return character offsets).
      num_boxes: boxes per prompt (2 .. the number of objects / labels).
      objects, labels: the words drawn from, each one token with a leading space (`vocabulary`).
      and_before_last: join the last segment with ", and " (the issue's form) instead of ", " (the paper's).
    """

    tokenizer: object
    num_boxes: int
    objects: tuple[str, ...]
    labels: tuple[str, ...]
    and_before_last: bool = True

    def __post_init__(self):
        if not 2 <= self.num_boxes <= min(len(self.objects), len(self.labels)):
            raise InputError(
                f"boxes: {self.num_boxes} boxes need that many single-token objects and labels; this tokenizer "
                f"has {len(self.objects)} objects and {len(self.labels)} labels"
            )

    @classmethod
    def for_tokenizer(cls, tokenizer, num_boxes: int, and_before_last: bool = True) -> TextBoxes:
        """`boxes.OBJECTS` and the letters A-Z, keeping those that are single tokens for `tokenizer`."""
        objects, labels = vocabulary(tokenizer)
        return cls(tokenizer, num_boxes, objects, labels, and_before_last)

    def text(self, objects: Sequence[str], labels: Sequence[str], query_label: str) -> tuple[str, dict]:
        """The prompt and the character span (start, end) of each located word: ("object", i) etc."""
        text, spans = "", {}
        for i, (obj, label) in enumerate(zip(objects, labels, strict=True)):
            if i:
                text += ", and " if self.and_before_last and i == len(objects) - 1 else ", "
            words = ["The" if i == 0 else "the", obj, "is", "in", "Box", label]
            for k, word in enumerate(words):
                text += (" " if k else "") + word
                if k:
                    spans[(SEGMENT_WORDS[k - 1], i)] = (len(text) - len(word), len(text))
        text += ". Box"
        spans[("query_label", 0)] = (len(text) + 1, len(text) + 1 + len(query_label))
        return text + f" {query_label} contains the", spans

    def encode(self, contexts: Sequence[tuple[list[str], list[str], int]], query_labels=None) -> EntityExamples:
        """Token ids, answers and role positions of `contexts` = (objects, labels, queried box) each;
        `query_labels` overrides the query's label (noise and mean prompts)."""
        texts, spans = [], []
        for row, (objects, labels, query) in enumerate(contexts):
            label = labels[query] if query_labels is None else query_labels[row]
            text, where = self.text(objects, labels, label)
            texts.append(text)
            spans.append(where)
        encoded = self.tokenizer(texts, return_offsets_mapping=True)
        lengths = {len(ids) for ids in encoded["input_ids"]}
        if len(lengths) != 1:
            raise InputError(f"boxes prompts of {self.num_boxes} boxes tokenise to different lengths {sorted(lengths)}")
        positions = {role: np.zeros(len(contexts), np.int32) for role in ROLES}
        for row, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)):
            query = contexts[row][2]
            at = {key: _token_at(texts[row], ids, offsets, span, self.tokenizer) for key, span in spans[row].items()}
            positions["last"][row] = len(ids) - 1
            positions["query_label"][row] = at[("query_label", 0)]
            positions["prev_query_label"][row] = at[("label", query)]
            for word, role in ROLE_OF_WORD.items():
                positions[role][row] = at[(word, query)]
        answers = [_ids(self.tokenizer, " " + objects[query])[0] for objects, _, query in contexts]
        return EntityExamples(
            tokens=np.asarray(encoded["input_ids"], np.int32),
            answers=np.asarray(answers, np.int32),
            query_index=np.asarray([c[2] for c in contexts], np.int32),
            positions=positions,
        )

    def _draw(self, gen: np.random.Generator, boxes: int | None = None) -> tuple[list[str], list[str], int]:
        boxes = self.num_boxes if boxes is None else boxes
        objects = [self.objects[i] for i in gen.choice(len(self.objects), boxes, replace=False)]
        labels = [self.labels[i] for i in gen.choice(len(self.labels), boxes, replace=False)]
        return objects, labels, int(gen.integers(boxes))

    def _absent(self, gen: np.random.Generator, labels: list[str]) -> str:
        free = [x for x in self.labels if x not in labels]
        return free[int(gen.integers(len(free)))]

    def sample(self, seed: int, n: int) -> EntityExamples:
        gen = rng(seed)
        return self.encode([self._draw(gen) for _ in range(n)])

    def path_patching_pairs(self, seed: int, n: int) -> tuple[EntityExamples, EntityExamples]:
        """(clean, noise): noise prompts are other contexts with an absent letter as the query label."""
        gen = rng(seed)
        clean = [self._draw(gen) for _ in range(n)]
        noise = [self._draw(gen) for _ in range(n)]
        letters = [self._absent(gen, labels) for _, labels, _ in noise]
        return self.encode(clean), self.encode(noise, letters)

    def mean_prompts(self, seed: int, n: int) -> EntityExamples:
        gen = rng(seed)
        contexts = [self._draw(gen) for _ in range(n)]
        return self.encode(contexts, [self._absent(gen, labels) for _, labels, _ in contexts])


def vocabulary(tokenizer) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(objects, labels): `boxes.OBJECTS` and A-Z that are one token with a leading space."""
    return single_tokens(tokenizer, OBJECTS), single_tokens(tokenizer, string.ascii_uppercase)


def _token_at(text: str, ids, offsets, span: tuple[int, int], tokenizer) -> int:
    """The index of the one known token that covers the word at `span` (it ends where the word ends)."""
    start, end = span
    hits = [i for i, (a, b) in enumerate(offsets) if b == end and a < end]
    unknown = getattr(tokenizer, "unk_token_id", None)
    if len(hits) != 1 or offsets[hits[0]][0] not in (start, start - 1) or ids[hits[0]] == unknown:
        raise InputError(f"{text[start:end]!r} in {text!r} is not one token for this tokenizer")
    return hits[0]


@dataclasses.dataclass(frozen=True)
class TextTrainingBatch:
    """Prompts of several box counts, right-padded to one length, and where each answer is predicted.

    Attributes:
      tokens: [n, seq] token ids (padding: the pad id after each prompt; attention is causal, so it
        changes nothing before it).
      answers: [n] the answer token.
      answer_index: [n] the position of each prompt's last token.
    """

    tokens: np.ndarray
    answers: np.ndarray
    answer_index: np.ndarray


def training_batch(tasks: dict[int, TextBoxes], seed: int, n: int, length: int, pad_id: int = 0) -> TextTrainingBatch:
    """`n` prompts, each with a box count drawn uniformly from `tasks` (boxes -> task), padded to `length`."""
    gen = rng(seed)
    counts = sorted(tasks)
    picked = [counts[int(gen.integers(len(counts)))] for _ in range(n)]
    tokens = np.full((n, length), pad_id, np.int32)
    answers, index = np.zeros(n, np.int32), np.zeros(n, np.int32)
    for boxes in counts:
        rows = [i for i, b in enumerate(picked) if b == boxes]
        if not rows:
            continue
        examples = tasks[boxes].sample(int(gen.integers(1 << 31)), len(rows))
        size = examples.tokens.shape[1]
        if size > length:
            raise ValueError(f"{boxes}-box prompts have {size} tokens, more than the batch length {length}")
        tokens[rows, :size] = examples.tokens
        answers[rows], index[rows] = examples.answers, size - 1
    return TextTrainingBatch(tokens, answers, index)
