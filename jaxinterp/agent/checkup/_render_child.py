"""Run inside the sandbox by `render.render_batch`: execute many drawing programs, keep each one's figure.

Started as `python _render_child.py SIZE` in a work directory holding `programs.json` (a list of program
texts). Each program runs in a fresh namespace; `Figure.savefig` is replaced by a function that only records
the figure, so no program writes a file and every image is rasterised the same way: the figure's canvas at
twice `SIZE` (box-filtered down to `SIZE` x `SIZE`, RGB). Writes `images.npy` (n, SIZE, SIZE, 3) uint8 and
`errors.json` (one line of error text per program, "" when it worked). Standalone: `-I` keeps jaxinterp off
the path, so this file imports only the standard library, numpy, PIL and matplotlib.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    size = int(sys.argv[1])
    with open("programs.json", encoding="utf-8") as f:
        programs = json.load(f)
    captured = []
    Figure.savefig = lambda self, *args, **kwargs: captured.append(self)
    images = np.full((len(programs), size, size, 3), 255, np.uint8)
    errors = []
    for i, code in enumerate(programs):
        captured.clear()
        try:
            exec(compile(code, f"program_{i}.py", "exec"), {"__name__": "__main__"})
            fig = captured[-1] if captured else plt.gcf()
            fig.set_dpi(2 * size / max(fig.get_size_inches()))
            fig.canvas.draw()
            rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
            images[i] = np.asarray(rgb.resize((size, size), Image.Resampling.BOX))
            errors.append("")
        except Exception as err:  # noqa: BLE001 - the program's error is data, reported per program
            errors.append(f"{type(err).__name__}: {err}".splitlines()[0][:300])
        finally:
            plt.close("all")
    np.save("images.npy", images)
    with open("errors.json", "w", encoding="utf-8") as f:
        json.dump(errors, f)


main()
