"""An interpreter that needs no language model: probes by design, fits a hypothesis library, answers in FIND form.

`OfflineInterpreter` is a `ChatBackend`, so it runs through the very same `interpreter.interpret` loop, sandbox,
transcript and scorers as a real model. Its first reply is a set of `PYTHON(...)` commands; its second reads
the `Response:` lines that came back and writes `[DESCRIPTION]`, `[DOMAIN]` (numeric) and `[CODE]`. It is
stateless: everything it needs is in the conversation it is given. It ignores search-initialisation exemplars
and one-shot examples (it always chooses its own probes).

Numeric functions. Probes: every integer of [-128, 128] and 48 random points (fixed seed). Hypotheses, each linear
in its coefficients given a few shape parameters searched on a grid: constant, linear, quadratic, cubic, kink
`a + b x + c |x - t|` (absolute value, ReLU and leaky ReLU), step `a + b [x > t]`, rectangle `a + b [lo < x < hi]`,
jump `a + b x + c [x > t] + d max(x - t, 0)` (two lines meeting or not at t), exponential `a + b exp(k x)`,
logarithm `a + b log x` and square root `a + b sqrt x` (when every finite probe has x > 0, resp. x >= 0), reciprocal
`a + b / x`, tanh `a + b tanh(k (x - t))`, Gaussian `a + b exp(-(x - m)^2 / 2 w^2)` and sinusoid
`a + b sin(w x) + c cos(w x)`. Each family's shape parameters are chosen by least squares on the integer grid (knots
refined to 0.05, smooth parameters polished by Nelder-Mead); the coefficients are refitted robustly (points with
residuals beyond 5 robust standard deviations are dropped, three times). Each family is then judged together with
the unexpected interval its training residuals suggest (outliers beyond 6 robust standard deviations in a run of at
least three consecutive probes, at most 60% of them; the output is taken as constant there, two more parameters):
the mean squared error on the held-out random points decides, preferring the simpler hypothesis unless a more
complex one is clearly (1.5x) better, so a local bump the family cannot fit does not pass for a corrupted interval.
Coefficients are rounded to 0.1 (FIND's parameter grid) when that does not raise the held-out error. The chosen
fit's interval, recomputed on all probes, is the [DOMAIN] answer, and the code returns the interval's mean output
there.

String functions. Probes: a fixed list of 16 strings mixing case, digits, vowels, spaces and punctuation.
Hypotheses: about 80 operations (case changes, reversal, sorting, vowel / digit / letter filters, counts as
digits or English words, Caesar shifts, rotations, truncations, duplications, ...), one operation between a
constant prefix and suffix (read off the first probe), and every two-step composition g(h(x)), checked for
exact agreement on every probe, in that order of preference; failing all, the hypothesis agreeing with the
most probes is reported as a guess. The code is the operations' own source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.optimize

from jaxinterp.agent.backends import ChatMessage, ChatResponse, Usage
from jaxinterp.agent.find.scoring import parse_numeric_pairs, parse_string_pairs

GRID = tuple(range(-128, 129))
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

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatResponse:
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


# --------------------------------------------------------------------------------------------------------
# Numeric hypotheses: (name, complexity, shape grid, basis(x, shape) -> columns, column expressions(shape))

Basis = Callable[[np.ndarray, tuple], list[np.ndarray]]


def _families(x: np.ndarray) -> list[tuple[str, int, list[tuple], Basis, Callable[[tuple], list[str]]]]:
    one = np.ones_like
    knots = [(float(t),) for t in np.arange(-120.0, 120.5, 0.5)]
    fams: list[tuple[str, int, list[tuple], Basis, Callable[[tuple], list[str]]]] = [
        ("constant", 1, [()], lambda x, s: [one(x)], lambda s: ["1"]),
        ("linear", 2, [()], lambda x, s: [one(x), x], lambda s: ["1", "x"]),
        ("quadratic", 3, [()], lambda x, s: [one(x), x, x**2], lambda s: ["1", "x", "x ** 2"]),
        ("cubic", 4, [()], lambda x, s: [one(x), x, x**2, x**3], lambda s: ["1", "x", "x ** 2", "x ** 3"]),
        (
            "kink",
            4,
            knots,
            lambda x, s: [one(x), x, np.abs(x - s[0])],
            lambda s: ["1", "x", f"abs({_shifted(s[0])})"],
        ),
        (
            "step",
            3,
            knots,
            lambda x, s: [one(x), (x > s[0]).astype(float)],
            lambda s: ["1", f"(1.0 if x > {s[0]!r} else 0.0)"],
        ),
        (
            "rectangle",
            4,
            [(float(lo), float(hi)) for lo in np.arange(-126, 127, 2.0) for hi in np.arange(lo + 2, 128, 2.0)],
            lambda x, s: [one(x), ((x > s[0]) & (x < s[1])).astype(float)],
            lambda s: ["1", f"(1.0 if {s[0]!r} < x < {s[1]!r} else 0.0)"],
        ),
        (
            "jump",
            5,
            knots,
            lambda x, s: [one(x), x, (x > s[0]).astype(float), np.maximum(x - s[0], 0.0)],
            lambda s: ["1", "x", f"(1.0 if x > {s[0]!r} else 0.0)", f"max({_shifted(s[0])}, 0.0)"],
        ),
        (
            "exponential",
            3,
            [(float(k),) for k in np.concatenate([-np.geomspace(1e-3, 0.3, 40), np.geomspace(1e-3, 0.3, 40)])],
            lambda x, s: [one(x), np.exp(s[0] * x)],
            lambda s: ["1", f"math.exp({s[0]!r} * x)"],
        ),
        ("reciprocal", 2, [()], lambda x, s: [one(x), 1.0 / np.where(x == 0, np.nan, x)], lambda s: ["1", "1 / x"]),
        (
            "tanh",
            4,
            [(float(k), float(t)) for k in np.geomspace(0.01, 2.0, 16) for t in np.arange(-100, 101, 5.0)],
            lambda x, s: [one(x), np.tanh(s[0] * (x - s[1]))],
            lambda s: ["1", f"math.tanh({s[0]!r} * ({_shifted(s[1])}))"],
        ),
        (
            "gaussian",
            4,
            [(float(m), float(w)) for m in np.arange(-120, 121, 2.0) for w in np.geomspace(1.0, 40.0, 12)],
            lambda x, s: [one(x), np.exp(-0.5 * ((x - s[0]) / s[1]) ** 2)],
            lambda s: ["1", f"math.exp(-0.5 * (({_shifted(s[0])}) / {s[1]!r}) ** 2)"],
        ),
        (
            "sinusoid",
            4,
            [(float(w),) for w in np.linspace(0.005, 3.1, 1200)],
            lambda x, s: [one(x), np.sin(s[0] * x), np.cos(s[0] * x)],
            lambda s: ["1", f"math.sin({s[0]!r} * x)", f"math.cos({s[0]!r} * x)"],
        ),
    ]
    if len(x) and x.min() > 0:
        fams.append(("logarithm", 2, [()], lambda x, s: [one(x), np.log(x)], lambda s: ["1", "math.log(x)"]))
    if len(x) and x.min() >= 0:
        fams.append(("square root", 2, [()], lambda x, s: [one(x), np.sqrt(x)], lambda s: ["1", "math.sqrt(x)"]))
    return fams


def _shifted(t: float) -> str:
    """`x - t` written without a double minus."""
    return "x" if t == 0 else f"x - {t!r}" if t > 0 else f"x + {-t!r}"


def _design(basis: Basis, x: np.ndarray, shape: tuple) -> np.ndarray | None:
    cols = np.stack(basis(x, shape), axis=1)
    return cols if np.isfinite(cols).all() else None


def _lstsq(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(a).max(axis=0), 1e-300)
    coef = np.linalg.lstsq(a / scale, y, rcond=None)[0]
    return coef / scale


def _trimmed(sq: np.ndarray, keep: float = 0.8) -> float:
    if len(sq) == 0:
        return math.inf
    return float(np.mean(np.sort(sq)[: max(1, int(len(sq) * keep))]))


def _robust_fit(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    inliers = np.ones(len(y), bool)
    coef = _lstsq(a, y)
    for _ in range(3):
        r = y - a @ coef
        sigma = 1.4826 * np.median(np.abs(r[inliers] - np.median(r[inliers])))
        new = np.abs(r) <= max(5 * sigma, 1e-9 * (1 + np.abs(y).max()))
        if new.sum() < a.shape[1] or (new == inliers).all():
            break
        inliers = new
        coef = _lstsq(a[inliers], y[inliers])
    return coef


_KNOTTED = {"kink": (0.5,), "step": (0.5,), "jump": (0.5,), "rectangle": (1.0, 1.0)}  # knot grid half-steps


def _polish(basis: Basis, shape: tuple, x: np.ndarray, y: np.ndarray) -> tuple:
    """Nelder-Mead on the shape parameters of the least-squares error (coefficients solved inside); the result
    is kept at 4 significant digits when that is as good."""

    def loss(params: np.ndarray) -> float:
        a = _design(basis, x, tuple(float(p) for p in params))
        if a is None:
            return math.inf
        return float(np.mean((y - a @ _lstsq(a, y)) ** 2))

    start = loss(np.array(shape))
    result = scipy.optimize.minimize(loss, np.array(shape, float), method="Nelder-Mead", options={"maxiter": 400})
    if not result.fun < start:
        return shape
    polished = tuple(float(p) for p in result.x)
    short = tuple(float(f"{p:.4g}") for p in polished)
    return short if loss(np.array(short)) <= result.fun * 1.01 + 1e-12 else polished


def _pick_shape(
    basis: Basis, shapes: Sequence[tuple], train_x: np.ndarray, train_y: np.ndarray, test_x, test_y
) -> tuple | None:
    """The shape with the least mean squared error on the training points (untrimmed: a trimmed error would not
    see a narrow bump); ties (shapes the training
    points cannot tell apart) go to the least held-out error, then to the shortest numbers."""
    scored = []
    for shape in shapes:
        a, b = _design(basis, train_x, shape), _design(basis, test_x, shape)
        if a is None or b is None:
            continue
        coef = _lstsq(a, train_y)
        scored.append((float(np.mean((train_y - a @ coef) ** 2)), float(np.mean((test_y - b @ coef) ** 2)), shape))
    if not scored:
        return None
    best = min(s[0] for s in scored)
    scored = [s for s in scored if s[0] <= best * (1 + 1e-6) + 1e-12]
    best = min(s[1] for s in scored)
    scored = [s for s in scored if s[1] <= best * (1 + 1e-6) + 1e-12]
    return min(scored, key=lambda s: sum(len(f"{v:g}") for v in s[2]))[2]


def fit_numeric(
    xs: np.ndarray, ys: np.ndarray, held_out: np.ndarray
) -> tuple[str, tuple, list[str], np.ndarray, float]:
    """Best hypothesis: (family, shape, column expressions, coefficients, held-out error).

    `held_out` marks the points used only for choosing among families.
    """
    train_x, train_y = xs[~held_out], ys[~held_out]
    test_x, test_y = (xs[held_out], ys[held_out]) if held_out.any() else (train_x, train_y)
    rms = float(np.sqrt(np.mean(ys**2)))
    candidates = []
    for name, complexity, shapes, basis, exprs in _families(xs):
        shape = _pick_shape(basis, shapes, train_x, train_y, test_x, test_y)
        if shape is None:
            continue
        if name in _KNOTTED:  # each knot to 0.05 on a finer grid (ties go to the roundest knot)
            for k, h in enumerate(_KNOTTED[name]):
                fine = [
                    (*shape[:k], round(float(shape[k] + d), 6), *shape[k + 1 :])
                    for d in np.linspace(-h, h, int(round(40 * h)) + 1)
                ]
                shape = _pick_shape(basis, fine, train_x, train_y, test_x, test_y) or shape
        elif shape:  # smooth shape parameters: local search from the best grid point
            shape = _polish(basis, shape, train_x, train_y)
        a_all = _design(basis, xs, shape)
        if a_all is None:
            continue
        coef = _robust_fit(a_all[~held_out], train_y)
        a_test = _design(basis, test_x, shape)
        if a_test is None:
            continue
        rounded = np.round(coef, 1)
        before = float(np.mean((test_y - a_test @ coef) ** 2))
        if float(np.mean((test_y - a_test @ rounded) ** 2)) <= before * 1.05 + 1e-12 * (1 + rms**2):
            coef = rounded
        # Judge the family together with the unexpected interval its residuals suggest (a constant there, two
        # more parameters): a local bump the family cannot fit must not pass for a corrupted interval for free.
        predicted = a_test @ coef
        interval = find_interval(train_x, train_y - a_all[~held_out] @ coef, rms)
        if interval is not None:
            inside = (train_x >= interval[0]) & (train_x <= interval[1])
            in_test = (test_x >= interval[0]) & (test_x <= interval[1])
            predicted = np.where(in_test, np.mean(train_y[inside]), predicted)
            complexity += 2
        full = float(np.mean((test_y - predicted) ** 2))
        candidates.append((complexity, name, shape, exprs(shape), coef, full))
    best_err = min(c[5] for c in candidates)
    # The simplest hypothesis whose held-out error is close to the best one.
    tolerance = best_err * 1.5 + 1e-9 * rms**2
    complexity, name, shape, exprs, coef, err = min(
        (c for c in candidates if c[5] <= tolerance), key=lambda c: (c[0], c[5])
    )
    return name, shape, exprs, coef, err


def _formula(exprs: list[str], coef: np.ndarray) -> str:
    terms = []
    for e, c in zip(exprs, coef, strict=True):
        c = float(c)
        if c == 0.0:
            continue
        terms.append(repr(c) if e == "1" else f"{c!r} * {e}")
    return " + ".join(terms).replace("+ -", "- ") if terms else "0.0"


def _predict(exprs: list[str], coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    namespace = {"math": math, "abs": abs, "max": max}
    formula = _formula(exprs, coef)
    out = []
    for v in x:
        try:
            out.append(float(eval(formula, namespace, {"x": float(v)})))  # noqa: S307 - our own formula
        except (ArithmeticError, ValueError):
            out.append(math.nan)
    return np.array(out)


def find_interval(xs: np.ndarray, residuals: np.ndarray, scale: float) -> tuple[float, float] | None:
    """The longest run (>= 3 probes, gaps of one probe bridged, at most 60% of all) of x-sorted probes whose
    residual is an outlier (beyond 6 robust standard deviations)."""
    order = np.argsort(xs)
    x, r = xs[order], residuals[order]
    sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    outlier = np.abs(r) > max(6 * sigma, 1e-6 * (1 + scale))
    best: tuple[int, int, int] | None = None
    i = 0
    while i < len(x):
        if not outlier[i]:
            i += 1
            continue
        j, count, last = i, 0, i
        while j < len(x) and (outlier[j] or (j + 1 < len(x) and outlier[j + 1])):
            if outlier[j]:
                count, last = count + 1, j
            j += 1
        if count >= 3 and (best is None or count > best[0]):
            best = (count, i, last)
        i = j + 1
    if best is None or best[0] > 0.6 * len(x):  # most of the range off the fit: the fit is wrong, not f
        return None
    return float(x[best[1]]), float(x[best[2]])


_DESCRIBE = {
    "constant": "a constant",
    "linear": "a linear function",
    "quadratic": "a quadratic polynomial",
    "cubic": "a cubic polynomial",
    "kink": "a piecewise-linear function with one kink (absolute value / ReLU-like)",
    "step": "a step function",
    "rectangle": "a rectangle (boxcar) function",
    "jump": "a piecewise-linear function that jumps at one point",
    "exponential": "an exponential function",
    "reciprocal": "a reciprocal (1/x) function",
    "tanh": "a tanh-shaped sigmoid",
    "sinusoid": "a sinusoid",
    "gaussian": "a Gaussian bump",
    "logarithm": "a logarithm",
    "square root": "a square root",
}


def numeric_answer(pairs: Sequence[tuple[float, float]]) -> str:
    """The final answer for a numeric function from its probed (x, y) pairs."""
    data = {}
    for x, y in pairs:
        data.setdefault(x, y)
    xs = np.array(list(data), dtype=float)
    ys = np.array(list(data.values()), dtype=float)
    finite = np.isfinite(ys)
    xs, ys = xs[finite], ys[finite]
    if len(xs) < 4:
        return (
            "[DESCRIPTION]: The function returned too few finite outputs to fit a hypothesis.\n"
            "[DOMAIN]: unknown\n[CODE]: def f(x):\n    return float('nan')\n"
        )
    held_out = ~np.isclose(xs, np.round(xs))  # the random probes are held out; the integer grid fits
    with np.errstate(all="ignore"):  # steep exponentials and narrow bumps overflow on part of the grid
        name, shape, exprs, coef, _ = fit_numeric(xs, ys, held_out)
    residuals = ys - _predict(exprs, coef, xs)
    residuals = np.where(np.isfinite(residuals), residuals, 0.0)
    scale = float(np.sqrt(np.mean(ys**2)))
    interval = find_interval(xs, residuals, scale)
    formula = _formula(exprs, coef)
    inliers = np.ones(len(xs), bool)
    domain = "none: the function follows the description on the whole tested range [-128, 128]."
    special = ""
    if interval is not None:
        lo, hi = interval
        inside = (xs >= lo) & (xs <= hi)
        inliers = ~inside
        level = float(np.round(np.mean(ys[inside]), 2))
        where = f"x <= {hi:g}" if lo <= min(GRID) else f"x >= {lo:g}" if hi >= max(GRID) else f"{lo:g} <= x <= {hi:g}"
        domain = f"[{lo:g}, {hi:g}]: for {where} the output stays near {level:g} instead of following the formula."
        special = f"    if {lo!r} <= x <= {hi!r}:\n        return {level!r}\n"
    noise = float(np.std(residuals[inliers])) if inliers.any() else 0.0
    description = f"f(x) is {_DESCRIBE[name]}: f(x) = {formula}."
    if noise > 1e-6 * (1 + scale):
        description += f" The outputs carry noise of standard deviation about {noise:.2g}."
    guard = ""
    if name == "logarithm":
        guard = "    if x <= 0:\n        return float('nan')\n"
    elif name == "square root":
        guard = "    if x < 0:\n        return float('nan')\n"
    elif name == "reciprocal":
        guard = "    if x == 0:\n        return float('nan')\n"
    code = f"import math\n\n\ndef f(x):\n    x = float(x)\n{special}{guard}    return {formula}\n"
    return f"[DESCRIPTION]: {description}\n[DOMAIN]: {domain}\n[CODE]:\n```python\n{code}```\n"


# --------------------------------------------------------------------------------------------------------
# String hypotheses: (name, phrase, source of a one-argument function with that name)

_VOWELS = "aeiouAEIOU"


def _string_ops() -> list[tuple[str, str, str]]:
    ops = [
        ("identity", "returns the input unchanged", "def identity(s):\n    return s"),
        ("reverse", "reverses the string", "def reverse(s):\n    return s[::-1]"),
        ("upper", "converts it to upper case", "def upper(s):\n    return s.upper()"),
        ("lower", "converts it to lower case", "def lower(s):\n    return s.lower()"),
        ("swapcase", "swaps the case of every letter", "def swapcase(s):\n    return s.swapcase()"),
        (
            "capitalize",
            "capitalises the first letter, lower-casing the rest",
            "def capitalize(s):\n    return s.capitalize()",
        ),
        ("title", "capitalises every word", "def title(s):\n    return s.title()"),
        ("sort_chars", "sorts its characters", "def sort_chars(s):\n    return ''.join(sorted(s))"),
        (
            "sort_chars_desc",
            "sorts its characters in descending order",
            "def sort_chars_desc(s):\n    return ''.join(sorted(s, reverse=True))",
        ),
        (
            "remove_vowels",
            "removes the vowels",
            f"def remove_vowels(s):\n    return ''.join(c for c in s if c not in {_VOWELS!r})",
        ),
        (
            "keep_vowels",
            "keeps only the vowels",
            f"def keep_vowels(s):\n    return ''.join(c for c in s if c in {_VOWELS!r})",
        ),
        (
            "upper_vowels",
            "upper-cases the vowels",
            f"def upper_vowels(s):\n    return ''.join(c.upper() if c in {_VOWELS!r} else c for c in s)",
        ),
        (
            "remove_digits",
            "removes the digits",
            "def remove_digits(s):\n    return ''.join(c for c in s if not c.isdigit())",
        ),
        (
            "keep_digits",
            "keeps only the digits",
            "def keep_digits(s):\n    return ''.join(c for c in s if c.isdigit())",
        ),
        (
            "keep_letters",
            "keeps only the letters",
            "def keep_letters(s):\n    return ''.join(c for c in s if c.isalpha())",
        ),
        ("remove_spaces", "removes the spaces", "def remove_spaces(s):\n    return s.replace(' ', '')"),
        (
            "spaces_to_underscores",
            "replaces spaces with underscores",
            "def spaces_to_underscores(s):\n    return s.replace(' ', '_')",
        ),
        ("double_chars", "doubles every character", "def double_chars(s):\n    return ''.join(c * 2 for c in s)"),
        ("duplicate", "repeats the string twice", "def duplicate(s):\n    return s + s"),
        ("mirror", "appends its reverse", "def mirror(s):\n    return s + s[::-1]"),
        ("length", "returns its length", "def length(s):\n    return str(len(s))"),
        (
            "count_vowels",
            "returns the number of vowels",
            f"def count_vowels(s):\n    return str(sum(c in {_VOWELS!r} for c in s))",
        ),
        (
            "count_digits",
            "returns the number of digits",
            "def count_digits(s):\n    return str(sum(c.isdigit() for c in s))",
        ),
        ("first_char", "keeps its first character", "def first_char(s):\n    return s[:1]"),
        ("last_char", "keeps its last character", "def last_char(s):\n    return s[-1:]"),
        ("drop_first", "drops its first character", "def drop_first(s):\n    return s[1:]"),
        ("drop_last", "drops its last character", "def drop_last(s):\n    return s[:-1]"),
        (
            "swap_ends",
            "swaps its first and last characters",
            "def swap_ends(s):\n    return s if len(s) < 2 else s[-1] + s[1:-1] + s[0]",
        ),
        (
            "alternate_case",
            "upper-cases characters at even positions and lower-cases the others",
            "def alternate_case(s):\n    return ''.join(c.lower() if i % 2 else c.upper() for i, c in enumerate(s))",
        ),
        (
            "reverse_words",
            "reverses the order of the words",
            "def reverse_words(s):\n    return ' '.join(s.split(' ')[::-1])",
        ),
        (
            "reverse_each_word",
            "reverses each word in place",
            "def reverse_each_word(s):\n    return ' '.join(w[::-1] for w in s.split(' '))",
        ),
    ]
    words = (
        "def number_word(n):\n"
        "    small = ('zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen '\n"
        "             'fifteen sixteen seventeen eighteen nineteen').split()\n"
        "    tens = 'twenty thirty forty fifty sixty seventy eighty ninety'.split()\n"
        "    if n < 20:\n"
        "        return small[n]\n"
        "    if n < 100:\n"
        "        return tens[n // 10 - 2] + ('-' + small[n % 10] if n % 10 else '')\n"
        "    return str(n)\n\n\n"
    )
    counts = {
        "length": ("its length", "len(s)"),
        "vowels": ("the number of vowels", f"sum(c in {_VOWELS!r} for c in s)"),
        "uppercase": ("the number of upper-case letters", "sum(c.isupper() for c in s)"),
        "lowercase": ("the number of lower-case letters", "sum(c.islower() for c in s)"),
        "letters": ("the number of letters", "sum(c.isalpha() for c in s)"),
    }
    for name, (what, expr) in counts.items():
        ops.append(
            (
                f"{name}_word",
                f"returns {what} as an English word",
                f"{words}def {name}_word(s):\n    return number_word({expr})",
            )
        )
    ops += [
        (
            "count_uppercase",
            "returns the number of upper-case letters",
            "def count_uppercase(s):\n    return str(sum(c.isupper() for c in s))",
        ),
        (
            "remove_letters",
            "removes the letters",
            "def remove_letters(s):\n    return ''.join(c for c in s if not c.isalpha())",
        ),
        (
            "collapse_repeats",
            "collapses runs of a repeated character into one",
            "def collapse_repeats(s):\n    return ''.join(c for i, c in enumerate(s) if i == 0 or c != s[i - 1])",
        ),
        (
            "every_other",
            "keeps every other character, starting with the first",
            "def every_other(s):\n    return s[::2]",
        ),
        (
            "reverse_second_half",
            "reverses the second half of the string",
            "def reverse_second_half(s):\n    h = len(s) // 2\n    return s[:h] + s[h:][::-1]",
        ),
    ]
    for k in range(1, 7):
        ops.append((f"truncate_{k}", f"keeps its first {k} character(s)", f"def truncate_{k}(s):\n    return s[:{k}]"))
    for k in range(1, 26):
        ops.append(
            (
                f"shift_letters_{k}",
                f"shifts every letter {k} places forward in the alphabet (wrapping around, keeping case)",
                f"def shift_letters_{k}(s):\n"
                "    out = []\n"
                "    for c in s:\n"
                "        if 'a' <= c <= 'z':\n"
                f"            c = chr((ord(c) - 97 + {k}) % 26 + 97)\n"
                "        elif 'A' <= c <= 'Z':\n"
                f"            c = chr((ord(c) - 65 + {k}) % 26 + 65)\n"
                "        out.append(c)\n"
                "    return ''.join(out)",
            )
        )
    for k in range(1, 4):
        ops.append(
            (
                f"rotate_left_{k}",
                f"moves its first {k} character(s) to the end",
                f"def rotate_left_{k}(s):\n    return s[{k}:] + s[:{k}]",
            )
        )
        ops.append(
            (
                f"rotate_right_{k}",
                f"moves its last {k} character(s) to the front",
                f"def rotate_right_{k}(s):\n    return s[-{k}:] + s[:-{k}] if len(s) >= {k} else s",
            )
        )
    return ops


STRING_OPS = _string_ops()


def _compile_ops() -> dict[str, Callable[[str], str]]:
    namespace: dict[str, Any] = {}
    for _, _, source in STRING_OPS:
        exec(source, namespace)  # noqa: S102 - our own operation library
    return {name: namespace[name] for name, _, _ in STRING_OPS}


_OP_FUNCTIONS = _compile_ops()


def _apply(op: Callable[[str], str], s: str) -> str | None:
    try:
        return op(s)
    except Exception:
        return None


def _affixes(outputs: Sequence[str | None], targets: Sequence[str]) -> str | None:
    """`"affix:<prefix repr>:<suffix repr>"` when every target is prefix + output + suffix for constant affixes."""
    if not outputs or outputs[0] is None or any(o is None for o in outputs):
        return None
    y0, o0 = targets[0], outputs[0]
    start = y0.find(o0)
    while start >= 0:
        prefix, suffix = y0[:start], y0[start + len(o0) :]
        if (prefix or suffix) and all(y == prefix + o + suffix for o, y in zip(outputs, targets, strict=True)):
            return f"affix:{prefix!r}:{suffix!r}"
        start = y0.find(o0, start + 1)
    return None


def fit_string(pairs: Sequence[tuple[str, str | None]]) -> tuple[list[str], int]:
    """The operations (applied in order) that agree with the most probes, and how many they agree with."""
    pairs = [(x, y) for x, y in pairs if y is not None]
    names = [n for n, _, _ in STRING_OPS]
    first = {n: [_apply(_OP_FUNCTIONS[n], x) for x, _ in pairs] for n in names}
    best: tuple[list[str], int] = (["identity"], -1)
    for n in names:
        hits = sum(o == y for o, (_, y) in zip(first[n], pairs, strict=True))
        if hits == len(pairs):
            return [n], hits
        if hits > best[1]:
            best = ([n], hits)
    for n in names:  # a constant prefix / suffix around one operation
        affix = _affixes(first[n], [y for _, y in pairs])
        if affix is not None:
            return [n, affix], len(pairs)
    for n1 in names:
        if n1 == "identity":
            continue
        for n2 in names:
            if n2 == "identity":
                continue
            op2 = _OP_FUNCTIONS[n2]
            hits = 0
            for o, (_, y) in zip(first[n1], pairs, strict=True):
                if o is not None and _apply(op2, o) == y:
                    hits += 1
            if hits == len(pairs):
                return [n1, n2], hits
            if hits > best[1]:
                best = ([n1, n2], hits)
    return best


def string_answer(pairs: Sequence[tuple[str, str | None]]) -> str:
    """The final answer for a string function from its probed (input, output) pairs."""
    known = [(x, y) for x, y in pairs if y is not None]
    if not known:
        return (
            "[DESCRIPTION]: The function gave no readable outputs, so no hypothesis could be formed.\n"
            "[CODE]: def f(x):\n    return x\n"
        )
    ops, hits = fit_string(known)
    phrases = {n: p for n, p, _ in STRING_OPS}
    sources = {n: s for n, _, s in STRING_OPS}
    affix = ops[1] if len(ops) == 2 and ops[1].startswith("affix:") else None
    if affix is not None:
        ops = ops[:1]
        _, prefix, suffix = affix.split(":", 2)
        parts = [f"adds {prefix} in front" if prefix != "''" else "", f"appends {suffix}" if suffix != "''" else ""]
        phrases["affix"] = " and ".join(p for p in parts if p)
        description = f"The function {phrases[ops[0]]}, then {phrases['affix']}."
    elif len(ops) == 1:
        description = f"The function {phrases[ops[0]]}."
    else:
        description = f"The function first {phrases[ops[0]]}, then {phrases[ops[1]]}."
    if hits < len(known):
        description += f" (Best guess: it agrees with {hits} of {len(known)} probes.)"
    call = "x"
    for n in ops:
        call = f"{n}({call})"
    if affix is not None:
        call = f"{prefix} + {call} + {suffix}"
    code = "\n\n\n".join(sources[n] for n in dict.fromkeys(ops)) + f"\n\n\ndef f(x):\n    return {call}\n"
    return f"[DESCRIPTION]: {description}\n[CODE]:\n```python\n{code}```\n"
