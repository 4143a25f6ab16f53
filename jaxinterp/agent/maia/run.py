"""Describe one unit, or every synthetic neuron with the agent: the glue between the CLI and the pieces.

    describe_unit("runs/unit", unit="boat|water")                                  # offline describer
    describe_unit("runs/unit", subject_path="runs/cnn", layer="conv3", index=5, backend=backend_from_env())

A unit is a synthetic neuron (`--unit`, by name) or a channel of a subject model saved by `subject.save`. The
exemplar pool is the concept-scenes dataset's training split. Offline, the NetDissect-style describer labels the
unit from its maps over the pool (and the page shows its top exemplars, masked); with a backend, the MAIA agent
runs its experiments (`agent.interpret_unit`), and the same backend answers `describe_images` /
`summarize_images`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from jaxinterp.agent.backends import ChatBackend
from jaxinterp.agent.maia import agent, dataset, describer, neurons, subject
from jaxinterp.agent.maia.images import HttpGenerator
from jaxinterp.agent.maia.offline_agent import OfflineAgent
from jaxinterp.agent.maia.system import ImageStore, System, model_system, pool_maps, synthetic_system
from jaxinterp.agent.maia.tools import Tools
from jaxinterp.data.images import save_png
from jaxinterp.data.report import write_index
from jaxinterp.errors import InputError


def load_pool(data_dir: str | Path, num_images: int) -> dict[str, np.ndarray]:
    """The exemplar pool (training split of the concept scenes), stacked."""
    return dataset.stack(dataset.load_source(data_dir, "train", num_train=num_images, num_test=50))


def make_tools(
    pool: dict[str, np.ndarray], backend: ChatBackend | None, image_endpoint: str | None
) -> tuple[ImageStore, Tools]:
    store = ImageStore()
    generator = HttpGenerator(image_endpoint) if image_endpoint else None
    vlm = None if isinstance(backend, OfflineAgent) else backend  # the scripted agent is no image describer
    return store, Tools(store, pool, generator=generator, vlm=vlm)


def agent_describe_unit(
    backend: ChatBackend,
    out: str | Path,
    protocol: str = "v1",
    max_rounds: int = agent.MAX_ROUNDS,
    image_endpoint: str | None = None,
):
    """A benchmark `DescribeUnit` that runs the MAIA agent on each synthetic neuron (logs under out/units/)."""

    def describe_unit(neuron, maps, index, pool) -> tuple[str, str]:
        store, tools = make_tools(pool, backend, image_endpoint)
        system = synthetic_system(neuron, store)
        folder = Path(out) / "units" / neuron.name.replace("|", "-given-")
        result = agent.interpret_unit(system, tools, backend, protocol, out=folder, max_rounds=max_rounds)
        return result.label or result.description, result.description

    return describe_unit


def describe_unit(
    out: str | Path,
    unit: str | None = None,
    subject_path: str | Path | None = None,
    layer: str = "conv3",
    index: int = 0,
    backend: ChatBackend | None = None,
    protocol: str = "v1",
    max_rounds: int = agent.MAX_ROUNDS,
    num_images: int = 1000,
    data_dir: str | Path | None = None,
    image_endpoint: str | None = None,
) -> dict:
    """Describes one unit (module docstring); writes label.txt, description.txt and an HTML page to `out`.

    Returns:
        {"label", "description", "html"}.
    """
    if (unit is None) == (subject_path is None):
        raise InputError("give either a synthetic neuron (--unit NAME) or a subject model (--subject FOLDER)")
    neuron = neurons.parse_neuron(unit) if unit is not None else None  # bad names fail before any work
    model = subject.load(subject_path) if subject_path is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pool = load_pool(data_dir or out / "data", num_images)
    store, tools = make_tools(pool, backend, image_endpoint)
    if neuron is not None:
        system = synthetic_system(neuron, store)
    else:
        system = model_system(model, layer, index, pool["image"], store)
    if backend is not None:
        result = agent.interpret_unit(system, tools, backend, protocol, out=out, max_rounds=max_rounds)
        return {"label": result.label, "description": result.description, "html": out / "experiment.html"}
    return _offline(system, tools, pool, out)


def _offline(system: System, tools: Tools, pool: dict[str, np.ndarray], out: Path) -> dict:
    """The offline describer on `system`'s maps over the pool, with a page of its top exemplars."""
    maps = pool_maps(system.unit, pool["image"])
    answer = describer.describe(maps, describer.ConceptIndex(dataset.batch_masks(pool)))
    (out / "label.txt").write_text(answer.label + "\n")
    (out / "description.txt").write_text(answer.description + "\n")
    (out / "result.json").write_text(json.dumps({"label": answer.label, "description": answer.description}))
    activations, images = tools.dataset_exemplars(system)
    figures = [
        (f"exemplar {i + 1}: {a}", save_png(out / "exemplars" / f"{i:02d}.png", image.astype(np.float32) / 127.5 - 1))
        for i, (a, image) in enumerate(zip(activations, images, strict=True))
    ]
    title = f"unit {system.layer}:{system.neuron_num}"
    page = write_index(
        out, f"MAIA offline describer: {title}", [(f"label: {answer.label}", answer.description, figures)]
    )
    return {"label": answer.label, "description": answer.description, "html": page}


QUICKSTART_IMAGES = 200
QUICKSTART_AGENT_NEURON = "red|square"


def quickstart_section(out: str | Path, num_images: int = QUICKSTART_IMAGES):
    """`jaxinterp quickstart`'s MAIA section: the offline describer on every synthetic neuron (seconds), with
    a few pool images; (heading, text, figures)."""
    from jaxinterp.agent.maia import benchmark

    start = time.time()
    out = Path(out)
    result = benchmark.run_benchmark(out, num_images=num_images)
    rows = "; ".join(
        f"{mode}: {r['label_accuracy']:.2f} of {r['n']} labelled correctly (bar {r['bar']}), predictive "
        f"{r['predictive_positive']:.2f} vs {r['predictive_neutral']:.2f}"
        for mode, r in result.summary["modes"].items()
    )
    pool = load_pool(out / "data", num_images)
    figures = [
        (
            dataset.scene_of({k: v[i] for k, v in pool.items()}).caption(),
            save_png(out / "pool" / f"{i}.png", pool["image"][i] / 127.5 - 1),
        )
        for i in range(6)
    ]
    # The agent loop itself, with the scripted offline agent, on one AND neuron: sandboxed code, tools, HTML log.
    neuron = neurons.parse_neuron(QUICKSTART_AGENT_NEURON)
    store, tools = make_tools(pool, None, None)
    answer = agent.interpret_unit(synthetic_system(neuron, store), tools, OfflineAgent(), out=out / "agent")
    text = (
        f"MAIA synthetic neurons (mono / OR / AND over procedural scenes with exact concept masks), described by the "
        f"offline NetDissect-style describer over {num_images} pool images (no model): {rows}. Predictive = mean "
        f"activation on rendered images of prompts written from the label, activating vs neutral. Details in "
        f"{result.html.relative_to(out.parent)}. The MAIA loop with the scripted offline agent on the neuron "
        f"'{neuron.label}' answered '{answer.label}' in {answer.rounds} rounds; its experiment log is "
        f"{(out / 'agent' / 'experiment.html').relative_to(out.parent)}. {time.time() - start:.0f} s."
    )
    return ("MAIA: synthetic neurons (offline describer)", text, figures)
