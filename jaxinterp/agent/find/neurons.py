"""FIND's synthetic neurons: entity and relation "neurons" computed by a language model over the chat backend.

An entity neuron is selective for a concept (or a union of two): FIND asks Vicuna-13B
`Return only "1" if that input is related to {concept}, "0" otherwise` and the neuron's activation on a word is
P("1") / (P("0") + P("1")) from the first generated token's log-probabilities. A relation neuron maps inputs of
one kind to a fact about them (country -> capital) and answers "undefined" outside its domain; two of every
three also answer "undefined" on an exception sub-domain (`unless the country is in Asia`).

THESE NEURONS NEED A LANGUAGE MODEL. Entity neurons need one that returns log-probabilities (an
OpenAI-compatible endpoint with `logprobs`: OpenAI, vLLM, llama.cpp, recent Ollama; FIND used Vicuna-13B
through a FastChat fork); relation neurons need any chat model. With another model they are FIND-like neurons,
not FIND's: the model defines the function. `StandInNeuronModel` is an offline keyword-table stand-in that
speaks the same prompts (used by tests and demos); its neurons are NOT FIND neurons either.

Counts: FIND has 200 entity neurons (140 concepts, 60 two-concept unions) and 75 relation neurons (25 relations
x {clean, 2 exception variants}). Our concept list (`neuron_data.CONCEPTS`) has 48 concepts, so the default is
48 single + 20 unions (FIND's 7:3 ratio); the 25 relations give all 75 relation neurons. Prompts are written
for this project from the facts above.

Decisions (FIND's code is not available here): a first token that is neither "0" nor "1" among the top-k
alternatives gives activation 0 (the model did not say "1"); a relation reply is stripped of quotes and a final
period. Search-initialisation exemplars mix activating and other words, 5 + 5 for entities, 8 in-domain + 2
out-of-domain inputs for relations, as FIND's `initial.json` mixes them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxinterp.agent.backends import BackendError, ChatBackend, ChatMessage, ChatRequest, ChatResponse
from jaxinterp.agent.backends.base import TokenLogprob, Usage
from jaxinterp.agent.find.benchmark import format_pairs
from jaxinterp.agent.find.neuron_data import CONCEPTS, NEUTRAL_WORDS, RELATIONS
from jaxinterp.errors import InputError

ENTITIES, RELATIONS_CATEGORY = "neurons_entities", "neurons_relations"
NEURON_CATEGORIES = (ENTITIES, RELATIONS_CATEGORY)
NEEDS_MODEL = (
    "synthetic neurons need a language model (entities: one with log-probabilities); pass a neuron model "
    "(`--neuron-model openai:MODEL`, or `standin` for the offline keyword stand-in, which is not FIND)"
)
UNDEFINED = "undefined"
TOP_LOGPROBS = 5

ENTITY_PROMPT = 'Return only "1" if the input is related to {concept}, "0" otherwise.\nInput: {word}'
RELATION_PROMPT = (
    'If the input is {kind}, reply with only {target}{exception}; otherwise reply with only "undefined".\nInput: {word}'
)
EXCEPTION_CLAUSE = ', unless {phrase}, then reply with only "undefined"'


@dataclasses.dataclass(frozen=True)
class Neuron:
    """One synthetic neuron with its ground truth.

    Attributes:
      id: "f00007"-style id (folder name).
      category: "neurons_entities" or "neurons_relations".
      kind: entities "single" / "union"; relations "clean" / "exception".
      description: ground-truth description ("words related to golf or tennis").
      concepts: entity concepts (1 or 2); () for relations.
      relation: relation name; "" for entities.
      exception: the exception sub-domain phrase ("the country is in Asia"); "" when none.
      exemplars: search-initialisation inputs (activating and other words mixed).
      test_inputs: held-out in-domain inputs for the description judge's unit tests.
    """

    id: str
    category: str
    kind: str
    description: str
    concepts: tuple[str, ...] = ()
    relation: str = ""
    exception: str = ""
    exemplars: tuple[str, ...] = ()
    test_inputs: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        """The [DOMAIN] ground truth of relation neurons: where the rule does not apply."""
        return f"undefined when {self.exception}" if self.exception else "none"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Neuron:
        fields = {f.name for f in dataclasses.fields(cls)}
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
        return cls(**kept)


def _relation(name: str):
    for row in RELATIONS:
        if row[0] == name:
            return row
    raise InputError(f"unknown relation {name!r}")


def concept_phrase(concepts: Sequence[str]) -> str:
    return " or ".join(concepts)


def entity_neurons(seed: int = 0, n_single: int | None = None, n_union: int = 20, start: int = 0) -> list[Neuron]:
    """`n_single` single-concept (default: every concept) and `n_union` two-concept entity neurons."""
    names = list(CONCEPTS)
    n_single = len(names) if n_single is None else n_single
    if not 0 <= n_single <= len(names) or n_union < 0:
        raise InputError(f"entity neurons: 0 <= n_single <= {len(names)} and n_union >= 0")
    gen = np.random.default_rng([seed, 7])
    groups = [(names[i],) for i in gen.permutation(len(names))[:n_single]]
    groups += [tuple(names[i] for i in gen.choice(len(names), 2, replace=False)) for _ in range(n_union)]
    neurons = []
    for k, concepts in enumerate(groups):
        words = [w for c in concepts for w in CONCEPTS[c]]
        words = [words[i] for i in gen.permutation(len(words))]
        others = [w for c in names if c not in concepts for w in CONCEPTS[c]] + list(NEUTRAL_WORDS)
        exemplars = [*words[:5], *(others[i] for i in gen.choice(len(others), 5, replace=False))]
        neurons.append(
            Neuron(
                id=f"f{start + k:05d}",
                category=ENTITIES,
                kind="single" if len(concepts) == 1 else "union",
                description=f"words related to {concept_phrase(concepts)}",
                concepts=concepts,
                exemplars=tuple(exemplars[i] for i in gen.permutation(10)),
                test_inputs=tuple(words[5:]) or tuple(words),
            )
        )
    return neurons


def relation_neurons(seed: int = 0, start: int = 0) -> list[Neuron]:
    """Every relation clean and with each of its exception sub-domains (25 x 3 = 75 with our table)."""
    gen = np.random.default_rng([seed, 11])
    neurons = []
    for name, kind, target, table, exceptions in RELATIONS:
        inputs = list(table)
        other = [x for row in RELATIONS if row[0] != name for x in row[3] if x not in table]
        for phrase in ("", *exceptions):
            order = [inputs[i] for i in gen.permutation(len(inputs))]
            exemplars = [*order[:8], *(other[i] for i in gen.choice(len(other), 2, replace=False))]
            description = f"maps {kind} to {target}; other inputs give {UNDEFINED}"
            neurons.append(
                Neuron(
                    id=f"f{start + len(neurons):05d}",
                    category=RELATIONS_CATEGORY,
                    kind="exception" if phrase else "clean",
                    description=description + (f", and so do inputs where {phrase}" if phrase else ""),
                    relation=name,
                    exception=phrase,
                    exemplars=tuple(exemplars[i] for i in gen.permutation(len(exemplars))),
                    test_inputs=tuple(order[8:] + order[:2]),
                )
            )
    return neurons


def expected_output(neuron: Neuron, word: str) -> str:
    """The relation's ground-truth answer from the table (not from a model): the judge's unit-test pairs."""
    _, _, _, table, exceptions = _relation(neuron.relation)
    if word not in table or (neuron.exception and word in exceptions[neuron.exception]):
        return UNDEFINED
    return table[word]


# --------------------------------------------------------------------------------------------------------
# Computing a neuron with a model


def neuron_prompt(neuron: Neuron, word: str) -> str:
    if neuron.category == ENTITIES:
        return ENTITY_PROMPT.format(concept=concept_phrase(neuron.concepts), word=word)
    _, kind, target, _, _ = _relation(neuron.relation)
    exception = EXCEPTION_CLAUSE.format(phrase=neuron.exception) if neuron.exception else ""
    return RELATION_PROMPT.format(kind=kind, target=target, exception=exception, word=word)


def yes_probability(response: ChatResponse) -> float:
    """P("1") / (P("0") + P("1")) from the first generated token and its alternatives."""
    if not response.logprobs:
        raise BackendError(
            f"entity neurons need log-probabilities and {response.model} returned none; use an endpoint with logprobs"
        )
    first = response.logprobs[0]
    probs = {"0": 0.0, "1": 0.0}
    for token, logprob in ((first.token, first.logprob), *first.top):
        key = token.strip().strip('"')
        if key in probs and probs[key] == 0.0:
            probs[key] = math.exp(logprob)
    total = probs["0"] + probs["1"]
    return probs["1"] / total if total > 0 else 0.0


def clean_reply(text: str) -> str:
    return text.strip().strip("\"'`").removesuffix(".").strip().strip("\"'`")


def neuron_outputs(neuron: Neuron, backend: ChatBackend, words: Sequence[str]) -> list[float | str]:
    """The neuron's output on each word: an activation in [0, 1] (entities) or the model's answer (relations)."""
    outputs: list[float | str] = []
    for word in words:
        message = [ChatMessage("user", neuron_prompt(neuron, word))]
        if neuron.category == ENTITIES:
            reply = backend.chat(ChatRequest(message, max_tokens=1, temperature=0.0, logprobs=TOP_LOGPROBS))
            outputs.append(yes_probability(reply))
        else:
            reply = backend.chat(ChatRequest(message, max_tokens=24, temperature=0.0))
            outputs.append(clean_reply(reply.text))
    return outputs


@dataclasses.dataclass
class NeuronFunction:
    """A neuron as the interpreter sees it: inputs in, the release's `Function input - output pairs:` line out."""

    neuron: Neuron
    backend: ChatBackend

    def __call__(self, args: Sequence[str]) -> tuple[str, bool]:
        try:
            outputs = neuron_outputs(self.neuron, self.backend, args)
        except BackendError:
            raise
        except (OSError, RuntimeError, ValueError) as err:
            return f"the neuron could not be computed: {err}", False
        shown = [f"{y:.4f}" if isinstance(y, float) else y for y in outputs]
        return format_pairs(args, shown).strip(), True


# --------------------------------------------------------------------------------------------------------
# The offline stand-in model


_ENTITY = re.compile(r'related to (?P<concept>.+), "0" otherwise\.\nInput: (?P<word>.*)$', re.S)
_RELATION = re.compile(
    r"If the input is (?P<kind>.+?), reply with only (?P<target>.+?)(, unless (?P<phrase>.+?), then reply"
    r' with only "undefined")?; otherwise reply with only "undefined"\.\nInput: (?P<word>.*)$',
    re.S,
)


class StandInNeuronModel:
    """An offline chat backend that answers the neuron prompts from `neuron_data` (a keyword table).

    NOT a language model and NOT FIND's neurons: a word activates a concept (P("1") = 0.95) when it is the
    concept's name or one of its listed words, and 0.05 otherwise; a relation answers from its table. It
    exists so the neuron pipeline (prompts, log-probabilities, interpreter, judge) runs without a model.
    """

    provider, base_url, model = "standin", "offline", "keyword-table"

    def chat(self, request: ChatRequest) -> ChatResponse:
        prompt = request.messages[-1].text()
        usage = Usage(len(prompt.split()), 1)
        entity = _ENTITY.search(prompt)
        if entity:
            word = entity["word"].strip().lower()
            related = any(word == c or word in CONCEPTS.get(c, ()) for c in entity["concept"].split(" or "))
            p1 = 0.95 if related else 0.05
            top = (("1", math.log(p1)), ("0", math.log(1 - p1)))
            token = max(top, key=lambda t: t[1])
            lp = [TokenLogprob(token[0], token[1], top)] if request.logprobs is not None else None
            return ChatResponse(token[0], usage, lp, self.model)
        relation = _RELATION.search(prompt)
        if relation:
            row = next((r for r in RELATIONS if r[1] == relation["kind"] and r[2] == relation["target"]), None)
            word = relation["word"].strip()
            answer = UNDEFINED
            if row and word in row[3] and not (relation["phrase"] and word in row[4].get(relation["phrase"], ())):
                answer = row[3][word]
            return ChatResponse(answer, usage, None, self.model)
        return ChatResponse("I can only answer synthetic-neuron prompts.", usage, None, self.model)
