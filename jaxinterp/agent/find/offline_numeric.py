"""The offline interpreter's numeric search: fit a library of hypotheses to probed (x, y) pairs, write the answer.

Split from `offline` (the conversation) because it is a job of its own: least-squares model selection with no
knowledge of the chat protocol. `numeric_answer` takes the parsed pairs and returns the final FIND answer text.

Hypotheses, each linear in its coefficients given a few shape parameters searched on a grid: constant, linear,
quadratic, cubic, kink `a + b x + c |x - t|` (absolute value, ReLU and leaky ReLU), step `a + b [x > t]`, rectangle
`a + b [lo < x < hi]`, jump `a + b x + c [x > t] + d max(x - t, 0)` (two lines meeting or not at t), exponential
`a + b exp(k x)`, logarithm `a + b log x` and square root `a + b sqrt x` (when every finite probe has x > 0, resp.
x >= 0), reciprocal `a + b / x`, tanh `a + b tanh(k (x - t))`, Gaussian `a + b exp(-(x - m)^2 / 2 w^2)` and sinusoid
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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.optimize

GRID = tuple(range(-128, 129))

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
