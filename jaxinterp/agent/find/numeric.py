"""FIND's numeric functions: atomic families, compositions, noise, domain corruption and MLP approximations.

Construction follows the released generator as summarised in `shared/references/agent.md` §2.1:

- 16 atomic families for simple functions: linear, polynomial (degree 2-5), absolute, root, logarithm, step,
  relu (leaky), tanh, constant, sin, cos, reciprocal, gaussian, rational, rectangle, square_wave. Parameters are
  rounded to 0.1 (scale / bias ~ U(-30, 30)).
- Composite functions: `sum_two` or `multiply_two` of two families drawn from {linear, polynomial, step, relu,
  constant, ceil, floor, rectangle, square_wave}. The release's data.json holds 850 simple and 150 composite.
- Domain [-100, 100], except [0, 100] for root and [1, 100] for logarithm (outside where they are undefined the
  function returns NaN; FIND's scorer skips non-finite ground truth).
- One ground-truth variant per function, as the release's `func_name_dict.json`: 150 MLP approximations
  (f00000-f00149), 483 clean, 176 noised (additive N(0, 1), U(-1, 1) or Poisson(1)) and 191 domain-corrupted
  (on an interval the output is replaced by N(mean(f), 0.1): `interval_smaller` x <= a, `interval_larger`
  x >= a, `interval_inside` a < x < b with width 5-25).

Choices the reference does not pin down (ours, not verified against the release):

- Exact parameterisations and ranges of each family (documented per family below); frequencies of sin / cos and
  the slope of tanh are kept small so 256 integer-spaced test points resolve them.
- Noise and corruption values are drawn from `random.Random(f"{seed}:{x!r}")`: the same input always gets the
  same noise, so runs, scripts and scores are reproducible (the release draws fresh numpy noise per call).
  Poisson noise is added uncentred (mean 1), as the reference words it.
- mean(f) for corruption is the clean function's mean over 100 evenly spaced points of its domain.
- Corruption intervals lie inside the domain; `a` for the one-sided kinds is U(domain) rounded to 0.1.
- MLP targets are drawn from the non-oscillating, pole-free families (see `MLP_FAMILIES`) so a 1-64-1 ReLU MLP
  fits them (the release fits any function and records its `approx_mse_error`, sometimes huge); the interpreter
  then describes the target, which the MLP matches to a relative MSE < 0.1.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np

from jaxinterp.agent.find.functions import (
    NUMERIC_TEST_INPUTS,
    FindFunction,
    assemble_code,
    fmt_params,
    largest_remainder,
)

# ---------------------------------------------------------------------------------------------------------
# Families: top-level, self-contained (only `math`), signature (x, p). Their source goes into `code` verbatim.


def linear(x, p):
    return p[0] * x + p[1]


def polynomial(x, p):
    y = 0.0
    for c in p:
        y = y * x + c
    return y


def absolute(x, p):
    return p[0] * abs(x) + p[1]


def root(x, p):
    if x < 0:
        return float("nan")
    return p[0] * x ** (1.0 / (p[2] + 1)) + p[1]


def logarithm(x, p):
    if x <= 0:
        return float("nan")
    return p[0] * math.log(x, p[2]) + p[1]


def step(x, p):
    return p[0] if x < p[2] else p[1]


def relu(x, p):
    return p[0] * (x if x > 0 else p[2] * x) + p[1]


def tanh(x, p):
    return p[0] * math.tanh(p[1] * (x - p[2])) + p[3]


def constant(x, p):
    return p[0]


def sin(x, p):
    return p[0] * math.sin(p[1] * x + p[2]) + p[3]


def cos(x, p):
    return p[0] * math.cos(p[1] * x + p[2]) + p[3]


def reciprocal(x, p):
    if x == p[1]:
        return float("nan")
    return p[0] / (x - p[1])


def gaussian(x, p):
    return math.exp(-0.5 * ((x - p[0]) / p[1]) ** 2) / (p[1] * math.sqrt(2 * math.pi))


def rational(x, p):
    num = 0.0
    for c in p[0]:
        num = num * x + c
    den = 0.0
    for c in p[1]:
        den = den * x + c
    if den == 0:
        return float("nan")
    return num / den


def rectangle(x, p):
    return 1.0 if abs(x - p[0]) <= p[1] / 2 else 0.0


def square_wave(x, p):
    return 1.0 if (x - p[1]) % p[0] < p[0] / 2 else 0.0


def ceil(x, p):
    return float(math.ceil(x))


def floor(x, p):
    return float(math.floor(x))


def additive_noise(x, kind, seed):
    rng = random.Random(f"{seed}:{x!r}")
    if kind == "normal":
        return rng.gauss(0.0, 1.0)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0)
    k, prod, limit = 0, rng.random(), math.exp(-1.0)  # Poisson(1), Knuth's method
    while prod > limit:
        k += 1
        prod *= rng.random()
    return float(k)


def corrupted_value(x, mean, std, seed):
    return random.Random(f"{seed}:{x!r}").gauss(mean, std)


def mlp(x, w):
    u = (x - w[0]) / w[1]
    y = w[7]
    for a, b, c in zip(w[4], w[5], w[6], strict=True):
        y += c * max(0.0, a * u + b)
    return y * w[3] + w[2]


FAMILIES = {
    f.__name__: f
    for f in (linear, polynomial, absolute, root, logarithm, step, relu, tanh, constant, sin, cos, reciprocal)
    + (gaussian, rational, rectangle, square_wave, ceil, floor)
}
SIMPLE_FAMILIES = tuple(FAMILIES)[:16]  # the 16 atomic families of simple functions
COMPOSITE_FAMILIES = ("linear", "polynomial", "step", "relu", "constant", "ceil", "floor", "rectangle", "square_wave")
COMPOSITE_OPS = ("sum_two", "multiply_two")
NOISE_KINDS = ("normal", "uniform", "poisson")
CORRUPTION_KINDS = ("interval_smaller", "interval_larger", "interval_inside")
MLP_FAMILIES = ("linear", "polynomial", "absolute", "root", "logarithm", "step", "relu", "tanh", "constant")
CORRUPTION_STD = 0.1

# Paper / release numbers (reference §2.1), for count=1000.
VARIANT_WEIGHTS = {"mlp": 150, "clean": 483, "noised": 176, "corrupted": 191}
SIMPLE_PROBABILITY = 0.85  # 850 simple, 150 composite


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 1)


def _nonzero(rng: np.random.Generator, lo: float, hi: float) -> float:
    v = 0.0
    while v == 0.0:
        v = _u(rng, lo, hi)
    return v


def sample_params(family: str, rng: np.random.Generator) -> list:
    """Parameters of one family, rounded to 0.1 (ranges are ours where the reference gives none)."""
    if family in ("linear", "absolute"):  # a*x + b, a*|x| + b
        return [_nonzero(rng, -30, 30), _u(rng, -30, 30)]
    if family == "polynomial":  # coefficients, highest degree first, degree 2-5
        deg = int(rng.integers(2, 6))
        return [_nonzero(rng, -5, 5)] + [_u(rng, -5, 5) for _ in range(deg)]
    if family == "root":  # a * x^(1/(n+1)) + b
        return [_nonzero(rng, -30, 30), _u(rng, -30, 30), int(rng.integers(1, 3))]
    if family == "logarithm":  # a * log_base(x) + b
        return [_nonzero(rng, -30, 30), _u(rng, -30, 30), _u(rng, 2, 10)]
    if family == "step":  # a if x < t else b
        return [_u(rng, -30, 30), _u(rng, -30, 30), _u(rng, -80, 80)]
    if family == "relu":  # a * leaky_relu(x, slope) + b
        return [_nonzero(rng, -30, 30), _u(rng, -30, 30), _u(rng, 0, 1)]
    if family == "tanh":  # a * tanh(k (x - c)) + d
        return [_nonzero(rng, -30, 30), _nonzero(rng, 0.1, 1), _u(rng, -50, 50), _u(rng, -30, 30)]
    if family == "constant":
        return [float(rng.integers(-100, 101))]
    if family in ("sin", "cos"):  # a * sin(w x + phase) + d
        return [_nonzero(rng, -10, 10), _nonzero(rng, 0.1, 1), _u(rng, 0, 6.3), _u(rng, -10, 10)]
    if family == "reciprocal":  # a / (x - b)
        return [_nonzero(rng, -30, 30), _u(rng, -50, 50)]
    if family == "gaussian":  # normal pdf(mu, sigma)
        return [_u(rng, -50, 50), _u(rng, 1, 10)]
    if family == "rational":  # p(x) / q(x), degrees 0-2 / 1-3
        num = [_nonzero(rng, -10, 10)] + [_u(rng, -10, 10) for _ in range(int(rng.integers(0, 3)))]
        den = [_nonzero(rng, -10, 10)] + [_u(rng, -10, 10) for _ in range(int(rng.integers(1, 4)))]
        return [num, den]
    if family == "rectangle":  # 1 on |x - c| <= w/2
        return [_u(rng, -50, 50), _u(rng, 5, 50)]
    if family == "square_wave":  # 1 on the first half of each period
        return [_u(rng, 2, 20), _u(rng, -10, 10)]
    if family in ("ceil", "floor"):
        return []
    raise ValueError(family)


_FAMILY_TEXT = {
    "linear": "a linear function {0}*x + {1}",
    "polynomial": "a polynomial with coefficients {p} (highest degree first)",
    "absolute": "{0}*|x| + {1}",
    "root": "{0} * x**(1/{2p1}) + {1} (a root), defined for x >= 0",
    "logarithm": "{0} * log base {2} of x + {1}, defined for x > 0",
    "step": "a step function: {0} for x < {2}, {1} otherwise",
    "relu": "a leaky ReLU {0}*(x if x > 0 else {2}*x) + {1}",
    "tanh": "{0}*tanh({1}*(x - {2})) + {3}",
    "constant": "the constant {0}",
    "sin": "{0}*sin({1}*x + {2}) + {3}",
    "cos": "{0}*cos({1}*x + {2}) + {3}",
    "reciprocal": "{0} / (x - {1})",
    "gaussian": "a Gaussian density with mean {0} and standard deviation {1}",
    "rational": "a rational function p(x)/q(x), p coefficients {0}, q coefficients {1}",
    "rectangle": "a rectangle: 1 where |x - {0}| <= {1}/2, else 0",
    "square_wave": "a square wave of period {0} shifted by {1}: 1 on the first half of each period, else 0",
    "ceil": "ceil(x)",
    "floor": "floor(x)",
}


def _family_text(family: str, params: list) -> str:
    extra = {"p": params, "2p1": params[2] + 1} if family == "root" else {"p": params}
    text = _FAMILY_TEXT[family].format(*params, **extra)
    return re.sub(r"- -(?=\d)", "+ ", re.sub(r"\+ -(?=\d)", "- ", text))  # "x + -3" -> "x - 3"


def _base_fn(spec: dict):
    """The clean function as a Python callable on a float."""
    if spec["type"] == "simple":
        fam, p = FAMILIES[spec["family"]], spec["params"]
        return lambda x: fam(x, p)
    f1, p1 = FAMILIES[spec["family"]], spec["params"][0]
    f2, p2 = FAMILIES[spec["family2"]], spec["params"][1]
    if spec["op"] == "sum_two":
        return lambda x: f1(x, p1) + f2(x, p2)
    return lambda x: f1(x, p1) * f2(x, p2)


def _base_code(spec: dict) -> tuple[list, str]:
    if spec["type"] == "simple":
        return [FAMILIES[spec["family"]]], f"{spec['family']}(x, {fmt_params(spec['params'])})"
    a = f"{spec['family']}(x, {fmt_params(spec['params'][0])})"
    b = f"{spec['family2']}(x, {fmt_params(spec['params'][1])})"
    sym = " + " if spec["op"] == "sum_two" else " * "
    return [FAMILIES[spec["family"]], FAMILIES[spec["family2"]]], a + sym + b


def _in_interval(x: float, interval: list) -> bool:
    lo, hi = interval
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return lo < x < hi


def _interval_code(interval: list) -> str:
    lo, hi = interval
    if lo is None:
        return f"x <= {hi!r}"
    if hi is None:
        return f"x >= {lo!r}"
    return f"{lo!r} < x < {hi!r}"


def build_numeric(fid: str, spec: dict) -> FindFunction:
    """A numeric FindFunction from its JSON spec (family, params, variant, noise / corruption / MLP weights)."""
    variant = spec["variant"]
    base = _base_fn(spec)
    helpers, expr = _base_code(spec)
    imports = ["math"]
    corruption = None
    if variant == "mlp":
        w = spec["mlp"]
        wt = (w["x_center"], w["x_scale"], w["y_mean"], w["y_std"], w["w1"], w["b1"], w["w2"], w["b2"])

        def fn(x):
            return mlp(float(x), wt)

        helpers, body = [mlp], f"    return mlp(x, {fmt_params(wt)})"
    elif variant == "noised":
        kind, seed = spec["noise"]["type"], spec["noise"]["seed"]

        def fn(x):
            x = float(x)
            return base(x) + additive_noise(x, kind, seed)

        helpers = helpers + [additive_noise]
        imports = ["math", "random"]
        body = f"    return {expr} + additive_noise(x, {kind!r}, {seed!r})"
    elif variant == "corrupted":
        corruption = spec["corruption"]
        interval, mean, std, seed = corruption["interval"], corruption["mean"], corruption["std"], spec["seed"]

        def fn(x):
            x = float(x)
            return corrupted_value(x, mean, std, seed) if _in_interval(x, interval) else base(x)

        helpers = helpers + [corrupted_value]
        imports = ["math", "random"]
        body = (
            f"    if {_interval_code(interval)}:\n"
            f"        return corrupted_value(x, {mean!r}, {std!r}, {seed!r})\n"
            f"    return {expr}"
        )
    else:

        def fn(x):
            return base(float(x))

        body = f"    return {expr}"
    code = assemble_code(imports, helpers, "def f(x):\n    x = float(x)\n" + body)
    return FindFunction(
        id=fid,
        category="numeric",
        kind=variant,
        description=spec["description"],
        code=code,
        domain=tuple(spec["domain"]),
        corruption=corruption,
        test_inputs=list(NUMERIC_TEST_INPUTS),
        name=spec["name"],
        spec=spec,
        fn=fn,
    )


def _domain(spec: dict) -> list[float]:
    fams = {spec["family"], spec.get("family2")}
    if "logarithm" in fams:
        return [1.0, 100.0]
    if "root" in fams:
        return [0.0, 100.0]
    return [-100.0, 100.0]


def _describe(spec: dict) -> str:
    if spec["type"] == "simple":
        text = _family_text(spec["family"], spec["params"])
    else:
        word = "the sum" if spec["op"] == "sum_two" else "the product"
        a = _family_text(spec["family"], spec["params"][0])
        b = _family_text(spec["family2"], spec["params"][1])
        text = f"{word} of {a} and {b}"
    return text


def _name(spec: dict) -> str:
    if spec["type"] == "simple":
        return f"{spec['family']}({fmt_params(spec['params'])})"
    fams = f"{spec['family']};{spec['family2']};{spec['op']}"
    return f"{fams}({fmt_params(spec['params'][0])}, {fmt_params(spec['params'][1])})"


def _sample_base(rng: np.random.Generator, composite: bool, families: tuple[str, ...]) -> dict:
    if not composite:
        fam = str(rng.choice(families))
        return {"type": "simple", "family": fam, "params": sample_params(fam, rng)}
    f1, f2 = (str(f) for f in rng.choice(COMPOSITE_FAMILIES, size=2))
    op = str(rng.choice(COMPOSITE_OPS))
    return {
        "type": "composite",
        "family": f1,
        "family2": f2,
        "op": op,
        "params": [sample_params(f1, rng), sample_params(f2, rng)],
    }


def _clean_mean(spec: dict) -> float:
    base = _base_fn(spec)
    lo, hi = spec["domain"]
    ys = np.array([base(float(x)) for x in np.linspace(lo, hi, 100)])
    ys = ys[np.isfinite(ys)]
    return float(ys.mean()) if ys.size else 0.0


def _corruption(rng: np.random.Generator, spec: dict) -> dict:
    lo, hi = spec["domain"]
    kind = str(rng.choice(CORRUPTION_KINDS))
    if kind == "interval_smaller":
        interval = [None, _u(rng, lo, hi)]
    elif kind == "interval_larger":
        interval = [_u(rng, lo, hi), None]
    else:
        width = float(rng.uniform(5, 25))
        a = _u(rng, lo, hi - width)
        interval = [a, round(a + width, 1)]
    return {"type": kind, "interval": interval, "mean": _clean_mean(spec), "std": CORRUPTION_STD}


def _corruption_text(c: dict) -> str:
    lo, hi = c["interval"]
    where = f"x <= {hi}" if lo is None else f"x >= {lo}" if hi is None else f"{lo} < x < {hi}"
    return f"; except for {where}, where the output is replaced by noise N({c['mean']:.4g}, {c['std']})"


_NOISE_TEXT = {"normal": "N(0, 1)", "uniform": "U(-1, 1)", "poisson": "Poisson(1)"}


def numeric_specs(seed: int = 0, count: int = 1000, mlp_steps: int = 300, train_mlps: bool = True) -> list[dict]:
    """JSON specs of FIND's numeric functions (MLP weights trained, batched); see `numeric_functions`.

    With `train_mlps=False` the MLP specs carry their target but no "mlp" weights (for counting and inspecting the
    draw without training; `build_numeric` needs the weights). Training does not change the other specs.
    """
    rng = np.random.default_rng([seed, 0x46494E44])
    counts = largest_remainder(count, VARIANT_WEIGHTS)
    rest = ["clean"] * counts["clean"] + ["noised"] * counts["noised"] + ["corrupted"] * counts["corrupted"]
    variants = ["mlp"] * counts["mlp"] + [str(v) for v in rng.permutation(rest)]
    # Composite functions never serve as MLP targets (a square wave is beyond a 64-unit MLP), so they are placed
    # among the other ids; the 850 / 150 split of the release is kept.
    n_composite = min(count - round(SIMPLE_PROBABILITY * count), count - counts["mlp"])
    composite = np.zeros(count, bool)
    composite[counts["mlp"] + rng.choice(count - counts["mlp"], n_composite, replace=False)] = True
    specs = []
    for i, variant in enumerate(variants):
        families = MLP_FAMILIES if variant == "mlp" else SIMPLE_FAMILIES
        spec = _sample_base(rng, bool(composite[i]), families)
        spec["domain"] = _domain(spec)
        spec["variant"] = variant
        spec["seed"] = int(rng.integers(2**31))
        spec["name"] = _name(spec)
        text = _describe(spec)
        if variant == "noised":
            spec["noise"] = {"type": str(rng.choice(NOISE_KINDS)), "seed": spec["seed"]}
            text += f", plus additive {_NOISE_TEXT[spec['noise']['type']]} noise"
        elif variant == "corrupted":
            spec["corruption"] = _corruption(rng, spec)
            text += _corruption_text(spec["corruption"])
        elif variant == "mlp":
            text = f"f(x) is implemented by an MLP approximating {text}"
        spec["description"] = text
        specs.append(spec)
    mlp_ids = [i for i, s in enumerate(specs) if s["variant"] == "mlp"]
    if mlp_ids and train_mlps:
        from jaxinterp.agent.find.mlp import fit_mlps

        targets = [_base_fn(specs[i]) for i in mlp_ids]
        fitted = fit_mlps(targets, [specs[i]["domain"] for i in mlp_ids], seed=seed, steps=mlp_steps)
        for i, weights in zip(mlp_ids, fitted, strict=True):
            specs[i]["mlp"] = weights
    return specs


def numeric_functions(seed: int = 0, count: int = 1000, mlp_steps: int = 300) -> list[FindFunction]:
    """FIND's numeric functions f00000..., deterministic from `seed`.

    At count=1000 the split is the release's: 150 MLP (first ids), 483 clean, 176 noised, 191 corrupted, and
    850 simple / 150 composite; other counts are scaled (largest remainder).
    """
    return [build_numeric(f"f{i:05d}", spec) for i, spec in enumerate(numeric_specs(seed, count, mlp_steps))]
