"""`jaxinterp asapnet train|translate|compare|bench`: argument parsing only; the work is in run.py,
compare.py and speed.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxinterp.cli_options import (
    ConfigOptions,
    add_command_group,
    add_out,
    add_preset,
    add_quiet,
    add_resume,
)
from jaxinterp.errors import InputError


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 64x128, got {text!r}") from None
    return height, width


def _spec_options() -> ConfigOptions:
    """The `RunSpec` fields given as options (run.py is imported only when needed)."""
    from jaxinterp.gen.asapnet.run import RunSpec

    helps = {
        "steps": "training iterations ({default})",
        "batch_size": "images per step, split over devices ({default})",
        "seed": "random seed ({default})",
    }
    return ConfigOptions(RunSpec, tuple(helps), helps)


def _spec_args(p: argparse.ArgumentParser) -> None:
    from jaxinterp.gen.asapnet.run import PRESETS, RunSpec

    p.add_argument("--data", default="procedural", help="procedural (embedded) | cityscapes | ade20k | facades")
    p.add_argument("--data-dir", default=None, help="TFDS data folder (default $JAXINTERP_DATA or ~/.cache/...)")
    p.add_argument("--manual-dir", default=None, help="folder with the downloaded archives (prepares the dataset)")
    p.add_argument("--size", type=_size, default=(64, 128), help="HxW of the stored dataset and model (64x128)")
    add_preset(p, PRESETS, default="cpu", help="widths: paper or cpu (cpu)")
    p.add_argument("--vgg", default=None, help="VGG19 weights (torchvision layout) for the perceptual loss")
    _spec_options().add_to(p, RunSpec())
    add_quiet(p)


def add_parser(sub) -> None:
    cmds = add_command_group(sub, "asapnet", help="ASAPNet label-to-image translation (and the SPADE baseline)")

    p = cmds.add_parser("train", help="train a generator on a paired dataset")
    add_out(p, "run folder")
    p.add_argument("--model", choices=("asapnet", "spade"), default="asapnet")
    add_resume(p, "continue the run in --out")
    _spec_args(p)
    p.set_defaults(func=_train)

    p = cmds.add_parser("translate", help="translate a label map PNG with a trained run")
    p.add_argument("labels", help="label map PNG (class index per pixel, L or P mode)")
    p.add_argument("--model", required=True, help="run folder written by `asapnet train`")
    p.add_argument("--image", default=None, help="the real image, for a side-by-side comparison")
    add_out(p, "output PNG (default <labels stem>_translated.png)", required=False)
    p.set_defaults(func=_translate)

    p = cmds.add_parser("compare", help="train ASAPNet and SPADE on the same budget; quality report")
    add_out(p, "folder for both runs, numbers.json and index.html")
    p.add_argument("--test-pairs", type=int, default=32, help="held-out pairs scored (32)")
    _spec_args(p)
    p.set_defaults(func=_compare)

    p = cmds.add_parser("bench", help="inference time of ASAPNet and SPADE at several sizes (this device)")
    p.add_argument("--sizes", type=lambda s: [_size(v) for v in s.split(",")], default=[(256, 512)])
    p.add_argument("--label-nc", type=int, default=35, help="classes (35, Cityscapes)")
    p.add_argument("--repeats", type=int, default=3)
    add_out(p, "JSON file for the results", required=False)
    p.set_defaults(func=_bench)


def _spec(args, kind: str):
    from jaxinterp.gen.asapnet.run import RunSpec

    height, width = args.size
    spec = RunSpec(kind=kind, dataset=args.data, height=height, width=width, preset=args.preset)
    return _spec_options().apply(spec, args)


def _data(args) -> dict:
    """The keyword arguments `train_run` and `compare` share."""
    keys = {"data_dir": args.data_dir, "manual_dir": args.manual_dir, "vgg_path": args.vgg}
    return {**keys, "show_progress": not args.quiet}


def _train(args) -> None:
    from jaxinterp.gen.asapnet.run import train_run

    run = train_run(args.out, _spec(args, args.model), resume=args.resume, **_data(args))
    print(f"trained {run}; samples in {run / 'samples.png'}")


def _translate(args) -> None:
    from jaxinterp.gen.asapnet.run import translate_file

    labels = Path(args.labels)
    out = Path(args.out) if args.out else labels.with_name(labels.stem + "_translated.png")
    print(f"wrote {translate_file(args.model, labels, out, args.image)}")


def _compare(args) -> None:
    from jaxinterp.gen.asapnet.compare import compare

    specs = {kind: _spec(args, kind) for kind in ("asapnet", "spade")}
    page = compare(args.out, specs, test_pairs=args.test_pairs, **_data(args))
    print(f"wrote {page}")


def _bench(args) -> None:
    from jaxinterp.gen.asapnet.speed import speed_table

    if args.repeats < 1 or args.label_nc < 1:
        raise InputError("--repeats and --label-nc must be >= 1")
    print(speed_table(args.sizes, args.label_nc, args.repeats, args.out))
