"""Audio I/O (resampling, strict loading, saving) and the synthesised example recordings."""

import numpy as np
import pytest
import soundfile
from PIL import Image

from jaxinterp.data import audio_examples
from jaxinterp.data.audio import (
    AudioInfo,
    check_length,
    load_audio,
    resample,
    save_spectrogram_png,
    save_wav,
    spectrogram_db,
)
from jaxinterp.errors import InputError


def sine(freq, rate, seconds=1.0, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(signal, rate):
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)]


# --- resample ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate_in", "rate_out"), [(16000, 8000), (8000, 16000), (44100, 16000)])
def test_resample_keeps_frequency_and_documented_length(rate_in, rate_out):
    x = sine(440.0, rate_in, seconds=1.0)
    y = resample(x, rate_in, rate_out)
    assert y.dtype == np.float32
    assert len(y) == int(np.ceil(len(x) * rate_out / rate_in))
    assert abs(peak_hz(y, rate_out) - 440.0) <= 1.0
    # Band-limited: amplitude is kept away from the edges.
    assert np.max(np.abs(y[200:-200])) == pytest.approx(0.5, abs=0.01)


def test_resample_identity_when_rates_are_equal_and_odd_lengths():
    x = np.random.default_rng(0).standard_normal(1001)
    y = resample(x, 16000, 16000)
    assert y.dtype == np.float32 and np.array_equal(y, x.astype(np.float32))
    assert len(resample(x, 16000, 8000)) == 501  # ceil(1001 / 2)
    with pytest.raises(ValueError):
        resample(x[None], 16000, 8000)


# --- load_audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_load_round_trip_keeps_samples(tmp_path, fmt):
    x = sine(300.0, 16000, seconds=0.5)
    path = tmp_path / f"tone.{fmt}"
    soundfile.write(path, x, 16000, subtype="PCM_16")
    y, info = load_audio(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1 / 2**15)
    assert info == AudioInfo(str(path), 16000, 1, 0.5, 16000, len(x))
    assert "used as is" in info.note()


def test_load_mixes_stereo_to_mono_mean_and_notes_it(tmp_path):
    left, right = sine(300.0, 16000, 0.25, 0.6), sine(500.0, 16000, 0.25, 0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    y, info = load_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)
    assert info.mixed_down and info.channels == 2
    assert "2 channels mixed to mono" in info.note()


def test_load_resamples_and_crops_with_notes(tmp_path):
    path = tmp_path / "long.wav"
    soundfile.write(path, sine(440.0, 44100, seconds=3.0), 44100, subtype="FLOAT")
    y, info = load_audio(path, sample_rate=16000, max_seconds=2.0)
    assert len(y) == 32000 and info.num_samples == 32000
    assert info.resampled and info.cropped and info.original_rate == 44100
    assert info.original_seconds == pytest.approx(3.0)
    assert abs(peak_hz(y, 16000) - 440.0) <= 1.0
    note = info.note()
    assert "44100 Hz resampled to 16000 Hz" in note and "cropped from 3.00 s to 2.00 s" in note
    kept, info = load_audio(path, sample_rate=None, max_seconds=None)
    assert len(kept) == 3 * 44100 and not info.resampled and not info.cropped


def test_load_normalize_and_overshoot_rescaling(tmp_path):
    path = tmp_path / "loud.wav"
    soundfile.write(path, sine(200.0, 8000, 0.2, amplitude=2.0), 8000, subtype="FLOAT")  # a float file peaking at 2
    y, info = load_audio(path, sample_rate=None)
    assert np.max(np.abs(y)) == pytest.approx(1.0) and info.gain == pytest.approx(0.5, rel=1e-3)
    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, 0.25 * sine(200.0, 8000, 0.2), 8000, subtype="FLOAT")
    y, info = load_audio(quiet, sample_rate=None)
    assert np.max(np.abs(y)) == pytest.approx(0.125, abs=1e-3) and info.gain == 1.0
    y, info = load_audio(quiet, sample_rate=None, normalize=True)
    assert np.max(np.abs(y)) == pytest.approx(1.0) and info.gain == pytest.approx(8.0, rel=1e-3)


def test_load_builtin_example():
    y, info = load_audio("builtin:music", sample_rate=8000)
    assert info.source == "builtin:music" and info.sample_rate == 8000 and len(y) == 160000
    with pytest.raises(InputError, match="unknown built-in audio 'builtin:nope'; choose one of: music, speechlike"):
        load_audio("builtin:nope")


def test_load_errors_are_one_line_input_errors_naming_the_file(tmp_path):
    cases = {}
    cases["missing"] = tmp_path / "missing.wav"
    (garbage := tmp_path / "garbage.wav").write_bytes(b"not a riff header" * 50)
    cases["garbage"] = garbage
    (empty := tmp_path / "empty.wav").write_bytes(b"")
    cases["empty"] = empty
    soundfile.write(silent := tmp_path / "silent.wav", np.zeros(1600, np.float32), 16000)
    cases["silent"] = silent
    soundfile.write(no_samples := tmp_path / "nosamples.wav", np.zeros(0, np.float32), 16000)
    cases["no samples"] = no_samples
    soundfile.write(nan := tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, "FLOAT")
    cases["non-finite"] = nan
    (unsupported := tmp_path / "clip.xyz").write_bytes(b"\x00\x01" * 100)
    cases["unsupported"] = unsupported
    expected = {
        "missing": "audio file not found",
        "garbage": "cannot read audio",
        "empty": "the file is empty",
        "silent": "silent",
        "no samples": "no samples",
        "non-finite": "NaN or infinite",
        "unsupported": "unsupported audio format '.xyz'",
    }
    for kind, path in cases.items():
        with pytest.raises(InputError) as caught:
            load_audio(path)
        message = str(caught.value)
        assert str(path) in message and expected[kind] in message and "\n" not in message, (kind, message)


def test_check_length_message():
    check_length(np.zeros(2041), 320, 2041, "song.wav")
    with pytest.raises(InputError) as caught:
        check_length(np.zeros(1000), 320, 2041, "song.wav")
    assert str(caught.value).startswith(
        "song.wav: too short for the coarsest scale: 1000 samples at 320 Hz, need at least 2041"
    )


# --- saving --------------------------------------------------------------------------------------


def test_save_wav_clips_creates_folders_and_round_trips(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 2.0, -3.0], np.float32)
    path = save_wav(tmp_path / "a" / "b" / "out.wav", x, 8000)
    y, rate = soundfile.read(path, dtype="float32")
    assert rate == 8000 and soundfile.info(path).subtype == "PCM_16"
    np.testing.assert_allclose(y, np.clip(x, -1, 1), atol=1 / 2**15)
    path = save_wav(tmp_path / "f.wav", x, 8000, subtype="FLOAT")
    np.testing.assert_array_equal(soundfile.read(path, dtype="float32")[0], np.clip(x, -1, 1))


def test_save_spectrogram_png_size_and_orientation(tmp_path):
    x = sine(1000.0, 8000, seconds=1.0)
    path = save_spectrogram_png(tmp_path / "s" / "spec.png", x, 8000, n_fft=256, hop=64)
    image = np.asarray(Image.open(path))
    assert image.shape == (256 // 2 + 1, 1 + 8000 // 64, 3)
    # 1 kHz is bin 32 of 129; with low frequencies at the bottom it is row 128 - 32 = 96, the brightest.
    brightness = image.astype(int).sum(axis=(1, 2))
    assert np.argmax(brightness) == 96
    assert spectrogram_db(x, 256, 64).shape == (1 + 8000 // 64, 129)


# --- examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", audio_examples.names())
def test_examples_are_deterministic_finite_and_audible(name):
    x = audio_examples.render(name, 16000)
    assert x.dtype == np.float32 and len(x) == 20 * 16000
    assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 1.0
    assert np.sqrt(np.mean(x**2)) > 0.05
    np.testing.assert_array_equal(x, audio_examples.render(name, 16000))
    low = audio_examples.render(name, 8000)
    assert len(low) == 20 * 8000 and np.all(np.isfinite(low))


@pytest.mark.parametrize("rate", [2000, 3000])
def test_examples_are_finite_at_low_rates_where_high_notes_have_no_band(rate):
    for name in audio_examples.names():
        x = audio_examples.render(name, rate)
        assert np.isfinite(x).all() and np.abs(x).max() > 0.01


def test_music_has_energy_at_several_fundamentals():
    x = audio_examples.render("music", 16000)
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    # A2 (bass root), A4, C5, E5 (melody over A minor), G4 (the G chord).
    for note in (45, 69, 72, 76, 67):
        hz = audio_examples.midi_to_hz(note)
        band = (freqs > hz * 0.97) & (freqs < hz * 1.03)
        assert spectrum[band].max() > 10 * np.median(spectrum[band]), note
        assert abs(freqs[band][np.argmax(spectrum[band])] - hz) < 0.01 * hz, note


def test_examples_reject_unknown_names():
    with pytest.raises(KeyError, match="choose one of: music, speechlike"):
        audio_examples.render("opera")
