"""`jaxinterp caw generate|inpaint|bwe|denoise` end to end on tiny models (WAV + spectrogram PNG), and
exit code 2 for bad input."""

import json
import re
import shutil

import numpy as np
import pytest
import soundfile
from PIL import Image

from jaxinterp.cli import main
from jaxinterp.data.audio import load_audio, resample, save_wav
from jaxinterp.gen.caw import store
from jaxinterp.gen.caw import train as caw_train
from jaxinterp.gen.caw.config import PRESETS

# One scale at 2 kHz: the smallest pyramid that exercises a mode end to end.
ONE_SCALE = PRESETS["tiny"].replace(sample_rates=(2000,), init_sample_rate=2000, iterations=10)


def _read(path):
    data, rate = soundfile.read(path, dtype="float32")
    assert Image.open(path.with_suffix(".png")).size[0] > 1  # its spectrogram was written beside it
    return data, rate


def test_train_writes_real_reconstruction_and_a_generation(tiny_run):
    names = sorted(p.name for p in (tiny_run / "samples").iterdir())
    assert names == [f"{n}.{e}" for n in ("generated", "real", "reconstruction") for e in ("png", "wav")]
    real, rate = _read(tiny_run / "samples" / "real.wav")
    assert (rate, len(real)) == (4000, 4000)


def test_generate_any_duration_with_quality_and_diversity(tiny_run, tmp_path):
    out = tmp_path / "gen"
    assert main(["caw", "generate", "--model", str(tiny_run), "--seconds", "1.5", "--num", "3", "--out", str(out)]) == 0
    signals = [_read(out / f"generated_{i:02d}.wav") for i in range(3)]
    assert all(rate == 4000 and len(s) == 6000 for s, rate in signals)
    assert not np.allclose(signals[0][0], signals[1][0])  # different noise, different signals
    metrics = json.loads((out / "metrics.json").read_text())
    # Tiny model after 20 iterations per scale (measured 8.6 dB / 6.1 dB / 0.67): far from a copy (0 dB)
    # but not white noise (20 dB on the mean spectrum), and the generations differ.
    assert 0 < metrics["spectral_mean_db"] < 20
    assert 0.05 < metrics["diversity"] < 1.5


def test_bandwidth_extension_keeps_the_low_band_of_its_input(tiny_run, tmp_path):
    hr, _ = load_audio("builtin:music", sample_rate=4000, max_seconds=1.0, normalize=True)
    lr_path = save_wav(tmp_path / "lr.wav", resample(hr, 4000, 2000), 2000)
    hr_path = save_wav(tmp_path / "hr.wav", hr, 4000)
    out = tmp_path / "bwe"
    args = ["caw", "bwe", "--model", str(tiny_run), "--input", str(lr_path), "--reference", str(hr_path)]
    assert main([*args, "--out", str(out)]) == 0
    extended, rate = _read(out / "extended.wav")
    assert (rate, len(extended)) == (4000, 4000)
    scores = json.loads((out / "metrics.json").read_text())
    # The band below 1 kHz is the input's, so the SNR against the true recording is well above 0 dB.
    assert scores["snr_db"] > 2.0, scores
    low = np.fft.rfft(extended)[: len(extended) // 4]
    truth = np.fft.rfft(resample(resample(hr, 4000, 2000), 2000, 4000))[: len(extended) // 4]
    assert np.corrcoef(np.abs(low), np.abs(truth))[0, 1] > 0.95


def test_inpainting_fills_the_gap_and_keeps_the_rest(tmp_path):
    run = caw_train.train(
        "builtin:music",
        tmp_path / "inpaint_run",
        ONE_SCALE.replace(mode="inpainting"),
        holes_seconds=[(0.4, 0.5)],
        show_progress=False,
    )
    assert main(["caw", "inpaint", "--model", str(run), "--new-noise"]) == 0
    inpainted, _ = _read(run / "inpainted" / "inpainted.wav")
    real = store.load_trained(run).reals[-1]
    np.testing.assert_allclose(inpainted[:700], real[:700], atol=1 / 16000)  # outside the hole and its fade
    np.testing.assert_allclose(inpainted[1100:], real[1100:], atol=1 / 16000)
    assert np.abs(inpainted[820:980]).max() > 1e-3  # the hole is filled


def test_denoising_writes_the_reconstruction_of_a_noisy_recording(tmp_path):
    clean, _ = load_audio("builtin:music", max_seconds=1.0, normalize=True)
    clean = resample(clean, 16000, 2000)
    rng = np.random.default_rng(0)
    noisy = save_wav(tmp_path / "noisy.wav", 0.8 * clean + 0.1 * rng.normal(size=clean.shape), 2000)
    run = caw_train.train(str(noisy), tmp_path / "den_run", ONE_SCALE.replace(mode="denoising"), show_progress=False)
    assert main(["caw", "denoise", "--model", str(run)]) == 0
    denoised, rate = _read(run / "denoised" / "denoised.wav")
    assert (rate, len(denoised)) == (2000, 2000)
    assert np.isfinite(denoised).all() and np.abs(denoised).max() > 1e-3


@pytest.mark.parametrize("case", ["empty", "short", "garbage", "missing"])
def test_bad_recordings_exit_2(tmp_path, case, capsys):
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "short":
        save_wav(path, np.sin(np.arange(100) * 0.3), 4000)
    elif case == "garbage":
        path.write_bytes(b"RIFF0000WAVEjunk")
    assert main(["caw", "train", str(path), "--out", str(tmp_path / "o"), "--preset", "tiny", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("jaxinterp: error: ")


def test_bad_application_inputs_exit_2(tiny_run, tmp_path):
    model = ["--model", str(tiny_run)]
    assert main(["caw", "generate", *model, "--seconds", "-1"]) == 2
    assert main(["caw", "inpaint", *model]) == 2  # not an inpainting model
    assert main(["caw", "denoise", *model]) == 2  # not a denoising model
    hr = save_wav(tmp_path / "hr.wav", np.sin(np.arange(4000) * 0.3), 4000)
    assert main(["caw", "bwe", *model, "--input", str(hr)]) == 2  # already at the finest rate
    assert main(["caw", "generate", "--model", str(tmp_path)]) == 2  # not a run
    gap = ["--mode", "inpainting", "--gap", "0.5", "9"]
    assert main(["caw", "train", "builtin:music", "--out", str(tmp_path / "g"), "--preset", "tiny", *gap]) == 2


def test_quickstart_section_writes_every_sound_and_its_figures(tiny_run, tmp_path, monkeypatch):
    """The quickstart's CAW section on the session's tiny model (its training is what `caw train` tests do;
    `tests/test_quickstart.py` stands this section in): every WAV and spectrogram, the metrics in the text."""
    from jaxinterp.gen.caw import demo

    def reuse_session_model(source, run_dir, cfg, resume, show_progress):
        assert source == demo.SOURCE and not resume and not show_progress
        shutil.copytree(tiny_run, run_dir)

    monkeypatch.setattr(demo, "train", reuse_session_model)
    title, text, figures = demo.quickstart_section(tmp_path)
    assert title == "Catch-A-Waveform: audio from one recording"
    names = [caption.rsplit(": ", 1)[1] for caption, _ in figures]
    assert names == [f"{n}.wav" for n in ("real", "reconstruction", "generated_0", "generated_1", "generated_2")] + [
        "bwe_input.wav",
        "bwe_output.wav",
    ]
    for _, png in figures:
        assert Image.open(png).size[0] > 1 and png.with_suffix(".wav").is_file()
    generated, rate = _read(tmp_path / "results" / "generated_0.wav")
    assert (rate, len(generated)) == (4000, 8000)  # twice the 1 s clip
    assert re.search(r"spectral mean -?\d+\.\d dB, spectral dynamics -?\d+\.\d dB .* diversity \d\.\d\d", text)
