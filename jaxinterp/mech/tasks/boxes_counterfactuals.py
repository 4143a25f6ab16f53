"""The entity-tracking datasets each method of Prakash et al. (ICLR 2024) needs, on the `boxes` task.

Positions (all prompts of a task have one length L = 1 + 7 * boxes + 4): box i's object sits at 2 + 7i and
its label at 6 + 7i (the paper's `range(6, 49, 7)` for 7 boxes); the query label at L - 3; the last token
at L - 1. `ROLES` names the positions the circuit lives at: "last", "query_label",
"prev_query_label" (the context occurrence of the queried label, 6 + 7q) and, ours, "queried_object" (the
queried box's object, 2 + 7q; our small models read the answer there, see `circuits.discovery`) and the
queried segment's tokens between object and label, "queried_is", "queried_in", "queried_box" (3 + 7q,
4 + 7q, 5 + 7q; some of our models read the object from its segment's "in" token).

Datasets (every sampler is a pure function of (seed, n)):
  * `sample`: prompts, answers and per-prompt positions (evaluation, faithfulness, CMAP).
  * `path_patching_pairs`: clean prompts and their "noise" prompts: another context whose query label is
    replaced by a random letter that is not among its labels (paper §1.3), so the noise run carries no
    information about which box is queried.
  * `mean_prompts`: one prompt per context with the query label replaced by a random absent letter; the
    position-wise mean of head outputs over these is the mean-ablation value (paper §1.5).
  * `desiderata_pairs(kind)`: (base, source, target) for DCM (paper §1.6):
      "object"    source queries a box at another index, with objects absent from the base;
                  target = the source's answer (a head carrying object *values* moves it).
      "label"     source queries a label that occurs in the base (not the base's query label), at a box
                  index that differs from both the base's query index and that label's index in the base;
                  target = the base's object in the box with that label.
      "position"  source queries another box index, with labels absent from the base;
                  target = the base's object at the source's query index.
    Sources never share objects with their base, and share labels only as the "label" kind requires.
    The constraints make the three targets differ from each other and from the base answer, so each
    desideratum is identifiable (the paper draws sources with fewer constraints; decision ours).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Int

from jaxinterp.mech.tasks.base import encode, rng
from jaxinterp.mech.tasks.boxes import LABELS, OBJECTS, BoxesTask

ROLES = ("last", "query_label", "prev_query_label", "queried_object", "queried_is", "queried_in", "queried_box")
SEGMENT_ROLES = {"queried_is": 1, "queried_in": 2, "queried_box": 3}  # offset from the queried object
DESIDERATA = ("object", "label", "position")


def label_position(box_index):
    """Position of box `box_index`'s label (numpy-broadcastable)."""
    return 6 + 7 * np.asarray(box_index)


def object_position(box_index):
    return 2 + 7 * np.asarray(box_index)


def prompt_length(task: BoxesTask) -> int:
    return 1 + 7 * task.num_boxes + 4


def role_positions(task: BoxesTask, query_index: Int[np.ndarray, " n"]) -> dict[str, Int[np.ndarray, " n"]]:
    """Per prompt, the position of each role in `ROLES`."""
    n, length = len(query_index), prompt_length(task)
    return {
        "last": np.full(n, length - 1, np.int32),
        "query_label": np.full(n, length - 3, np.int32),
        "prev_query_label": label_position(query_index).astype(np.int32),
        "queried_object": object_position(query_index).astype(np.int32),
        **{role: (object_position(query_index) + k).astype(np.int32) for role, k in SEGMENT_ROLES.items()},
    }


@dataclasses.dataclass(frozen=True)
class EntityExamples:
    """Prompts with what each method needs to know about them.

    Attributes:
      tokens: [n, seq] token ids.
      answers: [n] the correct object's token id.
      query_index: [n] index of the queried box.
      positions: role -> [n] positions (`ROLES`).
    """

    tokens: Int[np.ndarray, "n seq"]
    answers: Int[np.ndarray, " n"]
    query_index: Int[np.ndarray, " n"]
    positions: dict[str, Int[np.ndarray, " n"]]


@dataclasses.dataclass(frozen=True)
class DesiderataPairs:
    """DCM data: base and source prompts (with their positions) and the desideratum's target token."""

    kind: str
    base: EntityExamples
    source: EntityExamples
    targets: Int[np.ndarray, " n"]


@dataclasses.dataclass(frozen=True)
class _Context:
    objects: list[str]
    labels: list[str]
    query: int


def _draw(task: BoxesTask, gen: np.random.Generator, avoid_objects=(), avoid_labels=()) -> _Context:
    objects = [o for o in OBJECTS if o not in avoid_objects]
    labels = [x for x in LABELS if x not in avoid_labels]
    if len(objects) < task.num_boxes or len(labels) < task.num_boxes:
        raise ValueError("too few objects or labels left to draw a prompt")
    chosen_objects = [objects[i] for i in gen.choice(len(objects), task.num_boxes, replace=False)]
    chosen_labels = [labels[i] for i in gen.choice(len(labels), task.num_boxes, replace=False)]
    return _Context(chosen_objects, chosen_labels, int(gen.integers(task.num_boxes)))


def _examples(task: BoxesTask, contexts: list[_Context], query_words: list[str] | None = None) -> EntityExamples:
    prompts = [task._prompt(c.objects, c.labels, c.query) for c in contexts]
    if query_words is not None:  # overwrite the query label (noise and mean prompts)
        for words, word in zip(prompts, query_words, strict=True):
            words[-3] = word
    vocab = task.vocabulary()
    query = np.asarray([c.query for c in contexts], np.int32)
    return EntityExamples(
        tokens=encode(vocab, prompts),
        answers=encode(vocab, [[c.objects[c.query]] for c in contexts])[:, 0],
        query_index=query,
        positions=role_positions(task, query),
    )


def _absent_letter(gen: np.random.Generator, labels: list[str]) -> str:
    free = [x for x in LABELS if x not in labels]
    return free[int(gen.integers(len(free)))]


def sample(task: BoxesTask, seed: int, n: int) -> EntityExamples:
    gen = rng(seed)
    return _examples(task, [_draw(task, gen) for _ in range(n)])


def path_patching_pairs(task: BoxesTask, seed: int, n: int) -> tuple[EntityExamples, EntityExamples]:
    """(clean, noise): noise prompts come from other contexts with an absent letter as query label."""
    gen = rng(seed)
    clean = [_draw(task, gen) for _ in range(n)]
    noise = [_draw(task, gen) for _ in range(n)]
    letters = [_absent_letter(gen, c.labels) for c in noise]
    return _examples(task, clean), _examples(task, noise, letters)


def mean_prompts(task: BoxesTask, seed: int, n: int) -> EntityExamples:
    gen = rng(seed)
    contexts = [_draw(task, gen) for _ in range(n)]
    return _examples(task, contexts, [_absent_letter(gen, c.labels) for c in contexts])


def desiderata_pairs(task: BoxesTask, kind: str, seed: int, n: int) -> DesiderataPairs:
    """Base/source/target triples for one desideratum (module docstring)."""
    if kind not in DESIDERATA:
        raise ValueError(f"desideratum must be one of {', '.join(DESIDERATA)}, got {kind!r}")
    if task.num_boxes < 3 and kind == "label":
        raise ValueError("the box-label desideratum needs at least 3 boxes")
    gen = rng(seed)
    bases, sources, targets = [], [], []
    for _ in range(n):
        base = _draw(task, gen)
        if kind == "object":
            source = _draw(task, gen, avoid_objects=base.objects, avoid_labels=base.labels)
            others = [i for i in range(task.num_boxes) if i != base.query]
            source = dataclasses.replace(source, query=others[int(gen.integers(len(others)))])
            target = source.objects[source.query]
        elif kind == "position":
            source = _draw(task, gen, avoid_objects=base.objects, avoid_labels=base.labels)
            others = [i for i in range(task.num_boxes) if i != base.query]
            source = dataclasses.replace(source, query=others[int(gen.integers(len(others)))])
            target = base.objects[source.query]
        else:
            shared = [i for i in range(task.num_boxes) if i != base.query]
            in_base = shared[int(gen.integers(len(shared)))]  # the base box whose label the source queries
            label = base.labels[in_base]
            source = _draw(task, gen, avoid_objects=base.objects, avoid_labels=base.labels)
            where = [i for i in range(task.num_boxes) if i not in (base.query, in_base)]
            query = where[int(gen.integers(len(where)))]
            labels = list(source.labels)
            labels[query] = label
            source = _Context(source.objects, labels, query)
            target = base.objects[in_base]
        bases.append(base)
        sources.append(source)
        targets.append([target])
    vocab = task.vocabulary()
    return DesiderataPairs(kind, _examples(task, bases), _examples(task, sources), encode(vocab, targets)[:, 0])
