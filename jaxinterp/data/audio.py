"""Audio files in and out, for the 1-D waveform GANs (Catch-A-Waveform).

Signals inside jaxinterp are mono float32 arrays of shape `n` with values in [-1, 1] (PCM full scale).
Loading is strict about what it cannot use (missing, corrupt, empty, silent or non-finite audio gives one
`InputError` line naming the file) but converts what CAW converts anyway, and says so in `AudioInfo`:
several channels are averaged to mono, the rate is resampled to the model's rate (CAW: 16 kHz,
`--init_sample_rate`), and the clip is cut to CAW's 25 s cap (`max_length`). The CLI prints `AudioInfo.note()`.

`builtin:<name>` loads an example the project synthesises itself (audio_examples.py; no download).

Decisions:
* Resampling is polyphase (`scipy.signal.resample_poly`, Kaiser-windowed FIR) by the reduced fraction
  rate_out / rate_in. Upstream CAW uses librosa's resampler; any good band-limited resampler is equivalent
  for training, and scipy is already a dependency. Output length is `ceil(n * rate_out / rate_in)`
  (what resample_poly returns), so 16k -> 8k halves an even length exactly.
* Multi-channel files are mixed down by the mean over channels (keeps the level of correlated channels).
* Cropping keeps the first `max_seconds` (CAW: the start of the file).
* Reading is in float32 (soundfile scales integer PCM to [-1, 1)); float files with peaks beyond 1 are
  kept as they are (no normalisation) — the GAN sees the level the user gave it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
from jaxtyping import Float

from jaxinterp.errors import InputError

BUILTIN_PREFIX = "builtin:"
DEFAULT_SAMPLE_RATE = 16000  # CAW params.py init_sample_rate
DEFAULT_MAX_SECONDS = 25.0  # CAW params.py max_length


def resample(signal: Float[np.ndarray, " n"], rate_in: int, rate_out: int) -> Float[np.ndarray, " m"]:
    """Band-limited polyphase resampling of a 1-D signal from `rate_in` to `rate_out` Hz.

    Args:
      signal: 1-D samples.
      rate_in: the signal's sample rate (positive integer Hz).
      rate_out: the wanted sample rate (positive integer Hz).

    Returns:
      float32 samples, `m = ceil(n * rate_out / rate_in)` of them; a float32 copy of `signal` when the
      rates are equal.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"resample expects a 1-D signal, got shape {signal.shape}")
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} and {rate_out}")
    if rate_in == rate_out:
        return signal.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    out = scipy.signal.resample_poly(signal.astype(np.float64), up, down)
    return out.astype(np.float32)


@dataclass(frozen=True)
class AudioInfo:
    """What `load_audio` found and did, so the CLI can print one line about it.

    Attributes:
      source: the path or `builtin:<name>` that was read.
      original_rate: sample rate of the file (Hz).
      channels: channels in the file (1 = mono).
      original_seconds: duration of the file before any cropping.
      sample_rate: sample rate of the returned signal.
      num_samples: length of the returned signal.
      mixed_down: several channels were averaged to mono.
      resampled: the rate was changed from `original_rate` to `sample_rate`.
      cropped: the signal was cut to `max_seconds`.
      gain: factor the samples were multiplied by (1.0 unless normalised or rescaled to peak 1).
    """

    source: str
    original_rate: int
    channels: int
    original_seconds: float
    sample_rate: int
    num_samples: int
    mixed_down: bool = False
    resampled: bool = False
    cropped: bool = False
    gain: float = 1.0

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sample_rate

    def note(self) -> str:
        """One human-readable line, e.g. 'song.wav: 2 channels mixed to mono; 44100 Hz resampled to 16000 Hz'."""
        changes = []
        if self.mixed_down:
            changes.append(f"{self.channels} channels mixed to mono")
        if self.resampled:
            changes.append(f"{self.original_rate} Hz resampled to {self.sample_rate} Hz")
        if self.cropped:
            changes.append(f"cropped from {self.original_seconds:.2f} s to {self.seconds:.2f} s")
        if self.gain != 1.0:
            changes.append(f"scaled by {self.gain:.3g} to peak 1")
        done = "; ".join(changes) if changes else "used as is"
        return f"{self.source}: {self.seconds:.2f} s mono at {self.sample_rate} Hz ({done})"


# File suffixes libsndfile reads (its format names, plus common aliases).
_SUFFIX_ALIASES = {"wave": "WAV", "oga": "OGG", "opus": "OGG", "aif": "AIFF", "aifc": "AIFF", "snd": "AU"}


def _supported_suffixes() -> set[str]:
    import soundfile

    return {name.lower() for name in soundfile.available_formats()} | set(_SUFFIX_ALIASES)


def _read_file(path: Path) -> tuple[np.ndarray, int]:
    """Reads any libsndfile format as float32 `frames channels`; one-line InputError on failure."""
    import soundfile

    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"cannot read audio {path}: the file is empty (0 bytes)")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as err:
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in _supported_suffixes():
            raise InputError(
                f"unsupported audio format {path.suffix or '(no suffix)'!r} for {path}; use WAV, FLAC or OGG"
            ) from None
        reason = str(err).replace(f"Error opening {str(path)!r}: ", "").strip()
        raise InputError(f"cannot read audio {path}: {reason}") from None
    return data, int(rate)


def load_audio(
    path_or_builtin: str | os.PathLike,
    sample_rate: int | None = DEFAULT_SAMPLE_RATE,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    *,
    normalize: bool = False,
) -> tuple[Float[np.ndarray, " n"], AudioInfo]:
    """Reads a recording as one mono float32 signal at `sample_rate`, at most `max_seconds` long.

    Order: mix to mono (mean over channels), crop to `max_seconds` (from the start), resample, then
    scale. Cropping before resampling keeps resampling cheap; the cropped length is recomputed at the
    new rate.

    Args:
      path_or_builtin: a WAV/FLAC/OGG (any libsndfile format) path, or `builtin:<name>` for an example
        from `audio_examples.names()`.
      sample_rate: rate of the returned signal in Hz; None keeps the file's rate.
      max_seconds: longest duration kept; None keeps everything.
      normalize: divide by the peak so that max |x| = 1 (what CAW's `get_input_signal` does). Without it
        the level is kept, except that a signal peaking above 1 (a float file, or resampling overshoot)
        is scaled down to peak 1; `AudioInfo.gain` records either.

    Returns:
      `(signal, info)`: float32 samples in [-1, 1] and what was done.

    Raises:
      InputError: missing, empty, corrupt or unsupported file; no samples; silent (all-zero) audio;
        a NaN or infinite sample; an unknown built-in name.
    """
    source = str(path_or_builtin)
    if source.startswith(BUILTIN_PREFIX):
        from jaxinterp.data import audio_examples

        name = source.removeprefix(BUILTIN_PREFIX)
        if name not in audio_examples.names():
            raise InputError(f"unknown built-in audio {source!r}; choose one of: {', '.join(audio_examples.names())}")
        rate = int(sample_rate or audio_examples.DEFAULT_RATE)
        data = audio_examples.render(name, rate)[:, None]
    else:
        data, rate = _read_file(Path(path_or_builtin))

    frames, channels = data.shape
    if frames == 0:
        raise InputError(f"{source}: the audio has no samples")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{source}: the audio contains NaN or infinite samples")
    signal = data.mean(axis=1) if channels > 1 else data[:, 0]
    if not np.any(signal):
        what = "silent (all samples are zero)" if not np.any(data) else "silent after mixing channels to mono"
        raise InputError(f"{source}: the audio is {what}")

    cropped = False
    if max_seconds is not None and frames > max_seconds * rate:
        signal = signal[: max(1, int(max_seconds * rate))]
        cropped = True
    out_rate = rate if sample_rate is None else int(sample_rate)
    resampled = out_rate != rate
    if resampled:
        signal = resample(signal, rate, out_rate)
        if max_seconds is not None:
            signal = signal[: max(1, int(max_seconds * out_rate))]

    peak = float(np.max(np.abs(signal)))
    gain = 1.0 / peak if (normalize or peak > 1.0) and peak > 0 else 1.0
    signal = (signal * np.float32(gain)).astype(np.float32) if gain != 1.0 else signal.astype(np.float32)
    info = AudioInfo(
        source=source,
        original_rate=rate,
        channels=channels,
        original_seconds=frames / rate,
        sample_rate=out_rate,
        num_samples=len(signal),
        mixed_down=channels > 1,
        resampled=resampled,
        cropped=cropped,
        gain=gain,
    )
    return signal, info


def check_length(signal: Float[np.ndarray, " n"], sample_rate: int, min_samples: int, what: str) -> None:
    """Raises InputError when `signal` has fewer than `min_samples` samples (the caller's coarsest-scale need).

    Args:
      signal: the signal at `sample_rate`.
      sample_rate: its rate, named in the message.
      min_samples: the fewest samples the model can use at this rate.
      what: names the input in the message (a path or `builtin:<name>`).
    """
    n = int(np.shape(signal)[-1])
    if n < min_samples:
        raise InputError(
            f"{what}: too short for the coarsest scale: {n} samples at {sample_rate} Hz, "
            f"need at least {min_samples} ({min_samples / sample_rate:.3g} s)"
        )


def save_wav(
    path: str | os.PathLike, signal: Float[np.ndarray, " n"], sample_rate: int, *, subtype: str = "PCM_16"
) -> Path:
    """Writes a mono signal, clipped to [-1, 1], as WAV ("PCM_16" default, or "FLOAT"), creating parent folders."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = np.clip(np.nan_to_num(np.asarray(signal, np.float32).reshape(-1)), -1.0, 1.0)
    soundfile.write(path, signal, int(sample_rate), subtype=subtype, format="WAV")
    return path


# Colour map anchors (dark -> bright), a perceptually ordered black-purple-orange-yellow ramp in the spirit
# of "magma"; our own coarse anchors, linearly interpolated in RGB.
_COLOUR_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)


def colour_map(values: Float[np.ndarray, "*shape"]) -> np.ndarray:
    """Maps values in [0, 1] (clipped) to uint8 RGB with the fixed ramp above; shape `*shape 3`."""
    t = np.clip(np.asarray(values, np.float64), 0.0, 1.0) * (len(_COLOUR_ANCHORS) - 1)
    lo = np.minimum(np.floor(t).astype(int), len(_COLOUR_ANCHORS) - 2)
    frac = (t - lo)[..., None]
    rgb = _COLOUR_ANCHORS[lo] * (1 - frac) + _COLOUR_ANCHORS[lo + 1] * frac
    return np.round(rgb).astype(np.uint8)


def spectrogram_db(
    signal: Float[np.ndarray, " n"], n_fft: int = 1024, hop: int = 256
) -> Float[np.ndarray, "frames bins"]:
    """Magnitude spectrogram in dB (20 log10, floor 1e-10) of centred, reflect-padded Hann frames.

    The frame rule is `stft_magnitude`'s (jaxinterp/gen/metrics/audio.py): `1 + n // hop` frames of
    `n_fft // 2 + 1` bins; magnitudes are divided by the window sum, so a full-scale sine is ~-6 dB.
    """
    x = np.asarray(signal, np.float64).reshape(-1)
    pad = n_fft // 2
    x = np.pad(x, pad, mode="reflect" if len(x) > pad else "constant")
    frames = 1 + (len(x) - n_fft) // hop
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    window = scipy.signal.get_window("hann", n_fft)
    magnitude = np.abs(np.fft.rfft(x[index] * window, axis=-1)) / window.sum()
    return 20.0 * np.log10(np.maximum(magnitude, 1e-10))


def save_spectrogram_png(
    path: str | os.PathLike,
    signal: Float[np.ndarray, " n"],
    sample_rate: int,
    n_fft: int = 1024,
    hop: int = 256,
    *,
    dynamic_range_db: float = 80.0,
) -> Path:
    """Writes a log-magnitude spectrogram as a PNG: time left to right, low frequencies at the bottom.

    One pixel per frame and per frequency bin: the image is `1 + n // hop` wide and `n_fft // 2 + 1`
    high. Colours span the top `dynamic_range_db` dB below the loudest bin (fixed ramp, `colour_map`).
    `sample_rate` is only used to check the input (the PNG carries no axes; bin k is k * rate / n_fft Hz).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    db = spectrogram_db(signal, n_fft, hop)
    scaled = (db - (db.max() - dynamic_range_db)) / dynamic_range_db
    image = colour_map(scaled.T[::-1])  # rows = bins, highest frequency first (top)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(image).save(path)
    return path
