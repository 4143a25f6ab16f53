"""Audio metrics (STFT, CAW's MSS distance, LSD, SNR, quality, diversity) against direct NumPy computations."""

import jax
import numpy as np
import pytest
import scipy.signal

from jaxinterp.errors import InputError
from jaxinterp.gen.metrics.audio import (
    CAW_RESOLUTIONS,
    audio_diversity,
    audio_quality,
    band_matrix,
    log_spectral_distance,
    log_stft_distance,
    multi_resolution_stft_distance,
    scaled_resolutions,
    snr,
    spectral_convergence,
    stft_magnitude,
)
from tests.fixtures import reference

SMALL = ((64, 16, 48), (32, 8, 32))  # small resolutions for hand-sized signals


def noise(n, seed, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def numpy_stft_magnitude(x, n_fft, hop, win):
    """Direct framing: reflect pad n_fft // 2, periodic Hann of `win` centred in n_fft, one rfft per frame."""
    x = np.pad(np.asarray(x, np.float64), n_fft // 2, mode="reflect")
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = scipy.signal.get_window("hann", win, fftbins=True)
    frames = [x[s : s + n_fft] * window for s in range(0, len(x) - n_fft + 1, hop)]
    return np.abs(np.fft.rfft(np.stack(frames), axis=-1))


# --- STFT ------------------------------------------------------------------------------------------


def test_stft_magnitude_of_a_sine_peaks_at_its_bin():
    rate, n_fft = 8000, 256
    t = np.arange(4000) / rate
    x = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)  # bin 1000 / (8000 / 256) = 32
    magnitude = np.asarray(stft_magnitude(x, n_fft, 64, 200))
    assert magnitude.shape == (1 + 4000 // 64, n_fft // 2 + 1)
    assert np.all(np.argmax(magnitude[2:-2], axis=-1) == 32)
    assert magnitude[10, 32] == pytest.approx(200 / 4, rel=0.02)  # unit sine: win / 4


def test_stft_magnitude_matches_numpy_framing_and_batches():
    x = noise((2, 3, 301), 0)
    for n_fft, hop, win in [(64, 16, 48), (64, 10, 64), (33, 7, 20)]:
        got = np.asarray(stft_magnitude(x, n_fft, hop, win))
        want = np.stack([np.stack([numpy_stft_magnitude(row, n_fft, hop, win) for row in batch]) for batch in x])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_stft_magnitude_matches_torch_stft():
    """Against torch.stft (periodic Hann of `win` samples, centred, reflect padding) at CAW's resolutions:
    its magnitudes are stored in tests/fixtures/audio_stft.npz."""
    ref = reference("audio_stft")
    x = noise(3000, 1)
    np.testing.assert_array_equal(ref["x"], x)
    for n_fft, hop, win in CAW_RESOLUTIONS:
        np.testing.assert_allclose(
            np.asarray(stft_magnitude(x, n_fft, hop, win)), ref[f"magnitude_{n_fft}_{hop}_{win}"], rtol=1e-4, atol=2e-3
        )


# --- MSS distance and log variants ---------------------------------------------------------------


def test_mss_distance_is_zero_to_itself_and_grows_with_noise():
    x = noise(8000, 0)
    assert float(multi_resolution_stft_distance(x, x)) == 0.0
    distances = [float(multi_resolution_stft_distance(x, x + noise(8000, 1, s))) for s in (0.01, 0.1, 1.0)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_mss_distance_matches_numpy_on_a_small_example():
    a, b = noise((2, 200), 2), noise((2, 200), 3)
    want = np.mean(
        [
            [np.linalg.norm(numpy_stft_magnitude(a[i], *r) - numpy_stft_magnitude(b[i], *r)) for r in SMALL]
            for i in range(2)
        ],
        axis=1,
    )
    np.testing.assert_allclose(np.asarray(multi_resolution_stft_distance(a, b, SMALL)), want, rtol=1e-5)


def test_mss_distance_gradient_is_finite_including_at_equality():
    x, y = noise(4000, 4), noise(4000, 5)
    grad = jax.grad(lambda a: multi_resolution_stft_distance(a, y))(x)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    grad_at_equal = jax.grad(lambda a: multi_resolution_stft_distance(a, x))(x)
    assert np.all(np.isfinite(grad_at_equal))


def test_spectral_convergence_and_log_stft_distance_exact_for_scaled_copies():
    x = noise(4000, 6)
    assert float(spectral_convergence(x, 1.5 * x)) == pytest.approx(0.5, rel=1e-5)
    assert float(log_stft_distance(x, 2.0 * x)) == pytest.approx(np.log(2.0), rel=1e-4)
    assert float(log_stft_distance(x, x)) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        multi_resolution_stft_distance(x, x[:-1])


# --- LSD and SNR ---------------------------------------------------------------------------------


def test_lsd_of_a_scaled_copy_is_twice_the_log_gain():
    x = noise(8000, 7)
    # ln P(c x) - ln P(x) = 2 ln c in every bin, so every frame's RMS is 2 ln c.
    assert float(log_spectral_distance(x, 3.0 * x)) == pytest.approx(2 * np.log(3.0), rel=1e-5)
    assert float(log_spectral_distance(3.0 * x, x, hop=2048)) == pytest.approx(2 * np.log(3.0), rel=1e-5)
    assert float(log_spectral_distance(x, x)) == 0.0
    # Lengths: the longer signal is cropped.
    assert float(log_spectral_distance(x, np.concatenate([3.0 * x, x[:100]]))) == pytest.approx(2 * np.log(3.0))


def test_lsd_matches_numpy_per_frame_rms():
    a, b = noise(1000, 8), noise(1000, 9)
    log_a = np.log(np.maximum(numpy_stft_magnitude(a, 128, 32, 128) ** 2, 1e-15))
    log_b = np.log(np.maximum(numpy_stft_magnitude(b, 128, 32, 128) ** 2, 1e-15))
    want = np.mean(np.sqrt(np.mean((log_a - log_b) ** 2, axis=-1)))
    assert float(log_spectral_distance(a, b, n_fft=128, hop=32)) == pytest.approx(want, rel=1e-4)


def test_snr_exact_on_hand_examples():
    reference = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    # Error power 4 * 0.01 = 0.04 against signal power 4: 10 log10(100) = 20 dB.
    assert float(snr(reference, reference + 0.1)) == pytest.approx(20.0, abs=1e-4)
    x = noise(10000, 10)
    n = noise(10000, 11)
    n *= np.sqrt(np.sum(x**2) / np.sum(n**2) / 1000.0)  # power ratio 1000 -> 30 dB
    assert float(snr(x, x + n)) == pytest.approx(30.0, abs=1e-3)
    assert float(snr(x, x)) == np.inf


# --- quality and diversity -----------------------------------------------------------------------


def tone_texture(n, seed):
    """A few decaying tones over quiet noise: a stand-in for a music clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.01 * rng.standard_normal(n)
    for start in range(0, n, 2000):
        freq = rng.choice([220.0, 330.0, 440.0])
        env = np.where(t >= start / 16000, np.exp(-8 * (t - start / 16000)), 0.0)
        x += 0.3 * env * np.sin(2 * np.pi * freq * t)
    return x.astype(np.float32)


def test_audio_quality_is_zero_for_copies_small_for_shifts_and_large_for_noise():
    real = tone_texture(16000, 0)
    same = audio_quality(real, [real], 16000)
    assert same["spectral_mean_db"] == 0.0 and same["spectral_std_db"] == 0.0
    shifted = np.roll(real, 1234)
    longer = np.concatenate([real, real[:5000]])  # generations may be longer than the clip
    result = audio_quality(real, [shifted, longer], 16000)
    assert len(result["spectral_mean_db_per_sample"]) == 2
    assert result["spectral_mean_db"] < 0.5 and result["spectral_std_db"] < 0.5
    # Same long-term magnitude spectrum, random phases: the notes' attacks and decays are gone.
    spectrum = np.fft.rfft(real)
    phases = np.exp(2j * np.pi * np.random.default_rng(3).random(len(spectrum)))
    stationary = np.fft.irfft(np.abs(spectrum) * phases, n=len(real)).astype(np.float32)
    stationary_result = audio_quality(real, [stationary], 16000)
    assert stationary_result["spectral_std_db"] > 5 * result["spectral_std_db"] + 1.0
    noise_result = audio_quality(real, [noise(16000, 1, 0.2)], 16000)
    assert noise_result["spectral_mean_db"] > 10.0 and noise_result["spectral_std_db"] > 2.0
    with pytest.raises(InputError, match="at least 1025 samples"):
        audio_quality(real, [real[:1000]], 16000)


def test_band_matrix_assigns_every_bin_to_one_log_band():
    bands = band_matrix(2048, 16000)
    assert np.all(bands.sum(axis=0) == 1) and np.all(bands.sum(axis=1) >= 1)
    # Third-octave bands from 40 Hz to 8 kHz: at most 3 * log2(8000 / 40) + 1 of them.
    assert bands.shape[0] <= 3 * np.log2(8000 / 40) + 1 and bands.shape[0] >= 20


def test_scaled_resolutions_keep_seconds_and_hz_per_bin():
    assert scaled_resolutions(CAW_RESOLUTIONS, 16000) == CAW_RESOLUTIONS
    assert scaled_resolutions(CAW_RESOLUTIONS, 8000) == ((1024, 120, 600), (512, 60, 300), (256, 25, 120))


def test_audio_diversity_zero_for_identical_and_noise_level_for_independent_noises():
    x = noise(8000, 12)
    assert audio_diversity(np.stack([x, x, x])) == 0.0
    near = audio_diversity(np.stack([x + noise(8000, s, 0.05) for s in range(3)]))
    independent = audio_diversity(np.stack([noise(8000, s) for s in range(20, 24)]))
    assert 0 < near < independent
    assert independent == pytest.approx(np.sqrt(2 - np.pi / 2), rel=0.05)  # Rayleigh magnitudes
    # Gain-invariant; different lengths are cropped to the shortest.
    assert audio_diversity([2 * noise(8000, 20), 2 * noise(9000, 21)]) == pytest.approx(
        audio_diversity([noise(8000, 20), noise(8000, 21)]), rel=1e-5
    )
    with pytest.raises(InputError, match="at least two"):
        audio_diversity([x])
