"""MAIA's `Tools`: the experiment API the agent calls; its docstrings are the agent's manual (see `prompts.py`).

Signatures follow MAIA's paper release (v1): `dataset_exemplars(system)`, `text2image(prompt_list)`,
`edit_images(prompt_list_org_image, editing_instructions_list)`, `describe_images(image_list, image_title)`,
`summarize_images(image_list)`, `save_experiment_log(...)`; MAIA 2.0's `display(*items)` is the v2 channel. The
agent's code runs in a sandboxed process (`runner.py`) and reaches these methods through a proxy; images travel
as base64 PNG strings (as in MAIA 2.0) and are numpy arrays here.

What the agent sees comes only through `save_experiment_log` (v1) or `display` (v2): both append to `self.log`,
which the agent loop sends as the next user message. As in MAIA, once `dataset_exemplars` has run, an experiment
whose maximum activation stays below the exemplars' mean adds "Max activation is smaller than X, please continue
with the experiments." to the log.

`describe_images` / `summarize_images` call a vision-language backend when one is given (one fresh call per
image, blind to the agent's hypotheses, as in MAIA). Without one they answer from the scenes behind the images:
the concepts under each image's highlighted region (an exact, offline stand-in for a VLM).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.maia import render
from jaxinterp.agent.maia.images import Generator, ProceduralGenerator, is_image_string
from jaxinterp.agent.maia.system import ImageStore, System, firing_region, pool_maps
from jaxinterp.errors import InputError

TOP_K = 15  # MAIA's dataset exemplars per unit
DESCRIBE_PROMPT = (
    "This image shows some regions at full brightness and the rest darkened. Describe ONLY what is in the bright "
    "(highlighted) regions: objects, shapes, colours, textures, background. Be concise. Answer in the form "
    "[highlighted regions]: <description>"
)
SUMMARIZE_PROMPT = (
    "Each image shows some regions at full brightness and the rest darkened. What do the bright (highlighted) "
    "regions of all the images have in common? Be concise. Answer in the form [COMMON]: <description>"
)


class Tools:
    """Tools for experiments on the unit: images from text, edited images, dataset exemplars, image descriptions,
    and the log through which you see results.

    Images are base64-encoded PNG strings; pass them between tools and `system.call_neuron` as they are.
    The offline image generator draws scenes from a fixed vocabulary: colours (red, green, blue, yellow, purple,
    orange, white, black), shapes (circle, square, triangle, star, cross, diamond), objects (house, tree, car,
    flower, boat), textures (striped, dotted, checkered) and backgrounds (grass, sky, sand, water, night, plain
    grey); a prompt may name up to three shapes or objects. Other words are ignored.
    """

    def __init__(
        self,
        store: ImageStore,
        pool: dict[str, np.ndarray] | None = None,
        generator: Generator | None = None,
        vlm: ChatBackend | None = None,
        images_per_prompt: int = 1,
    ):
        self.store = store
        self.generator = generator or ProceduralGenerator(store)
        self.vlm = vlm
        self.images_per_prompt = images_per_prompt
        self.pool = pool
        self.log: list[list] = []
        self.activation_threshold: float | None = None
        self._exemplar_cache: dict[tuple, tuple[list[float], list[np.ndarray]]] = {}
        if pool is not None:
            from jaxinterp.agent.maia.dataset import scene_of

            for i in range(len(pool["image"])):
                example = {key: value[i] for key, value in pool.items()}
                rendering = render.Rendering(
                    example["image"], example["object_map"], example["colour_map"], scene_of(example)
                )
                store.add(rendering)

    # ------------------------------------------------------------------------------------------ agent API
    def dataset_exemplars(self, system: System) -> tuple[list[float], list]:
        """Returns the images of the exemplar dataset that activate the unit most (the top 15), with their
        activations, each image masked to show the region where the unit fires. Exemplars are a good first
        experiment: they show what natural inputs drive the unit.

        Args:
            system (System): The unit to study.

        Returns:
            activation_list (list[float]): The exemplars' activations, highest first.
            masked_images (list): The exemplars, with the unit's firing region highlighted.

        Example:
            >>> activations, images = tools.dataset_exemplars(system)
            >>> tools.save_experiment_log(activation_list=activations, image_list=images,
            >>>                           image_titles=["exemplar"] * len(images), image_textual_information=None)
        """
        if self.pool is None:
            raise InputError("no exemplar dataset was given to the tools")
        key = (id(system.unit), system.layer, system.neuron_num)
        if key not in self._exemplar_cache:
            maps = pool_maps(system.unit, self.pool["image"])
            acts = maps.reshape(len(maps), -1).max(axis=1)
            top = np.argsort(-acts, kind="stable")[:TOP_K]
            images = [self._masked(system, self.pool["image"][i], maps[i]) for i in top]
            self._exemplar_cache[key] = ([round(float(acts[i]), 2) for i in top], images)
        activations, images = self._exemplar_cache[key]
        self.activation_threshold = float(np.mean(activations))
        return list(activations), list(images)

    def text2image(self, prompt_list: list[str]) -> list:
        """Generates one image per prompt (a list of images per prompt when several images per prompt are
        configured). Use it to test hypotheses with images that contain, or lack, a concept.

        Args:
            prompt_list (list[str]): Prompts, e.g. ["a red circle on grass", "a blue striped house at night"].

        Returns:
            list: The generated images, in the order of the prompts.

        Example:
            >>> prompts = ["a red circle on grass", "a red square on grass", "a blue circle on grass"]
            >>> images = tools.text2image(prompts)
            >>> activations, masked = system.call_neuron(images)
            >>> tools.save_experiment_log(activation_list=activations, image_list=images, image_titles=prompts,
            >>>                           image_textual_information=None)
        """
        prompts = _strings(prompt_list, "prompt_list")
        out = []
        for prompt in prompts:
            images = [_host(self.generator.generate(prompt, i)) for i in range(self.images_per_prompt)]
            out.append(images[0] if self.images_per_prompt == 1 else images)
        return out

    def edit_images(self, prompt_list_org_image: list, editing_instructions_list: list[str]) -> tuple[list, list[str]]:
        """Edits images: each original (given as a prompt, which is first turned into an image, or as an
        image, e.g. an exemplar) is changed by the matching instruction. Phrase instructions as replacements,
        e.g. "replace the red circle with a blue square", "change the grass to water", "make the star green";
        "add a yellow car" and "remove the tree" also work. Comparing the unit on the original and the edit
        isolates the effect of one change.

        Args:
            prompt_list_org_image (list): Prompts or images to edit.
            editing_instructions_list (list[str]): One instruction per original.

        Returns:
            image_list (list): Original and edited images, interleaved: [original 1, edit 1, original 2, ...].
            prompts (list[str]): The matching titles: the original prompt (or "original image"), the instruction.

        Example:
            >>> images, titles = tools.edit_images(["a red circle on grass"], ["replace the grass with sand"])
            >>> activations, masked = system.call_neuron(images)
            >>> tools.save_experiment_log(activation_list=activations, image_list=images, image_titles=titles,
            >>>                           image_textual_information=None)
        """
        originals = list(prompt_list_org_image)
        instructions = _strings(editing_instructions_list, "editing_instructions_list")
        if len(originals) != len(instructions):
            raise InputError(
                f"edit_images needs one instruction per original: got {len(originals)} originals and "
                f"{len(instructions)} instructions"
            )
        images, titles = [], []
        for i, (original, instruction) in enumerate(zip(originals, instructions, strict=True)):
            if isinstance(original, str):
                image, title = _host(self.generator.generate(original, 0)), original
            else:
                image, title = np.asarray(original, np.uint8), "original image"
                found = self.store.highlight(image)
                image = image if found is None else found[0].image  # a masked exemplar: edit its original
            images += [image, _host(self.generator.edit(image, instruction, i))]
            titles += [title, instruction]
        return images, titles

    def describe_images(self, image_list: list, image_title: list[str]) -> str:
        """Describes the highlighted region of each image, one independent description per image (the
        describer does not know your hypotheses). Useful on masked images from `call_neuron` or exemplars.

        Args:
            image_list (list): Images, typically masked ones.
            image_title (list[str]): A title per image, repeated in the answer.

        Returns:
            str: One line per image: '"<title>", highlighted regions: <description>'.
                Offline: the concepts of the highlighted region, then "; around: " and the rest of the scene.
        """
        titles = _strings(image_title, "image_title")
        if len(titles) != len(image_list):
            raise InputError(f"describe_images: {len(image_list)} images but {len(titles)} titles")
        lines = []
        for image, title in zip(image_list, titles, strict=True):
            lines.append(f'"{title}", highlighted regions: {self._describe_one(np.asarray(image, np.uint8))}')
        return "\n".join(lines)

    def summarize_images(self, image_list: list) -> str:
        """Says what the highlighted regions of all the images have in common (e.g. on exemplars).

        Args:
            image_list (list): Images, typically masked ones.

        Returns:
            str: The common content, as "[COMMON]: ...".
        """
        images = [np.asarray(image, np.uint8) for image in image_list]
        if self.vlm is not None:
            return self._ask(images, SUMMARIZE_PROMPT)
        counts: dict[str, int] = {}
        for image in images:
            for concept in self._highlighted_concepts(image):
                counts[concept] = counts.get(concept, 0) + 1
        common = [c for c, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > len(images) / 2]  # a majority
        return "[COMMON]: " + (", ".join(common) if common else "nothing in common")

    def display(self, *items) -> None:
        """Shows you text and images (v2): each argument may be a string, an image, or a list of them.

        Example:
            >>> images = tools.text2image(["a red circle", "a blue circle"])
            >>> activations, masked = system.call_neuron(images)
            >>> for image, activation in zip(images, activations):
            >>>     tools.display(image, f"activation: {activation}")
        """
        parts: list = []
        for item in _flatten(items):
            parts.append(item if isinstance(item, np.ndarray) else str(item))
        self.log.append(parts)

    def save_experiment_log(
        self,
        activation_list: list[float],
        image_list: list,
        image_titles: list[str],
        image_textual_information: str | list[str] | None,
    ) -> None:
        """Sends the results of an experiment to you: each image with its title and activation, then any text
        (e.g. from describe_images). Nothing else reaches you, so call it at the end of every experiment.

        Args:
            activation_list (list[float]): Activations from `system.call_neuron`.
            image_list (list): The images (or masked images) to show, one per activation.
            image_titles (list[str]): A title per image (e.g. its prompt).
            image_textual_information (str | list[str] | None): Extra text shown after the images.
        """
        titles = _strings(image_titles, "image_titles")
        if not len(activation_list) == len(image_list) == len(titles):
            raise InputError(
                f"save_experiment_log: {len(activation_list)} activations, {len(image_list)} images and "
                f"{len(titles)} titles; they must match"
            )
        parts: list = []
        for activation, image, title in zip(activation_list, image_list, titles, strict=True):
            parts += [f'"{title}", activation: {activation}', np.asarray(image, np.uint8)]
        if image_textual_information:
            info = image_textual_information
            parts.append(info if isinstance(info, str) else "\n".join(map(str, info)))
        threshold = self.activation_threshold
        if threshold is not None and activation_list and max(activation_list) < threshold:
            parts.append(f"Max activation is smaller than {threshold:.2f}, please continue with the experiments.")
        self.log.append(parts)

    # ------------------------------------------------------------------------------------------ internals
    def take_log(self) -> list[list]:
        """The log entries since the last call (what the next user message shows), clearing them."""
        log, self.log = self.log, []
        return log

    def _masked(self, system: System, image: np.ndarray, unit_map: np.ndarray) -> np.ndarray:
        keep = firing_region(unit_map, image.shape[:2], system.threshold)
        masked = system.mask(image, unit_map)
        self.store.add_highlight(masked, image, keep)
        return masked

    def _highlighted_concepts(self, image: np.ndarray) -> list[str]:
        """Concepts covering at least 30% of a masked image's highlighted region (of all of a plain image)."""
        found = self.store.highlight(image)
        if found is None:
            return []
        rendering, keep = found
        if not keep.any():
            return ["nothing (no region is highlighted)"]
        masks = render.concept_masks(rendering)
        share = {c: (m & keep).sum() / keep.sum() for c, m in masks.items()}
        return [c for c, s in sorted(share.items(), key=lambda kv: -kv[1]) if s >= 0.3]

    def _describe_one(self, image: np.ndarray) -> str:
        if self.vlm is not None:
            reply = self._ask([image], DESCRIBE_PROMPT)
            return re.sub(r"^\s*\[highlighted regions\]:\s*", "", reply, flags=re.IGNORECASE).strip()
        concepts = self._highlighted_concepts(image)
        if not concepts:
            return "unknown (an image the offline describer has no scene for)"
        rendering, keep = self.store.highlight(image)
        if keep.all() or not keep.any():
            return ", ".join(concepts)
        # the darkened surroundings stay visible (at 25%), as a VLM would see them
        around = [c for c, m in render.concept_masks(rendering).items() if m.any() and c not in concepts]
        return ", ".join(concepts) + ("; around: " + ", ".join(around) if around else "")

    def _ask(self, images: Sequence[np.ndarray], prompt: str) -> str:
        question = [ChatMessage("user", [prompt, *images])]
        return self.vlm.chat(ChatRequest(question, max_tokens=300, temperature=0.0)).text.strip()


def _host(image) -> np.ndarray:
    return np.asarray(image, np.uint8)


def _strings(values, name: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise InputError(f"{name} must be a list of strings, got {type(values).__name__}")
    if not all(isinstance(v, str) and not is_image_string(v) for v in values):
        raise InputError(f"{name} must hold strings only")
    return list(values)


def _flatten(items) -> list:
    out = []
    for item in items:
        if isinstance(item, list | tuple):
            out += _flatten(item)
        else:
            out.append(item)
    return out
