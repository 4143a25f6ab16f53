"""An ASAPNet (or SPADE baseline) training run on disk, and translating label maps with it.

    <run>/run.json        what was trained: generator kind and overrides, dataset, size, TrainConfig
    <run>/progress/       orbax checkpoints of the whole train state (resume with `resume=True`)
    <run>/generator/      the final generator variables (what `translate` needs)
    <run>/metrics.json    every step's losses
    <run>/samples.png     test label maps | translations | real images

Presets (decision): "paper" is the official configuration (ASAPNet lr_max_width 1024, lr_depth 7; SPADE
ngf 64; PatchGAN ndf 64), about a second per step per image on a 2-core CPU at 256 x 512. "cpu" keeps
every mechanism at narrower widths (ASAPNet lr_max_width 128, lr_depth 3; SPADE ngf 8, SPADE hidden 32;
discriminators ndf 16, 3 layers) so that a few hundred steps at 64 x 128 fit in minutes; the quickstart
and the quality comparison use it. "tiny" is for smoke runs and tests only.

The learning-rate schedule is the official 200 + 100 epochs (constant, then linear decay to 0) scaled to
the step budget: the first two thirds of `steps` constant, the last third decaying.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.checkpoint import load_tree, save_tree
from jaxinterp.data.images import save_png, uint8_to_unit
from jaxinterp.data.paired import source as paired
from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet import train as trainer
from jaxinterp.gen.asapnet.generator import make_generator, prepare_inference

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"asapnet": {}, "spade": {}, "train": {}},
    "cpu": {
        "asapnet": {"lr_max_width": 128, "lr_depth": 3},
        "spade": {"ngf": 8, "spade_hidden": 32},
        "train": {"ndf": 16, "ndf_max": 64, "n_layers_d": 3},
    },
    "tiny": {  # smoke runs and tests only: every code path, seconds to compile
        "asapnet": {"lr_width": 8, "lr_max_width": 16, "lr_depth": 1, "hr_width": 16, "hr_depth": 3},
        "spade": {"ngf": 2, "spade_hidden": 8},
        "train": {"ndf": 4, "ndf_max": 8, "n_layers_d": 2},
    },
}
KINDS = ("asapnet", "spade")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run (stored as run.json)."""

    kind: str = "asapnet"
    dataset: str = "procedural"
    height: int = 64
    width: int = 128
    steps: int = 300
    batch_size: int = 4
    preset: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown model {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.steps < 1 or self.batch_size < 1:
            raise InputError(f"steps and batch size must be >= 1, got {self.steps} and {self.batch_size}")

    def generator(self):
        label_nc = paired.label_nc(self.dataset)
        return make_generator(self.kind, label_nc, self.height, self.width, **PRESETS[self.preset][self.kind])

    def train_config(self) -> trainer.TrainConfig:
        constant = max(1, round(2 * self.steps / 3))
        return trainer.TrainConfig(
            **PRESETS[self.preset]["train"],
            niter=constant,
            niter_decay=self.steps - constant,
            steps_per_epoch=1,
            batch_size=self.batch_size,
            checkpoint_every=max(1, min(500, self.steps // 4)),
            seed=self.seed,
        )


def default_data_dir() -> Path:
    return Path(os.environ.get("JAXINTERP_DATA", Path.home() / ".cache" / "jaxinterp" / "datasets"))


def _size(spec: RunSpec) -> dict[str, int]:
    return {"height": spec.height, "width": spec.width}


def _batch_at(stream_factory):
    """A function step -> batch over an endless stream, re-created and skipped ahead when asked out of order
    (a resumed run then sees the batches the uninterrupted run would have)."""
    state = {"next": 0, "stream": stream_factory()}

    def get(step: int):
        if step != state["next"]:
            state["stream"], state["next"] = stream_factory(), 0
            for _ in range(step):
                next(state["stream"])
        state["next"] = step + 1
        return next(state["stream"])

    return get


def palette(label_nc: int) -> np.ndarray:
    """uint8 [label_nc, 3]: the procedural dataset's palette when it fits, else fixed random colours."""
    from jaxinterp.data.paired.procedural import PALETTE

    if label_nc <= len(PALETTE):
        return np.asarray(PALETTE[:label_nc], np.uint8)
    return np.random.default_rng(0).integers(0, 256, (label_nc, 3), dtype=np.uint8)


def sample_grid(labels_onehot: np.ndarray, fakes: np.ndarray, reals: np.ndarray | None) -> np.ndarray:
    """Rows of (colourised label map | translation | real image), values in [-1, 1]."""
    colours = uint8_to_unit(palette(labels_onehot.shape[-1])[np.argmax(labels_onehot, axis=-1)])
    columns = [colours, np.clip(fakes, -1, 1)] + ([reals] if reals is not None else [])
    rows = [np.concatenate([c[i] for c in columns], axis=1) for i in range(len(fakes))]
    return np.concatenate(rows, axis=0)


def train_run(
    out: str | os.PathLike,
    spec: RunSpec,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    vgg_path: str | os.PathLike | None = None,
    resume: bool = False,
    show_progress: bool = True,
) -> Path:
    """Trains `spec` into the run folder `out` (module docstring); returns the folder."""
    out, data_dir = Path(out), Path(data_dir or default_data_dir())
    if (out / "run.json").is_file() and not resume:
        raise InputError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if manual_dir is not None:
        paired.prepare(spec.dataset, data_dir, manual_dir, **_size(spec))
    train_source = paired.load_source(spec.dataset, data_dir, "train", **_size(spec))
    label_nc = paired.label_nc(spec.dataset)
    generator, cfg = spec.generator(), spec.train_config()
    vgg = None
    if vgg_path is not None:
        from jaxinterp.gen.asapnet.vgg import load_vgg19

        vgg = load_vgg19(vgg_path)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"spec": dataclasses.asdict(spec), "label_nc": label_nc, "vgg": None if vgg_path is None else str(vgg_path)}
    (out / "run.json").write_text(json.dumps(meta, indent=2))

    batch_at = _batch_at(lambda: paired.batches(train_source, spec.batch_size, spec.seed, label_nc))
    devices = jax.device_count()
    mesh = trainer.data_mesh() if devices > 1 and spec.batch_size % devices == 0 else None
    state = trainer.init_state(generator, cfg, batch_at(0), jax.random.key(spec.seed))
    step_fn = trainer.make_train_step(generator, cfg, vgg, mesh)
    state, history = trainer.fit(
        state,
        batch_at,
        spec.steps,
        step_fn=step_fn,
        rng=jax.random.key(spec.seed + 1),
        checkpoint_dir=out / "progress",
        checkpoint_every=cfg.checkpoint_every,
        mesh=mesh,
        show_progress=show_progress,
    )
    save_tree(out / "generator", state.g_vars)
    old = json.loads((out / "metrics.json").read_text()) if resume and (out / "metrics.json").is_file() else []
    (out / "metrics.json").write_text(json.dumps(old + history))
    test = paired.load_source(spec.dataset, data_dir, "test", **_size(spec))
    batch = paired.to_batch(
        np.stack([test[i]["label"] for i in range(min(4, len(test)))]),
        np.stack([test[i]["image"] for i in range(min(4, len(test)))]),
        label_nc,
    )
    fakes = np.asarray(jax.jit(generator.apply)(state.g_vars, jnp.asarray(batch["labels"])))
    save_png(out / "samples.png", sample_grid(batch["labels"], fakes, batch["image"]))
    return out


def load_run(run: str | os.PathLike):
    """(generator module, its variables prepared for inference, run.json contents) of a finished run."""
    run = Path(run)
    if not (run / "run.json").is_file():
        raise InputError(f"{run} is not a run folder (no run.json); train one with `jaxinterp asapnet train`")
    if not (run / "generator").exists():
        raise InputError(f"{run} has no trained generator yet; finish training with --resume")
    meta = json.loads((run / "run.json").read_text())
    spec = RunSpec(**meta["spec"])
    return spec.generator(), prepare_inference(load_tree(run / "generator")), meta


def translate_file(
    run: str | os.PathLike, label_path: str | os.PathLike, out: str | os.PathLike, image_path=None
) -> Path:
    """Translates one label map PNG with a trained run; writes the image (and, with a real image, a
    side-by-side `<out stem>_compare.png`)."""
    generator, variables, meta = load_run(run)
    labels, image = paired.load_pair(label_path, meta["label_nc"], image_path)
    batch = paired.to_batch(labels[None], None if image is None else image[None], meta["label_nc"])
    fake = np.asarray(jax.jit(generator.apply)(variables, jnp.asarray(batch["labels"])))
    out = save_png(out, np.clip(fake[0], -1, 1))
    if image is not None:
        save_png(out.with_name(out.stem + "_compare.png"), sample_grid(batch["labels"], fake, batch["image"]))
    return out
