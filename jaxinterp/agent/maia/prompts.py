"""MAIA's prompts: the API document generated from the real `System` and `Tools`, the task, the final nudge.

MAIA's system prompt is the Python source of its `System` and `Tools` classes with their docstrings and the bodies
left out: the API *is* the manual. We build it from the classes themselves (`api_prompt`), so the prompt cannot
drift from the code: only the methods the agent may call, signature and docstring each, body `...`.

Two protocols (§1.1 and §1.3 of our notes):
- **v1** (the paper): each reply holds one fenced python block defining `execute_command(system, tools)`, which
  runs one experiment and ends with `tools.save_experiment_log(...)`; the log is the only thing the agent sees;
- **v2** (MAIA 2.0): fenced python blocks run in a namespace that persists across turns, with `system` and `tools`
  predefined; what the code prints and what it passes to `tools.display(...)` come back.
Both end when a reply holds `[DESCRIPTION]:` (and `[LABEL]:`). The wording is ours, written from the protocol.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from jaxinterp.agent.maia.system import System
from jaxinterp.agent.maia.tools import Tools
from jaxinterp.errors import InputError

PROTOCOLS = ("v1", "v2")
SYSTEM_METHODS = ("call_neuron",)
TOOLS_METHODS = {
    "v1": (
        "dataset_exemplars",
        "text2image",
        "edit_images",
        "describe_images",
        "summarize_images",
        "save_experiment_log",
    ),
    "v2": ("dataset_exemplars", "text2image", "edit_images", "describe_images", "summarize_images", "display"),
}


def _class_api(cls: type, methods: tuple[str, ...]) -> str:
    """`cls`'s source with its docstring and only `methods`, each reduced to signature + docstring + `...`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    body: list[ast.stmt] = []
    if ast.get_docstring(node) is not None:
        body.append(node.body[0])
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name in methods:
            doc = ast.get_docstring(item, clean=False)
            kept = [ast.Expr(ast.Constant(doc))] if doc else []
            item.body = [*kept, ast.Expr(ast.Constant(...))]
            item.decorator_list = []
            body.append(item)
    node.body, node.bases, node.decorator_list = body, [], []
    return ast.unparse(node)


def api_prompt(protocol: str = "v1") -> str:
    """The system prompt: the API of `System` and `Tools` for `protocol`, generated from their code."""
    if protocol not in PROTOCOLS:
        raise InputError(f"MAIA protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return (
        "You have access to the following Python API for experiments on a unit of a vision model.\n\n"
        "```python\n"
        + _class_api(System, SYSTEM_METHODS)
        + "\n\n\n"
        + _class_api(Tools, TOOLS_METHODS[protocol])
        + "\n```"
    )


_ANSWER = """\
When you are confident, reply without code and give your final answer in this form:
[DESCRIPTION]: a concise description of the visual concepts that activate the unit.
[LABEL]: a few words naming them. If the unit responds to several unrelated concepts, join them with OR \
(e.g. "red OR circle"); if it responds to a concept only in the presence of another, say so (e.g. "boat when \
water is present")."""

TASK = {
    "v1": """\
Your task is to describe the visual concepts that make a unit (a neuron) inside an image classifier fire \
strongly. You run experiments by writing code with the API above: `system` is the unit and `tools` the tools.

In every reply, first write
[HYPOTHESIS LIST]:
Hypothesis_1: ...
Hypothesis_2: ...
then [CODE]: and one fenced python block that defines `def execute_command(system, tools):`. The function runs \
one experiment and must end with `tools.save_experiment_log(...)`: the experiment log is the only way you see \
results. Do not call execute_command yourself; it is called for you, and its log comes back in the next message, \
or the error if it fails. One experiment per reply. Start with `tools.dataset_exemplars(system)`, then test your \
hypotheses with `tools.text2image` and `tools.edit_images`, comparing activations of images that have and lack \
each concept. Units may respond to several concepts.

""",
    "v2": """\
Your task is to describe the visual concepts that make a unit (a neuron) inside an image classifier fire \
strongly. You run experiments by writing Python with the API above.

Write fenced python blocks; they run in order in a namespace that persists across replies, where `system` (the \
unit) and `tools` are already defined. You see only what your code prints and what it passes to \
`tools.display(...)` (text and images), in the next message, or the error if it fails. Start with \
`tools.dataset_exemplars(system)`, then test your hypotheses with `tools.text2image` and `tools.edit_images`, \
comparing activations of images that have and lack each concept. Units may respond to several concepts.

""",
}

FINAL_PROMPT = (
    "Please give your final description and label now, based on the experiments so far, in the form "
    "[DESCRIPTION]: ... [LABEL]: ..."
)
NO_CODE = {
    "v1": "No code to run was provided. Please continue with the experiments: write [CODE]: and a python block "
    "defining execute_command(system, tools), or give your final [DESCRIPTION]: and [LABEL]:.",
    "v2": "No code to run was provided. Please continue with the experiments in a python block, or give your final "
    "[DESCRIPTION]: and [LABEL]:.",
}


def task_prompt(protocol: str = "v1") -> str:
    """The first user message for `protocol`."""
    if protocol not in PROTOCOLS:
        raise InputError(f"MAIA protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return TASK[protocol] + _ANSWER
