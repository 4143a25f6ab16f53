"""MAIA's interpretation loop: a vision-language model runs experiments on a unit until it can describe it.

    result = interpret_unit(system, tools, backend, protocol="v1", out="runs/maia/unit")
    result.description, result.label, result.rounds

One conversation per unit (MAIA's `interpretation_experiment`, §1.1 of our notes):
1. system = the API generated from `System` / `Tools` (`prompts.api_prompt`); user = the task (`prompts.task_prompt`);
2. each round the model replies; a reply with `[DESCRIPTION]` ends the loop (its `[LABEL]`s are the label);
3. otherwise its code runs in the sandbox (`runner.run_experiment`): v1 the first fenced python block with
   `execute_command`, v2 every fenced python block. The next user message holds what the tools logged (text and
   images, sent as data URIs) and, on failure, "Error while executing 'execute_command': <traceback>" (v1) or the
   traceback (v2); no code gives a nudge to continue;
4. from round `final_after` (MAIA: 25) on, the final prompt asking for the description is added to each user
   message; after `max_rounds` the loop stops with an empty description.

Decision: `max_rounds` = 30 by default (MAIA keeps asking after round 25 without a fixed end). Every unit gets
`history.json`, `description.txt`, `label.txt` and `experiment.html` (the conversation with its images) in `out`.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import tempfile
from pathlib import Path

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.backends.base import request_record
from jaxinterp.agent.maia import prompts
from jaxinterp.agent.maia.runner import EXPERIMENT_LIMITS, ToolServer, run_experiment
from jaxinterp.agent.maia.system import System
from jaxinterp.agent.maia.tools import Tools
from jaxinterp.agent.sandbox import SandboxLimits
from jaxinterp.errors import InputError

FINAL_AFTER = 25  # MAIA appends its final prompt from round 25 on
MAX_ROUNDS = 30
_BLOCK = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.DOTALL)
_DESCRIPTION = re.compile(r"\[DESCRIPTION\]\s*:?\s*(.*?)(?=\[LABEL[^\]]*\]|\Z)", re.DOTALL)
_LABEL = re.compile(r"\[LABEL[^\]]*\]\s*:?\s*(.*?)(?=\[LABEL[^\]]*\]|\[DESCRIPTION\]|\Z)", re.DOTALL)


@dataclasses.dataclass
class MaiaResult:
    """The agent's answer and how it got there.

    Attributes:
        description: Text after `[DESCRIPTION]:` ("" when none came within `max_rounds`).
        label: The `[LABEL]` (several `[LABEL n]` joined with " OR ").
        rounds: Model replies.
        stopped_reason: "answer" or "max_rounds".
        messages: The whole conversation.
        experiments: Per executed block: round, whether it ran cleanly, the sandbox's text output.
    """

    description: str
    label: str
    rounds: int
    stopped_reason: str
    messages: list[ChatMessage]
    experiments: list[dict]


def parse_answer(reply: str) -> tuple[str, str] | None:
    """(description, label) of a final reply, or None when it has no `[DESCRIPTION]`."""
    found = _DESCRIPTION.search(reply)
    if found is None:
        return None
    labels = [m.strip() for m in _LABEL.findall(reply) if m.strip()]
    return found.group(1).strip(), " OR ".join(labels)


def extract_code(reply: str, protocol: str) -> str | None:
    """The code to run: v1 the first python block that defines execute_command, v2 all python blocks joined."""
    blocks = _BLOCK.findall(reply)
    if protocol == "v1":
        return next((b for b in blocks if "execute_command" in b), blocks[0] if blocks else None)
    return "\n\n".join(blocks) if blocks else None


def interpret_unit(
    system: System,
    tools: Tools,
    backend: ChatBackend,
    protocol: str = "v1",
    out: str | Path | None = None,
    max_rounds: int = MAX_ROUNDS,
    final_after: int = FINAL_AFTER,
    max_tokens: int = 4096,
    temperature: float = 0.0,
    limits: SandboxLimits = EXPERIMENT_LIMITS,
) -> MaiaResult:
    """Let `backend` describe the unit in `system` with experiments (module docstring).

    Args:
        system: The unit.
        tools: Its tools (their log is the channel back to the model).
        backend: The agent model (must accept images).
        protocol: "v1" (execute_command + save_experiment_log) or "v2" (persistent namespace + display).
        out: Folder for the unit's history.json, description.txt, label.txt, experiment.html (and the sandbox's
            work directory); a temporary one when None.
        max_rounds: Replies before giving up.
        final_after: From this round on, each user message asks for the final answer.
        max_tokens, temperature: Per reply.
        limits: Sandbox limits per experiment.
    """
    if max_rounds < 1:
        raise InputError(f"max_rounds must be at least 1, got {max_rounds}")
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="maia-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = ToolServer(system, tools, protocol)
    messages = [ChatMessage("system", prompts.api_prompt(protocol)), ChatMessage("user", prompts.task_prompt(protocol))]
    experiments: list[dict] = []
    tools.take_log()
    result = None
    for round_ in range(1, max_rounds + 1):
        reply = backend.chat(ChatRequest(messages, max_tokens=max_tokens, temperature=temperature)).text
        messages.append(ChatMessage("assistant", reply))
        answer = parse_answer(reply)
        if answer is not None:
            result = MaiaResult(*answer, round_, "answer", messages, experiments)
            break
        if round_ == max_rounds:
            break
        code = extract_code(reply, protocol)
        if code is None:
            parts: list = [prompts.NO_CODE[protocol]]
        else:
            run = run_experiment(code, server, folder / "sandbox", limits)
            experiments.append({"round": round_, "ok": run.ok, "output": run.text()})
            parts = _observation(tools.take_log(), run, protocol)
        if round_ >= final_after:
            parts.append(prompts.FINAL_PROMPT)
        messages.append(ChatMessage("user", parts))
    if result is None:
        result = MaiaResult("", "", max_rounds, "max_rounds", messages, experiments)
    write_logs(result, folder)
    return result


def _observation(log: list[list], run, protocol: str) -> list:
    """The next user message's parts: the tools' log, printed output (v2) and any error."""
    parts: list = [part for entry in log for part in entry]
    if protocol == "v2" and run.stdout.strip():
        parts.insert(0, run.stdout.strip()[-8000:])
    if not run.ok:
        error = (run.stderr.strip() or run.text())[-4000:]
        parts.append(f"Error while executing 'execute_command':\n{error}" if protocol == "v1" else f"Error:\n{error}")
    elif not parts:
        parts.append(
            "The code ran but logged nothing. Call tools.save_experiment_log(...) at the end of execute_command "
            "to see results."
            if protocol == "v1"
            else "The code ran but printed and displayed nothing."
        )
    return parts


def write_logs(result: MaiaResult, folder: Path) -> None:
    """history.json (images as hashes), description.txt, label.txt and experiment.html under `folder`."""
    (folder / "history.json").write_text(json.dumps(request_record(result.messages), indent=1))
    (folder / "description.txt").write_text(result.description + "\n")
    (folder / "label.txt").write_text(result.label + "\n")
    rows = []
    for message in result.messages:
        cells = []
        for part in message.parts():
            if isinstance(part, str):
                cells.append(f"<pre>{html.escape(part)}</pre>")
            else:
                cells.append(f"<img src='{part.data_url}' alt='image'>")
        rows.append(f"<div class='{message.role}'><h3>{message.role}</h3>{''.join(cells)}</div>")
    page = (
        "<!doctype html><meta charset='utf-8'><title>MAIA experiment log</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}pre{white-space:pre-wrap}"
        "img{width:128px;image-rendering:pixelated;margin:2px;border:1px solid #ccc}"
        ".assistant{background:#f4f7ff}.system pre{max-height:12em;overflow:auto}div{padding:.3em 1em}</style>"
        f"<h1>MAIA experiment log</h1><p><b>Label:</b> {html.escape(result.label or '-')}<br>"
        f"<b>Description:</b> {html.escape(result.description or '-')}<br>{result.rounds} rounds, "
        f"stopped: {result.stopped_reason}</p>" + "".join(rows) + "\n"
    )
    (folder / "experiment.html").write_text(page)
