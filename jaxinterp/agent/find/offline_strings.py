"""The offline interpreter's string search: find the operation(s) that map probed inputs to outputs, write the answer.

Split from `offline` (the conversation) because it is a job of its own: an exact-match search over a library of
operations with no knowledge of the chat protocol. `string_answer` takes the parsed pairs and returns the final
FIND answer text.

Hypotheses: about 80 operations (case changes, reversal, sorting, vowel / digit / letter filters, counts as
digits or English words, Caesar shifts, rotations, truncations, duplications, ...), one operation between a
constant prefix and suffix (read off the first probe), and every two-step composition g(h(x)), checked for
exact agreement on every probe, in that order of preference; failing all, the hypothesis agreeing with the
most probes is reported as a guess. The code is the operations' own source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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
