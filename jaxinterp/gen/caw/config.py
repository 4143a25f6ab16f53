"""Catch-A-Waveform's configuration, with the defaults of the paper and the official code
(galgreshler/Catch-A-Waveform, read at 6abb81e/18c5a64).

Every default is upstream's `params.py` / `train_main.py` / `training.py` value unless marked as our
decision. Upstream has two independent switches and so do we:
  * `mode` (upstream `--run_mode`): "normal" (generation, music variations, bandwidth extension),
    "inpainting" (a hole is masked out of the critic's statistics and losses) or "denoising" (the
    reconstruction of the noisy input is the output);
  * `speech` (upstream `--speech`): changes the scale rule (no scale below 500 Hz, no energy rule) and
    the loss weights, whatever the mode.
`loss_weights()` and `cond_noise` combine them exactly as `train_main.py` does.
"""

from __future__ import annotations

import dataclasses

from jaxinterp.cli_options import option
from jaxinterp.errors import InputError
from jaxinterp.gen.singan.config import at_least

MODES = ("normal", "inpainting", "denoising")


@dataclasses.dataclass(frozen=True)
class CAWConfig:
    """Hyper-parameters of one Catch-A-Waveform pyramid."""

    # Scales (params.py; the rule is in scales.py). Candidate rates (Hz), coarsest first (`fs_list`).
    sample_rates: tuple[int, ...] = (
        320, 400, 500, 640, 800, 1000, 1280, 1600, 2000, 2500, 4000, 8000, 10000, 12000, 14400, 16000
    )  # fmt: skip
    init_sample_rate: int = 16000  # inputs above this rate are resampled down to it (`--init_sample_rate`).
    max_length: float = 25.0  # seconds of input kept (`--max_length`).
    min_energy: float = 0.0025  # coarsest scale: first rate whose mean(x^2) >= this (`min_energy_th`).
    speech_min_rate: int = 500  # speech: rates below this are skipped (`create_input_signals`).
    # Networks (params.py, models/CAW.py): head + (num_layers - 2) body blocks + tail, kernel 9, dilation 2^i.
    num_layers: int = 8
    filter_size: int = 9
    channels_init: int = 16  # channels at the coarsest scale (`hidden_channels_init`) ...
    channels_factor: int = 6  # ... times this at every finer scale: 96 (`growing_hidden_channels_factor`).
    pre_emphasis: float = 0.97  # fixed output filter y[t] = x[t] - 0.97 x[t-1] (`PreEmphasisFilter`).
    # Noise (params.py): amplitude 1 at the coarsest scale, 0.01 * sqrt(max(0, E_n - E_{n-1})) above.
    noise_amp_init: float = 1.0
    noise_amp_factor: float = 0.01
    # Training (params.py, training.py): per scale, 1 critic step + 1 generator step per iteration.
    iterations: int = option(2000, "iterations per scale (paper: 2000)")  # `num_epochs`
    d_steps: int = 1
    g_steps: int = 1
    lr: float = 1.5e-3  # Adam, the same for G and D.
    beta1: float = 0.5
    beta2: float = 0.999
    lr_gamma: float = 0.1  # MultiStepLR factor at `lr_milestone` (= int(iterations * 2 / 3) = 1333).
    gp_weight: float = 0.01  # WGAN-GP lambda (`lambda_grad`).
    # Multi-scale spectrogram loss (utils/mss_loss.py): Hann windows, L2 norm of magnitude differences.
    mss_n_fft: tuple[int, ...] = (2048, 1024, 512)
    mss_hop: tuple[int, ...] = (240, 120, 50)
    mss_win: tuple[int, ...] = (1200, 600, 240)
    # Application switches (see module docstring).
    mode: str = option("normal", "normal (generation, BWE), inpainting, denoising", choices=MODES)
    speech: bool = option(False, "speech: no scale below 500 Hz, time-domain loss")
    # Engineering knobs of the shared pyramid trainer (no effect on the maths), as in SinGANConfig.
    iters_per_call: int = 50
    checkpoint_every: int = 500
    seed: int = option(0, "random seed")

    def __post_init__(self):
        at_least(self, 1, "channels_init", "channels_factor", "iterations", "d_steps", "g_steps")
        at_least(self, 1, "iters_per_call", "checkpoint_every", "init_sample_rate")
        if self.checkpoint_every % self.iters_per_call:
            raise InputError("checkpoint_every must be a multiple of iters_per_call")
        if self.mode not in MODES:
            raise InputError(f"unknown CAW mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.num_layers < 2:
            raise InputError(f"CAW needs num_layers >= 2 (head and tail), got {self.num_layers}")
        if self.filter_size % 2 == 0:
            # (k - 1) * sum(dilations) must be even so the padding is symmetric (sum(dilations) is odd).
            raise InputError(f"CAW's filter_size must be odd, got {self.filter_size}")
        if list(self.sample_rates) != sorted(set(self.sample_rates)):
            raise InputError(f"sample_rates must be strictly increasing, got {self.sample_rates}")

    @property
    def dilations(self) -> tuple[int, ...]:
        """2^i for i < num_layers (`train_main.py`): head 1, body 2 .. 2^(L-2), tail 2^(L-1) (128)."""
        return tuple(2**i for i in range(self.num_layers))

    def channels(self, scale: int) -> int:
        """16 at scale 0 (coarsest), 16 * 6 = 96 at every finer scale (`train_single_scale`)."""
        return self.channels_init if scale == 0 else self.channels_init * self.channels_factor

    @property
    def lr_milestone(self) -> int:
        """Iteration of the x0.1 learning-rate drop: int(iterations * 2 / 3) (`scheduler_milestones`)."""
        return int(self.iterations * 2 / 3)

    def loss_weights(self) -> tuple[float, float]:
        """(alpha1, alpha2): weights of the time-domain MSE and multi-scale spectrogram reconstruction losses.

        `train_main.py`: speech (any mode) -> (10, 0); otherwise normal -> (0, 1e-4) and inpainting or
        denoising -> (10, 0).
        """
        if self.speech or self.mode != "normal":
            return 10.0, 0.0
        return 0.0, 1e-4

    @property
    def cond_noise(self) -> bool:
        """Upstream `add_cond_noise`: if True the trainer replaces scale 1's noise amplitude by the std of the
        (zero-padded) upsampled reconstruction. True for non-speech normal and inpainting runs."""
        return not self.speech and self.mode in ("normal", "inpainting")

    def replace(self, **changes) -> CAWConfig:
        return dataclasses.replace(self, **changes)

    def with_iterations(self, iterations: int) -> CAWConfig:
        """`iterations` per scale, with checkpoints and progress checks no further apart than that."""
        if iterations < 1:
            raise InputError(f"iterations must be at least 1, got {iterations}")
        every = min(self.checkpoint_every, iterations)
        per_call = min(self.iters_per_call, every)
        return self.replace(
            iterations=iterations, iters_per_call=per_call, checkpoint_every=every // per_call * per_call
        )


PRESETS: dict[str, CAWConfig] = {
    # The paper's settings.
    "paper": CAWConfig(),
    # A CPU demo (our decision): at most 2 s at 8 kHz, five rates (500 Hz .. 8 kHz; the energy rule may
    # start higher), the paper's 8-layer dilated nets (same receptive field in samples) at 8 channels at the
    # coarsest scale and 16 above, 300 iterations per scale (lr drop at 200). Estimate, not a full run: one
    # jitted critic + gradient-penalty + generator gradient at 8 kHz x 2 s and 16 channels takes 0.25 s on
    # 2 CPU cores (0.14 s at 8 channels), so about 4-5 minutes for the whole pyramid.
    "fast": CAWConfig(
        sample_rates=(500, 1000, 2000, 4000, 8000),
        init_sample_rate=8000,
        max_length=2.0,
        channels_init=8,
        channels_factor=2,
        iterations=300,
        iters_per_call=50,
        checkpoint_every=100,
    ),
    # For tests: tiny and quick (4 layers: receptive field 1 + 8 * 15 = 121 samples, padding 60).
    "tiny": CAWConfig(
        sample_rates=(1000, 2000, 4000),
        init_sample_rate=4000,
        max_length=1.0,
        num_layers=4,
        channels_init=4,
        channels_factor=2,
        iterations=20,
        iters_per_call=10,
        checkpoint_every=10,
    ),
}
