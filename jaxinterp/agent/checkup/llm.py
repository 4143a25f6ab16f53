"""Asking a language model to draw, and the text-feedback correction loop.

Prompts (ours; the paper's exact wording is not public): the system message fixes the contract that the
sandbox and renderer rely on (one complete Python program in a fenced block, draws with the chosen library,
saves `image.png` in the current directory, no files, no network); the user message names the concept.

Languages: `matplotlib` (the paper's main one, the default) and `pillow` (`PIL.ImageDraw`), the two that run
headless in the sandbox. The paper also used Python-turtle, Processing and TikZ; those need a display, Java
or LaTeX, which the sandbox does not provide, so they are not offered.

Correction (paper: "improve your generated code", text only, no pixels): after each program the model is
told, in text, either that it ran (and asked to draw a more accurate version of the concept, adding what is
missing) or the error the sandbox reported (the traceback, or the time / memory limit it hit). It answers
with the whole program again. Each round's program is rendered and kept, so fidelity can be followed per
round.

`OfflineDrawer` answers the same conversations with no model, from the offline drawer's templates, so
`generate` and `correct` run end to end offline. In a correction conversation it reveals its template a few
statements at a time (a first draft with the first third of the drawing, then more each round), mimicking
the paper's observation that models add a few features per round; its rounds show the loop's mechanics,
not a model's ability.
"""

from __future__ import annotations

import math
import re

import numpy as np

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest, ChatResponse, Usage
from jaxinterp.agent.checkup import drawer
from jaxinterp.agent.checkup.concepts import GROUPS, Concept, concepts
from jaxinterp.errors import InputError

LANGUAGES = {
    "matplotlib": "matplotlib (pyplot and matplotlib.patches); numpy is available",
    "pillow": "Pillow (PIL.Image and PIL.ImageDraw); numpy is available",
}
MAX_TOKENS = 2048

SYSTEM_PROMPT = """\
You draw pictures by writing Python code. Reply with one complete, runnable Python program in a single \
```python fenced block. The program must draw with {library}, save the picture as 'image.png' in the \
current directory, and do nothing else: no other files, no network, no user input, no display windows. \
It runs headless in a sandbox with a time limit."""
DRAW_PROMPT = "Write a program that draws {prompt}."
IMPROVE_PROMPT = (
    "The program ran and saved image.png. Improve your code: draw a more accurate {prompt}, adding what is "
    "missing. Reply with the whole improved program."
)
FIX_PROMPT = "The program failed:\n{error}\nFix it so that it draws {prompt}. Reply with the whole program."

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def system_prompt(language: str = "matplotlib") -> str:
    if language not in LANGUAGES:
        raise InputError(f"drawing language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    return SYSTEM_PROMPT.format(library=LANGUAGES[language])


def draw_messages(concept: Concept, language: str = "matplotlib") -> list[ChatMessage]:
    """The opening conversation: ask for a program that draws `concept`."""
    return [
        ChatMessage("system", system_prompt(language)),
        ChatMessage("user", DRAW_PROMPT.format(prompt=concept.prompt)),
    ]


def feedback(concept: Concept, error: str) -> str:
    """The text the model reads after a round: the sandbox's error, or the request to improve."""
    if error:
        return FIX_PROMPT.format(error=error.strip()[-2000:], prompt=concept.prompt)
    return IMPROVE_PROMPT.format(prompt=concept.prompt)


def extract_code(reply: str) -> str:
    """The program in a reply: the longest fenced block, else the whole reply if it looks like Python, else ""."""
    blocks = _FENCE.findall(reply)
    if blocks:
        return max(blocks, key=len).strip() + "\n"
    text = reply.strip()
    return text + "\n" if re.search(r"^(import|from) \w", text, re.MULTILINE) else ""


class OfflineDrawer:
    """A `ChatBackend` that draws from the offline drawer's templates, for every concept it knows.

    It reads the concept from the last drawing request in the conversation (its caption) and counts the
    assistant turns so far. In a plain request it replies with a complete program; in a correction
    conversation (`incremental=True`) its k-th reply holds the first ceil((k + 1) / 3) thirds of the
    template's statements. The template's random parameters come from `seed` and the concept, plus a
    per-call counter when `temperature > 0`, so repeated samples differ and temperature 0 repeats itself.
    """

    provider = "offline"
    base_url = "offline"
    model = "offline-drawer"

    def __init__(self, seed: int = 0, incremental: bool = False, drafts: int = 3):
        self.seed = seed
        self.incremental = incremental
        self.drafts = drafts
        self.calls = 0
        self._captions = {c.prompt: c for c in concepts(GROUPS)}

    def chat(self, request: ChatRequest) -> ChatResponse:
        messages = request.messages
        asked = next((m.text() for m in messages if m.role == "user" and m.text().startswith("Write a program")), "")
        found = [c for prompt, c in self._captions.items() if asked == DRAW_PROMPT.format(prompt=prompt)]
        if not found:
            raise InputError("the offline drawer only answers its own drawing prompts for known concepts")
        concept = found[0]
        turn = sum(m.role == "assistant" for m in messages)
        sample = self.calls if request.temperature > 0 else 0
        self.calls += 1
        rng = np.random.default_rng([self.seed, sample, *concept.name.encode()])
        background = str(rng.choice(drawer.BACKGROUNDS))
        lines = drawer.body(concept, rng)
        if self.incremental:
            parts = drawer.statements(lines)
            keep = math.ceil(len(parts) * min(turn + 1, self.drafts) / self.drafts)
            lines = [line for part in parts[:keep] for line in part]
        text = f"```python\n{drawer.program(lines, background)}```"
        return ChatResponse(text, Usage(0, 0), None, self.model)


def ask(backend: ChatBackend, messages: list[ChatMessage], temperature: float) -> tuple[str, ChatResponse]:
    """One reply and the program in it."""
    response = backend.chat(ChatRequest(messages, max_tokens=MAX_TOKENS, temperature=temperature))
    return extract_code(response.text), response
