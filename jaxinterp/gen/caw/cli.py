"""`jaxinterp caw ...`: argument parsing and writing outputs (WAV + spectrogram PNG); the work is done by
train.py, apps.py and the audio metrics."""

from __future__ import annotations

import json
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
from jaxinterp.data.audio import load_audio, save_spectrogram_png, save_wav
from jaxinterp.gen.caw import apps, store
from jaxinterp.gen.caw.config import PRESETS, CAWConfig

HELP = "Catch-A-Waveform: learn a generative model of audio from one short recording"
DESCRIPTION = (
    "Catch-A-Waveform (Greshler et al., NeurIPS 2021): a pyramid of 1-D waveform GANs trained on "
    "one recording; then generate variations of any duration, inpaint a gap, extend the bandwidth, denoise."
)
TRAIN_OPTIONS = ConfigOptions(CAWConfig, ("mode", "speech", "iterations", "seed"))


def write_audio(folder: Path, name: str, signal: np.ndarray, rate: int) -> list[Path]:
    """`name`.wav (peak above 1 normalised away, as upstream's write_signal) and `name`.png (spectrogram)."""
    signal = np.asarray(signal, np.float32).reshape(-1)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak > 1.0:
        signal = signal / peak
    n_fft = 1 << max(6, min(10, int(np.log2(max(rate, 1) / 16))))  # 1024 at 16 kHz, 256 at 4 kHz
    return [
        save_wav(folder / f"{name}.wav", signal, rate),
        save_spectrogram_png(folder / f"{name}.png", signal, rate, n_fft=n_fft, hop=n_fft // 4),
    ]


def add_parser(subparsers) -> None:
    sub = add_command_group(subparsers, "caw", HELP, DESCRIPTION)

    p = sub.add_parser("train", help="train a model on one recording")
    p.add_argument("audio", help="WAV/FLAC/OGG file, or builtin:music / builtin:speechlike")
    add_out(p)
    p.add_argument(
        "--gap",
        nargs=2,
        type=float,
        action="append",
        metavar=("START", "END"),
        help="inpainting: a hole to fill, in seconds (repeat for several)",
    )
    add_training_options(p, TRAIN_OPTIONS, PRESETS)
    p.set_defaults(func=_train)

    p = sub.add_parser("generate", help="random variations of any duration, with quality and diversity")
    add_model_options(p, "caw", "generated")
    p.add_argument("--seconds", type=float, help="duration (default: the training clip's)")
    p.add_argument("--num", type=int, default=4, help="number of signals")
    p.set_defaults(func=_generate)

    p = sub.add_parser("inpaint", help="fill the gap(s) the model was trained with (--mode inpainting)")
    add_model_options(p, "caw", "inpainted")
    p.add_argument("--new-noise", action="store_true", help="fresh noise inside the gap (another completion)")
    p.set_defaults(func=_inpaint)

    p = sub.add_parser("bwe", help="bandwidth extension: a low-sample-rate recording to the model's rate")
    add_model_options(p, "caw", "extended")
    p.add_argument("--input", required=True, help="the low-rate recording (its rate is read from the file)")
    p.add_argument("--reference", help="the true high-rate recording, to report SNR and LSD")
    p.set_defaults(func=_bwe)

    p = sub.add_parser("denoise", help="the clean reconstruction of the noisy recording (--mode denoising)")
    add_model_options(p, "caw", "denoised")
    p.set_defaults(func=_denoise)


def config_from_args(args) -> CAWConfig:
    """The preset with the options the user gave (--iterations through `CAWConfig.with_iterations`)."""
    return TRAIN_OPTIONS.apply(PRESETS[args.preset], args)


def _train(args) -> None:
    from jaxinterp.gen.caw.train import load_recording, train

    cfg = config_from_args(args)
    _, _, note = load_recording(args.audio, cfg)
    print(f"jaxinterp: {note}")
    out = train(
        args.audio, args.out, cfg, holes_seconds=args.gap or (), resume=args.resume, show_progress=not args.quiet
    )
    model = store.load_trained(out)
    rate = model.geometry.rates[-1]
    samples = out / "samples"
    write_audio(samples, "real", model.reals[-1], rate)
    write_audio(samples, "reconstruction", apps.reconstruct(model), rate)
    write_audio(samples, "generated", apps.generate(model, jax.random.PRNGKey(0))[0], rate)
    if cfg.mode == "inpainting":
        write_audio(samples, "inpainted", apps.inpaint(model, jax.random.PRNGKey(0)), rate)
    print(f"trained {out} at {model.geometry.rates} Hz (samples in {samples})")


def _generate(args) -> None:
    from jaxinterp.gen.metrics.audio import audio_diversity, audio_quality

    model = store.load_trained(args.model)
    rate = model.geometry.rates[-1]
    signals = apps.generate(model, jax.random.PRNGKey(args.seed), args.seconds, args.num)
    out = output_folder(args, "generated")
    for i, s in enumerate(signals):
        write_audio(out, f"generated_{i:02d}", s, rate)
    metrics = audio_quality(model.reals[-1], list(signals), rate)
    if len(signals) > 1:
        metrics["diversity"] = audio_diversity(list(signals))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    summary = {k: v for k, v in metrics.items() if not k.endswith("_per_sample")}
    print(f"wrote {len(signals)} signals to {out}; {json.dumps(summary)}")


def _inpaint(args) -> None:
    model = store.load_trained(args.model)
    signal = apps.inpaint(model, jax.random.PRNGKey(args.seed), args.new_noise)
    out = output_folder(args, "inpainted")
    rate = model.geometry.rates[-1]
    write_audio(out, "inpainted", signal, rate)
    holed = np.array(model.reals[-1])
    for a, b in model.geometry.holes:
        holed[a:b] = 0
    write_audio(out, "with_gap", holed, rate)
    print(f"wrote {out / 'inpainted.wav'}")


def _bwe(args) -> None:
    from jaxinterp.gen.metrics.audio import log_spectral_distance, snr

    model = store.load_trained(args.model)
    low, info = load_audio(args.input, sample_rate=None, max_seconds=None, normalize=True)
    extended = apps.extend_bandwidth(model, low, info.sample_rate, jax.random.PRNGKey(args.seed))
    out = output_folder(args, "extended")
    rate = model.geometry.rates[-1]
    write_audio(out, "extended", extended, rate)
    message = f"wrote {out / 'extended.wav'} ({info.sample_rate} -> {rate} Hz)"
    if args.reference:
        ref, _ = load_audio(args.reference, sample_rate=rate, max_seconds=None)
        ref = ref * info.gain  # the model works on the low-rate input's peak-normalised level (upstream)
        n = min(len(ref), len(extended))
        scores = {
            "snr_db": float(snr(ref[:n], extended[:n])),
            "lsd": float(log_spectral_distance(ref[:n], extended[:n])),
        }
        (out / "metrics.json").write_text(json.dumps(scores, indent=2))
        message += f"; {json.dumps(scores)}"
    print(message)


def _denoise(args) -> None:
    model = store.load_trained(args.model)
    out = output_folder(args, "denoised")
    rate = model.geometry.rates[-1]
    write_audio(out, "denoised", apps.denoise(model), rate)
    write_audio(out, "noisy", model.reals[-1], rate)
    print(f"wrote {out / 'denoised.wav'}")
