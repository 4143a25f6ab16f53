"""Run the agent's experiment code in the sandbox, with `system` and `tools` served from this process.

The code is untrusted, so it runs in `jaxinterp.agent.sandbox` (a separate interpreter: no network, no new
processes, writes only in its work directory, time and memory limits). The model and the tools stay here: the
sandboxed code holds proxies (`_child_runtime.py`) that write request files into the work directory; while
`sandbox.run_code` runs in a thread, `run_experiment` answers each request by calling the real method through a
`ToolServer` (an allow-list of the API methods) and writing the response file. Images cross as base64 PNG strings.

The work directory persists across a unit's turns, which is what carries the v2 namespace (`state.pkl`,
`defs.py`). Tool calls count against the sandbox's wall-clock limit (`EXPERIMENT_LIMITS`: 300 s).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.agent.maia import images as image_io
from jaxinterp.agent.maia.prompts import SYSTEM_METHODS, TOOLS_METHODS
from jaxinterp.agent.maia.system import System
from jaxinterp.agent.maia.tools import Tools
from jaxinterp.agent.sandbox import SandboxLimits, SandboxResult, run_code

EXPERIMENT_LIMITS = SandboxLimits(wall_seconds=300.0, memory_mb=2048)
_RUNTIME = Path(__file__).with_name("_child_runtime.py")
_MAIN = "import maia_runtime\nmaia_runtime.main({protocol!r})\n"


class ToolServer:
    """Answers the sandbox's requests with the real `system` and `tools` (only the API's methods)."""

    def __init__(self, system: System, tools: Tools, protocol: str = "v1"):
        self.targets = {"system": system, "tools": tools}
        self.allowed = {"system": set(SYSTEM_METHODS), "tools": set(TOOLS_METHODS[protocol])}
        self.protocol = protocol
        self.calls: list[str] = []

    def api(self) -> dict:
        system = self.targets["system"]
        return {
            "System": {
                "methods": sorted(self.allowed["system"]),
                "attributes": {"neuron_num": system.neuron_num, "layer": system.layer, "threshold": system.threshold},
            },
            "Tools": {"methods": sorted(self.allowed["tools"])},
        }

    def handle(self, request: dict) -> dict:
        target, method = request.get("target"), request.get("method")
        if target not in self.allowed or method not in self.allowed[target]:
            return {"ok": False, "error": f"{target}.{method} is not part of the API"}
        self.calls.append(f"{target}.{method}")
        try:
            args = [self._decode(a) for a in request.get("args", [])]
            kwargs = {k: self._decode(v) for k, v in request.get("kwargs", {}).items()}
            result = getattr(self.targets[target], method)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any failure goes back to the agent as its error
            return {"ok": False, "error": f"{type(err).__name__}: {err}"}
        return {"ok": True, "result": _encode(result)}

    def _decode(self, value: Any) -> Any:
        """Base64 images -> arrays, proxies (`{"__proxy__": "system"}`) -> the real object, lists recursively."""
        if image_io.is_image_string(value):
            return image_io.from_base64(value)
        if isinstance(value, list):
            return [self._decode(v) for v in value]
        if isinstance(value, dict) and value.get("__proxy__") in self.targets:
            return self.targets[value["__proxy__"]]
        return value


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 3:
        return image_io.to_base64(value)
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_experiment(
    code: str,
    server: ToolServer,
    workdir: str | Path,
    limits: SandboxLimits = EXPERIMENT_LIMITS,
) -> SandboxResult:
    """Runs `code` (the agent's block) in the sandbox under `server.protocol`, serving its tool calls."""
    workdir = Path(workdir)
    rpc = workdir / "rpc"
    shutil.rmtree(rpc, ignore_errors=True)
    rpc.mkdir(parents=True)
    files = {
        "maia_runtime.py": _RUNTIME.read_text(),
        "maia_api.json": json.dumps(server.api()),
        "experiment.py": code,
    }
    outcome: list[SandboxResult] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            run_code(_MAIN.format(protocol=server.protocol), limits, workdir=workdir, files=files)
        ),
        daemon=True,
    )
    thread.start()
    while thread.is_alive() or any(rpc.glob("*.req")):
        pending = sorted(rpc.glob("*.req"))
        for path in pending:
            try:
                request = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                request, reply = None, {"ok": False, "error": f"unreadable request: {err}"}
            if request is not None:
                reply = server.handle(request if isinstance(request, dict) else {})
            path.unlink(missing_ok=True)
            tmp = path.with_suffix(".resp.tmp")
            tmp.write_text(json.dumps(reply))
            os.replace(tmp, path.with_suffix(".resp"))
        if not pending:
            if not thread.is_alive():
                break
            time.sleep(0.002)
    thread.join()
    return outcome[0]
