"""Catch-A-Waveform's part of `jaxinterp quickstart`: a tiny pyramid trained on the bundled synthesised
music (no download), then a generation of another duration, the reconstruction and a bandwidth
extension, as WAV files with their spectrograms, plus the weight-free quality and diversity figures.

The `tiny` preset (1 s at 4 kHz, 3 scales, 4-layer nets) with `QUICKSTART_ITERATIONS` per scale keeps it
well under a minute on 2 CPU cores; the sounds are crude (the paper trains 2000 iterations on 8-layer nets
at up to 16 kHz: `jaxinterp caw train builtin:music --out DIR`). Rerunning reuses the trained model.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax

from jaxinterp.data.audio import resample
from jaxinterp.gen.caw import apps, store
from jaxinterp.gen.caw.cli import write_audio
from jaxinterp.gen.caw.config import PRESETS
from jaxinterp.gen.caw.train import train
from jaxinterp.gen.metrics.audio import audio_diversity, audio_quality

QUICKSTART_ITERATIONS = 60
SOURCE = "builtin:music"


def quickstart_section(out: Path, iterations: int = QUICKSTART_ITERATIONS) -> tuple[str, str, list]:
    """Trains (or reuses) the demo model under `out` and returns an index section (title, text, figures)."""
    start = time.time()
    cfg = PRESETS["tiny"].replace(iterations=iterations, iters_per_call=10, checkpoint_every=50)
    run_dir = out / "model"
    train(SOURCE, run_dir, cfg, resume=(run_dir / "run.json").exists(), show_progress=False)
    model = store.load_trained(run_dir)
    rate = model.geometry.rates[-1]
    key_gen, key_bwe = jax.random.split(jax.random.PRNGKey(0))
    res = out / "results"
    generated = apps.generate(model, key_gen, seconds=2 * model.geometry.seconds, num=3)
    low_rate = model.geometry.rates[-2]
    low = resample(model.reals[-1], rate, low_rate)
    figures = []
    for name, signal, caption in (
        ("real", model.reals[-1], f"training clip ({model.geometry.seconds:.1f} s at {rate} Hz)"),
        ("reconstruction", apps.reconstruct(model), "reconstruction (stored noise)"),
        *((f"generated_{i}", s, f"generation {i} (twice as long)") for i, s in enumerate(generated)),
        ("bwe_input", low, f"bandwidth extension input ({low_rate} Hz)"),
        ("bwe_output", apps.extend_bandwidth(model, low, low_rate, key_bwe), f"extended to {rate} Hz"),
    ):
        wav, png = write_audio(res, name, signal, rate if name != "bwe_input" else low_rate)
        figures.append((f"{caption}: {wav.name}", png))
    quality = audio_quality(model.reals[-1], list(generated), rate)
    diversity = audio_diversity(list(generated))
    text = (
        f"Catch-A-Waveform (tiny preset, {iterations} iterations per scale at {model.geometry.rates} Hz) trained on "
        f"{SOURCE}; spectrograms below, WAV files beside them in {res}. Generations vs the clip: spectral mean "
        f"{quality['spectral_mean_db']:.1f} dB, spectral dynamics {quality['spectral_std_db']:.1f} dB (0 = same "
        f"statistics); diversity {diversity:.2f} (0 = identical, ~0.66 = unrelated noise); "
        f"{time.time() - start:.0f} s on {jax.devices()[0].platform}."
    )
    return ("Catch-A-Waveform: audio from one recording", text, figures)
