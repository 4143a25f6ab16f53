"""`jaxinterp singan ...`: argument parsing only; the work is done by train.py, apps.py and metrics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

from jaxinterp.data.images import load_mask, load_rgb, save_gif, save_png
from jaxinterp.gen.singan import apps, store
from jaxinterp.gen.singan.config import PRESETS


def _model_args(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--model", required=True, help="run folder written by `jaxinterp singan train`")
    p.add_argument("--out", default=None, help=f"output folder (default: <model>/{out_default})")
    p.add_argument("--seed", type=int, default=0, help="random seed")


def _out(args, default: str) -> Path:
    return Path(args.out) if args.out else Path(args.model) / default


def add_parser(subparsers) -> None:
    singan = subparsers.add_parser(
        "singan",
        help="SinGAN: learn a generative model from one image, then sample, harmonize, edit, ...",
        description="SinGAN (Rott Shaham et al., ICCV 2019): a pyramid of patch GANs trained on one image.",
    )
    sub = singan.add_subparsers(dest="singan_command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model per image (several images train in parallel)")
    p.add_argument("images", nargs="+", help="8-bit RGB image files, or builtin:<name> (hubble, rocket, coffee, ...)")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per image when several)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper", help="paper defaults or a faster preset")
    p.add_argument("--niter", type=int, help="iterations per scale (paper: 2000)")
    p.add_argument("--max-size", type=int, help="longer side of the finest scale (paper: 250)")
    p.add_argument("--min-size", type=int, help="shorter side of the coarsest scale (paper: 25)")
    p.add_argument("--sr-factor", type=float, help="train for super-resolution by this factor (min_size 18, alpha 100)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--samples", type=int, default=8, help="random samples to write after training")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("sample", help="random samples, of any size, optionally injected at a scale")
    _model_args(p, "samples")
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
        _model_args(p, name)
        p.add_argument("--image", required=True, help="the naive composite / edited image (RGB)")
        p.add_argument("--mask", required=True, help="white where the image was changed")
        p.add_argument("--start-scale", type=int, required=True, help="scale to inject at (1..N-1)")
        p.set_defaults(func=_blend, app=func, app_name=name)

    p = sub.add_parser("paint", help="paint-to-image: a rough colour paint becomes a realistic image")
    _model_args(p, "paint")
    p.add_argument("--paint", required=True, help="the paint image (RGB)")
    p.add_argument("--start-scale", type=int, required=True, help="scale to inject at (1..N-1)")
    p.add_argument(
        "--quantize",
        action="store_true",
        help="map the paint to the image's 5 k-means colours and first retrain the start scale on such "
        "inputs (upstream's quantization_flag; cached in <model>/paint/)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_paint)

    p = sub.add_parser("sr", help="super-resolution of the training image by a factor")
    _model_args(p, "sr")
    p.add_argument("--factor", type=float, default=4.0, help="upscaling factor (default 4)")
    p.set_defaults(func=_sr)

    p = sub.add_parser("animate", help="a looping GIF from a random walk in noise space")
    _model_args(p, "animation")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--alpha", type=float, default=0.1, help="pull towards z_opt")
    p.add_argument("--beta", type=float, default=0.9, help="momentum of the walk")
    p.add_argument("--start-scale", type=int, default=2, help="scales below follow z_opt")
    p.add_argument("--fps", type=float, default=10.0)
    p.set_defaults(func=_animate)

    p = sub.add_parser("evaluate", help="quality (sliced Wasserstein, SIFID) and diversity of samples")
    _model_args(p, "evaluation")
    p.add_argument("--num", type=int, default=50, help="samples to evaluate")
    p.add_argument("--gen-start-scale", type=int, default=0)
    p.add_argument("--inception-weights", help="local InceptionV3 weights (.safetensors/.npz) for SIFID")
    p.set_defaults(func=_evaluate)


def config_from_args(args):
    cfg = PRESETS[args.preset]
    if args.sr_factor:
        cfg = cfg.for_super_resolution(args.sr_factor)
    changes = {"niter": args.niter, "max_size": args.max_size, "min_size": args.min_size, "seed": args.seed}
    changes = {k: v for k, v in changes.items() if v is not None}
    if "niter" in changes:
        changes["lr_milestone"] = int(round(changes["niter"] * cfg.lr_milestone / cfg.niter))
    return cfg.replace(**changes)


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
    out = _out(args, "samples")
    for i, s in enumerate(np.asarray(samples)):
        save_png(out / f"sample_{i:02d}.png", s)
    print(f"wrote {len(samples)} samples to {out}")


def _blend(args) -> None:
    model = store.load_trained(args.model)
    generated, blended = args.app(
        model, load_rgb(args.image), load_mask(args.mask), args.start_scale, jax.random.PRNGKey(args.seed)
    )
    out = _out(args, args.app_name)
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
    print(f"wrote {save_png(_out(args, 'paint') / f'start_scale_{args.start_scale}.png', image)}")


def _sr(args) -> None:
    model = store.load_trained(args.model)
    if model.config.alpha < 100 or model.config.min_size != 18:
        print(
            "jaxinterp: note: this model was not trained for super-resolution (upstream trains with min_size 18 "
            "and alpha 100: `jaxinterp singan train IMAGE --sr-factor F`); expect artefacts",
            file=sys.stderr,
        )
    image = apps.super_resolve(model, args.factor, jax.random.PRNGKey(args.seed))
    print(f"wrote {save_png(_out(args, 'sr') / f'x{args.factor:g}.png', image)}")


def _animate(args) -> None:
    model = store.load_trained(args.model)
    frames = apps.animate(model, jax.random.PRNGKey(args.seed), args.frames, args.alpha, args.beta, args.start_scale)
    name = f"start_scale_{args.start_scale}_alpha_{args.alpha:g}_beta_{args.beta:g}.gif"
    print(f"wrote {save_gif(_out(args, 'animation') / name, frames, args.fps)}")


def _evaluate(args) -> None:
    from jaxinterp.gen.metrics import evaluate

    model = store.load_trained(args.model)
    key = jax.random.PRNGKey(args.seed)
    fakes = apps.random_samples(model, key, args.num, args.gen_start_scale)
    result = evaluate(model.reals[-1], np.asarray(fakes), key, inception_weights=args.inception_weights)
    out = _out(args, "evaluation")
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
