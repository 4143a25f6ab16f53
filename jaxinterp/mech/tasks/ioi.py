"""Indirect object identification (IOI): Wang et al. 2022's prompt distribution for a real tokenizer.

A prompt names two people, then repeats one of them, the subject S, who gives something to the other, the
indirect object IO; the model should continue with IO:

    "When Mary and John went to the store, John gave a drink to"  ->  " Mary"

Templates (the paper's, written from its appendix list): each is stored in its BABA form, "[S] and [IO]" at
the first mention (S1 before IO); the ABBA form swaps that pair ("[IO] and [S]"). Fillers: first names,
places and objects, kept only when " word" (leading space) is ONE token of the given tokenizer, so every
prompt of a template has one length and its token classes sit at fixed positions:

    IO    the indirect object's (only) mention        S1    the subject's first mention
    S1+1  the token after S1                          S2    the subject's second mention
    END   the last token ("to"), where the logits are read

The metric is the logit difference logit(IO) - logit(S) at END (Wang et al. §2); accuracy is the fraction of
prompts with logit(IO) > logit(S).

ABC counterfactual (the paper's p_ABC, used as the source of every patch and for the ablation means): the
same template, place and object with the three name slots (S1, IO, S2) filled by three distinct names, none
of them the prompt's S or IO. It keeps the sentence's form but carries no information about which name is
repeated.

Decisions:
  * Batches are per template and order (`sample` returns one `IOIBatch` per template variant): fillers are
    single tokens, so a batch is a plain [n, seq] array with one position per class, which is what
    per-position patching and per-position means need. Batches of different templates are right-padded to
    one length (`pad_to`) where one compiled program should serve them all; a causal model's logits at END
    cannot see the tokens after it, so padding changes nothing we read.
  * Segments are tokenised one by one (text pieces and " Name" fillers) and the result is checked once per
    template against tokenising the whole prompt; a tokenizer that merges across a boundary is an error.
  * No beginning-of-sequence token: SmolLM2's tokenizer does not add one, and transformers' own measurement
    in the issue (80/80, logit difference 4.5) ran without it.
  * Names, places and objects: a list of common English first names and the paper's places and objects,
    plus a few more of each; the tokenizer filter decides what remains.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np
from jaxtyping import Float, Int

from jaxinterp.errors import InputError

# Wang et al. 2022 appendix, BABA form. "[S]" = subject, "[IO]" = indirect object; the answer (IO) follows.
TEMPLATES: tuple[str, ...] = (
    "Then, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] had a lot of fun at the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] were working at the [PLACE]. [S] decided to give a [OBJECT] to",
    "Then, [S] and [IO] were thinking about going to the [PLACE]. [S] wanted to give a [OBJECT] to",
    "Then, [S] and [IO] had a long argument, and afterwards [S] said to",
    "After [S] and [IO] went to the [PLACE], [S] gave a [OBJECT] to",
    "When [S] and [IO] got a [OBJECT] at the [PLACE], [S] decided to give it to",
    "When [S] and [IO] got a [OBJECT] at the [PLACE], [S] decided to give the [OBJECT] to",
    "While [S] and [IO] were working at the [PLACE], [S] gave a [OBJECT] to",
    "While [S] and [IO] were commuting to the [PLACE], [S] gave a [OBJECT] to",
    "After the lunch, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Afterwards, [S] and [IO] went to the [PLACE]. [S] gave a [OBJECT] to",
    "Then, [S] and [IO] had a long argument. Afterwards [S] said to",
    "The [PLACE] [S] and [IO] went to had a [OBJECT]. [S] gave it to",
    "Friends [S] and [IO] found a [OBJECT] at the [PLACE]. [S] gave it to",
)
ORDERS = ("BABA", "ABBA")
CLASSES = ("IO", "S1", "S1+1", "S2", "END")

NAMES = tuple(
    "Mary John Alice Bob Tom James Michael David Sarah Emma Anna Kate Paul Mark Peter Jack Lisa Laura Daniel "
    "Robert William Richard Thomas Charles Joseph George Edward Henry Frank Steven Kevin Brian Jason Ryan Eric "
    "Adam Sam Ben Max Alex Chris Jennifer Elizabeth Linda Susan Jessica Karen Nancy Betty Helen Sandra Carol "
    "Ruth Sharon Michelle Amy Rachel Rose Grace Lucy Jane Julia Victoria Martin Andrew Joshua Justin Matthew "
    "Timothy Jeff Scott Gary Patrick Jacob Nick Tim Dan Mike Luke Ian Leo Oscar Olivia Sophia Mia Ella Emily "
    "Hannah Claire Amanda Anthony Christopher Nathan Aaron Sean".split()
)
PLACES = tuple(
    "store garden restaurant school hospital office house station park library market beach church museum".split()
)
OBJECTS = tuple(
    "ring kiss bone basketball computer necklace drink snack book ball cake phone key letter pen hat gift apple "
    "flower candle".split()
)
_SLOT = re.compile(r"( \[(?:S|IO|PLACE|OBJECT)\])")


@dataclasses.dataclass(frozen=True)
class IOIVocabulary:
    """The single-token fillers of one tokenizer and how to encode text with it.

    Attributes:
      encode: text -> token ids (no special tokens added).
      names, places, objects: the words kept (" word" is one token).
      name_ids, place_ids, object_ids: their token ids, aligned with the words.
    """

    encode: Callable[[str], list[int]]
    names: tuple[str, ...]
    name_ids: tuple[int, ...]
    places: tuple[str, ...]
    place_ids: tuple[int, ...]
    objects: tuple[str, ...]
    object_ids: tuple[int, ...]


def single_tokens(encode: Callable[[str], list[int]], words: Sequence[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The words whose " word" encodes to exactly one token, and those tokens (duplicates dropped)."""
    kept, ids = [], []
    for word in dict.fromkeys(words):
        tokens = list(encode(" " + word))
        if len(tokens) == 1 and tokens[0] not in ids:
            kept.append(word)
            ids.append(int(tokens[0]))
    return tuple(kept), tuple(ids)


def vocabulary(encode: Callable[[str], list[int]]) -> IOIVocabulary:
    """Filters NAMES, PLACES and OBJECTS to single tokens of `encode`.

    Raises:
      InputError: fewer than 5 names (ABC needs 3 besides S and IO), or no place or object left.
    """
    names, name_ids = single_tokens(encode, NAMES)
    places, place_ids = single_tokens(encode, PLACES)
    objects, object_ids = single_tokens(encode, OBJECTS)
    if len(names) < 5 or not places or not objects:
        raise InputError(
            f"the tokenizer keeps {len(names)} single-token names, {len(places)} places, {len(objects)} objects; "
            "IOI needs at least 5 names and one place and object"
        )
    return IOIVocabulary(encode, names, name_ids, places, place_ids, objects, object_ids)


def tokenizer_vocabulary(tokenizer) -> IOIVocabulary:
    """`vocabulary` of a Hugging Face tokenizer (no special tokens added)."""
    return vocabulary(lambda text: tokenizer(text, add_special_tokens=False)["input_ids"])


def template_text(index: int, order: str) -> str:
    """Template `index` of TEMPLATES in `order` ("BABA" as stored, or "ABBA": the first pair swapped)."""
    if order not in ORDERS:
        raise InputError(f"order must be one of {ORDERS}, got {order!r}")
    text = TEMPLATES[index]
    return text if order == "BABA" else text.replace("[S] and [IO]", "[IO] and [S]", 1)


@dataclasses.dataclass(frozen=True)
class IOIBatch:
    """Prompts of one template variant and their ABC counterfactuals.

    Attributes:
      template: index into TEMPLATES; order: "BABA" or "ABBA".
      tokens: clean prompts [n, seq]; abc: ABC prompts [n, seq] (same template, place, object).
      io, s: name indices (into the vocabulary's names) of each prompt's IO and S [n].
      io_ids, s_ids: their token ids [n].
      positions: class (CLASSES) -> position, the same for every prompt of the batch.
    """

    template: int
    order: str
    tokens: Int[np.ndarray, "n seq"]
    abc: Int[np.ndarray, "n seq"]
    io: Int[np.ndarray, " n"]
    s: Int[np.ndarray, " n"]
    io_ids: Int[np.ndarray, " n"]
    s_ids: Int[np.ndarray, " n"]
    positions: dict[str, int]

    @property
    def name(self) -> str:
        return f"{self.template}-{self.order}"

    def pad_to(self, length: int, pad_id: int = 0) -> IOIBatch:
        """Right-padded to `length` tokens (positions unchanged; END's logits cannot see the padding)."""
        extra = length - self.tokens.shape[1]
        if extra < 0:
            raise ValueError(f"cannot pad {self.tokens.shape[1]} tokens to {length}")
        pad = np.full((self.tokens.shape[0], extra), pad_id, self.tokens.dtype)
        return dataclasses.replace(
            self, tokens=np.concatenate([self.tokens, pad], 1), abc=np.concatenate([self.abc, pad], 1)
        )


def _pieces(text: str) -> list[str]:
    return [piece for piece in _SLOT.split(text) if piece]


def _assemble(vocab: IOIVocabulary, pieces: list[str], fill: dict[str, int]) -> tuple[list[int], dict[str, list[int]]]:
    """Token ids of a template filled with token ids `fill` (slot -> id), and where each slot landed."""
    ids, where = [], {}
    for piece in pieces:
        slot = piece.strip()[1:-1] if _SLOT.fullmatch(piece) else None
        if slot is None:
            ids.extend(vocab.encode(piece))
        else:
            where.setdefault(slot, []).append(len(ids))
            ids.append(fill[slot])
    return ids, where


def sample(vocab: IOIVocabulary, template: int, order: str, n: int, rng: np.random.Generator) -> IOIBatch:
    """`n` prompts of one template variant with their ABC counterfactuals (module docstring).

    Each prompt draws S and IO (distinct names), a place and an object; its ABC prompt fills S1, IO and S2
    with three more distinct names, none of them S or IO.
    """
    text = template_text(template, order)
    pieces = _pieces(text)
    count = len(vocab.names)
    tokens, abc, io, s = [], [], [], []
    where = None
    for _ in range(n):
        names = rng.choice(count, size=5, replace=False)
        place = vocab.place_ids[rng.integers(len(vocab.place_ids))]
        obj = vocab.object_ids[rng.integers(len(vocab.object_ids))]
        clean_fill = {"S": vocab.name_ids[names[0]], "IO": vocab.name_ids[names[1]], "PLACE": place, "OBJECT": obj}
        ids, where = _assemble(vocab, pieces, clean_fill)
        # ABC: the three name slots (S1, IO, S2) get names 2, 3, 4, in slot order.
        abc_ids = list(ids)
        slots = sorted(where["S"] + where["IO"])
        for position, name in zip(slots, names[2:], strict=True):
            abc_ids[position] = vocab.name_ids[name]
        tokens.append(ids)
        abc.append(abc_ids)
        s.append(names[0])
        io.append(names[1])
    _check_tokenisation(vocab, pieces, tokens[0])
    s1, s2 = where["S"]
    positions = {"IO": where["IO"][0], "S1": s1, "S1+1": s1 + 1, "S2": s2, "END": len(tokens[0]) - 1}
    io, s = np.asarray(io), np.asarray(s)
    ids = np.asarray(vocab.name_ids)
    return IOIBatch(template, order, np.asarray(tokens), np.asarray(abc), io, s, ids[io], ids[s], positions)


def _check_tokenisation(vocab: IOIVocabulary, pieces: list[str], ids: list[int]) -> None:
    """Segment-wise tokens must equal the whole prompt's tokens (else the class positions would be wrong)."""
    names = {v: k for k, v in zip(vocab.names, vocab.name_ids, strict=True)}
    names.update({v: k for k, v in zip(vocab.places, vocab.place_ids, strict=True)})
    names.update({v: k for k, v in zip(vocab.objects, vocab.object_ids, strict=True)})
    words = iter([names[i] for i in ids if i in names])
    text = "".join(" " + next(words) if _SLOT.fullmatch(piece) else piece for piece in pieces)
    whole = list(vocab.encode(text))
    if whole != list(ids):
        raise InputError(f"the tokenizer merges across a filler boundary in {text!r}: {whole} != {ids}")


def sample_templates(
    vocab: IOIVocabulary, templates: Sequence[int], n: int, seed: int, orders: Sequence[str] = ORDERS
) -> list[IOIBatch]:
    """One batch of `n` prompts per (template, order), drawn from one generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    for index in templates:
        if not 0 <= index < len(TEMPLATES):
            raise InputError(f"template index {index} out of range 0..{len(TEMPLATES) - 1}")
    return [sample(vocab, index, order, n, rng) for index in templates for order in orders]


def logit_difference(
    logits: Float[np.ndarray, "n vocab"], io: Int[np.ndarray, " n"], s: Int[np.ndarray, " n"]
) -> Float[np.ndarray, " n"]:
    """logit(IO) - logit(S) per prompt, from logits at END ([n, vocab], indexed by `io` and `s`)."""
    rows = np.arange(len(io))
    return logits[rows, io] - logits[rows, s]


@dataclasses.dataclass(frozen=True)
class IOIPrompts:
    """Batches of several template variants stacked into one, right-padded to one length.

    Attributes:
      tokens, abc: [n, seq]; io, s: name indices [n]; io_ids, s_ids: token ids [n];
      positions: class -> per-prompt position [n]; variant: index of the prompt's batch [n];
      variants: the batches' names ("template-order").
    """

    tokens: Int[np.ndarray, "n seq"]
    abc: Int[np.ndarray, "n seq"]
    io: Int[np.ndarray, " n"]
    s: Int[np.ndarray, " n"]
    io_ids: Int[np.ndarray, " n"]
    s_ids: Int[np.ndarray, " n"]
    positions: dict[str, Int[np.ndarray, " n"]]
    variant: Int[np.ndarray, " n"]
    variants: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.io)


def stack(batches: Sequence[IOIBatch], length: int | None = None, pad_id: int = 0) -> IOIPrompts:
    """One `IOIPrompts` of `batches`, right-padded to `length` (default: the longest)."""
    length = max(b.tokens.shape[1] for b in batches) if length is None else length
    padded = [b.pad_to(length, pad_id) for b in batches]
    join = np.concatenate
    return IOIPrompts(
        tokens=join([b.tokens for b in padded]),
        abc=join([b.abc for b in padded]),
        io=join([b.io for b in padded]),
        s=join([b.s for b in padded]),
        io_ids=join([b.io_ids for b in padded]),
        s_ids=join([b.s_ids for b in padded]),
        positions={c: join([np.full(len(b.io), b.positions[c]) for b in padded]) for c in CLASSES},
        variant=join([np.full(len(b.io), i) for i, b in enumerate(padded)]),
        variants=tuple(b.name for b in padded),
    )
