"""FIND's three scorers: numeric code by NMSE, string code by exact match, descriptions by a unit-test judge.

- **Numeric code** (FIND's `mse_indicator.py`): the interpreter's `[CODE]` and the ground truth are evaluated
  on x = i + 0.5, i in [-128, 128) (256 points); points where the ground truth is NaN or infinite are skipped;

      NMSE = sum_i (y_i - p_i)^2 / sum_i y_i^2

  and the function counts as correct when NMSE < 0.1. This is the reference's normalisation (by the mean
  square of the ground truth, not by its variance, so a constant offset on a function far from zero costs
  little); `normalisation="variance"` divides by sum_i (y_i - mean(y))^2 instead, for comparison. Code that
  crashes, defines no `f`, or returns a non-finite or non-numeric value where the ground truth is finite
  scores 0 (NMSE = inf), as a crash does in FIND.
- **String code** (`string_indicator.py`): the code runs on each held-out input; score = fraction of exact
  string matches with the correct output (outputs compared as `str`).
- **Descriptions** (`unit_testing.py`): a judge model sees the description and three candidate functions,
  each shown by input/output pairs, and must answer `[ANSWER]: <k>` naming the one the description fits; the
  score is the accuracy over the function's unit tests (chance 1/3). **This scorer needs a chat model** (FIND
  uses a fine-tuned Vicuna-13B evaluator or GPT-4); there is no offline stand-in, and `judge_accuracy`
  refuses to run without a backend.

Model-written code always runs in the sandbox (`sandbox.run_code`), never in this process.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.sandbox import SandboxLimits, run_code, run_script
from jaxinterp.errors import InputError

NUMERIC_TEST_POINTS: tuple[float, ...] = tuple(i + 0.5 for i in range(-128, 128))
NMSE_THRESHOLD = 0.1
CODE_LIMITS = SandboxLimits(wall_seconds=20.0)

# Runs the candidate code (candidate.py) on the inputs in inputs.json; one JSON result per input.
_HARNESS = """\
import json, math, sys
inputs = json.load(open("inputs.json"))
namespace = {"__name__": "candidate"}
try:
    exec(compile(open("candidate.py").read(), "candidate.py", "exec"), namespace)
    f = namespace["f"]
except BaseException as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.exit(0)
numeric = sys.argv[1] == "numeric"
out = []
for x in inputs:
    try:
        y = f(x)
        if numeric:
            y = float(y)
            y = y if math.isfinite(y) else None
        else:
            y = str(y)
    except BaseException:
        y = None
    out.append(y)
print(json.dumps({"outputs": out}))
"""


def run_candidate(code: str, inputs: Sequence[Any], numeric: bool, limits: SandboxLimits = CODE_LIMITS) -> list:
    """`f(x)` for each input from the model-written `code`, run in the sandbox.

    Returns:
        One output per input (float or str); None where `f` raised or returned a non-finite / unusable value.

    Raises:
        RuntimeError: The code could not be loaded (syntax error, no `f`, time-out); the message says why.
    """
    files = {"candidate.py": code, "inputs.json": json.dumps(list(inputs))}
    result = run_code(_HARNESS, limits, files=files, args=["numeric" if numeric else "string"])
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"candidate code did not run: {result.text()[-500:]}") from None
    if "error" in data:
        raise RuntimeError(f"candidate code did not load: {data['error']}")
    return data["outputs"]


_PAIR = re.compile(r"\(\s*([^(),\s]+)\s*,\s*([^(),\s]+)\s*\)")


def parse_numeric_pairs(text: str) -> list[tuple[float, float]]:
    """(x, y) pairs from `Function input - output pairs: (x1, y1) (x2, y2) ...` (nan / inf allowed)."""
    pairs = []
    for a, b in _PAIR.findall(text):
        try:
            pairs.append((float(a), float(b)))
        except ValueError:
            continue
    return pairs


def parse_string_pairs(text: str, inputs: Sequence[str]) -> list[str | None]:
    """Outputs from `... pairs: (in1, out1) (in2, out2) ...` for string functions, knowing the inputs sent.

    Outputs may contain commas and parentheses, so each is read up to where the next known input starts;
    None for an input whose pair is missing.
    """
    marker = "pairs:"
    pos = text.find(marker)
    pos = pos + len(marker) if pos >= 0 else 0
    outputs: list[str | None] = []
    for i, inp in enumerate(inputs):
        head = f"({inp}, "
        start = text.find(head, pos)
        if start < 0:
            outputs.append(None)
            continue
        start += len(head)
        ends = [text.find(f") ({later}, ", start) for later in inputs[i + 1 :]]
        ends = [e for e in ends if e >= 0]
        end = min(ends) if ends else text.rstrip().rfind(")")
        if end < start:
            outputs.append(None)
            continue
        outputs.append(text[start:end])
        pos = end
    return outputs


def function_outputs(
    script: str | Path,
    inputs: Sequence[float],
    helpers: Sequence[str | Path] = (),
    limits: SandboxLimits = CODE_LIMITS,
) -> np.ndarray:
    """Ground-truth outputs of a numeric function script on `inputs` (NaN where it gave none)."""
    result = run_script(script, [repr(float(x)) for x in inputs], limits=limits, helpers=helpers)
    if not result.ok:
        raise RuntimeError(f"function script {script} failed: {result.text()[-500:]}")
    pairs = parse_numeric_pairs(result.stdout)
    found = {}
    for x, y in pairs:
        found.setdefault(x, y)
    return np.array([found.get(float(x), math.nan) for x in inputs], dtype=float)


def nmse(y_true: Sequence[float], y_pred: Sequence[float | None], normalisation: str = "energy") -> float:
    """Normalised mean squared error over the points where the ground truth is finite.

    Args:
        y_true: Ground-truth outputs; NaN / inf entries are skipped.
        y_pred: Predictions; None / NaN / inf where the truth is finite makes the result inf.
        normalisation: "energy" (FIND: divide by sum y^2) or "variance" (divide by sum (y - mean y)^2).

    Returns:
        The NMSE; 0.0 for a perfect prediction even of an all-zero (or constant) truth.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.array([math.nan if v is None else v for v in y_pred], dtype=float)
    if y.shape != p.shape:
        raise InputError(f"{len(y)} ground-truth outputs but {len(p)} predictions")
    keep = np.isfinite(y)
    y, p = y[keep], p[keep]
    if not np.isfinite(p).all():
        return math.inf
    error = float(np.sum((y - p) ** 2))
    if normalisation == "energy":
        scale = float(np.sum(y**2))
    elif normalisation == "variance":
        scale = float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0
    else:
        raise InputError(f"normalisation must be 'energy' or 'variance', got {normalisation!r}")
    if error == 0.0:
        return 0.0
    return error / scale if scale > 0 else math.inf


@dataclasses.dataclass(frozen=True)
class CodeScore:
    """One function's code score: `correct` (NMSE < 0.1 / mean exact match), the value and any error."""

    score: float
    value: float
    error: str | None = None


def score_numeric_code(
    code: str,
    y_true: Sequence[float],
    inputs: Sequence[float] = NUMERIC_TEST_POINTS,
    threshold: float = NMSE_THRESHOLD,
    normalisation: str = "energy",
) -> CodeScore:
    """1 when the model's code matches the ground truth `y_true` on `inputs` with NMSE < `threshold`, else 0."""
    if len(y_true) != len(inputs):
        raise InputError(f"{len(y_true)} ground-truth outputs for {len(inputs)} inputs")
    try:
        predicted = run_candidate(code, [float(x) for x in inputs], numeric=True)
    except RuntimeError as e:
        return CodeScore(0.0, math.inf, str(e))
    value = nmse(y_true, predicted, normalisation)
    return CodeScore(float(value < threshold), value)


def score_string_code(code: str, items: Sequence[tuple[str, str]]) -> CodeScore:
    """Fraction of held-out `(input, output)` items on which the model's code returns exactly `output`."""
    if not items:
        raise InputError("no held-out items to score the string code on")
    inputs = [x for x, _ in items]
    try:
        predicted = run_candidate(code, inputs, numeric=False)
    except RuntimeError as e:
        return CodeScore(0.0, 0.0, str(e))
    hits = [p is not None and p == str(y) for p, (_, y) in zip(predicted, items, strict=True)]
    value = sum(hits) / len(items)
    return CodeScore(value, value)


# --------------------------------------------------------------------------------------------------------
# Unit-test judge


@dataclasses.dataclass(frozen=True)
class UnitTest:
    """Three candidate functions shown by input/output pairs; `correct` indexes (0-based) the described one."""

    candidates: tuple[tuple[tuple[str, str], ...], ...]
    correct: int

    def __post_init__(self):
        if len(self.candidates) < 2 or not 0 <= self.correct < len(self.candidates):
            raise InputError("a unit test needs at least two candidates and a valid correct index")


JUDGE_PROMPT = """\
Here is a description of a function:
{description}

Below are {n} candidate functions, each shown through some of its input/output pairs. Exactly one of them is \
the function the description is about. Which one? Think briefly, then end your reply with [ANSWER]: followed \
by the number of the candidate (1 to {n}).

{candidates}"""

SELECTIVITY_PROMPT = """\
Here is a description of a neuron, a function that responds strongly to some words and weakly to others:
{description}

Which of these {n} words does the neuron respond to most strongly? Think briefly, then end your reply with \
[ANSWER]: followed by the number of the word (1 to {n}).

{candidates}"""

_ANSWER = re.compile(r"\[ANSWER\]\s*:?\s*\(?(\d+)")


def judge_prompt(description: str, test: UnitTest) -> str:
    """The judge's question for one unit test (candidates numbered from 1)."""
    blocks = []
    for k, pairs in enumerate(test.candidates, start=1):
        shown = "\n".join(f"  input: {x!r} -> output: {y!r}" for x, y in pairs)
        blocks.append(f"Candidate {k}:\n{shown}")
    return JUDGE_PROMPT.format(description=description, n=len(test.candidates), candidates="\n\n".join(blocks))


def selectivity_prompt(description: str, test: UnitTest) -> str:
    """FIND's entity-neuron unit test: which candidate input is the neuron most selective for (each candidate is
    one `(word, "")` pair)."""
    words = "\n".join(f"{k}. {pairs[0][0]}" for k, pairs in enumerate(test.candidates, start=1))
    return SELECTIVITY_PROMPT.format(description=description, n=len(test.candidates), candidates=words)


def parse_judge_answer(reply: str) -> int | None:
    """0-based index from the last `[ANSWER]: k` in the reply; None when there is none."""
    found = _ANSWER.findall(reply)
    return int(found[-1]) - 1 if found else None


def judge_accuracy(
    backend: ChatBackend | None,
    description: str,
    tests: Sequence[UnitTest],
    max_tokens: int = 256,
    temperature: float = 0.0,
    prompt: Callable[[str, UnitTest], str] = judge_prompt,
) -> float:
    """Fraction of `tests` in which the judge model picks the described candidate (chance: 1 / #candidates).

    `prompt` builds the question: `judge_prompt` (input/output pairs per candidate; numeric, string and relation
    functions) or `selectivity_prompt` (one input per candidate; entity neurons).

    Needs a chat model: FIND's judge is a fine-tuned Vicuna-13B or GPT-4. With `backend=None` it raises
    rather than return a number. An unparseable answer counts as wrong; an empty description scores 0
    without asking the judge.

    Raises:
        InputError: No backend, or no unit tests.
    """
    if backend is None:
        raise InputError(
            "the unit-test description scorer needs a chat model as judge (no offline stand-in): pass a backend, "
            "e.g. backend_from_env()"
        )
    if not tests:
        raise InputError("no unit tests to judge the description on")
    if not description.strip():
        return 0.0
    hits = 0
    for test in tests:
        question = [ChatMessage("user", prompt(description, test))]
        reply = backend.chat(ChatRequest(question, max_tokens=max_tokens, temperature=temperature)).text
        hits += parse_judge_answer(reply) == test.correct
    return hits / len(tests)


def category_accuracy(results: Iterable[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """Per-category mean score: `{category: {"accuracy": mean, "n": count}}` from (category, score) pairs."""
    sums: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter[str] = collections.Counter()
    for category, score in results:
        sums[category] += float(score)
        counts[category] += 1
    return {c: {"accuracy": sums[c] / counts[c], "n": counts[c]} for c in sorted(counts)}
