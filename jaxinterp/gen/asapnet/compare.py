"""ASAPNet against the SPADE baseline on one training budget: the weight-free quality report.

Both generators are trained with the same recipe, data, batch size and number of steps (`run.train_run`,
one run folder each under `out`), then translate the same held-out test pairs, scored by
`quality.translation_quality` (per-pixel error and patch SWD). Training wall time per step is recorded too,
since the issue's budget is fixed in steps. Finished runs are reused, interrupted ones resumed.
Writes `numbers.json` and `index.html` (the numbers and each run's samples).
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import jax
import numpy as np

from jaxinterp.data.paired import source as paired
from jaxinterp.data.report import write_index
from jaxinterp.gen.asapnet.quality import translation_quality
from jaxinterp.gen.asapnet.run import RunSpec, default_data_dir, load_run, train_run


def _test_arrays(spec: RunSpec, data_dir: Path, count: int):
    test = paired.load_source(spec.dataset, data_dir, "test", height=spec.height, width=spec.width)
    n = min(count, len(test))
    labels = np.stack([test[i]["label"] for i in range(n)])
    images = np.stack([test[i]["image"] for i in range(n)])
    return paired.to_batch(labels, images, paired.label_nc(spec.dataset))


def compare(
    out: str | os.PathLike,
    specs: dict[str, RunSpec],
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    vgg_path: str | os.PathLike | None = None,
    test_pairs: int = 32,
    show_progress: bool = True,
) -> Path:
    """Trains (or reuses) every run in `specs` (name -> spec) and scores them on the same test pairs."""
    out, data_dir = Path(out), Path(data_dir or default_data_dir())
    results = {}
    for name, spec in specs.items():
        folder = out / name
        start = time.time()
        if not (folder / "generator").exists():
            train_run(
                folder,
                spec,
                data_dir=data_dir,
                manual_dir=manual_dir,
                vgg_path=vgg_path,
                resume=(folder / "run.json").is_file(),
                show_progress=show_progress,
            )
            (folder / "train_seconds.json").write_text(json.dumps(time.time() - start))
        timing = folder / "train_seconds.json"  # absent for a run trained elsewhere and copied in
        seconds = json.loads(timing.read_text()) if timing.is_file() else float("nan")
        generator, variables, _ = load_run(folder)
        batch = _test_arrays(spec, data_dir, test_pairs)
        translate = functools.partial(jax.jit(generator.apply), variables)
        quality = translation_quality(translate, batch["labels"], batch["image"])
        params = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(variables))
        results[name] = {**quality, "train_seconds": seconds, "seconds_per_step": seconds / spec.steps}
        results[name] |= {"generator_params": params, "spec": spec.__dict__}
    (out / "numbers.json").write_text(json.dumps(results, indent=2))
    text = "; ".join(
        f"{name}: L1 {r['l1_255']:.1f}/255, PSNR {r['psnr']:.2f} dB, patch SWD {r['swd']:.1f}, "
        f"{r['seconds_per_step']:.2f} s/step" + " (incl. compilation)"
        for name, r in results.items()
    )
    figures = [(f"{name}: label map | translation | real (test)", out / name / "samples.png") for name in results]
    return write_index(
        out,
        "ASAPNet vs SPADE: quality on one training budget",
        [("Held-out pairs", f"{text}. Lower L1 and SWD, higher PSNR are better.", figures)],
    )
