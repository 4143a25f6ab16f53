"""Image generators and editors behind MAIA's `text2image` / `edit_images`: procedural (offline) or an HTTP endpoint.

MAIA uses Stable Diffusion v1.5 and InstructPix2Pix (MAIA 2.0: FLUX.1 and FLUX.1-Kontext). Here the tool talks to a
`Generator`:

- `ProceduralGenerator` (default, offline): renders the scene a prompt names (`render.scene_from_prompt`) and
  applies edits to the scene (`render.edit_scene`); every image keeps its exact concept maps in the `ImageStore`,
  which is what lets synthetic neurons see it;
- `HttpGenerator(url)`: any server that answers our small JSON protocol (decision: there is no standard one), so
  a few lines around SD / FLUX / InstructPix2Pix on a GPU machine serve MAIA:

      POST {url}/generate  {"prompt": str, "seed": int, "size": int}          -> {"image": base64 PNG}
      POST {url}/edit      {"image": base64 PNG, "instruction": str, "seed": int} -> {"image": base64 PNG}

  Images it returns have no scene, so synthetic neurons cannot be probed with them.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from typing import Protocol

import numpy as np
from jaxtyping import UInt8
from PIL import Image as PILImage

from jaxinterp.agent.maia import render
from jaxinterp.agent.maia.system import ImageStore
from jaxinterp.errors import InputError

Image = UInt8[np.ndarray, "s s 3"]
PNG_BASE64_PREFIX = "iVBORw0KGgo"  # base64 of the PNG signature


def to_base64(image: Image) -> str:
    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(image, np.uint8), mode="RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def from_base64(text: str) -> Image:
    try:
        image = PILImage.open(io.BytesIO(base64.b64decode(text, validate=True)))
        return np.asarray(image.convert("RGB"), np.uint8)
    except (ValueError, OSError) as err:
        raise InputError(f"not a base64-encoded image: {err}") from None


def is_image_string(value) -> bool:
    return isinstance(value, str) and value.startswith(PNG_BASE64_PREFIX)


class Generator(Protocol):
    def generate(self, prompt: str, index: int) -> Image: ...

    def edit(self, image: Image, instruction: str, index: int) -> Image: ...


class ProceduralGenerator:
    """Offline text-to-image and editing by scene rendering (module docstring); registers images in `store`."""

    def __init__(self, store: ImageStore, size: int = render.DEFAULT_SIZE):
        self.store, self.size = store, size

    def generate(self, prompt: str, index: int) -> Image:
        scene = render.scene_from_prompt(prompt, index)
        return self.store.add(render.render(scene, self.size, seed=index))

    def edit(self, image: Image, instruction: str, index: int) -> Image:
        found = self.store.highlight(image)  # a known image, or a masked one: edit its original
        if found is None:
            raise InputError(
                "the offline editor can only edit images it knows the scene of (from text2image, edit_images, "
                "dataset_exemplars or call_neuron's masked images), not images modified in code"
            )
        rendering = found[0]
        scene = _with_layout(render.edit_scene(rendering.scene, instruction), rendering, index)
        return self.store.add(render.render(scene, self.size, seed=index))


def _with_layout(scene: render.Scene, original: render.Rendering, index: int) -> render.Scene:
    """Dataset exemplars store no positions (their things sit at the default centre); give such scenes a layout
    from the original's object map so an edit keeps things where they were."""
    things = list(scene.things)
    for k, thing in enumerate(things):
        if (thing.x, thing.y, thing.size) != (0.5, 0.5, 0.5):
            continue
        ys, xs = np.nonzero(original.object_map == k + 1)
        if len(xs):
            s = original.object_map.shape[0]
            size = max(xs.max() - xs.min(), ys.max() - ys.min()) / s
            things[k] = render.Thing(thing.kind, thing.colour, thing.texture, xs.mean() / s, ys.mean() / s, size)
    return render.Scene(scene.background, tuple(things))


class HttpGenerator:
    """Text-to-image and editing through an HTTP endpoint (module docstring)."""

    def __init__(self, url: str, size: int = 512, timeout: float = 300.0):
        self.url, self.size, self.timeout = url.rstrip("/"), size, timeout

    def _post(self, route: str, payload: dict) -> Image:
        request = urllib.request.Request(
            f"{self.url}/{route}", json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
            raise InputError(f"image endpoint {self.url}/{route} failed: {err}") from None
        if "image" not in reply:
            raise InputError(f"image endpoint {self.url}/{route} returned no 'image'")
        return from_base64(reply["image"])

    def generate(self, prompt: str, index: int) -> Image:
        return self._post("generate", {"prompt": prompt, "seed": index, "size": self.size})

    def edit(self, image: Image, instruction: str, index: int) -> Image:
        return self._post("edit", {"image": to_base64(image), "instruction": instruction, "seed": index})
