"""The sandbox side of MAIA's code runner: proxies for `system` / `tools` and the v1 / v2 protocols.

Copied into the sandbox's work directory as `maia_runtime.py` and run there by `sandbox.run_code` (a fresh,
isolated interpreter with no network), so it imports only the standard library. The agent's code is in
`experiment.py`. `system` and `tools` are proxies: a method call writes a request file `rpc/<n>.req` (JSON)
into the work directory and waits for the parent's `rpc/<n>.resp`; the parent runs the real method on the
real model and answers. Images travel as base64 PNG strings.

v1: the experiment defines `execute_command(system, tools)`, which is then called once.
v2: the experiment runs in a namespace restored from earlier turns: top-level imports, functions and classes are
re-run from `defs.py`, other picklable values come from `state.pkl`; both are updated afterwards, even when the
experiment fails part-way (as in a notebook).
Errors print a traceback limited to the experiment's own frames, then exit with status 1.
"""

import ast
import json
import os
import pickle
import sys
import time
import traceback
import types

RPC = "rpc"
API = "maia_api.json"
STATE, DEFS = "state.pkl", "defs.py"
_counter = [0]


class ToolError(Exception):
    """A tool call that failed on the parent's side (bad arguments, unknown image, ...)."""


def _call(target, method, args, kwargs):
    _counter[0] += 1
    name = os.path.join(RPC, f"{_counter[0]:06d}")
    try:
        payload = json.dumps({"target": target, "method": method, "args": args, "kwargs": kwargs}, default=_plain)
    except TypeError as err:
        raise ToolError(
            f"{target}.{method}: arguments must be text, numbers, images (base64 strings) or lists: {err}"
        ) from None
    with open(name + ".tmp", "w") as f:
        f.write(payload)
    os.rename(name + ".tmp", name + ".req")
    delay = 0.001
    while not os.path.exists(name + ".resp"):
        time.sleep(delay)
        delay = min(delay * 1.5, 0.02)
    with open(name + ".resp") as f:
        reply = json.load(f)
    if not reply["ok"]:
        raise ToolError(reply["error"])
    return reply["result"]


def _plain(value):
    """JSON for the proxies and for numpy scalars / arrays of numbers the experiment may pass."""
    if isinstance(value, _Proxy):
        return {"__proxy__": value._target}
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not serialisable")


class _Proxy:
    def __init__(self, target, spec):
        self._target = target
        self._methods = set(spec["methods"])
        for key, value in spec.get("attributes", {}).items():
            setattr(self, key, value)

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(
                f"{self._target} has no method {name!r}; available: {', '.join(sorted(self._methods))}"
            )
        return lambda *args, **kwargs: _call(self._target, name, list(args), kwargs)

    def __reduce__(self):  # never pickled into the v2 state
        raise TypeError("proxy")


def _print_error(error):
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "experiment.py"]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(error), error)
    sys.stderr.write("".join(lines))


def _save_state(namespace, source):
    keep = {}
    for key, value in namespace.items():
        if key.startswith("__") or key in ("system", "tools") or isinstance(value, types.ModuleType | type):
            continue
        if callable(value):
            continue
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - anything unpicklable is simply not kept
            continue
        keep[key] = value
    with open(STATE, "wb") as f:
        pickle.dump(keep, f)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    parts = [ast.get_source_segment(source, node) for node in tree.body if isinstance(node, kept)]
    if parts:
        with open(DEFS, "a") as f:
            f.write("\n\n".join(p for p in parts if p) + "\n\n")


def main(protocol):
    with open(API) as f:
        api = json.load(f)
    os.makedirs(RPC, exist_ok=True)
    system, tools = _Proxy("system", api["System"]), _Proxy("tools", api["Tools"])
    namespace = {"__name__": "__main__", "system": system, "tools": tools, "ToolError": ToolError}
    with open("experiment.py") as f:
        source = f.read()
    if protocol == "v2":
        if os.path.exists(DEFS):
            with open(DEFS) as f:
                try:
                    exec(compile(f.read(), "defs.py", "exec"), namespace)
                except Exception:  # noqa: BLE001 - a definition that no longer runs is dropped silently
                    pass
        if os.path.exists(STATE):
            with open(STATE, "rb") as f:
                namespace.update(pickle.load(f))
    failed = False
    try:
        exec(compile(source, "experiment.py", "exec"), namespace)
        if protocol == "v1":
            command = namespace.get("execute_command")
            if not callable(command):
                raise NameError("the code must define execute_command(system, tools)")
            command(system, tools)
    except Exception as error:  # noqa: BLE001 - reported to the agent
        _print_error(error)
        failed = True
    if protocol == "v2":
        _save_state(namespace, source)
    sys.stdout.flush()
    if failed:
        raise SystemExit(1)
