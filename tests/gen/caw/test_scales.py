"""CAW scale geometry: receptive field and padding, the sample-rate rule, pyramid lengths, noise amplitudes,
and the on-device resampler used between scales."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen.caw import scales
from jaxinterp.gen.caw.config import PRESETS, CAWConfig

RATE = 16000
ALL_RATES = [320, 400, 500, 640, 800, 1000, 1280, 1600, 2000, 2500, 4000, 8000, 10000, 12000, 14400, 16000]


def _tones(*components, seconds=2.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return sum(a * np.sin(2 * np.pi * f * t) for a, f in components).astype(np.float32)


def test_receptive_field_and_padding_of_the_paper_nets():
    cfg = CAWConfig()
    assert scales.receptive_field(cfg) == 9 + 8 * sum(2**i for i in range(1, 8)) == 2041
    assert scales.padding(cfg) == scales.receptive_field(cfg) // 2 == 1020
    assert (scales.receptive_field(PRESETS["tiny"]), scales.padding(PRESETS["tiny"])) == (121, 60)


def test_coarsest_scale_is_the_first_rate_whose_energy_reaches_the_threshold():
    # 40 Hz carries energy 0.001 (< 0.0025) at every rate; 900 Hz adds 0.02 once it is below Nyquist:
    # it is stopped at 1600 Hz (Nyquist 800) and passed at 2000 Hz (Nyquist 1000).
    signal = _tones((math.sqrt(0.002), 40.0), (0.2, 900.0))
    rates = scales.choose_scales(signal, RATE, CAWConfig())
    assert rates == ALL_RATES[ALL_RATES.index(2000) :]
    # Only 40 Hz, loud enough: the coarsest candidate already passes.
    assert scales.choose_scales(_tones((0.1, 40.0)), RATE, CAWConfig()) == ALL_RATES


def test_quiet_signal_falls_back_to_the_third_candidate():
    signal = _tones((0.01, 40.0), (0.01, 3000.0))  # energy 1e-4 everywhere
    assert scales.choose_scales(signal, RATE, CAWConfig()) == ALL_RATES[2:]


def test_speech_skips_rates_below_500_hz_and_ignores_the_energy_rule():
    cfg = CAWConfig(speech=True)
    signal = _tones((math.sqrt(0.002), 40.0), (0.2, 900.0))
    assert scales.choose_scales(signal, RATE, cfg) == ALL_RATES[ALL_RATES.index(500) :]
    assert cfg.loss_weights() == (10.0, 0.0) and not cfg.cond_noise


def test_input_rate_is_appended_and_faster_rates_dropped():
    signal = _tones((0.1, 40.0), rate=11025)
    assert scales.choose_scales(signal, 11025, CAWConfig()) == [f for f in ALL_RATES if f <= 10000] + [11025]
    with pytest.raises(InputError, match="16000"):
        scales.choose_scales(_tones((0.1, 40.0), rate=22050), 22050, CAWConfig())
    assert scales.working_rate(22050, CAWConfig()) == 16000 and scales.working_rate(8000, CAWConfig()) == 8000


def test_inpainting_holes_longer_than_the_signal_leave_no_scale():
    cfg = PRESETS["tiny"].replace(mode="inpainting")
    signal = _tones((0.1, 40.0), seconds=0.5, rate=4000)  # 2000 samples, receptive field 121
    assert scales.choose_scales(signal, 4000, cfg, holes=[(500, 900)]) == [1000, 2000, 4000]
    with pytest.raises(InputError, match="holes"):
        scales.choose_scales(signal, 4000, cfg, holes=[(0, 1800)])


def test_pyramid_lengths_follow_the_rates():
    signal = _tones((0.1, 40.0), seconds=1.3)  # 20800 samples
    rates = [320, 1280, 14400, 16000]
    pyramid = scales.build_pyramid(signal, RATE, rates)
    assert [len(x) for x in pyramid] == [math.ceil(20800 * f / RATE) for f in rates] == [416, 1664, 18720, 20800]
    assert all(x.dtype == np.float32 for x in pyramid)
    np.testing.assert_array_equal(pyramid[-1], signal)


def test_noise_amplitudes_follow_the_energy_rule_on_a_hand_example():
    pyramid = [np.full(10, 0.1), np.full(20, math.sqrt(0.05)), np.full(40, 0.2)]  # E = 0.01, 0.05, 0.04
    amps = scales.noise_amplitudes(pyramid, CAWConfig())
    np.testing.assert_allclose(amps, [1.0, 0.01 * math.sqrt(0.04), 0.0], rtol=1e-9)
    # Inpainting: energies over the samples outside the hole only.
    pyramid = [np.array([0.1, 0.1, 9.0, 0.1]), np.array([0.3, 9.0, 9.0, 0.3])]
    masks = [np.array([1, 1, 0, 1], bool), np.array([1, 0, 0, 1], bool)]
    np.testing.assert_allclose(scales.noise_amplitudes(pyramid, CAWConfig(), masks), [1.0, 0.01 * math.sqrt(0.08)])


def test_loss_weights_and_conditional_noise_per_mode():
    assert CAWConfig().loss_weights() == (0.0, 1e-4) and CAWConfig().cond_noise
    assert CAWConfig(mode="inpainting").loss_weights() == (10.0, 0.0) and CAWConfig(mode="inpainting").cond_noise
    assert CAWConfig(mode="denoising").loss_weights() == (10.0, 0.0) and not CAWConfig(mode="denoising").cond_noise
    assert CAWConfig().lr_milestone == 1333 and CAWConfig().channels(0) == 16 and CAWConfig().channels(5) == 96
    with pytest.raises(InputError, match="mode"):
        CAWConfig(mode="speech")


def test_peak_normalize():
    out, peak = scales.peak_normalize(np.array([0.0, -0.5, 0.25]))
    assert peak == 0.5
    np.testing.assert_array_equal(out, [0.0, -1.0, 0.5])
    with pytest.raises(InputError):
        scales.peak_normalize(np.zeros(5))


def _resize_right_reference(x, rate_in, rate_out):
    """ResizeRight's rule written out in float64: centre-aligned grid, Keys cubic, mirrored ends."""
    n, s = len(x), rate_out / rate_in
    m = math.ceil(s * n)
    support = 4 / min(s, 1.0)

    def kernel(d):
        d = abs(d) * min(s, 1.0)
        k = 1.5 * d**3 - 2.5 * d**2 + 1 if d <= 1 else (-0.5 * d**3 + 2.5 * d**2 - 4 * d + 2 if d <= 2 else 0.0)
        return k * min(s, 1.0)

    mirror = list(range(n)) + list(range(n - 1, -1, -1))
    out = np.zeros(m)
    for i in range(m):
        pos = i / s + (n - 1) / 2 - (m - 1) / (2 * s)
        taps = [math.ceil(pos - support / 2 - 1.1920929e-07) + j for j in range(math.ceil(support - 1.1920929e-07))]
        w = np.array([kernel(pos - t) for t in taps])
        out[i] = np.dot(w / w.sum(), [x[mirror[t % (2 * n)]] for t in taps])
    return out


@pytest.mark.parametrize("rate_in,rate_out,n", [(320, 400, 97), (12000, 14400, 50), (2500, 4000, 33), (4000, 2500, 40)])
def test_upsample_matches_resize_rights_rule(rate_in, rate_out, n):
    x = np.random.default_rng(0).normal(size=n)
    out = scales.upsample(jnp.asarray(x, jnp.float32)[None, :, None], rate_in, rate_out)
    np.testing.assert_allclose(out[0, :, 0], _resize_right_reference(x, rate_in, rate_out), atol=1e-5)


def test_upsample_preserves_a_low_frequency_sine_and_fits_the_next_length():
    t_in = np.arange(1600) / 320
    t_out = (np.arange(2000) * 0.8 - 0.1) / 320  # centre-aligned grid: sample i sits at input position 0.8 i - 0.1
    sine = np.sin(2 * np.pi * 5.0 * t_in).astype(np.float32)
    up = jax.jit(scales.upsample, static_argnums=(1, 2, 3))(jnp.asarray(sine)[None, :, None], 320, 400, None)
    assert up.shape == (1, 2000, 1)
    expected = np.sin(2 * np.pi * 5.0 * t_out)
    np.testing.assert_allclose(up[0, 10:-10, 0], expected[10:-10], atol=2e-3)  # away from the mirrored ends
    assert scales.upsample(jnp.asarray(sine)[:, None], 320, 400, length=1990).shape == (1990, 1)
    padded = scales.upsample(jnp.asarray(sine)[:, None], 320, 400, length=2005)
    assert padded.shape == (2005, 1) and np.all(np.asarray(padded[2000:]) == 0)


def test_upsample_keeps_sub_sample_precision_on_long_signals():
    n = 360000  # 22.5 s at 16 kHz -> positions beyond float32's 1/32-sample resolution
    ramp = np.arange(n, dtype=np.float64) / n
    up = np.asarray(scales.upsample(jnp.asarray(ramp, jnp.float32)[:, None], 14400, 16000))[:, 0]
    m = len(up)
    pos = np.arange(m) / (16000 / 14400) + (n - 1) / 2 - (m - 1) / (2 * 16000 / 14400)
    np.testing.assert_allclose(up[100:-100], pos[100:-100] / n, atol=2e-6)  # cubic is exact on a ramp
