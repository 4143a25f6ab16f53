"""`jaxinterp singan ...`: argument parsing only; the work is done by train.py, apps.py and metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from jaxinterp.cli_options import (
    ConfigOptions,
    add_command_group,
    add_model_options,
    add_out,
    add_quiet,
    add_training_options,
    output_folder,
)
from jaxinterp.data.images import load_mask, load_rgb, save_gif, save_png
from jaxinterp.gen.singan import apps, store
from jaxinterp.gen.singan.config import PRESETS, SinGANConfig

HELP = "SinGAN: learn a generative model from one image, then sample, harmonize, edit, ..."
DESCRIPTION = "SinGAN (Rott Shaham et al., ICCV 2019): a pyramid of patch GANs trained on one image."
TRAIN_OPTIONS = ConfigOptions(SinGANConfig, ("niter", "max_size", "min_size", "seed"))


def add_parser(subparsers) -> None:
    sub = add_command_group(subparsers, "singan", HELP, DESCRIPTION)

    p = sub.add_parser("train", help="train one model per image (several images train in parallel)")
    p.add_argument("images", nargs="+", help="8-bit RGB image files, or builtin:<name> (hubble, rocket, coffee, ...)")
    add_out(p, "output folder (one sub-folder per image when several)")
    p.add_argument("--sr-factor", type=float, help="train for super-resolution by this factor (min_size 18, alpha 100)")
    p.add_argument("--samples", type=int, default=8, help="random samples to write after training")
    add_training_options(p, TRAIN_OPTIONS, PRESETS)
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="random samples, of any size, optionally injected at a scale")
    add_model_options(p, "singan", "samples")
    p.add_argument("--num", type=int, default=8, help="number of samples")
    p.add_argument("--gen-start-scale", type=int, default=0, help="follow the training image below this scale")
    p.add_argument("--scale-h", type=float, default=1.0, help="height relative to the training image")
    p.add_argument("--scale-w", type=float, default=1.0, help="width relative to the training image")
    p.set_defaults(func=_sample)

    for name, func, text in (
        ("harmonize", apps.harmonize, "blend a pasted object into the training image's style"),
        ("edit", apps.edit, "make an edited image (moved / copied regions) look natural"),
    ):
        p = sub.add_parser(name, help=text)
        add_model_options(p, "singan", name)
        p.add_argument("--image", required=True, help="the naive composite / edited image (RGB)")
        p.add_argument("--mask", required=True, help="white where the image was changed")
        p.add_argument("--start-scale", type=int, required=True, help="scale to inject at (1..N-1)")
        p.set_defaults(func=_blend, app=func, app_name=name)

    p = sub.add_parser("paint", help="paint-to-image: a rough colour paint becomes a realistic image")
    add_model_options(p, "singan", "paint")
    p.add_argument("--paint", required=True, help="the paint image (RGB)")
    p.add_argument("--start-scale", type=int, required=True, help="scale to inject at (1..N-1)")
    p.add_argument(
        "--quantize",
        action="store_true",
        help="map the paint to the image's 5 k-means colours and first retrain the start scale on such "
        "inputs (upstream's quantization_flag; cached in <model>/paint/)",
    )
    add_quiet(p)
    p.set_defaults(func=_paint)

    p = sub.add_parser("sr", help="super-resolution of the training image by a factor")
    add_model_options(p, "singan", "sr")
    p.add_argument("--factor", type=float, default=4.0, help="upscaling factor (default 4)")
    p.set_defaults(func=_sr)

    p = sub.add_parser("animate", help="a looping GIF from a random walk in noise space")
    add_model_options(p, "singan", "animation")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--alpha", type=float, default=0.1, help="pull towards z_opt")
    p.add_argument("--beta", type=float, default=0.9, help="momentum of the walk")
    p.add_argument("--start-scale", type=int, default=2, help="scales below follow z_opt")
    p.add_argument("--fps", type=float, default=10.0)
    p.set_defaults(func=_animate)

    p = sub.add_parser("evaluate", help="quality (sliced Wasserstein, SIFID) and diversity of samples")
    add_model_options(p, "singan", "evaluation")
    p.add_argument("--num", type=int, default=50, help="samples to evaluate")
    p.add_argument("--gen-start-scale", type=int, default=0)
    p.add_argument("--inception-weights", help="local InceptionV3 weights (.safetensors/.npz) for SIFID")
    p.set_defaults(func=_evaluate)


def config_from_args(args) -> SinGANConfig:
    """The preset, trained for super-resolution with --sr-factor, with the options the user gave."""
    cfg = PRESETS[args.preset]
    if args.sr_factor:
        cfg = cfg.for_super_resolution(args.sr_factor)
    return TRAIN_OPTIONS.apply(cfg, args)


def write_samples(run_dir: Path, num: int, seed: int = 0) -> list[Path]:
    """Writes random samples and the reconstruction of a finished run into <run>/samples."""
    model = store.load_trained(run_dir)
    out = run_dir / "samples"
    paths = [save_png(out / "reconstruction.png", np.asarray(apps.reconstruction(model)))]
    samples = np.asarray(apps.random_samples(model, jax.random.PRNGKey(seed), num))
    paths += [save_png(out / f"random_{i:02d}.png", s) for i, s in enumerate(samples)]
    return paths


def _train(args) -> None:
    from jaxinterp.gen.singan.train import train

    run_dirs = train(args.images, args.out, config_from_args(args), resume=args.resume, show_progress=not args.quiet)
    for run_dir in run_dirs:
        write_samples(run_dir, args.samples)
        print(f"trained {run_dir} (samples in {run_dir / 'samples'})")


def _sample(args) -> None:
    model = store.load_trained(args.model)
    samples = apps.random_samples(
        model, jax.random.PRNGKey(args.seed), args.num, args.gen_start_scale, (args.scale_h, args.scale_w)
    )
    out = output_folder(args, "samples")
    for i, s in enumerate(np.asarray(samples)):
        save_png(out / f"sample_{i:02d}.png", s)
    print(f"wrote {len(samples)} samples to {out}")


def _blend(args) -> None:
    model = store.load_trained(args.model)
    generated, blended = args.app(
        model, load_rgb(args.image), load_mask(args.mask), args.start_scale, jax.random.PRNGKey(args.seed)
    )
    out = output_folder(args, args.app_name)
    save_png(out / f"start_scale_{args.start_scale}.png", generated)
    save_png(out / f"start_scale_{args.start_scale}_blended.png", blended)
    print(f"wrote {out}")


def _paint(args) -> None:
    model = store.load_trained(args.model)
    image = apps.paint_to_image(
        model,
        load_rgb(args.paint),
        args.start_scale,
        jax.random.PRNGKey(args.seed),
        args.quantize,
        show_progress=not args.quiet,
    )
    print(f"wrote {save_png(output_folder(args, 'paint') / f'start_scale_{args.start_scale}.png', image)}")


def _sr(args) -> None:
    model = store.load_trained(args.model)
    if model.config.alpha < 100 or model.config.min_size != 18:
        print(
            "jaxinterp: note: this model was not trained for super-resolution (upstream trains with min_size 18 "
            "and alpha 100: `jaxinterp singan train IMAGE --sr-factor F`); expect artefacts",
            file=sys.stderr,
        )
    image = apps.super_resolve(model, args.factor, jax.random.PRNGKey(args.seed))
    print(f"wrote {save_png(output_folder(args, 'sr') / f'x{args.factor:g}.png', image)}")


def _animate(args) -> None:
    model = store.load_trained(args.model)
    frames = apps.animate(model, jax.random.PRNGKey(args.seed), args.frames, args.alpha, args.beta, args.start_scale)
    name = f"start_scale_{args.start_scale}_alpha_{args.alpha:g}_beta_{args.beta:g}.gif"
    print(f"wrote {save_gif(output_folder(args, 'animation') / name, frames, args.fps)}")


def _evaluate(args) -> None:
    from jaxinterp.gen.metrics import evaluate

    model = store.load_trained(args.model)
    key = jax.random.PRNGKey(args.seed)
    fakes = apps.random_samples(model, key, args.num, args.gen_start_scale)
    result = evaluate(model.reals[-1], np.asarray(fakes), key, inception_weights=args.inception_weights)
    out = output_folder(args, "evaluation")
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(_jsonable(result), indent=2))
    print(json.dumps(_jsonable(result), indent=2))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    arr = np.asarray(value)
    return arr.tolist() if arr.ndim else float(arr)
