"""`jaxinterp idc train|complete`: argument parsing only; the work is in train.py and complete.py."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from jaxinterp.data.images import load_rgb, save_png
from jaxinterp.data.report import write_index
from jaxinterp.errors import InputError
from jaxinterp.gen.idc import complete as completion
from jaxinterp.gen.idc import store
from jaxinterp.gen.idc.config import PRESETS
from jaxinterp.gen.pyramid import build_pyramid


def add_parser(subparsers) -> None:
    idc = subparsers.add_parser(
        "idc",
        help="IDC: learn from the visible part of one image, then fill its hole in many diverse ways",
        description="IDC (Alkobi, Rott Shaham, Michaeli 2022): internal diverse image completion.",
    )
    sub = idc.add_subparsers(dest="idc_command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train on the visible part of IMAGE (MASK is white in the hole)")
    _inputs(p, required=True)
    p.add_argument("--out", required=True, help="run folder")
    _training(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("complete", help="train (or load --run) and write N completions + a contact sheet")
    _inputs(p, required=False)
    p.add_argument("--run", help="a run folder from `jaxinterp idc train` (then IMAGE and MASK are not needed)")
    p.add_argument("--out", help="output folder (default: <run>/completions; required without --run)")
    p.add_argument("-n", "--num", type=int, default=8, help="number of completions (default 8)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the completions' noise")
    _training(p)
    p.set_defaults(func=_complete)


def _inputs(p, required: bool) -> None:
    nargs = None if required else "?"
    p.add_argument("image", nargs=nargs, help="8-bit RGB image, or builtin:<name> (coffee, chelsea, ...)")
    p.add_argument("mask", nargs=nargs, help="mask image of the same size, white in the hole to complete")


def _training(p) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper", help="paper defaults or a faster preset")
    p.add_argument(
        "--niter", type=int, help="iterations per unmasked scale (paper: 2000; masked scales get 1.5x, paper 3000)"
    )
    p.add_argument("--max-size", type=int, help="longer side of the finest scale (paper: 256)")
    p.add_argument("--min-size", type=int, help="shorter side of the coarsest scale (paper: 25)")
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args):
    cfg = PRESETS[args.preset]
    changes = {
        k: v
        for k, v in {
            "niter": args.niter,
            "seed": args.seed,
            "max_size": args.max_size,
            "min_size": args.min_size,
        }.items()
        if v is not None
    }
    if "niter" in changes:
        ratio = changes["niter"] / cfg.niter  # the preset's iteration counts and drops, scaled alike
        for field in ("lr_milestone", "niter_masked", "lr_milestone_masked"):
            changes[field] = max(1, int(round(getattr(cfg, field) * ratio)))
    return cfg.replace(**changes)


def _train(args) -> Path:
    from jaxinterp.gen.idc.train import train

    run = train(
        args.image, args.mask, args.out, config_from_args(args), resume=args.resume, show_progress=not args.quiet
    )
    print(f"trained {run}")
    return run


def _complete(args) -> None:
    if args.num < 2:
        raise InputError(f"-n must be at least 2 (diversity needs two completions), got {args.num}")
    if args.run:
        run, out = Path(args.run), Path(args.out) if args.out else Path(args.run) / "completions"
    else:
        if not (args.image and args.mask):
            raise InputError("give IMAGE and MASK to train on, or --run with a trained run")
        if not args.out:
            raise InputError("--out is required when training (or pass --run)")
        out = Path(args.out)
        run = _train(argparse_namespace(args, out / "run"))
    paths, metrics = write_completions(run, out, args.num, args.sample_seed)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {len(paths)} completions and {out / 'contact_sheet.png'}")


def argparse_namespace(args, out: Path):
    """The `train` arguments of a `complete` call, training into `out`."""
    import argparse

    return argparse.Namespace(**{**vars(args), "out": str(out)})


def write_completions(run: Path, out: Path, num: int, seed: int) -> tuple[list[Path], dict]:
    """Completions as PNGs, the contact sheet and metrics.json in `out`."""
    model = store.load_trained(run)
    results = completion.complete(model, jax.random.PRNGKey(seed), num)
    paths = [save_png(out / f"completion_{i:02d}.png", c) for i, c in enumerate(results)]
    save_png(out / "contact_sheet.png", completion.contact_sheet(model.reals[-1], model.knowns[-1], results))
    metrics = completion.measure(results, model, original_finest(run, model)) | {"num": num}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    text = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    figures = [("input (hole in white) and completions", out / "contact_sheet.png")]
    figures += [(f"completion {i}", path) for i, path in enumerate(paths)]
    write_index(out, "IDC completions", [(f"{num} completions of {run}", text, figures)])
    return paths, metrics


def original_finest(run: Path, model) -> np.ndarray | None:
    """The finest level of the input file as given (hole pixels included), or None if unreadable now."""
    image_path = json.loads((Path(run) / "run.json").read_text()).get("image")
    try:
        return np.asarray(build_pyramid(load_rgb(image_path), model.geometry)[-1])
    except InputError:
        return None
