"""The FIND function record shared by the numeric and string generators.

FIND (Schwettmann*, Rott Shaham*, et al., NeurIPS 2023 D&B) asks an interpreter to describe black-box functions
it can only call. Every function here carries its ground truth twice: a `description` in words and `code`, a
standalone Python source defining `def f(x)` that reproduces the function exactly (noise included, drawn from a
generator seeded by the function's seed and the input, so a call is a pure function of `x`).

`code` is assembled from the source of small top-level helpers (`inspect.getsource`), which take their
parameters as arguments and use nothing but `math` / `random`; `evaluate` calls the same helpers directly with
the same parameters, so the two agree bit for bit (tests check this in a fresh namespace).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Numeric test points as FIND's numeric code scorer (`mse_indicator.py`) uses them: x = i + 0.5, i in [-128, 128)
# (256 points); a function scores 1 when NMSE < 0.1 against the ground truth on these points.
NUMERIC_TEST_INPUTS: tuple[float, ...] = tuple(i + 0.5 for i in range(-128, 128))
NMSE_THRESHOLD = 0.1


@dataclasses.dataclass(frozen=True)
class FindFunction:
    """One benchmark function with its ground truth.

    Attributes:
      id: "f00042"-style id, also the folder name in the released layout.
      category: "numeric" or "string".
      kind: numeric: "clean", "noised", "corrupted" or "mlp" (which ground-truth script the release would pick);
        string: "single" or "composition".
      description: ground-truth description in words.
      code: standalone source defining `def f(x)`, reproducing `evaluate` exactly.
      domain: (low, high) of the numeric function's domain; None for strings.
      corruption: for domain-corrupted functions, {"type", "interval": [lo | None, hi | None], "mean", "std"}
        (the [DOMAIN] ground truth); None otherwise.
      test_inputs: held-out inputs for the code scorers (256 numeric points; 10 strings).
      name: the released data.json-style name, e.g. "linear((1.0, 1.1))".
      spec: JSON-serialisable parameters (family, params, noise, corruption, MLP weights...).
    """

    id: str
    category: str
    kind: str
    description: str
    code: str
    domain: tuple[float, float] | None
    corruption: dict | None
    test_inputs: list
    name: str = ""
    spec: dict = dataclasses.field(default_factory=dict, compare=False)
    fn: Callable[[Any], Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    def __call__(self, x: Any) -> Any:
        assert self.fn is not None
        return self.fn(x)

    def evaluate(self, inputs: Iterable[Any]) -> list:
        """The function's outputs on `inputs` (floats for numeric, strings for string functions)."""
        assert self.fn is not None
        return [self.fn(x) for x in inputs]


def run_code(code: str) -> Callable[[Any], Any]:
    """Executes a function's `code` in a fresh namespace and returns its `f`."""
    namespace: dict[str, Any] = {"__name__": "find_function"}
    exec(compile(code, "<find-function>", "exec"), namespace)  # noqa: S102 - our own generated source
    return namespace["f"]


def assemble_code(imports: Sequence[str], helpers: Sequence[Callable], body: str) -> str:
    """Standalone source: imports, the helpers' own source (deduplicated, in order) and `def f(x)`."""
    seen: list[Callable] = []
    for helper in helpers:
        if helper not in seen:
            seen.append(helper)
    parts = ["\n".join(f"import {m}" for m in imports)] if imports else []
    parts += [inspect.getsource(h).rstrip() for h in seen]
    parts.append(body.rstrip())
    return "\n\n\n".join(parts) + "\n"


def fmt_params(params: Any) -> str:
    """Python literal of nested params with floats as `repr` (round-trips exactly)."""
    if isinstance(params, list | tuple):
        inner = ", ".join(fmt_params(p) for p in params)
        return f"({inner},)" if len(params) == 1 else f"({inner})"
    return repr(params)


def largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Splits `total` into integer counts proportional to `weights` (exact at the paper's count of 1000)."""
    norm = sum(weights.values())
    raw = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    order = sorted(weights, key=lambda k: raw[k] - counts[k], reverse=True)
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts
