"""FIND scorers: NMSE on numeric code, exact match on string code, the unit-test judge, per-category accuracy."""

import math

import numpy as np
import pytest

from jaxinterp.agent.backends import ChatResponse, Usage
from jaxinterp.agent.find.scoring import (
    NUMERIC_TEST_POINTS,
    UnitTest,
    category_accuracy,
    function_outputs,
    judge_accuracy,
    judge_prompt,
    nmse,
    parse_judge_answer,
    parse_numeric_pairs,
    parse_string_pairs,
    score_numeric_code,
    score_string_code,
)
from jaxinterp.errors import InputError

X = np.asarray(NUMERIC_TEST_POINTS)


def test_test_points_are_finds_256_half_integers():
    assert len(X) == 256 and X[0] == -127.5 and X[-1] == 127.5


def test_nmse_known_values():
    y = np.array([1.0, -2.0, 3.0, math.nan])
    assert nmse(y, [1.0, -2.0, 3.0, 0.0]) == 0.0  # the NaN ground-truth point is skipped
    assert nmse(y, [2.0, -2.0, 3.0, None]) == pytest.approx(1 / 14)  # sum err^2 / sum y^2
    assert nmse(y, [2.0, -2.0, 3.0, 0.0], normalisation="variance") == pytest.approx(1 / (14 - 3 * (2 / 3) ** 2))
    assert nmse(y, [1.0, None, 3.0, 0.0]) == math.inf  # no prediction where the truth is finite
    assert nmse([0.0, 0.0], [0.0, 0.0]) == 0.0 and nmse([0.0, 0.0], [1.0, 0.0]) == math.inf


def test_numeric_code_scores_by_nmse_threshold():
    y = 2 * X + 1
    assert score_numeric_code("def f(x):\n    return 2 * x + 1", y).score == 1.0
    # 10% slope error: NMSE = 0.01 * sum(4x^2) / sum((2x+1)^2) ~ 0.01 -> correct
    close = score_numeric_code("def f(x):\n    return 2.2 * x + 1", y)
    assert close.score == 1.0 and close.value == pytest.approx(np.sum((0.2 * X) ** 2) / np.sum(y**2))
    wrong = score_numeric_code("def f(x):\n    return -2 * x", y)
    assert wrong.score == 0.0 and wrong.value > 1


@pytest.mark.parametrize(
    "code",
    ["def f(x) return x", "def g(x):\n    return x", "import math\ndef f(x):\n    return math.log(x)"],
)
def test_numeric_code_that_crashes_scores_zero(code):
    score = score_numeric_code(code, 2 * X + 1)
    assert score.score == 0.0 and score.value == math.inf


def test_function_outputs_runs_the_ground_truth_script(tmp_path):
    script = tmp_path / "function.py"
    script.write_text(
        "import sys\n"
        "print('Function input - output pairs: ' + ' '.join(f'({a}, {float(a) ** 2})' for a in sys.argv[1:]))\n"
    )
    np.testing.assert_allclose(function_outputs(script, NUMERIC_TEST_POINTS), X**2)


def test_pair_parsers():
    assert parse_numeric_pairs("Function input - output pairs: (1, 2.5) (-3.0, nan) (4, -1e3)")[::2] == [
        (1.0, 2.5),
        (4.0, -1000.0),
    ]
    text = "Function input - output pairs: (a b, x, (y)) (hi, ih) (z, )"
    assert parse_string_pairs(text, ["a b", "hi", "z", "missing"]) == ["x, (y)", "ih", "", None]


def test_string_code_exact_match_on_held_out_items():
    items = [("abc", "CBA"), ("Hello", "OLLEH"), ("x y", "Y X"), ("42", "24")]
    assert score_string_code("def f(x):\n    return x.upper()[::-1]", items).score == 1.0
    assert score_string_code("def f(x):\n    return x[::-1]", items).score == 0.25  # only "42" -> "24"
    assert score_string_code("def f(x):\n    raise ValueError", items).score == 0.0
    assert score_string_code("syntax error(", items).error is not None


class Judge:
    """A scripted judge: answers each unit test with the correct index, or a fixed wrong one."""

    provider, base_url, model = "scripted", "scripted://", "judge"

    def __init__(self, correct_every: int):
        self.correct_every = correct_every  # answer correctly on every n-th question (1: always)
        self.calls = 0
        self.prompts = []

    def chat(self, request):
        prompt = request.messages[-1].text()
        self.prompts.append(prompt)
        self.calls += 1
        right = int(prompt.split("secret=")[1][0])  # the test's correct candidate, planted in its outputs
        answer = right if self.calls % self.correct_every == 0 else right % 3 + 1
        return ChatResponse(f"Candidate {answer} fits.\n[ANSWER]: {answer}", Usage(1, 1), None, self.model)


def _tests(n=6):
    tests = []
    for i in range(n):
        correct = i % 3
        candidates = tuple((("abc", f"out{k}" + (f" secret={correct + 1}" if k == 0 else "")),) for k in range(3))
        tests.append(UnitTest(candidates, correct))
    return tests


def test_judge_accuracy_with_a_scripted_judge():
    tests = _tests(6)
    assert judge_accuracy(Judge(correct_every=1), "reverses the string", tests) == 1.0
    assert judge_accuracy(Judge(correct_every=2), "reverses the string", tests) == 0.5
    assert judge_accuracy(Judge(correct_every=100), "reverses the string", tests) == 0.0
    judge = Judge(1)
    assert judge_accuracy(judge, "  ", tests) == 0.0 and judge.calls == 0  # empty description: no call


def test_judge_prompt_and_answer_parsing():
    prompt = judge_prompt("reverses the string", _tests(1)[0])
    assert "reverses the string" in prompt and "Candidate 3:" in prompt and "[ANSWER]" in prompt
    assert parse_judge_answer("I think... [ANSWER]: 2") == 1
    assert parse_judge_answer("[ANSWER]: (3)") == 2
    assert parse_judge_answer("no idea") is None


def test_judge_needs_a_chat_model():
    with pytest.raises(InputError, match="needs a chat model"):
        judge_accuracy(None, "reverses", _tests(1))


def test_category_accuracy():
    results = [("numeric", 1.0), ("numeric", 0.0), ("string", 0.5), ("numeric", 1.0)]
    assert category_accuracy(results) == {
        "numeric": {"accuracy": pytest.approx(2 / 3), "n": 3},
        "string": {"accuracy": 0.5, "n": 1},
    }
