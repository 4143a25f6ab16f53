"""FIND's interpreter protocol: a chat model probes a black-box function script through `PYTHON(...)` commands.

The interpreter (any `ChatBackend`: a hosted model, a local server, or `offline.OfflineInterpreter`) is told
that a function f lives in a script it cannot read and that it may call it with

    PYTHON(function.py 1 2.5 -3)            numeric inputs, separated by spaces or commas
    PYTHON(function.py "hello" "two words") string inputs, in double quotes

Each round the model replies; every `PYTHON(...)` command in the reply is run with `sandbox.run_script` (the
script prints `Function input - output pairs: (x1, y1) (x2, y2) ...`) and all outputs go back in the next user
message, each as `Response: ...`. A malformed command (unclosed parenthesis, single or triple quotes, a
non-numeric argument to a numeric function, no script name) gets an `Error: ...` line instead, so the model
can correct itself. The loop ends when a reply carries the final answer

    [DESCRIPTION]: what f does
    [DOMAIN]: where f behaves unexpectedly (numeric functions only)
    [CODE]: a Python implementation, `def f(x): ...`

or after `max_rounds` replies (20, as in FIND; the description is then empty). As in FIND, a reply holding
`[DESCRIPTION]` is final: commands in the same reply are not run.

Variants (FIND's run_interpretations): "plain"; "search_init" (search initialisation: the first message
already shows f's outputs on precomputed exemplar inputs, like dataset exemplars); "one_shot" (the first
message includes a worked example interaction on a different function). FIND's MILAN-like single-round
baseline is `variant="search_init", max_rounds=1`.

The prompts are written for this project from the protocol's facts (commands, answer tags, the [-128, 128]
test range, possible noise and a corrupted interval); they are not FIND's prompt files.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.sandbox import SandboxLimits, run_script
from jaxinterp.errors import InputError

CATEGORIES = ("numeric", "numeric_mlp", "string", "neurons_entities", "neurons_relations")
NUMERIC_CATEGORIES = ("numeric", "numeric_mlp")
# A function the loop can call in-process instead of a script: inputs -> (what the model sees, success).
FunctionRunner = Callable[[Sequence[str]], tuple[str, bool]]
VARIANTS = ("plain", "search_init", "one_shot")
MAX_ROUNDS = 20  # FIND gives up after 20 rounds
MAX_COMMANDS_PER_REPLY = 10
MAX_ARGS_PER_COMMAND = 400

SYSTEM_PROMPT = """\
You are an interpretability researcher studying a function you cannot read. You have one tool:

PYTHON(<script> <input1> <input2> ...) runs the function script on each input and returns its outputs.

Put commands anywhere in your reply, as many as you need (at most {max_commands} per reply). Separate inputs \
with spaces or commas; wrap each string input in double quotes ("like this"); single quotes are not accepted. \
The outputs of all your commands come back in the next message, one line starting with "Response:" per \
command, or "Error:" when a command could not be run."""

_ANSWER_NUMERIC = """\
When you are confident, end with your answer in exactly this form:
[DESCRIPTION]: a short explanation of what f computes.
[DOMAIN]: the interval of x where f behaves unexpectedly and what it does there, or "none".
[CODE]: Python code defining `def f(x):` that reproduces f, including the unexpected interval."""

_ANSWER_STRING = """\
When you are confident, end with your answer in exactly this form:
[DESCRIPTION]: a short explanation of what f does to its input string.
[CODE]: Python code defining `def f(x):` that takes a string and returns f's output string."""

TASK_PROMPTS = {
    "numeric": """\
The function f(x) is in the script {script}. You can only learn about it by calling it, e.g. \
PYTHON({script} -128 -64 0 1 2.5 64 128), which returns f at each number. Find out what f computes. Test \
inputs across the range [-128, 128]: broad sweeps first, then closer looks wherever the behaviour changes. \
The outputs may be noisy, and on one interval of x the function may behave differently from everywhere \
else; look for such an interval. Form a hypothesis, test it on new inputs and revise it as needed.

"""
    + _ANSWER_NUMERIC,
    "numeric_mlp": """\
The function f(x) is in the script {script}. It is implemented by a small neural network (an MLP) trained to \
approximate a simple function; describe that simple function. You can only learn about f by calling it, e.g. \
PYTHON({script} -128 -64 0 1 2.5 64 128), which returns f at each number. Test inputs across the range \
[-128, 128]: broad sweeps first, then closer looks wherever the behaviour changes. Look also for an interval \
of x where f behaves differently from everywhere else. Form a hypothesis, test it on new inputs and revise it.

"""
    + _ANSWER_NUMERIC,
    "string": """\
The function f(x) is in the script {script}; it takes a string and returns a string or a number. You can only \
learn about it by calling it, e.g. PYTHON({script} "hello" "Two Words" "abc123"), which returns f for each \
input. Find out what f does: try inputs that differ in case, length, letters, digits, vowels and spaces. Form \
a hypothesis, test it on new inputs and revise it as needed.

"""
    + _ANSWER_STRING,
    "neurons_entities": """\
The function f(x) in {script} is a neuron: it takes a word and returns how strongly it responds to it, between 0 \
and 1. It responds to words related to one concept, or to either of two concepts. You can only learn about it \
by calling it, e.g. PYTHON({script} "dog" "tree" "piano"), which returns f for each word. Find the concept(s): \
try words from many different topics, then narrow down. Form a hypothesis, test it on new words and revise it.

When you are confident, end with your answer in exactly this form:
[DESCRIPTION]: the concept or concepts the neuron responds to, in a few words.""",
    "neurons_relations": """\
The function f(x) in {script} is a neuron: it takes a word or name and returns another word, name or number, \
or "undefined". It applies one rule (a relation, e.g. from things of one kind to a fact about them) and may \
return "undefined" on part of its inputs. You can only learn about it by calling it, e.g. \
PYTHON({script} "Paris" "oak" "Mars"), which returns f for each input. Find the rule and where it does not \
apply. Form a hypothesis, test it on new inputs and revise it as needed.

When you are confident, end with your answer in exactly this form:
[DESCRIPTION]: the rule f applies.
[DOMAIN]: the inputs of the rule's own kind on which f returns "undefined" anyway, or "none".""",
}

_SEARCH_INIT = "To start you off, here is what f returns on some chosen inputs:\n{response}"

ONE_SHOT_EXAMPLES = {
    "numeric": """\
An example of a complete session, for a different function g in example.py:
Assistant: PYTHON(example.py -100 -10 0 10 100)
User: Response: Function input - output pairs: (-100, -201.0) (-10, -21.0) (0, -1.0) (10, 19.0) (100, 199.0)
Assistant: PYTHON(example.py 20 25 30 35)
User: Response: Function input - output pairs: (20, 4.1) (25, 4.0) (30, 3.9) (35, 69.0)
Assistant: [DESCRIPTION]: g(x) = 2x - 1, a straight line with slope 2 and intercept -1.
[DOMAIN]: between x = 20 and x = 30 the output stays near 4 instead of following the line.
[CODE]: def f(x):
    if 20 <= x <= 30:
        return 4.0
    return 2 * x - 1""",
    "string": """\
An example of a complete session, for a different function g in example.py:
Assistant: PYTHON(example.py "abc" "Hello" "x1 y2")
User: Response: Function input - output pairs: (abc, abcabc) (Hello, HelloHello) (x1 y2, x1 y2x1 y2)
Assistant: [DESCRIPTION]: g repeats its input string twice.
[CODE]: def f(x):
    return x + x""",
}
ONE_SHOT_EXAMPLES["numeric_mlp"] = ONE_SHOT_EXAMPLES["numeric"]
ONE_SHOT_EXAMPLES["neurons_entities"] = """\
An example of a complete session, for a different neuron g in example.py:
Assistant: PYTHON(example.py "violin" "carrot" "river" "hammer" "sonata")
User: Response: Function input - output pairs: (violin, 0.9412) (carrot, 0.0210) (river, 0.0532) (hammer, 0.0101) \
(sonata, 0.9050)
Assistant: [DESCRIPTION]: classical music."""
ONE_SHOT_EXAMPLES["neurons_relations"] = """\
An example of a complete session, for a different neuron g in example.py:
Assistant: PYTHON(example.py "Paris" "Rome" "Kyoto" "banana" "Berlin")
User: Response: Function input - output pairs: (Paris, France) (Rome, Italy) (Kyoto, undefined) (banana, \
undefined) (Berlin, Germany)
Assistant: [DESCRIPTION]: maps a city to the country it is in.
[DOMAIN]: cities in Asia give "undefined"."""

NO_COMMAND_MESSAGE = (
    "No command found. Call the function with PYTHON(<script> <inputs>), or give your final answer starting "
    "with [DESCRIPTION]:."
)


@dataclasses.dataclass(frozen=True)
class Command:
    """One `PYTHON(...)` command found in a reply: its text, the script named and the inputs, or an error."""

    text: str
    script: str = ""
    args: tuple[str, ...] = ()
    error: str | None = None


@dataclasses.dataclass
class ExecutedCommand:
    """A command as the interpreter loop handled it: the round (0: search-initialisation exemplars, run before
    the first reply), the command and what was sent back."""

    round: int
    text: str
    args: list[str]
    response: str
    ok: bool


@dataclasses.dataclass
class Transcript:
    """The whole conversation and every command handled (run or refused), in order."""

    messages: list[ChatMessage] = dataclasses.field(default_factory=list)
    commands: list[ExecutedCommand] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role, "content": m.text()} for m in self.messages],
            "commands": [dataclasses.asdict(c) for c in self.commands],
        }


@dataclasses.dataclass
class Interpretation:
    """The interpreter's final answer and how it got there.

    Attributes:
        description: Text after `[DESCRIPTION]:`; "" when no answer came within the round limit.
        domain: Text after `[DOMAIN]:`; "" when absent (string functions).
        code: Source after `[CODE]:`, with Markdown fences removed; "" when absent.
        transcript: Messages and executed commands.
        rounds: Number of model replies.
        stopped_reason: "answer" (final answer given) or "max_rounds" (round limit reached).
    """

    description: str
    domain: str
    code: str
    transcript: Transcript
    rounds: int
    stopped_reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "domain": self.domain,
            "code": self.code,
            "rounds": self.rounds,
            "stopped_reason": self.stopped_reason,
            "transcript": self.transcript.to_json(),
        }


# --------------------------------------------------------------------------------------------------------
# Parsing


def parse_commands(reply: str, numeric: bool = False) -> list[Command]:
    """Every `PYTHON(...)` command in `reply`, in order; malformed ones carry an `error` for the model to read.

    Inputs are separated by whitespace or commas; a double-quoted input may hold spaces, commas and parentheses
    (`\\"` and `\\\\` escape a quote and a backslash). Single quotes and triple quotes are refused (FIND refuses
    them too), so are non-numeric inputs when `numeric`, a missing script name and an unclosed parenthesis.
    """
    commands = []
    for match in re.finditer(r"PYTHON\(", reply):
        commands.append(_parse_one(reply, match.end(), numeric))
    return commands


def _parse_one(reply: str, start: int, numeric: bool) -> Command:
    tokens: list[str] = []
    current: list[str] | None = None  # characters of the token being read, None between tokens
    i = start
    while i < len(reply):
        ch = reply[i]
        if ch == '"':
            if reply.startswith('"""', i):
                return _bad(reply, start, i, "triple quotes are not accepted; put each string in double quotes")
            value, i = _read_quoted(reply, i + 1)
            if value is None:
                return _bad(reply, start, len(reply), "a double quote is never closed")
            tokens.append(value)
            current = None
            continue
        if ch == "'":
            return _bad(reply, start, i, "single quotes are not accepted; put each string in double quotes")
        if ch == ")":
            if current is not None:
                tokens.append("".join(current))
            text = reply[start - len("PYTHON(") : i + 1]
            return _check(text, tokens, numeric)
        if ch.isspace() or ch == ",":
            if current is not None:
                tokens.append("".join(current))
                current = None
        else:
            current = (current or []) + [ch]
        i += 1
    return _bad(reply, start, len(reply), "the command has no closing parenthesis")


def _read_quoted(reply: str, i: int) -> tuple[str | None, int]:
    out = []
    while i < len(reply):
        ch = reply[i]
        if ch == "\\" and i + 1 < len(reply) and reply[i + 1] in '"\\':
            out.append(reply[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return None, i


def _bad(reply: str, start: int, stop: int, why: str) -> Command:
    text = reply[start - len("PYTHON(") : min(stop + 1, start + 200)]
    return Command(text=text, error=why)


def _check(text: str, tokens: list[str], numeric: bool) -> Command:
    if not tokens or not tokens[0].endswith(".py"):
        return Command(text, error="the first item must be the script name, e.g. PYTHON(function.py 1 2 3)")
    script, args = tokens[0], tokens[1:]
    if not args:
        return Command(text, script, error="no inputs given; add inputs after the script name")
    if len(args) > MAX_ARGS_PER_COMMAND:
        return Command(text, script, error=f"at most {MAX_ARGS_PER_COMMAND} inputs per command")
    if numeric:
        bad = [a for a in args if not _is_number(a)]
        if bad:
            return Command(text, script, error=f"inputs must be numbers; not numbers: {', '.join(bad[:5])}")
    return Command(text, script, tuple(args))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_TAG = re.compile(r"\[(DESCRIPTION|DOMAIN|CODE)\]\s*:?")
_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def parse_answer(reply: str) -> dict[str, str] | None:
    """The final answer's sections `{"description", "domain", "code"}`, or None when `[DESCRIPTION]` is absent.

    Each section runs from its tag to the next tag; the code section loses Markdown fences.
    """
    tags = list(_TAG.finditer(reply))
    if not any(m.group(1) == "DESCRIPTION" for m in tags):
        return None
    sections = {"description": "", "domain": "", "code": ""}
    for m, nxt in zip(tags, [*tags[1:], None], strict=True):
        body = reply[m.end() : nxt.start() if nxt else len(reply)]
        key = m.group(1).lower()
        if not sections[key]:  # the first occurrence of a tag counts
            sections[key] = body
    code = sections["code"]
    fence = _FENCE.search(code)
    if fence:
        code = fence.group(1)
    code = code.lstrip(" \t").strip("\n").rstrip()  # code may start on the tag's own line
    sections["code"] = textwrap.dedent(code) + "\n" if code else ""
    sections["description"] = sections["description"].strip()
    sections["domain"] = sections["domain"].strip()
    return sections


# --------------------------------------------------------------------------------------------------------
# The loop


def task_prompt(
    category: str,
    script: str,
    variant: str = "plain",
    exemplar_response: str | None = None,
) -> str:
    """The first user message for `category` and `variant` (`exemplar_response`: search initialisation)."""
    if category not in CATEGORIES:
        raise InputError(f"FIND category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    if variant not in VARIANTS:
        raise InputError(f"interpreter variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    prompt = TASK_PROMPTS[category].format(script=script)
    if variant == "search_init":
        if exemplar_response is None:
            raise InputError("search initialisation needs exemplar inputs")
        prompt += "\n\n" + _SEARCH_INIT.format(response=exemplar_response)
    elif variant == "one_shot":
        prompt += "\n\n" + ONE_SHOT_EXAMPLES[category]
    return prompt


def interpret(
    function: str | Path | FunctionRunner,
    backend: ChatBackend,
    category: str = "numeric",
    *,
    variant: str = "plain",
    exemplars: Sequence[Any] = (),
    max_rounds: int = MAX_ROUNDS,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    script_name: str = "function.py",
    helpers: Sequence[str | Path] = (),
    limits: SandboxLimits = SandboxLimits(wall_seconds=10.0),  # noqa: B008 - frozen
) -> Interpretation:
    """Let `backend` interpret the function script at `function` through PYTHON(...) commands.

    Args:
        function: The function script (prints `Function input - output pairs: ...` for its argv inputs), or a
            `FunctionRunner` called in-process (synthetic neurons, which need a language model and the network).
        backend: The interpreter model.
        category: One of `CATEGORIES` (chooses the prompt; numeric ones check that inputs are numbers).
        variant: "plain", "search_init" (needs `exemplars`) or "one_shot".
        exemplars: Inputs whose outputs open the conversation under search initialisation.
        max_rounds: Model replies before giving up (FIND: 20).
        max_tokens: Per reply.
        temperature: Sampling temperature of the interpreter.
        script_name: The name the model is told to call; any `*.py` name it uses runs `function`.
        helpers: Files the script imports, copied next to it in the sandbox.
        limits: Sandbox limits per command.

    Returns:
        The final answer (empty when none came within `max_rounds`) with the transcript.
    """
    if not callable(function):
        function = Path(function)
        if not function.is_file():
            raise InputError(f"no function script at {function}")
    if max_rounds < 1:
        raise InputError(f"max_rounds must be at least 1, got {max_rounds}")
    task_prompt(category, script_name, variant, "")  # checks category and variant before anything runs
    numeric = category in NUMERIC_CATEGORIES
    transcript = Transcript()

    exemplar_response = None
    if variant == "search_init":
        if not exemplars:
            raise InputError("search initialisation needs exemplar inputs: pass exemplars=[...]")
        args = [str(x) for x in exemplars]
        output, ok = _run(function, args, helpers, limits)
        exemplar_response = ("Response: " if ok else "Error: ") + output
        text = f"PYTHON({script_name} {' '.join(args)})"
        transcript.commands.append(ExecutedCommand(0, text, args, exemplar_response, ok))
    user = task_prompt(category, script_name, variant, exemplar_response)
    transcript.messages += [
        ChatMessage("system", SYSTEM_PROMPT.format(max_commands=MAX_COMMANDS_PER_REPLY)),
        ChatMessage("user", user),
    ]

    for round_ in range(1, max_rounds + 1):
        reply = backend.chat(ChatRequest(transcript.messages, max_tokens=max_tokens, temperature=temperature)).text
        transcript.messages.append(ChatMessage("assistant", reply))
        answer = parse_answer(reply)
        if answer is not None:
            return Interpretation(**answer, transcript=transcript, rounds=round_, stopped_reason="answer")
        commands = parse_commands(reply, numeric=numeric)
        lines = []
        for i, command in enumerate(commands):
            if i >= MAX_COMMANDS_PER_REPLY:
                response, ok = f"Error: at most {MAX_COMMANDS_PER_REPLY} commands per reply; not run.", False
            elif command.error is not None:
                response, ok = f"Error in {command.text}: {command.error}", False
            else:
                output, ok = _run(function, command.args, helpers, limits)
                response = f"Response: {output}" if ok else f"Error: {output}"
            transcript.commands.append(ExecutedCommand(round_, command.text, list(command.args), response, ok))
            lines.append(response)
        if round_ < max_rounds:
            transcript.messages.append(ChatMessage("user", "\n".join(lines) if lines else NO_COMMAND_MESSAGE))
    return Interpretation("", "", "", transcript, max_rounds, "max_rounds")


def _run(
    function: Path | FunctionRunner, args: Sequence[str], helpers: Sequence[str | Path], limits: SandboxLimits
) -> tuple[str, bool]:
    """Run the function script on `args` in the sandbox: (what the model should see, whether it succeeded)."""
    if callable(function):
        return function(args)
    result = run_script(function, args, limits=limits, helpers=helpers)
    if result.ok:
        return result.stdout.strip(), True
    return "the function script failed on these inputs:\n" + result.text()[-2000:], False
