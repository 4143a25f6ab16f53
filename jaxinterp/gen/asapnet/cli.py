"""`jaxinterp asapnet train|translate|compare|bench`: argument parsing only; the work is in run.py,
compare.py and speed.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxinterp.errors import InputError


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 64x128, got {text!r}") from None
    return height, width


def _spec_args(p: argparse.ArgumentParser) -> None:
    from jaxinterp.gen.asapnet.run import PRESETS

    p.add_argument("--data", default="procedural", help="procedural (embedded) | cityscapes | ade20k | facades")
    p.add_argument("--data-dir", default=None, help="TFDS data folder (default $JAXINTERP_DATA or ~/.cache/...)")
    p.add_argument("--manual-dir", default=None, help="folder with the downloaded archives (prepares the dataset)")
    p.add_argument("--size", type=_size, default=(64, 128), help="HxW of the stored dataset and model (64x128)")
    p.add_argument("--steps", type=int, default=300, help="training iterations (300)")
    p.add_argument("--batch-size", type=int, default=4, help="images per step, split over devices (4)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="widths: paper or cpu (cpu)")
    p.add_argument("--vgg", default=None, help="VGG19 weights (torchvision layout) for the perceptual loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(sub) -> None:
    parser = sub.add_parser("asapnet", help="ASAPNet label-to-image translation (and the SPADE baseline)")
    cmds = parser.add_subparsers(dest="asapnet_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("train", help="train a generator on a paired dataset")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--model", choices=("asapnet", "spade"), default="asapnet")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _spec_args(p)
    p.set_defaults(func=_train)

    p = cmds.add_parser("translate", help="translate a label map PNG with a trained run")
    p.add_argument("labels", help="label map PNG (class index per pixel, L or P mode)")
    p.add_argument("--model", required=True, help="run folder written by `asapnet train`")
    p.add_argument("--image", default=None, help="the real image, for a side-by-side comparison")
    p.add_argument("--out", default=None, help="output PNG (default <labels stem>_translated.png)")
    p.set_defaults(func=_translate)

    p = cmds.add_parser("compare", help="train ASAPNet and SPADE on the same budget; quality report")
    p.add_argument("--out", required=True, help="folder for both runs, numbers.json and index.html")
    p.add_argument("--test-pairs", type=int, default=32, help="held-out pairs scored (32)")
    _spec_args(p)
    p.set_defaults(func=_compare)

    p = cmds.add_parser("bench", help="inference time of ASAPNet and SPADE at several sizes (this device)")
    p.add_argument("--sizes", type=lambda s: [_size(v) for v in s.split(",")], default=[(256, 512)])
    p.add_argument("--label-nc", type=int, default=35, help="classes (35, Cityscapes)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON file for the results")
    p.set_defaults(func=_bench)


def _spec(args, kind: str):
    from jaxinterp.gen.asapnet.run import RunSpec

    height, width = args.size
    return RunSpec(kind, args.data, height, width, args.steps, args.batch_size, args.preset, args.seed)


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
