"""`generate` and `correct`: ask a drawer (a model or the offline one) for programs, render them, measure them.

- `generate`: `samples` programs per concept (temperature > 0 so they differ), each rendered in the sandbox
  in its own folder (`drawings/<concept>/sample<i>/` holds `main.py`, `image.png`, `reply.md`);
- `correct`: one conversation per concept, `rounds` rounds of text feedback after the first program
  (`llm.feedback`: the sandbox's error, or "improve your code"); each round rendered in
  `drawings/<concept>/round<r>/`.

Both write `records.jsonl` (one line per program: concept, group, sample / round, rendered or the error,
seconds, tokens), `summary.json` and `index.html`. With a recogniser for a group, the summary has that
group's fidelity (retrieval among the group's captions; failed programs count as misses) and diversity
(mean over concepts of the pairwise cosine distance between samples), per round for `correct`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jaxinterp.agent.backends import ChatBackend, ChatMessage
from jaxinterp.agent.checkup import llm, measures
from jaxinterp.agent.checkup.concepts import Concept
from jaxinterp.agent.checkup.recognise import Recogniser
from jaxinterp.agent.checkup.render import Rendering, render
from jaxinterp.data.report import write_index


def _draw_one(backend: ChatBackend, messages: list[ChatMessage], temperature: float, folder: Path):
    code, response = llm.ask(backend, messages, temperature)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reply.md").write_text(response.text)
    rendering = render(code, workdir=folder) if code else Rendering(None, "the reply holds no Python program", 0.0)
    usage = {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens}
    return response, rendering, usage


def _record(concept: Concept, rendering: Rendering, usage: dict, **where) -> dict[str, Any]:
    return {"concept": concept.name, "group": concept.group, **where, "rendered": rendering.ok,
            "error": rendering.error, "seconds": round(rendering.seconds, 2), "usage": usage}  # fmt: skip


def _progress(show: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, disable=not show)


def _draw_all(
    concepts: Sequence[Concept],
    backend: ChatBackend,
    out: Path,
    n: int,
    key: str,
    language: str,
    temperature: float,
    show_progress: bool,
) -> tuple[list[dict], list]:
    """`n` programs per concept: independent samples (`key="sample"`) or the rounds of one conversation that
    feeds each result back as text (`key="round"`). Returns one record and one image (or None) per program."""
    records, images = [], []
    with _progress(show_progress) as progress:
        task = progress.add_task("drawing" if key == "sample" else "correcting", total=len(concepts) * n)
        for concept in concepts:
            messages = llm.draw_messages(concept, language)
            for i in range(n):
                folder = out / "drawings" / concept.name / f"{key}{i}"
                response, rendering, usage = _draw_one(backend, messages, temperature, folder)
                records.append(_record(concept, rendering, usage, **{key: i}))
                images.append(rendering.image)
                if key == "round":
                    messages = [*messages, ChatMessage("assistant", response.text),
                                ChatMessage("user", llm.feedback(concept, rendering.error))]  # fmt: skip
                progress.advance(task)
    return records, images


def generate(
    concepts: Sequence[Concept],
    backend: ChatBackend,
    out: str | Path,
    samples: int = 3,
    language: str = "matplotlib",
    temperature: float = 1.0,
    recognisers: Mapping[str, Recogniser] | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Draw every concept `samples` times; returns the summary (also in `out/summary.json`)."""
    out, start = Path(out), time.monotonic()
    records, images = _draw_all(concepts, backend, out, samples, "sample", language, temperature, show_progress)
    summary = {"drawer": backend.model, "language": language, "samples": samples, "render_rate": _rate(records),
               "measures": _measures(records, images, recognisers or {}),
               "seconds": round(time.monotonic() - start, 1)}  # fmt: skip
    _write(out, "Vision check-up: generated drawings", records, summary, "sample")
    return summary


def correct(
    concepts: Sequence[Concept],
    backend: ChatBackend,
    out: str | Path,
    rounds: int = 3,
    language: str = "matplotlib",
    temperature: float = 0.0,
    recognisers: Mapping[str, Recogniser] | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """The text-feedback loop: a first program, then `rounds` rounds of feedback; measures per round."""
    out, start = Path(out), time.monotonic()
    records, images = _draw_all(concepts, backend, out, rounds + 1, "round", language, temperature, show_progress)
    per_round = []
    for r in range(rounds + 1):
        keep = [i for i, rec in enumerate(records) if rec["round"] == r]
        chosen = [records[i] for i in keep]
        per_round.append({"round": r, "render_rate": _rate(chosen),
                          "measures": _measures(chosen, [images[i] for i in keep], recognisers or {})})  # fmt: skip
    summary = {"drawer": backend.model, "language": language, "rounds": rounds, "per_round": per_round,
               "seconds": round(time.monotonic() - start, 1)}  # fmt: skip
    _write(out, "Vision check-up: text-feedback correction", records, summary, "round")
    return summary


def _rate(records: list[dict]) -> float:
    return float(np.mean([r["rendered"] for r in records])) if records else float("nan")


def _measures(records: list[dict], images: list, recognisers: Mapping[str, Recogniser]) -> dict[str, Any]:
    """Fidelity and diversity per group that has a recogniser. A program that drew nothing is a miss (top-1 0,
    percentile 0), so fidelity is the rendered drawings' fidelity times the render rate."""
    from jaxinterp.agent.checkup.concepts import concept as lookup

    result = {}
    for group, recogniser in recognisers.items():
        index = {caption: k for k, caption in enumerate(recogniser.captions)}
        rows = [i for i, r in enumerate(records) if r["group"] == group and lookup(r["concept"]).caption in index]
        drawn = [i for i in rows if images[i] is not None]
        if not rows:
            continue
        fid = {"top1": 0.0, "percentile": 0.0}
        spreads = []
        if drawn:
            side = getattr(recogniser, "input_size", 128)
            batch = np.stack([_square(images[i], side) for i in drawn])
            truth = np.array([index[lookup(records[i]["concept"]).caption] for i in drawn])
            fid = measures.fidelity(recogniser.scores(batch), truth)
            by_concept: dict[str, list] = {}
            for i, e in zip(drawn, recogniser.embed(batch), strict=True):
                by_concept.setdefault(records[i]["concept"], []).append(e)
            spreads = [measures.diversity(np.stack(v)) for v in by_concept.values() if len(v) > 1]
        share = len(drawn) / len(rows)
        result[group] = {
            "recogniser": recogniser.name,
            "fidelity": {"top1": fid["top1"] * share, "percentile": fid["percentile"] * share, "n": len(rows)},
            "diversity": float(np.mean(spreads)) if spreads else None,
        }
    return result


def _square(image: np.ndarray, side_px: int = 128) -> np.ndarray:
    """Pad a drawing to a square with white (so recognisers that resize do not distort it) and scale it to
    `side_px` (a recogniser's `input_size`, if it has one: 224 for CLIP ViT-B/32, so no detail is lost)."""
    h, w = image.shape[:2]
    side = max(h, w)
    page = np.full((side, side, 3), 255, np.uint8)
    page[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = image
    from PIL import Image

    return np.asarray(Image.fromarray(page).resize((side_px, side_px), Image.Resampling.BOX))


def _write(out: Path, title: str, records: list[dict], summary: dict, key: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "records.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    sections: dict[str, list] = {}
    failed: dict[str, int] = {}
    for r in records:
        if r["rendered"]:
            path = out / "drawings" / r["concept"] / f"{key}{r[key]}" / "image.png"
            sections.setdefault(r["group"], []).append((f"{r['concept']} {key} {r[key]}", path))
        else:
            failed[r["group"]] = failed.get(r["group"], 0) + 1
    rows = summary.get("per_round") or [summary]

    def text(group: str) -> str:
        measured = [(row.get("round"), row["measures"][group]) for row in rows if group in row["measures"]]
        parts = [f"{failed.get(group, 0)} program(s) failed to render (errors in records.jsonl)."]
        for r, m in measured:
            where = "" if r is None else f"round {r}: "
            fid = m["fidelity"]
            parts.append(
                f"{where}fidelity top-1 {fid['top1']:.2f}, percentile {fid['percentile']:.2f}, "
                f"diversity {m['diversity']} ({m['recogniser']})."
            )
        return " ".join(parts)

    write_index(out, title, [(group, text(group), figs) for group, figs in sections.items()])
