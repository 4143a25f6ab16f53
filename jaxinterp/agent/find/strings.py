"""FIND's string functions: atomic string operations with random parameters, and compositions f(g(x)).

The release (`make_strings`, reference §2.1) has 67 atomic single-input operations (case changes, reversals,
digit / letter extraction, vowel operations, counts, shifts / Caesar-like, insertions, swaps, fixed
substitution maps, length -> word, ...) with random parameters; `--ratio 0.3` gives ~30% single operations and
~70% compositions of two, with conflicting pairs avoided.

Ours (not verified against the release): the reference names the kinds of operation but not the 67, so `OPS`
holds 43 operations covering every kind it names (and those seen in the release's test descriptions: shift by
the alphabet index of the character at a position, shift the middle character, append a fixed random string,
insert in the middle, repeat the middle character, count a character as a word, ...). Exactly
round(0.3 * count) functions are single operations. A composition never pairs an operation with itself, two
case operations, or an outer operation whose result the inner one makes constant (anything after a
count / length -> word operation that only changes case or digits). Held-out test items are 10 strings per
function from a seeded generator (words, mixed case, digits, spaces), biased to contain the characters the
operation acts on; the release used 10 GPT-written items per function instead.
"""

from __future__ import annotations

import numpy as np

from jaxinterp.agent.find.functions import FindFunction, assemble_code, largest_remainder

# ---------------------------------------------------------------------------------------------------------
# Helpers and operations: top-level, self-contained, signature (s, p). Their source goes into `code` verbatim.


def shift_letter(c, k):
    if "a" <= c <= "z":
        return chr((ord(c) - ord("a") + k) % 26 + ord("a"))
    if "A" <= c <= "Z":
        return chr((ord(c) - ord("A") + k) % 26 + ord("A"))
    return c


def number_word(n):
    ones = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    ones = (ones + " sixteen seventeen eighteen nineteen").split()
    tens = "twenty thirty forty fifty sixty seventy eighty ninety".split()
    if n < 20:
        return ones[n]
    if n < 100:
        return tens[n // 10 - 2] + ("" if n % 10 == 0 else "-" + ones[n % 10])
    return "many"


def reverse(s, p):
    return s[::-1]


def upper(s, p):
    return s.upper()


def lower(s, p):
    return s.lower()


def swapcase(s, p):
    return s.swapcase()


def capitalize(s, p):
    return s.capitalize()


def title_case(s, p):
    return " ".join(w[:1].upper() + w[1:].lower() for w in s.split(" "))


def alternate_case(s, p):
    return "".join(c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(s))


def reverse_each_word(s, p):
    return " ".join(w[::-1] for w in s.split(" "))


def reverse_word_order(s, p):
    return " ".join(s.split(" ")[::-1])


def remove_digits(s, p):
    return "".join(c for c in s if not c.isdigit())


def keep_digits(s, p):
    return "".join(c for c in s if c.isdigit())


def remove_letters(s, p):
    return "".join(c for c in s if not c.isalpha())


def keep_letters(s, p):
    return "".join(c for c in s if c.isalpha())


def remove_vowels(s, p):
    return "".join(c for c in s if c.lower() not in "aeiou")


def replace_vowels(s, p):
    return "".join(p[0] if c.lower() in "aeiou" else c for c in s)


def uppercase_vowels(s, p):
    return "".join(c.upper() if c.lower() in "aeiou" else c for c in s)


def count_vowels(s, p):
    return number_word(sum(c.lower() in "aeiou" for c in s))


def count_char(s, p):
    return number_word(s.count(p[0]))


def count_uppercase(s, p):
    return number_word(sum(c.isupper() for c in s))


def length_word(s, p):
    return number_word(len(s))


def caesar(s, p):
    return "".join(shift_letter(c, p[0]) for c in s)


def shift_by_char_at(s, p):
    if len(s) <= p[0] or not s[p[0]].isalpha():
        return s
    k = ord(s[p[0]].lower()) - ord("a")
    return "".join(shift_letter(c, k) for c in s)


def shift_by_length(s, p):
    return "".join(shift_letter(c, len(s)) for c in s)


def shift_middle(s, p):
    if not s:
        return s
    m = len(s) // 2
    return s[:m] + shift_letter(s[m], p[0]) + s[m + 1 :]


def shift_first(s, p):
    if not s:
        return s
    return shift_letter(s[0], p[0]) + s[1:]


def append(s, p):
    return s + p[0]


def prepend(s, p):
    return p[0] + s


def insert_middle(s, p):
    m = len(s) // 2
    return s[:m] + p[0] + s[m:]


def replace_char(s, p):
    return s.replace(p[0], p[1])


def remove_char(s, p):
    return s.replace(p[0], "").replace(p[0].upper(), "")


def swap_first_last(s, p):
    if len(s) < 2:
        return s
    return s[-1] + s[1:-1] + s[0]


def repeat_middle(s, p):
    if not s:
        return s
    m = len(s) // 2
    return s[: m + 1] + s[m] + s[m + 1 :]


def remove_spaces(s, p):
    return s.replace(" ", "")


def substitute(s, p):
    out = ""
    for c in s:
        if "a" <= c <= "z":
            out += p[0][ord(c) - ord("a")]
        elif "A" <= c <= "Z":
            out += p[0][ord(c) - ord("A")].upper()
        else:
            out += c
    return out


def double_chars(s, p):
    return "".join(c + c for c in s)


def rotate(s, p):
    if not s:
        return s
    k = p[0] % len(s)
    return s[k:] + s[:k]


def reverse_second_half(s, p):
    m = len(s) // 2
    return s[:m] + s[m:][::-1]


def sort_chars(s, p):
    return "".join(sorted(s))


def collapse_repeats(s, p):
    return "".join(c for i, c in enumerate(s) if i == 0 or c != s[i - 1])


def first_letter_index(s, p):
    if not s or not s[0].isalpha():
        return s
    return number_word(ord(s[0].lower()) - ord("a") + 1)


def truncate(s, p):
    return s[: p[0]]


def every_other(s, p):
    return s[::2]


def mirror(s, p):
    return s + s[::-1]


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _letter(rng):
    return str(rng.choice(list(_LETTERS)))


def _word(rng, n=5):
    return "".join(rng.choice(list(_LETTERS + _LETTERS.upper()), size=n))


# name -> (function, helpers, parameter sampler, description template, group)
# Groups: "case" (changes only case), "word" (returns a number word), "other".
OPS: dict = {
    "reverse": (reverse, [], None, "reverses the string", "other"),
    "upper": (upper, [], None, "converts the string to upper case", "case"),
    "lower": (lower, [], None, "converts the string to lower case", "case"),
    "swapcase": (swapcase, [], None, "swaps the case of every letter", "case"),
    "capitalize": (capitalize, [], None, "capitalises the first character and lower-cases the rest", "case"),
    "title_case": (title_case, [], None, "capitalises the first letter of every word, lower-casing the rest", "case"),
    "alternate_case": (alternate_case, [], None, "upper-cases characters at even positions, lower-cases odd", "case"),
    "reverse_each_word": (reverse_each_word, [], None, "reverses every space-separated word in place", "other"),
    "reverse_word_order": (reverse_word_order, [], None, "reverses the order of the space-separated words", "other"),
    "remove_digits": (remove_digits, [], None, "removes all digits", "other"),
    "keep_digits": (keep_digits, [], None, "keeps only the digits", "other"),
    "remove_letters": (remove_letters, [], None, "removes all letters", "other"),
    "keep_letters": (keep_letters, [], None, "keeps only the letters", "other"),
    "remove_vowels": (remove_vowels, [], None, "removes all vowels (aeiou, either case)", "other"),
    "replace_vowels": (
        replace_vowels,
        [],
        lambda r: [_letter(r)],
        "replaces every vowel (aeiou, either case) with '{0}'",
        "other",
    ),
    "uppercase_vowels": (uppercase_vowels, [], None, "upper-cases every vowel", "case"),
    "count_vowels": (count_vowels, [number_word], None, "returns the number of vowels as an English word", "word"),
    "count_char": (
        count_char,
        [number_word],
        lambda r: [_letter(r)],
        "returns how many times '{0}' occurs, as an English word",
        "word",
    ),
    "count_uppercase": (
        count_uppercase,
        [number_word],
        None,
        "returns the number of upper-case letters as an English word",
        "word",
    ),
    "length_word": (length_word, [number_word], None, "returns the length of the string as an English word", "word"),
    "caesar": (
        caesar,
        [shift_letter],
        lambda r: [int(r.integers(1, 26))],
        "shifts every letter {0} places forward in the alphabet (wrapping, keeping case)",
        "other",
    ),
    "shift_by_char_at": (
        shift_by_char_at,
        [shift_letter],
        lambda r: [int(r.integers(0, 6))],
        "shifts every letter forward by the alphabet index (a=0) of the character at position {0} "
        "(unchanged if there is no letter there)",
        "other",
    ),
    "shift_by_length": (
        shift_by_length,
        [shift_letter],
        None,
        "shifts every letter forward by the length of the string",
        "other",
    ),
    "shift_middle": (
        shift_middle,
        [shift_letter],
        lambda r: [int(r.integers(1, 26))],
        "shifts the middle character (index len//2) {0} places forward in the alphabet",
        "other",
    ),
    "shift_first": (
        shift_first,
        [shift_letter],
        lambda r: [int(r.integers(1, 26))],
        "shifts the first character {0} places forward in the alphabet",
        "other",
    ),
    "append": (append, [], lambda r: [_word(r)], "appends '{0}'", "other"),
    "prepend": (prepend, [], lambda r: [_word(r)], "prepends '{0}'", "other"),
    "insert_middle": (
        insert_middle,
        [],
        lambda r: [_letter(r)],
        "inserts '{0}' in the middle (at index len//2)",
        "other",
    ),
    "replace_char": (
        replace_char,
        [],
        lambda r: [str(c) for c in r.choice(list(_LETTERS), 2, replace=False)],
        "replaces every '{0}' with '{1}'",
        "other",
    ),
    "remove_char": (remove_char, [], lambda r: [_letter(r)], "removes every '{0}' (either case)", "other"),
    "swap_first_last": (swap_first_last, [], None, "swaps the first and last characters", "other"),
    "repeat_middle": (repeat_middle, [], None, "repeats the middle character (index len//2)", "other"),
    "remove_spaces": (remove_spaces, [], None, "removes all spaces", "other"),
    "substitute": (
        substitute,
        [],
        lambda r: ["".join(r.permutation(list(_LETTERS)))],
        "substitutes each letter by a fixed map of the alphabet a..z -> '{0}' (keeping case)",
        "other",
    ),
    "double_chars": (double_chars, [], None, "doubles every character", "other"),
    "rotate": (
        rotate,
        [],
        lambda r: [int(r.integers(1, 6))],
        "rotates the string left by {0} characters (modulo its length)",
        "other",
    ),
    "reverse_second_half": (
        reverse_second_half,
        [],
        None,
        "keeps the first half and reverses the second half (split at len//2)",
        "other",
    ),
    "sort_chars": (sort_chars, [], None, "sorts the characters by code point", "other"),
    "collapse_repeats": (collapse_repeats, [], None, "collapses runs of the same character to one", "other"),
    "first_letter_index": (
        first_letter_index,
        [number_word],
        None,
        "returns the alphabet position (a=1) of the first letter as an English word (unchanged if not a letter)",
        "word",
    ),
    "truncate": (truncate, [], lambda r: [int(r.integers(2, 8))], "keeps the first {0} characters", "other"),
    "every_other": (every_other, [], None, "keeps every other character, starting with the first", "other"),
    "mirror": (mirror, [], None, "appends the reversed string", "other"),
}
SINGLE_RATIO = 0.3  # release `--ratio 0.3`
N_TEST_ITEMS = 10
_DIGIT_OPS = {"remove_digits", "keep_digits"}
_WORDS = (
    "hello world python function string apple banana cherry dragon elephant forest garden harbor island "
    "jungle kitten lemon mountain notebook orange pepper quantum river sunset tiger umbrella violin window "
    "yellow zebra"
).split()


def _compatible(outer: str, inner: str) -> bool:
    """Whether outer(inner(x)) is a sensible composition (not the same op, not case after case, not a no-op)."""
    if outer == inner:
        return False
    g_out, g_in = OPS[outer][4], OPS[inner][4]
    if g_out == "case" and g_in == "case":
        return False
    if g_out == "word" and g_in == "word":
        return False
    if g_in == "word" and (g_out == "case" or outer in _DIGIT_OPS | {"remove_letters", "count_uppercase"}):
        return False
    return True


def _test_items(rng: np.random.Generator, params: list) -> list[str]:
    """10 held-out strings: words, mixed case, digits and spaces, containing the ops' character parameters."""
    specials = [p for ps in params for p in ps if isinstance(p, str) and len(p) == 1]
    items: list[str] = []
    while len(items) < N_TEST_ITEMS:
        n_words = int(rng.integers(1, 4))
        words = [str(rng.choice(_WORDS)) for _ in range(n_words)]
        words = [w.capitalize() if rng.random() < 0.4 else w.upper() if rng.random() < 0.1 else w for w in words]
        s = " ".join(words)
        if rng.random() < 0.3:
            s += str(int(rng.integers(0, 1000)))
        for c in specials:
            if rng.random() < 0.7:
                i = int(rng.integers(0, len(s) + 1))
                s = s[:i] + c + s[i:]
        if s not in items:
            items.append(s)
    return items


def build_string(fid: str, spec: dict) -> FindFunction:
    """A string FindFunction from its JSON spec {"ops": [outer, inner] or [op], "params": [...], ...}."""
    names, params = spec["ops"], spec["params"]
    fns = [OPS[n][0] for n in names]
    helpers = [h for n in names for h in OPS[n][1]] + fns
    if len(fns) == 1:
        (f1,), (p1,) = fns, params

        def fn(x):
            return f1(str(x), p1)

        body = f"def f(x):\n    return {names[0]}(str(x), {p1!r})"
    else:
        (f1, f2), (p1, p2) = fns, params

        def fn(x):
            return f1(f2(str(x), p2), p1)

        body = f"def f(x):\n    return {names[0]}({names[1]}(str(x), {p2!r}), {p1!r})"
    return FindFunction(
        id=fid,
        category="string",
        kind="single" if len(fns) == 1 else "composition",
        description=spec["description"],
        code=assemble_code([], helpers, body),
        domain=None,
        corruption=None,
        test_inputs=list(spec["test_inputs"]),
        name=spec["name"],
        spec=spec,
        fn=fn,
    )


def _op_text(name: str, params: list) -> str:
    return OPS[name][3].format(*params)


def string_specs(seed: int = 0, count: int = 1000) -> list[dict]:
    """JSON specs of FIND-style string functions; see `string_functions`."""
    rng = np.random.default_rng([seed, 0x535452])
    names = list(OPS)
    counts = largest_remainder(count, {"single": SINGLE_RATIO, "composition": 1 - SINGLE_RATIO})
    kinds = rng.permutation(["single"] * counts["single"] + ["composition"] * counts["composition"])
    specs = []
    for kind in kinds:
        if kind == "single":
            ops = [str(rng.choice(names))]
        else:
            while True:
                outer, inner = (str(n) for n in rng.choice(names, 2))
                if _compatible(outer, inner):
                    break
            ops = [outer, inner]
        params = [OPS[n][2](rng) if OPS[n][2] else [] for n in ops]
        if len(ops) == 1:
            text = f"The function {_op_text(ops[0], params[0])}."
        else:
            text = f"The function first {_op_text(ops[1], params[1])}; then it {_op_text(ops[0], params[0])}."
        name = ";".join(f"{n}{tuple(p)!r}" if p else n for n, p in zip(ops, params, strict=True))
        specs.append(
            {"ops": ops, "params": params, "description": text, "name": name, "test_inputs": _test_items(rng, params)}
        )
    return specs


def string_functions(seed: int = 0, count: int = 1000) -> list[FindFunction]:
    """FIND-style string functions f00000..., deterministic from `seed` (30% single, 70% compositions)."""
    return [build_string(f"f{i:05d}", spec) for i, spec in enumerate(string_specs(seed, count))]
