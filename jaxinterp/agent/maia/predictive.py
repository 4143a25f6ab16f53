"""MAIA's predictive evaluation: does a description predict which new images drive the unit?

Given a unit's description, a prompt writer produces `n` prompts for images that should activate the unit
("positive") and `n` for unrelated images ("neutral"); the images are generated, the unit is run on them, and
the score is the mean activation on each set (a good description: high positive, low neutral, a large gap).
MAIA uses GPT-4 as the prompt writer, Stable Diffusion v1.5 for the images and n = 7 (paper §4.2).

Offline, the prompt writer reads the description's concepts with `describer.parse_label` (mono / OR / AND over
the procedural vocabulary) and writes prompts in that vocabulary; the images are rendered by `render.py`. With a
chat backend, the model writes the prompts from the description instead (`llm_prompts`), as in the paper.

Decisions: neutral prompts avoid every concept the description names (a random colour, kind, texture and
background outside it); OR positives alternate between the two concepts; AND positives name both. The paper's
step that pools prompts across the compared methods is not reproduced (unverified in our notes).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.maia import render
from jaxinterp.agent.maia.describer import parse_label

NUM_PROMPTS = 7  # MAIA paper: 7 activating and 7 neutral prompts per description

# "solid" is named, not left out: an unnamed texture would be drawn at random (and might be the concept avoided)
_ADJECTIVE = {"plain": "solid ", "stripes": "striped ", "dots": "dotted ", "checkered": "checkered "}
_WHERE = {"plain": "on a plain background", "sky": "in the sky", "night": "at night"}


@dataclasses.dataclass(frozen=True)
class PredictiveScore:
    """Mean unit activation on the positive and the neutral prompts' images, and the prompts."""

    positive: float
    neutral: float
    positive_prompts: tuple[str, ...]
    neutral_prompts: tuple[str, ...]

    @property
    def gap(self) -> float:
        return self.positive - self.neutral

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "gap": self.gap}


def _choose(rng: np.random.Generator, options: Sequence[str], avoid: set[str]) -> str:
    allowed = [o for o in options if o not in avoid]
    return str(rng.choice(allowed or list(options)))


def prompt_phrase(rng: np.random.Generator, named: dict[str, str], avoid: set[str]) -> str:
    """ "a red striped circle on grass": the named slots (colour, kind, texture, background), the rest drawn."""
    colour = named.get("colour") or _choose(rng, render.COLOURS, avoid)
    kind = named.get("kind") or _choose(rng, render.KINDS, avoid)
    texture = named.get("texture") or _choose(rng, render.TEXTURES, avoid)
    background = named.get("background") or _choose(rng, render.BACKGROUNDS, avoid)
    words = f"{colour} {_ADJECTIVE[texture]}{kind}"
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words} {_WHERE.get(background, 'on ' + background)}"


def concept_slot(concept: str) -> str:
    group = render.GROUP_OF[concept]
    return "kind" if group in ("shape", "object") else group


def offline_prompts(
    description: str, n: int = NUM_PROMPTS, seed: int = 0, concepts: Sequence[str] = render.CONCEPTS
) -> tuple[list[str], list[str]]:
    """(positive, neutral) prompts for a description, written without a model (module docstring)."""
    mode, named = parse_label(description)
    rng = np.random.default_rng(seed)
    avoid = set(named)
    positives = []
    for i in range(n):
        if mode == "none":
            positives.append(prompt_phrase(rng, {}, set()))
        elif mode in ("mono", "or"):
            concept = named[i % len(named)]
            positives.append(prompt_phrase(rng, {concept_slot(concept): concept}, avoid))
        else:  # and: both concepts, in one thing when their slots differ, else a second thing
            a, b = named
            if concept_slot(a) != concept_slot(b):
                positives.append(prompt_phrase(rng, {concept_slot(a): a, concept_slot(b): b}, avoid))
            else:
                positives.append(
                    prompt_phrase(rng, {concept_slot(a): a}, avoid)
                    + " next to "
                    + prompt_phrase(rng, {concept_slot(b): b}, avoid)
                )
    neutrals = [prompt_phrase(rng, {}, avoid) for _ in range(n)]
    return positives, neutrals


LLM_PROMPT = """\
A neuron inside an image classifier was described as follows:

{description}

Write {n} short text prompts for images that should make this neuron fire as strongly as possible, and {n} \
prompts for images that are unrelated to the description (the neuron should stay silent on them). The images \
are drawn by a renderer that knows only these words: colours {colours}; shapes {shapes}; objects {objects}; \
textures {textures}; backgrounds {backgrounds}. Each prompt names at most three shapes or objects.

Answer in exactly this form, one prompt per line:
[POSITIVE]
...
[NEUTRAL]
..."""


def llm_prompts(backend: ChatBackend, description: str, n: int = NUM_PROMPTS) -> tuple[list[str], list[str]]:
    """(positive, neutral) prompts written by a chat model, as in the paper; missing ones are filled offline."""
    text = LLM_PROMPT.format(
        description=description,
        n=n,
        colours=", ".join(render.COLOURS),
        shapes=", ".join(render.SHAPES),
        objects=", ".join(render.OBJECTS),
        textures=", ".join(render.TEXTURES[1:]),
        backgrounds=", ".join(render.BACKGROUNDS[1:]),
    )
    reply = backend.chat(ChatRequest([ChatMessage("user", text)], max_tokens=800, temperature=0.0)).text
    sections = re.split(r"\[(POSITIVE|NEUTRAL)\]", reply)
    found: dict[str, list[str]] = {"POSITIVE": [], "NEUTRAL": []}
    for tag, body in zip(sections[1::2], sections[2::2], strict=False):
        lines = [re.sub(r"^\s*(?:[-*]|\d+[.)])\s*", "", line).strip() for line in body.splitlines()]
        found[tag] += [line for line in lines if line]
    fallback_pos, fallback_neu = offline_prompts(description, n)
    positives = (found["POSITIVE"] + fallback_pos)[:n]
    neutrals = (found["NEUTRAL"] + fallback_neu)[:n]
    return positives, neutrals


def evaluate(
    activation: Callable[[Sequence[str]], np.ndarray], positives: Sequence[str], neutrals: Sequence[str]
) -> PredictiveScore:
    """Score prompts with `activation` (prompts -> the unit's activation on their images, one per prompt)."""
    pos = np.asarray(activation(list(positives)), np.float64)
    neu = np.asarray(activation(list(neutrals)), np.float64)
    return PredictiveScore(float(pos.mean()), float(neu.mean()), tuple(positives), tuple(neutrals))


def neuron_activation(neuron, size: int = render.DEFAULT_SIZE) -> Callable[[Sequence[str]], np.ndarray]:
    """`activation` for a synthetic neuron: render each prompt (image 0) and take the map's maximum."""

    def run(prompts: Sequence[str]) -> np.ndarray:
        out = []
        for i, prompt in enumerate(prompts):
            rendering = render.render(render.scene_from_prompt(prompt), size)
            maps = neuron.activation_maps(render.concept_masks(rendering), np.array(i))
            out.append(float(maps.max()))
        return np.array(out)

    return run
