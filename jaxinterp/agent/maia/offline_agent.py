"""A scripted MAIA agent that needs no model: the whole loop (prompts, sandboxed code, tools, log) runs offline.

It answers the conversation as a chat backend would, following a fixed plan in MAIA's v1 protocol, so
`jaxinterp maia describe --agent offline-agent` and the quickstart exercise the real loop without an LLM:

1. dataset exemplars, each described (`describe_images`); candidates = concepts highlighted in at least a quarter
   of them (up to 5) and the most common surrounding concept if most exemplars share it;
2. each candidate tested alone: 3 prompts naming it and none of the others, plus 3 neutral
   prompts (`predictive.prompt_phrase`), through `text2image` and `call_neuron`;
3. two concepts fire alone: OR. One: a sweep of one image per other concept of the vocabulary (without the first)
   finds a second firing concept (OR) or none (mono). None: each pair is tested together (as two things, or a
   thing on a background), and `describe_images` on the masked images says which of the two the unit highlights
   (AND: "A when B is present");
4. the answer, `[DESCRIPTION]` and `[LABEL]`.

"Fires" = mean activation at least halfway between the neutral mean and the exemplars' mean. It is a baseline of
what a simple, fixed experiment plan gets from the tools, not a language model.
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np

from jaxinterp.agent.backends import ChatRequest, ChatResponse, Usage
from jaxinterp.agent.maia import render
from jaxinterp.agent.maia.predictive import concept_slot, prompt_phrase

MAX_CANDIDATES = 5
PROMPTS_PER_TEST = 3
_LINE = re.compile(r'^"([^"]*)", activation: ([-0-9.eE]+)$')


def _code(body: str) -> str:
    return f"[CODE]:\n```python\ndef execute_command(system, tools):\n{body}```"


def _log_call(prompts_expr: str, extra: str = "None") -> str:
    return (
        f"    prompts = {prompts_expr}\n"
        "    titles = [t for t, _ in prompts]\n"
        "    images = tools.text2image([p for _, p in prompts])\n"
        "    activations, masked = system.call_neuron(images)\n"
        f"    tools.save_experiment_log(activation_list=activations, image_list=masked, image_titles=titles,\n"
        f"                              image_textual_information={extra})\n"
    )


class OfflineAgent:
    """A chat backend that plays the plan in the module docstring (v1 protocol only)."""

    provider, base_url, model = "offline", "", "offline-maia-agent"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def chat(self, request: ChatRequest) -> ChatResponse:
        logs = [m.text() for m in request.messages if m.role == "user"][1:]  # experiment results so far
        reply = self._next(logs)
        return ChatResponse(reply, Usage(0, 0), None, self.model)

    # --------------------------------------------------------------------------------------------- plan
    def _next(self, logs: list[str]) -> str:
        if not logs:
            return "[HYPOTHESIS LIST]:\nHypothesis_1: unknown; look at the exemplars.\n" + _code(
                "    activations, images = tools.dataset_exemplars(system)\n"
                '    titles = ["exemplar %d" % (i + 1) for i in range(len(images))]\n'
                "    tools.save_experiment_log(activation_list=activations, image_list=images, image_titles=titles,\n"
                "                              image_textual_information=tools.describe_images(images, titles))\n"
            )
        exemplar_mean = float(np.mean([a for _, a in _activations(logs[0])] or [0.0]))
        candidates = _common(logs[0])
        if not candidates:
            return self._answer([], "mono", exemplar_mean)
        if len(logs) == 1:
            return self._test_alone(candidates)
        alone = _by_group(_activations(logs[1]))
        threshold = (alone.get("neutral", 0.0) + exemplar_mean) / 2
        firing = [c for c in candidates if alone.get(f"alone {c}", 0.0) >= threshold]
        if len(firing) >= 2:
            return self._answer(firing[:2], "or", exemplar_mean)
        if len(firing) == 1:  # look for a second concept the exemplars did not show
            if len(logs) == 2:
                return self._sweep(firing[0])
            swept = _by_group(_activations(logs[2]), np.min)
            others = sorted((v, k.split()[1]) for k, v in swept.items() if k.startswith("sweep ") and v >= threshold)
            if others:
                return self._answer([firing[0], others[-1][1]], "or", exemplar_mean)
            return self._answer(firing, "mono", exemplar_mean)
        if len(candidates) < 2:
            return self._answer(candidates, "mono", exemplar_mean)
        if len(logs) == 2:
            return self._test_pairs(candidates)
        together = _by_group(_activations(logs[2]))
        best = max(itertools.combinations(candidates, 2), key=lambda p: together.get(f"both {p[0]} {p[1]}", -1.0))
        pair = f"both {best[0]} {best[1]}"
        if together.get(pair, 0.0) < threshold:
            return self._answer(candidates[:1], "mono", exemplar_mean)
        highlighted = _highlighted(logs[2], pair)
        a, b = best if highlighted.count(best[0]) >= highlighted.count(best[1]) else best[::-1]
        return self._answer([a, b], "and", exemplar_mean)

    def _sweep(self, found: str) -> str:
        """One image per other concept of the vocabulary, none with `found`: does anything else fire?"""
        rng = np.random.default_rng(self.seed + 2)
        # two images per concept with different other attributes: a concept must fire in both (see _next), so a
        # second concept drawn by chance into one image's other slots does not count
        prompts = [
            (f"sweep {c}", prompt_phrase(rng, {concept_slot(c): c}, {found}))
            for c in render.CONCEPTS
            if c != found
            for _ in "ab"
        ]
        return f"[HYPOTHESIS LIST]:\nHypothesis_1: {found}, and perhaps another concept\n" + _code(
            _log_call(json.dumps([list(p) for p in prompts]))
        )

    def _test_alone(self, candidates: list[str]) -> str:
        rng = np.random.default_rng(self.seed)
        prompts = []
        for c in candidates:
            others = set(candidates) - {c}
            prompts += [
                (f"alone {c}", prompt_phrase(rng, {concept_slot(c): c}, others)) for _ in range(PROMPTS_PER_TEST)
            ]
        prompts += [("neutral", prompt_phrase(rng, {}, set(candidates))) for _ in range(PROMPTS_PER_TEST)]
        hypotheses = "\n".join(f"Hypothesis_{i + 1}: the unit detects {c}" for i, c in enumerate(candidates))
        return f"[HYPOTHESIS LIST]:\n{hypotheses}\n" + _code(_log_call(json.dumps([list(p) for p in prompts])))

    def _test_pairs(self, candidates: list[str]) -> str:
        rng = np.random.default_rng(self.seed + 1)
        prompts = []
        for a, b in itertools.combinations(candidates, 2):
            for _ in range(PROMPTS_PER_TEST):
                if "background" in (concept_slot(a), concept_slot(b)) and concept_slot(a) != concept_slot(b):
                    text = prompt_phrase(rng, {concept_slot(a): a, concept_slot(b): b}, set())
                else:  # two things, so the highlighted one tells which concept the unit fires on
                    text = (
                        prompt_phrase(rng, {concept_slot(a): a}, {b})
                        + " next to "
                        + prompt_phrase(rng, {concept_slot(b): b}, {a})
                    )
                prompts.append((f"both {a} {b}", text))
        extra = "tools.describe_images(masked, titles)"
        return "[HYPOTHESIS LIST]:\nHypothesis_1: the unit needs two concepts together\n" + _code(
            _log_call(json.dumps([list(p) for p in prompts]), extra)
        )

    @staticmethod
    def _answer(concepts: list[str], mode: str, exemplar_mean: float) -> str:
        if not concepts:
            return "[DESCRIPTION]: No concept of the vocabulary explains the unit.\n[LABEL]: none"
        label = {"mono": "{0}", "or": "{0} OR {1}", "and": "{0} when {1} is present"}[mode].format(*concepts)
        return (
            f"[DESCRIPTION]: The unit fires on {label} (exemplar mean activation {exemplar_mean:.2f}; tested "
            f"with images that contain or lack each concept).\n[LABEL]: {label}"
        )


def _activations(log: str) -> list[tuple[str, float]]:
    out = []
    for line in log.splitlines():
        if m := _LINE.match(line.strip()):
            out.append((m.group(1), float(m.group(2))))
    return out


def _by_group(pairs: list[tuple[str, float]], reduce=np.mean) -> dict[str, float]:
    """Activations grouped by image title, reduced (mean by default)."""
    groups: dict[str, list[float]] = {}
    for title, value in pairs:
        groups.setdefault(title, []).append(value)
    return {k: float(reduce(v)) for k, v in groups.items()}


def _common(log: str) -> list[str]:
    """Candidate concepts from the exemplars' descriptions: those highlighted in at least a quarter of them (most
    frequent first, at most MAX_CANDIDATES), then the most frequent surrounding one if in most of them."""
    highlighted: dict[str, int] = {}
    around: dict[str, int] = {}
    lines = [line for line in log.splitlines() if line.startswith('"exemplar') and "highlighted regions:" in line]
    for line in lines:
        inside, _, outside = line.split("highlighted regions:", 1)[1].partition("; around:")
        for counts, text in ((highlighted, inside), (around, outside)):
            for concept in {c.strip() for c in text.split(",")} & set(render.CONCEPTS):
                counts[concept] = counts.get(concept, 0) + 1
    ranked = sorted(highlighted, key=lambda c: -highlighted[c])
    out = [c for c in ranked if highlighted[c] >= len(lines) / 4][:MAX_CANDIDATES]
    context = [c for c in sorted(around, key=lambda c: -around[c]) if around[c] > len(lines) / 2 and c not in out]
    return out + context[:1]


def _highlighted(log: str, title: str) -> list[str]:
    """Concepts named by describe_images for the images titled `title`."""
    words = []
    for line in log.splitlines():
        if line.startswith(f'"{title}", highlighted regions:'):
            inside = line.split("highlighted regions:", 1)[1].partition("; around:")[0]
            words += [w.strip() for w in inside.split(",")]
    return words
