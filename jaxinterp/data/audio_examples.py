"""Example recordings the project synthesises itself, so that audio models run with no download.

Each example is rendered deterministically (fixed seeds) from a short score by vectorised NumPy/SciPy,
at any sample rate, and loaded as `builtin:<name>` by `jaxinterp.data.audio.load_audio`:

* `music` (20 s): a piece in A minor at 120 bpm, ten 4/4 bars over Am-F-C-G | Am-F-Dm-E | Am-Am. A
  plucked-string melody in eighth notes (additive synthesis: harmonic amplitudes of a string plucked at
  1/5 of its length, higher harmonics decaying faster, slight stiffness inharmonicity), a bass line in
  quarter notes, and light drums (a pitch-swept sine kick, a noise snare, a short hi-hat), with one echo.
  Bars 5-8 repeat the motif of bars 1-4 with seeded variations (passing notes, rests, octave jumps), so
  a single-recording GAN has repeated texture to learn, as in CAW's music experiments.
* `speechlike` (20 s): SYNTHETIC, not a recording of anyone. A source-filter model: a glottal pulse train
  with a falling pitch contour per phrase (declination from ~135 to ~100 Hz, accents on stressed
  syllables, slight vibrato and jitter) is filtered by three formant resonators per syllable (five vowels,
  Peterson-Barney-like male formants), with fricative and plosive noise onsets, word gaps and phrase
  pauses. It has speech's rhythm and spectral envelope but no words; use it for `--speech`-style runs
  where real speech is not at hand.

Decisions: peaks are normalised to 0.9 (music) / 0.8 (speechlike); partials and formants above 0.45 x the
sample rate are left out, so low rates do not alias. Rendering 20 s takes well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.signal
from jaxtyping import Float

DEFAULT_RATE = 16000
DURATION = 20.0  # seconds, for both examples ("no more than 20 seconds of training audio commonly suffice", CAW)


def names() -> list[str]:
    """The example names, sorted."""
    return sorted(_RENDERERS)


def render(name: str, sample_rate: int = DEFAULT_RATE) -> Float[np.ndarray, " n"]:
    """Renders example `name` at `sample_rate`: float32, `round(DURATION * sample_rate)` samples.

    Raises:
      KeyError: unknown name (`load_audio` turns this into an InputError listing `names()`).
    """
    if name not in _RENDERERS:
        raise KeyError(f"unknown audio example {name!r}; choose one of: {', '.join(names())}")
    if sample_rate < 2000:
        raise ValueError(f"sample_rate must be at least 2000 Hz, got {sample_rate}")
    return _RENDERERS[name](int(sample_rate)).astype(np.float32)


def midi_to_hz(note: float) -> float:
    """Equal temperament, A4 = MIDI 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _add(out: np.ndarray, start: int, sound: np.ndarray) -> None:
    """Adds `sound` into `out` from sample `start`, cutting what falls past the end."""
    end = min(len(out), start + len(sound))
    if end > start:
        out[start:end] += sound[: end - start]


# --- music ---------------------------------------------------------------------------------------

_BPM = 120.0
_EIGHTH = 60.0 / _BPM / 2  # 0.25 s
# Bar chords as MIDI roots + chord-tone offsets (A minor; E major for the cadence, harmonic minor).
_CHORDS = {
    "Am": (57, (0, 3, 7)),
    "F": (53, (0, 4, 7)),
    "C": (48, (0, 4, 7)),
    "G": (55, (0, 4, 7)),
    "Dm": (50, (0, 3, 7)),
    "E": (52, (0, 4, 7)),
}
_PROGRESSION = ("Am", "F", "C", "G", "Am", "F", "Dm", "E", "Am", "Am")
_A_MINOR = np.array([57, 59, 60, 62, 64, 65, 67, 68])  # with G# (harmonic minor) for the E chord
_MOTIF = (0, 2, 1, 2, 3, 2, 1, 2)  # indexes into the bar's melody chord tones, one per eighth


def _chord_tones(chord: str, low: int = 67) -> list[int]:
    """The chord's tones from `low` upwards (four of them), used by the melody."""
    root, offsets = _CHORDS[chord]
    tones = sorted({root + o + 12 * k for o in offsets for k in range(-2, 4)})
    return [t for t in tones if t >= low][:4]


def _pluck(freq: float, seconds: float, rate: int) -> np.ndarray:
    """A plucked string by additive synthesis (harmonics of a string plucked at 1/5 of its length)."""
    t = np.arange(int(seconds * rate)) / rate
    k = np.arange(1, 25)
    partials = k * freq * np.sqrt(1.0 + 1e-4 * k**2)  # stiff-string inharmonicity
    keep = partials < 0.45 * rate
    k, partials = k[keep], partials[keep]
    if not len(k):  # even the fundamental is above this rate's band: the note is silent here
        return np.zeros_like(t)
    amplitude = np.abs(np.sin(np.pi * k / 5)) / k**1.5 + 0.02 / k
    decay = 2.0 + 0.8 * k + freq / 300.0  # 1/s: higher harmonics and higher notes die faster
    tone = (amplitude[:, None] * np.exp(-decay[:, None] * t) * np.sin(2 * np.pi * partials[:, None] * t)).sum(0)
    attack = np.minimum(t / 0.003, 1.0)
    return tone * attack / amplitude.sum()


def _bass(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(
        a * np.sin(2 * np.pi * h * freq * t) for h, a in ((1, 1.0), (2, 0.35), (3, 0.15)) if h * freq < 0.45 * rate
    )
    envelope = np.minimum(t / 0.005, 1.0) * np.exp(-3.0 * t) * np.clip((seconds - t) / 0.03, 0.0, 1.0)
    return tone * envelope


def _kick(rate: int) -> np.ndarray:
    t = np.arange(int(0.3 * rate)) / rate
    phase = 2 * np.pi * (45.0 * t + (120.0 - 45.0) / 30.0 * (1 - np.exp(-30.0 * t)))  # 120 Hz -> 45 Hz sweep
    return np.sin(phase) * np.exp(-12.0 * t)


def _noise_hit(rng: np.random.Generator, seconds: float, decay: float, highpass: int, rate: int) -> np.ndarray:
    """Decaying white noise, brightened by `highpass` first differences."""
    n = int(seconds * rate)
    noise = rng.standard_normal(n + highpass)
    for _ in range(highpass):
        noise = np.diff(noise)
    t = np.arange(n) / rate
    return noise / 2.0**highpass * np.exp(-decay * t)


def _music(rate: int) -> np.ndarray:
    rng = np.random.default_rng(2021)
    out = np.zeros(int(round(DURATION * rate)))
    melody, bass, drums = np.zeros_like(out), np.zeros_like(out), np.zeros_like(out)
    step = int(round(_EIGHTH * rate))
    kick = _kick(rate)
    for bar, chord in enumerate(_PROGRESSION):
        tones = _chord_tones(chord)
        varied = bar >= 4  # bars 5-10 vary the motif of bars 1-4
        for i, index in enumerate(_MOTIF):
            note = tones[index % len(tones)]
            if varied and rng.random() < 0.3:  # passing note: the scale neighbour
                scale = _A_MINOR + 12 * (note // 12 - _A_MINOR[0] // 12)
                note = int(scale[np.clip(np.searchsorted(scale, note) + rng.choice([-1, 1]), 0, len(scale) - 1)])
            if varied and rng.random() < 0.1:
                note += 12
            if bar == len(_PROGRESSION) - 1 and i >= 4 or (varied and rng.random() < 0.08):
                continue  # rests (and a quiet last half bar)
            velocity = (1.0 if i % 2 == 0 else 0.7) * (0.9 + 0.2 * rng.random())
            _add(melody, (bar * 8 + i) * step, velocity * _pluck(midi_to_hz(note), 1.2, rate))
        root = _CHORDS[chord][0] - 12 * (1 if _CHORDS[chord][0] >= 52 else 0)  # bass around A2
        for beat, interval in enumerate((0, 0, 7, 12)):
            _add(bass, (bar * 8 + 2 * beat) * step, _bass(midi_to_hz(root + interval), 0.45, rate))
        for beat in range(4):
            start = (bar * 8 + 2 * beat) * step
            if beat in (0, 2):
                _add(drums, start, kick)
            else:
                snare = _noise_hit(rng, 0.2, 18.0, 1, rate)
                _add(drums, start, 0.35 * snare)
                _add(drums, start, 0.15 * _bass(180.0, 0.12, rate))
            for half in (0, 1):
                _add(drums, start + half * step, (0.05 if half == 0 else 0.08) * _noise_hit(rng, 0.06, 60.0, 2, rate))
    mix = 0.45 * melody + 0.35 * bass + 0.3 * drums
    echo = int(0.375 * rate)  # one dotted-eighth echo, a little room
    mix[echo:] += 0.25 * mix[:-echo].copy()
    return 0.9 * mix / np.max(np.abs(mix))


# --- speech-like -----------------------------------------------------------------------------------

# Vowel formants (Hz) and bandwidths: approximate adult male values after Peterson & Barney (1952).
_VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
_BANDWIDTHS = (90, 110, 170)


def _resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """Klatt's two-pole resonator, unity gain at DC."""
    r = np.exp(-np.pi * bandwidth / rate)
    b, c = 2 * r * np.cos(2 * np.pi * freq / rate), -(r**2)
    return scipy.signal.lfilter([1 - b - c], [1, -b, -c], x)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` samples (edges padded with the end values), to glide between pitches."""
    width = max(1, width)
    padded = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _speech_schedule(rng: np.random.Generator) -> list[tuple[float, float, str, str, bool]]:
    """(start s, length s, vowel, onset kind, stressed) per syllable; words, gaps and phrase pauses."""
    syllables, t = [], 0.3
    while t < DURATION - 1.0:
        for _ in range(rng.integers(3, 6)):  # words in a phrase
            stressed_at = rng.integers(0, 3)
            for s in range(rng.integers(1, 4)):
                length = rng.uniform(0.14, 0.26)
                onset = rng.choice(["none", "fricative", "plosive"], p=[0.4, 0.35, 0.25])
                syllables.append((t, length, str(rng.choice(list(_VOWELS))), str(onset), s == stressed_at))
                t += length + rng.uniform(0.0, 0.03)
            t += rng.uniform(0.05, 0.12)
            if t > DURATION - 1.0:
                break
        t += rng.uniform(0.35, 0.6)
    return syllables


def _speechlike(rate: int) -> np.ndarray:
    rng = np.random.default_rng(347)
    n = int(round(DURATION * rate))
    t = np.arange(n) / rate
    schedule = _speech_schedule(rng)

    # Pitch: declination over each phrase (restarting after pauses), accents on stressed syllables.
    f0 = np.full(n, 120.0)
    phrase_start = schedule[0][0]
    for i, (start, length, _, _, stressed) in enumerate(schedule):
        if i > 0 and start - (schedule[i - 1][0] + schedule[i - 1][1]) > 0.3:
            phrase_start = start
        span = slice(int(start * rate), int((start + length) * rate))
        f0[span] = 135.0 - 12.0 * (t[span] - phrase_start)
        if stressed:
            f0[span] += 25.0 * np.sin(np.pi * (t[span] - start) / length)
    f0 = np.maximum(_smooth(f0, int(0.03 * rate)), 80.0)
    f0 *= 1.0 + 0.01 * np.sin(2 * np.pi * 5.0 * t) + 0.005 * rng.standard_normal(n)

    # Glottal source: one impulse per period (split between two samples at its fractional position),
    # shaped by two one-pole low-passes (glottal roll-off) and a first difference (lip radiation).
    phase = np.cumsum(f0) / rate
    crossing = np.nonzero(np.diff(np.floor(phase)))[0]
    frac = (np.floor(phase[crossing + 1]) - phase[crossing]) / (phase[crossing + 1] - phase[crossing])
    pulses = np.zeros(n + 1)
    np.add.at(pulses, crossing, 1.0 - frac)
    np.add.at(pulses, crossing + 1, frac)
    source = scipy.signal.lfilter([1.0], [1.0, -0.97], scipy.signal.lfilter([1.0], [1.0, -0.97], pulses[:n]))
    source = np.diff(source, prepend=0.0) + 0.03 * rng.standard_normal(n)  # + breath noise

    out = np.zeros(n)
    for start, length, vowel, onset, stressed in schedule:
        a, b = int(start * rate), int((start + length + 0.04) * rate)
        segment = source[a:b]
        for freq, bandwidth in zip(_VOWELS[vowel], _BANDWIDTHS, strict=True):
            if freq < 0.45 * rate:
                segment = _resonator(segment, freq, bandwidth, rate)
        tt = np.arange(len(segment)) / rate
        envelope = np.minimum(tt / 0.025, 1.0) * np.clip((tt[-1] - tt) / 0.05, 0.0, 1.0)
        segment = segment / np.sqrt(np.mean(segment**2))  # equal loudness per vowel before the accent
        _add(out, a, (1.4 if stressed else 1.0) * segment * envelope)
        if onset != "none":
            seconds = 0.07 if onset == "fricative" else 0.012
            noise = rng.standard_normal(int(seconds * rate))
            centre = min(4500.0, 0.4 * rate) if onset == "fricative" else min(1500.0, 0.4 * rate)
            burst = _resonator(noise, centre, 1500.0, rate)
            burst = burst / np.sqrt(np.mean(burst**2)) * np.hanning(len(noise))
            _add(out, max(0, a - len(noise)), (0.15 if onset == "fricative" else 0.4) * burst)
    return 0.8 * out / np.max(np.abs(out))


_RENDERERS: dict[str, Callable[[int], np.ndarray]] = {"music": _music, "speechlike": _speechlike}
