"""`jaxinterp idc train|complete`: argument parsing only; the work is in train.py and complete.py."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from jaxinterp.cli_options import ConfigOptions, add_command_group, add_out, add_training_options
from jaxinterp.data.images import load_rgb, save_png
from jaxinterp.data.report import write_index
from jaxinterp.errors import InputError
from jaxinterp.gen.idc import complete as completion
from jaxinterp.gen.idc import store
from jaxinterp.gen.idc.config import PRESETS, IDCConfig
from jaxinterp.gen.pyramid import build_pyramid

HELP = "IDC: learn from the visible part of one image, then fill its hole in many diverse ways"
DESCRIPTION = "IDC (Alkobi, Rott Shaham, Michaeli 2022): internal diverse image completion."
TRAIN_OPTIONS = ConfigOptions(IDCConfig, ("niter", "max_size", "min_size", "seed"), helps={"seed": "training seed"})


def add_parser(subparsers) -> None:
    sub = add_command_group(subparsers, "idc", HELP, DESCRIPTION)

    p = sub.add_parser("train", help="train on the visible part of IMAGE (MASK is white in the hole)")
    _inputs(p, required=True)
    add_out(p, "run folder")
    add_training_options(p, TRAIN_OPTIONS, PRESETS, resume_help="continue an interrupted run")
    p.set_defaults(func=_train)

    p = sub.add_parser("complete", help="train (or load --run) and write N completions + a contact sheet")
    _inputs(p, required=False)
    p.add_argument("--run", help="a run folder from `jaxinterp idc train` (then IMAGE and MASK are not needed)")
    add_out(p, "output folder (default: <run>/completions; required without --run)", required=False)
    p.add_argument("-n", "--num", type=int, default=8, help="number of completions (default 8)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the completions' noise")
    add_training_options(p, TRAIN_OPTIONS, PRESETS, resume_help="continue an interrupted run")
    p.set_defaults(func=_complete)


def _inputs(p, required: bool) -> None:
    nargs = None if required else "?"
    p.add_argument("image", nargs=nargs, help="8-bit RGB image, or builtin:<name> (coffee, chelsea, ...)")
    p.add_argument("mask", nargs=nargs, help="mask image of the same size, white in the hole to complete")


def config_from_args(args) -> IDCConfig:
    """The preset with the options the user gave; --niter scales the preset's other iteration counts and
    drops alike (`IDCConfig.with_niter`)."""
    return TRAIN_OPTIONS.apply(PRESETS[args.preset], args)


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
