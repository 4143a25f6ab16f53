"""Render drawing programs in the sandbox: one program to a PNG (model-written code), or many at once to arrays.

Drawing code comes from a language model, so it never runs in this process. `render` runs one program with
`jaxinterp.agent.sandbox` (fresh interpreter, wall-clock / memory / output / file-size limits, no network,
writes only inside its work directory) and reads back the `image.png` it saved. A program that loops
forever is killed at the time limit; one that writes outside its directory gets a `PermissionError`; both
come back as a failed `Rendering` whose `error` is the text a model sees in the correction loop.

`render_batch` renders thousands of programs (the representation-learning set) in a few sandboxed
processes instead of one each: interpreter start-up and the matplotlib import (about a second) are paid
once per chunk, and each figure is rasterised straight from its canvas at twice the target size and
box-filtered down (anti-aliased small images).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from jaxtyping import UInt8
from PIL import Image

from jaxinterp.agent.checkup.drawer import IMAGE_FILE
from jaxinterp.agent.sandbox import SandboxLimits, run_code, run_script

# One drawing: matplotlib's import dominates (~1 s); 20 s is generous for any reasonable figure. matplotlib
# and numpy reserve little address space, so 1 GiB is plenty.
DRAW_LIMITS = SandboxLimits(wall_seconds=20.0, memory_mb=1024, output_bytes=20_000, file_mb=20)
_CHILD = Path(__file__).with_name("_render_child.py")


@dataclasses.dataclass(frozen=True)
class Rendering:
    """What running one drawing program produced.

    Attributes:
        image: The saved image as uint8 RGB (alpha composited on white), or None when there is none.
        error: Empty when the program ran and saved an image, else what went wrong, as the model should read it.
        seconds: Wall-clock time of the sandboxed run.
    """

    image: UInt8[np.ndarray, "h w 3"] | None
    error: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.image is not None and not self.error


def render(code: str, workdir: Path | None = None, limits: SandboxLimits = DRAW_LIMITS) -> Rendering:
    """Run one drawing program in the sandbox and read the `image.png` it writes in its work directory.

    Args:
        code: A Python program that saves `image.png` in its current directory.
        workdir: Where it runs and may write (kept, with `main.py` and `image.png`); None for a temporary one.
        limits: Sandbox limits.
    """
    with tempfile.TemporaryDirectory(prefix="jaxinterp-draw-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        (root / IMAGE_FILE).unlink(missing_ok=True)
        result = run_code(code, limits=limits, workdir=root)
        path = root / IMAGE_FILE
        if not result.ok:
            return Rendering(None, result.text(), result.seconds)
        if not path.is_file():
            return Rendering(None, f"the program ran but did not save {IMAGE_FILE!r} in its current directory",
                             result.seconds)  # fmt: skip
        try:
            with Image.open(path) as img:
                img.load()
                rgba = img.convert("RGBA")
        except (OSError, ValueError) as err:
            return Rendering(None, f"{IMAGE_FILE} is not a readable image: {err}", result.seconds)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Rendering(np.asarray(Image.alpha_composite(white, rgba).convert("RGB")), "", result.seconds)


def render_batch(
    programs: Sequence[str],
    size: int = 32,
    chunk: int = 500,
    seconds_per_program: float = 2.0,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[UInt8[np.ndarray, "n size size 3"], list[str]]:
    """Render many programs to `size` x `size` RGB arrays, `chunk` programs per sandboxed process.

    Returns:
        The images (white where a program failed) and one error line per program ("" when it worked). A
        chunk that hits its time limit marks all its programs failed.
    """
    images = np.full((len(programs), size, size, 3), 255, np.uint8)
    errors = [""] * len(programs)
    for start in range(0, len(programs), chunk):
        part = list(programs[start : start + chunk])
        limits = dataclasses.replace(DRAW_LIMITS, wall_seconds=10.0 + seconds_per_program * len(part), file_mb=200)
        with tempfile.TemporaryDirectory(prefix="jaxinterp-draw-batch-") as tmp:
            result = run_script(_CHILD, [str(size)], limits=limits, workdir=Path(tmp),
                                files={"programs.json": json.dumps(part)})  # fmt: skip
            if result.ok:
                images[start : start + len(part)] = np.load(Path(tmp) / "images.npy")
                errors[start : start + len(part)] = json.loads((Path(tmp) / "errors.json").read_text())
            else:
                errors[start : start + len(part)] = [result.text().splitlines()[-1]] * len(part)
        if on_chunk is not None:
            on_chunk(len(part))
    return images, errors
