"""An interpreter that needs no language model: probes by design, fits a hypothesis library, answers in FIND form.

`OfflineInterpreter` is a `ChatBackend`, so it runs through the very same `interpreter.interpret` loop, sandbox,
transcript and scorers as a real model. Its first reply is a set of `PYTHON(...)` commands; its second reads
the `Response:` lines that came back and writes `[DESCRIPTION]`, `[DOMAIN]` (numeric) and `[CODE]`. It is
stateless: everything it needs is in the conversation it is given. It ignores search-initialisation exemplars
and one-shot examples (it always chooses its own probes).

This module holds the conversation side only: the probes it asks for and the parsing of the replies. The
hypothesis searches that turn the probed pairs into an answer live in `offline_numeric` (numeric functions:
probes are every integer of [-128, 128] and 48 random points, fixed seed) and `offline_strings` (string
functions: probes are a fixed list of 16 strings); their public names are re-exported here.
"""

from __future__ import annotations

import re

import numpy as np

from jaxinterp.agent.backends import ChatRequest, ChatResponse, Usage
from jaxinterp.agent.find.offline_numeric import GRID, find_interval, fit_numeric, numeric_answer
from jaxinterp.agent.find.offline_strings import STRING_OPS, fit_string, string_answer
from jaxinterp.agent.find.scoring import parse_numeric_pairs, parse_string_pairs

__all__ = [
    "GRID",
    "N_RANDOM",
    "PROBE_STRINGS",
    "STRING_OPS",
    "OfflineInterpreter",
    "find_interval",
    "fit_numeric",
    "fit_string",
    "numeric_answer",
    "string_answer",
]

N_RANDOM = 48
PROBE_STRINGS = (
    "hello",
    "World",
    "abc123",
    "Python 3.11",
    "a b c",
    "zebra",
    "MIT CSAIL",
    "xyz",
    "racecar",
    "12345",
    "Hello World!",
    "aeiou",
    "The quick brown fox",
    "AbCdEf",
    "q",
    "Mississippi",
)
_CHUNK = 80  # inputs per command


class OfflineInterpreter:
    """A scripted `ChatBackend`: commands first, then a fitted final answer. See the module docstring.

    Args:
        category: "numeric", "numeric_mlp" or "string"; None to tell from the task prompt (a numeric prompt
            asks for [DOMAIN]).
        seed: Seed of the random numeric probes.
    """

    provider = "offline"
    base_url = "offline://"
    model = "offline-fit"

    def __init__(self, category: str | None = None, seed: int = 0):
        self.category = category
        self.seed = seed

    def __repr__(self) -> str:
        return f"OfflineInterpreter(category={self.category!r}, seed={self.seed})"

    def chat(self, request: ChatRequest) -> ChatResponse:
        messages = request.messages
        task = next((m.text() for m in messages if m.role == "user"), "")
        found = re.search(r"PYTHON\((\S+?\.py)", task)
        script = found.group(1) if found else "function.py"
        numeric = (self.category or ("numeric" if "[DOMAIN]" in task else "string")) != "string"
        asked = sum(m.role == "assistant" for m in messages)
        first_user = next((i for i, m in enumerate(messages) if m.role == "user"), len(messages))
        responses = "\n".join(m.text() for m in messages[first_user + 1 :] if m.role == "user")
        if asked == 0:
            text = _numeric_commands(script, self.seed) if numeric else _string_commands(script)
        elif numeric:
            text = numeric_answer(parse_numeric_pairs(responses))
        else:
            inputs = list(PROBE_STRINGS)
            outputs = []
            for line in responses.splitlines():
                if line.startswith("Response:"):
                    outputs = parse_string_pairs(line, inputs)
            text = string_answer(list(zip(inputs, outputs, strict=True)) if outputs else [])
        return ChatResponse(text, Usage(0, 0), None, self.model)


def _numeric_commands(script: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    random_points = np.round(rng.uniform(-128, 128, N_RANDOM), 2)
    chunks = [GRID[i : i + _CHUNK] for i in range(0, len(GRID), _CHUNK)] + [tuple(random_points)]
    lines = [f"PYTHON({script} {' '.join(_num(x) for x in chunk)})" for chunk in chunks]
    return "I will sweep the integers of [-128, 128] and some random points.\n" + "\n".join(lines)


def _string_commands(script: str) -> str:
    quoted = " ".join(f'"{s}"' for s in PROBE_STRINGS)
    return f"I will try strings that differ in case, digits, vowels and spaces.\nPYTHON({script} {quoted})"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
