"""`jaxinterp blendgan ...`: argument parsing only; the work is done by train.py and apps.py."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from jaxinterp.cli_options import (
    ConfigOptions,
    add_command_group,
    add_model_options,
    add_out,
    add_training_options,
    output_folder,
)
from jaxinterp.data.images import load_mask, save_gif, save_png
from jaxinterp.gen.blendgan import apps, store
from jaxinterp.gen.blendgan.config import PRESETS, BlendGANConfig
from jaxinterp.gen.blendgan.identity import SPLITS, split_mask

HELP = "BlendGAN: one pyramid GAN on several images, conditioned on a spatial image-identity map"
DESCRIPTION = (
    "BlendGAN (Kligvasser et al., 2022): learn the internal distributions of several images in "
    "one model; morph, meld and fuse them by editing the identity map."
)
TRAIN_OPTIONS = ConfigOptions(BlendGANConfig, ("niter", "max_size", "seed"))


def _model_args(p, out_default: str) -> None:
    add_model_options(p, "blendgan", out_default, seed_help="random seed (with --random)")
    p.add_argument(
        "--random", action="store_true", help="fresh random noise instead of the images' reconstruction noise"
    )


def add_parser(subparsers) -> None:
    sub = add_command_group(subparsers, "blendgan", HELP, DESCRIPTION)

    p = sub.add_parser("train", help="train one model on 2 or more images (identity = position in the list)")
    p.add_argument("images", nargs="+", help="8-bit RGB image files, or builtin:<name> (coffee, chelsea, ...)")
    add_out(p)
    add_training_options(
        p,
        TRAIN_OPTIONS,
        PRESETS,
        preset_help="paper (SinGAN's defaults), fast, fusion (deeper, for fuse) or tiny (tests)",
    )
    p.set_defaults(func=_train)

    p = sub.add_parser("morph", help="frames morphing image a into image b (PNGs, a GIF and a contact sheet)")
    _model_args(p, "morph")
    p.add_argument("--a", type=int, default=0, help="index of the first image")
    p.add_argument("--b", type=int, default=1, help="index of the last image")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--fps", type=float, default=5.0)
    p.set_defaults(func=_morph)

    p = sub.add_parser("meld", help="image a where a mask is black, image b where it is white")
    _model_args(p, "meld")
    p.add_argument("--a", type=int, default=0, help="image where the mask is 0")
    p.add_argument("--b", type=int, default=1, help="image where the mask is 1")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--mask", help="mask image (white = image b); resized to the model's size")
    group.add_argument("--split", choices=SPLITS, default="left-right", help="a built-in mask (default left-right)")
    p.add_argument("--softness", type=float, default=2.0, help="seam blur in px at the finest scale")
    p.set_defaults(func=_meld)

    p = sub.add_parser(
        "fuse",
        help="structure of one image, texture of another",
        description="Structure of one image, texture of another. Needs a deep pyramid: train with --preset "
        "fusion (or paper) and switch at one of the last scales; on --preset fast it returns the structure image.",
    )
    _model_args(p, "fuse")
    p.add_argument("--structure", type=int, default=0, help="image whose identity rules the coarse scales")
    p.add_argument("--texture", type=int, default=1, help="image whose identity rules the fine scales")
    p.add_argument("--switch-scale", type=int, required=True, help="first scale of the texture image (1..N-1)")
    p.set_defaults(func=_fuse)


def config_from_args(args) -> BlendGANConfig:
    """The preset with the options the user gave (--niter moves the learning-rate drop alike)."""
    return TRAIN_OPTIONS.apply(PRESETS[args.preset], args)


def write_samples(run_dir: Path, seed: int = 0) -> None:
    """<run>/samples: each image's reconstruction and one random sample per identity."""
    model = store.load_trained(run_dir)
    out = Path(run_dir) / "samples"
    for k, image in enumerate(np.asarray(apps.reconstructions(model))):
        save_png(out / f"reconstruction_{k}.png", image)
    for k, image in enumerate(np.asarray(apps.samples(model, jax.random.PRNGKey(seed)))):
        save_png(out / f"random_{k}.png", image)


def _train(args) -> None:
    from jaxinterp.gen.blendgan.train import train

    run_dir = train(args.images, args.out, config_from_args(args), resume=args.resume, show_progress=not args.quiet)
    write_samples(run_dir)
    print(f"trained {run_dir} (samples in {run_dir / 'samples'})")


def _key(args):
    return jax.random.PRNGKey(args.seed)


def _morph(args) -> None:
    model = store.load_trained(args.model)
    frames = np.asarray(apps.morph(model, args.a, args.b, args.frames, _key(args), not args.random))
    out = output_folder(args, "morph")
    for t, frame in enumerate(frames):
        save_png(out / f"frame_{t:03d}.png", frame)
    save_png(out / "contact_sheet.png", np.concatenate(list(frames), axis=1))
    print(f"wrote {len(frames)} frames, {save_gif(out / f'morph_{args.a}_to_{args.b}.gif', frames, args.fps)}")


def _meld(args) -> None:
    model = store.load_trained(args.model)
    mask = load_mask(args.mask) if args.mask else split_mask(args.split, model.geometry.finest_hw)
    image, identity = apps.meld(model, mask, args.a, args.b, _key(args), args.softness, not args.random)
    out = output_folder(args, "meld")
    save_png(out / "identity_map.png", np.repeat(2.0 * identity[..., args.b : args.b + 1] - 1.0, 3, axis=-1))
    print(f"wrote {save_png(out / f'meld_{args.a}_{args.b}.png', np.asarray(image))}")


def _fuse(args) -> None:
    model = store.load_trained(args.model)
    image = apps.fuse(model, args.structure, args.texture, args.switch_scale, _key(args), not args.random)
    name = f"structure_{args.structure}_texture_{args.texture}_scale_{args.switch_scale}.png"
    print(f"wrote {save_png(output_folder(args, 'fuse') / name, np.asarray(image))}")
