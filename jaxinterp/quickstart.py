"""`jaxinterp quickstart`: the embedded default of every pillar, small enough for 2 CPU cores.

For now: SinGAN with the `fast` preset on a built-in photo, then its applications (random samples, another
aspect ratio, injection at a scale, editing, animation); Catch-A-Waveform's tiny preset on the built-in
synthesised music (generation, reconstruction, bandwidth extension; `gen/caw/demo.py`); IDC's tiny
pyramid completing a hole in a built-in photo (`gen/idc/demo.py`); BlendGAN's tiny two-photo model
(morph, meld, fuse; `gen/blendgan/demo.py`); and a tiny
transformer trained in-repo on a synthetic task, taken apart by activation patching (`jaxinterp.mech.demo`);
and a small FIND run (a few numeric and string functions, described by the offline interpreter, no model
needed); and one sandboxed matplotlib drawing per vision check-up concept from the offline drawer. All
gathered in one `index.html`. Rerunning reuses the trained models (SinGAN resumes, which skips finished
scales).

Progress: one line as each section starts and one as it ends, with its time (`[3/8] idc ... started`,
`[3/8] idc done in 74.2 s`), flushed at once, so a pipe or a log file shows where the run is. The libraries'
chatter (absl and TFDS logging below ERROR, TFDS's dataset preparation notes and progress bars) is off while
the quickstart runs; errors still show.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import jax
import numpy as np

from jaxinterp.agent.checkup.gallery import gallery
from jaxinterp.agent.maia.run import quickstart_section as maia_section
from jaxinterp.data.images import save_gif, save_png
from jaxinterp.data.report import write_index
from jaxinterp.gen.blendgan.demo import quickstart_section as blendgan_section
from jaxinterp.gen.caw.demo import quickstart_section as caw_section
from jaxinterp.gen.idc.demo import quickstart_section as idc_section
from jaxinterp.gen.singan import apps, store
from jaxinterp.gen.singan.config import PRESETS
from jaxinterp.gen.singan.train import train
from jaxinterp.mech.demo import run_demo

DEFAULT_IMAGE = "builtin:ihc"
FIND_NUMERIC = FIND_STRINGS = 8
FIND_MLP_STEPS = 100  # training steps of the FIND MLP approximations (quickstart keeps them short)
SECTIONS = ("singan", "caw", "idc", "blendgan", "mech", "find", "maia", "checkup")  # in run()'s order
QUIET_LOGGERS = ("absl", "tensorflow_datasets", "tensorflow", "etils")  # python loggers held at ERROR


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Holds absl's and TFDS's logging at ERROR and turns off TFDS's progress bars and its "Downloading and
    preparing dataset ..." / "... downloaded and prepared" notes (printed, not logged) while the quickstart
    builds its local datasets (MAIA's concept scenes); restores the log levels afterwards."""
    from absl import logging as absl_logging

    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    verbosity = absl_logging.get_verbosity()
    with contextlib.ExitStack() as stack:
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            tfds = None
        if tfds is not None:
            tfds.disable_progress_bar()
            builder = tfds.core.DatasetBuilder
            for name in ("_log_download_bytes", "_log_download_done"):  # tfds 4.9: termcolor.cprint to stdout
                if hasattr(builder, name):
                    stack.enter_context(mock.patch.object(builder, name, lambda self: None))
        absl_logging.set_verbosity(absl_logging.ERROR)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            absl_logging.set_verbosity(verbosity)
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class Progress:
    """Prints `[i/n] name ... started` and `[i/n] name done in 12.3 s` (or `failed after`) around each step,
    flushed, so that the lines appear as they happen whether stdout is a terminal, a pipe or a file."""

    def __init__(self, total: int):
        self.total, self.count = total, 0

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.count += 1
        tag = f"[{self.count}/{self.total}] {name}"
        print(f"{tag} ... started", flush=True)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            print(f"{tag} failed after {time.perf_counter() - start:.1f} s", flush=True)
            raise
        print(f"{tag} done in {time.perf_counter() - start:.1f} s", flush=True)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("quickstart", help="run every pillar's embedded default and write index.html")
    p.add_argument("--out", default="quickstart", help="output folder (default: ./quickstart)")
    p.add_argument("--image", default=DEFAULT_IMAGE, help="image for SinGAN (default: %(default)s)")
    p.add_argument("--niter", type=int, help="SinGAN iterations per scale (fast preset: 200)")
    p.add_argument("--mech-steps", type=int, default=600, help="training steps of the transformer demo")
    p.add_argument("--find-numeric", type=int, default=FIND_NUMERIC, help="FIND numeric functions (default 8)")
    p.add_argument("--find-strings", type=int, default=FIND_STRINGS, help="FIND string functions (default 8)")
    p.set_defaults(
        func=lambda args: print(
            "open "
            + str(
                run(
                    Path(args.out),
                    args.image,
                    args.niter,
                    mech_steps=args.mech_steps,
                    find_numeric=args.find_numeric,
                    find_strings=args.find_strings,
                )
            )
        )
    )


def find_section(out: Path, numeric: int = FIND_NUMERIC, strings: int = FIND_STRINGS, seed: int = 0):
    """Builds a small FIND benchmark under `out`/bench, runs the offline interpreter on it (resuming), and
    returns an index section whose text is the per-category accuracy table."""
    from jaxinterp.agent.find import numeric_functions, string_functions, write_benchmark
    from jaxinterp.agent.find.run import run_benchmark

    start = time.time()
    bench, stamp = out / "bench", f"{numeric} numeric, {strings} strings, seed {seed}\n"
    if not (bench / "done").is_file() or (bench / "done").read_text() != stamp:  # other counts: start afresh
        shutil.rmtree(out, ignore_errors=True)
        functions = numeric_functions(seed, numeric, mlp_steps=FIND_MLP_STEPS) if numeric else []
        functions += string_functions(seed, strings) if strings else []
        write_benchmark(functions, bench)
        (bench / "done").write_text(stamp)
    result = run_benchmark(bench, out / "run", show_progress=False)
    rows = "; ".join(
        f"{category}: {acc['accuracy']:.2f} of {acc['n']} correct"
        for category, acc in result.summary["code_accuracy"].items()
    )
    text = (
        f"FIND: {numeric} numeric and {strings} string functions (seed {seed}) described by the offline "
        f"interpreter (no model); code accuracy per category (numeric: NMSE < 0.1, string: exact match) - {rows}. "
        f"Details in {result.html.relative_to(out.parent)}; {time.time() - start:.0f} s."
    )
    return ("FIND: function interpretation (offline)", text, [])


def _edit_demo(model: store.TrainedSinGAN) -> tuple[np.ndarray, np.ndarray]:
    """A naive edit of the training image: a block copied elsewhere, and its mask."""
    image = model.reals[-1].copy()
    h, w = image.shape[:2]
    bh, bw = h // 4, w // 4
    image[h // 2 : h // 2 + bh, w // 2 : w // 2 + bw] = image[h // 8 : h // 8 + bh, w // 8 : w // 8 + bw]
    mask = np.zeros((h, w), np.float32)
    mask[h // 2 : h // 2 + bh, w // 2 : w // 2 + bw] = 1.0
    return image, mask


def run(
    out: Path,
    image: str = DEFAULT_IMAGE,
    niter: int | None = None,
    preset: str = "fast",
    mech_steps: int = 600,
    find_numeric: int = FIND_NUMERIC,
    find_strings: int = FIND_STRINGS,
) -> Path:
    """Trains (or reuses) the quickstart models and writes their results, printing a line as each section
    starts and ends; returns index.html's path."""
    cfg = PRESETS[preset]
    if niter:
        cfg = cfg.with_niter(niter)
    progress, start = Progress(len(SECTIONS)), time.perf_counter()
    with quiet_library_logs():
        with progress.step("singan"):
            sections = _singan_sections(out, image, cfg, preset)
        with progress.step("caw"):
            sections.append(caw_section(out / "caw"))
        with progress.step("idc"):
            sections.append(idc_section(out / "idc"))
        with progress.step("blendgan"):
            sections.append(blendgan_section(out / "blendgan"))
        with progress.step("mech"):
            sections.extend(run_demo(out / "mech", steps=mech_steps))
        with progress.step("find"):
            sections.append(find_section(out / "find", find_numeric, find_strings))
        with progress.step("maia"):
            sections.append(maia_section(out / "maia"))
        with progress.step("checkup"):
            sections.append(gallery(out / "checkup"))
        index = write_index(out, "jaxinterp quickstart", sections)
    print(f"quickstart done in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return index


def _singan_sections(out: Path, image: str, cfg, preset: str) -> list:
    """Trains (or resumes) SinGAN and runs its applications; the index sections."""
    run_dir = out / "singan"
    start = time.time()
    train([image], run_dir, cfg, resume=(run_dir / "run.json").exists())
    model = store.load_trained(run_dir)
    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, 6)
    res = out / "results"
    top = model.geometry.num_scales - 1
    mid = max(1, top // 2)

    real = [("training image (finest scale)", save_png(res / "real.png", model.reals[-1]))]
    real.append(
        ("reconstruction from z_opt", save_png(res / "reconstruction.png", np.asarray(apps.reconstruction(model))))
    )
    samples = np.asarray(apps.random_samples(model, keys[0], 6))
    random = [(f"sample {i}", save_png(res / f"random_{i}.png", s)) for i, s in enumerate(samples)]
    wide = np.asarray(apps.random_samples(model, keys[1], 2, scale_hw=(1.0, 1.75)))
    random += [(f"wide sample {i} (1 x 1.75)", save_png(res / f"wide_{i}.png", s)) for i, s in enumerate(wide)]
    injected = np.asarray(apps.random_samples(model, keys[2], 3, gen_start_scale=mid))
    start_n = [
        (f"from scale {mid}, sample {i}", save_png(res / f"start{mid}_{i}.png", s)) for i, s in enumerate(injected)
    ]
    naive, mask = _edit_demo(model)
    _, edited = apps.edit(model, naive, mask, mid, keys[3])
    editing = [
        ("naive edit (copied block)", save_png(res / "edit_naive.png", naive)),
        (f"SinGAN edit, injected at scale {mid}", save_png(res / "edit_singan.png", edited)),
    ]
    gif = save_gif(res / "animation.gif", apps.animate(model, keys[5], frames=30, start_scale=min(2, top)), fps=10)
    editing.append(("animation (noise random walk)", gif))

    minutes = (time.time() - start) / 60
    text = (
        f"SinGAN ({preset} preset: {cfg.niter} iterations per scale, {model.geometry.num_scales} scales, "
        f"finest {model.geometry.finest_hw[0]}x{model.geometry.finest_hw[1]} px) trained on {image}; "
        f"{minutes:.1f} min including applications on {jax.devices()[0].platform}."
    )
    return [
        ("SinGAN: training image", text, real),
        ("SinGAN: random samples", "Noise at every scale; the wide ones use a 1.75x wider pyramid.", random),
        ("SinGAN: generation from a middle scale", "Coarse scales follow the training image.", start_n),
        ("SinGAN: editing and animation", "Applications of the same trained pyramid.", editing),
    ]
