"""Configurations of the two label-to-image generators: ASAPNet and its SPADE baseline.

Defaults are the official code's (tamarott/ASAPNet `options/base_options.py` and `ASAPNetsGenerator`
at f27f202; NVlabs/SPADE `SPADEGenerator` and `SPADE`), cited beside each constant. Sizes that do not fit a
model raise `InputError` (a `ValueError` the CLI turns into exit code 2).

Total downsampling S. The official generator sets S = crop_size // (16 * aspect_ratio), where crop_size is the
image width and aspect_ratio = width / height, so S = height // 16: facades 512x512 -> 32, facades 1024 -> 64,
Cityscapes 256x512 -> 16. `asapnet_config` derives it the same way from the height.

Our decisions where the official code has no answer:
- S must be a power of two >= 2 (the coordinate encoding uses periods S, S/2, ..., 2) and must divide the height
  and the width (each S x S tile holds one MLP). The official code would silently crop or fail instead.
- When S < learned_downsampling (images under 256 px high), the LR stream learns the whole S with log2(S)
  stride-2 convolutions; upstream would build a tent filter of stride S // 16 = 0 and fail.
"""

from __future__ import annotations

import dataclasses

from jaxinterp.errors import InputError


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclasses.dataclass(frozen=True)
class ASAPNetConfig:
    """Hyper-parameters of one ASAPNet generator (official defaults, `base_options.py`)."""

    label_nc: int  # input channels: one-hot classes (facades 13, Cityscapes 35).
    downsampling: int  # total downsampling S = cell size in pixels (height // 16 upstream).
    learned_downsampling: int = 16  # --learned_ds_factor (S2 in paper sec. 3.2); the rest S/16 is a fixed tent filter.
    lr_width: int = 64  # --lr_width: channels of the first and the strided LR convolutions.
    lr_max_width: int = 1024  # --lr_max_width: channels after the last strided conv and in the LR blocks.
    lr_depth: int = 7  # --lr_depth: stride-1 Conv3x3 + InstanceNorm + ReLU blocks at the low resolution.
    hr_width: int = 64  # --hr_width: hidden width of the pixel-wise MLPs.
    hr_depth: int = 5  # --hr_depth: linear layers per pixel-wise MLP.
    output_nc: int = 3  # --output_nc: RGB.
    reflection_pad: bool = False  # --reflection_pad (off by default; the facades scripts turn it on).
    init_gain: float = 0.02  # --init_type xavier with --init_variance 0.02 (xavier_normal_ gain), biases 0.

    def __post_init__(self):
        if self.label_nc < 1:
            raise InputError(f"label_nc must be >= 1, got {self.label_nc}")
        if self.downsampling < 2 or not _is_power_of_two(self.downsampling):
            raise InputError(f"ASAPNet's downsampling S must be a power of 2 >= 2, got {self.downsampling}")
        if self.learned_downsampling < 2 or not _is_power_of_two(self.learned_downsampling):
            raise InputError(f"learned_downsampling must be a power of 2 >= 2, got {self.learned_downsampling}")
        if self.hr_depth < 1:
            raise InputError(f"hr_depth must be >= 1, got {self.hr_depth}")

    @property
    def learned_factor(self) -> int:
        """Downsampling done by the strided convolutions: min(S, learned_downsampling)."""
        return min(self.downsampling, self.learned_downsampling)

    @property
    def fixed_factor(self) -> int:
        """Downsampling done by the fixed tent filter before the LR stream (1 = none)."""
        return self.downsampling // self.learned_factor

    @property
    def num_encoding_channels(self) -> int:
        """4 * log2(S): cos/sin of x and y at periods S, S/2, ..., 2."""
        return 4 * (self.downsampling.bit_length() - 1)

    @property
    def mlp_channels(self) -> tuple[int, ...]:
        """Widths of the pixel-wise MLP: (label_nc + encoding, hr_width x (hr_depth - 1), output_nc)."""
        return (self.label_nc + self.num_encoding_channels, *([self.hr_width] * (self.hr_depth - 1)), self.output_nc)

    @property
    def num_mlp_params(self) -> int:
        """Weights and biases of one cell's MLP: sum over layers of c_in * c_out + c_out."""
        ch = self.mlp_channels
        return sum(ci * co + co for ci, co in zip(ch[:-1], ch[1:], strict=True))


def _check_divisible(model: str, height: int, width: int, multiple: int) -> None:
    if height < multiple or width < multiple or height % multiple or width % multiple:
        raise InputError(f"{model} needs height and width that are multiples of {multiple}, got {height}x{width}")


def asapnet_config(label_nc: int, height: int, width: int, **overrides) -> ASAPNetConfig:
    """ASAPNet's configuration for `height x width` label maps: S = height // 16 as upstream (module docstring).

    `overrides` replace any field, `downsampling` included. Raises `InputError` (a ValueError) when S is not a
    power of two >= 2 or does not divide both sides.
    """
    overrides.setdefault("downsampling", height // 16)
    cfg = ASAPNetConfig(label_nc=label_nc, **overrides)
    _check_divisible("ASAPNet", height, width, cfg.downsampling)
    return cfg


@dataclasses.dataclass(frozen=True)
class SPADEConfig:
    """Hyper-parameters of the SPADE generator (Park et al., CVPR 2019; NVlabs/SPADE defaults)."""

    label_nc: int  # semantic_nc: one-hot classes.
    ngf: int = 64  # --ngf: channels of the last block; the first blocks have 16 * ngf.
    spade_hidden: int = 128  # SPADE's nhidden ("Yes, hardcoded" upstream).
    kernel_size: int = 3  # norm_G 'spectralspadesyncbatch3x3' -> 3x3 SPADE convolutions.
    output_nc: int = 3  # RGB.
    init_gain: float = 0.02  # --init_type xavier, --init_variance 0.02, biases 0.

    # num_upsampling_layers='normal' (5 x2 upsamplings: the latent grid is h/32 x w/32) and use_vae=False are
    # fixed; the other upstream variants are not implemented.
    num_upsamplings: int = dataclasses.field(default=5, init=False)

    def __post_init__(self):
        if self.label_nc < 1:
            raise InputError(f"label_nc must be >= 1, got {self.label_nc}")
        if self.ngf < 1:
            raise InputError(f"ngf must be >= 1, got {self.ngf}")

    @property
    def latent_factor(self) -> int:
        """The label map enters at 1 / 2**num_upsamplings of the output size (32 for 'normal')."""
        return 2**self.num_upsamplings


def spade_config(label_nc: int, height: int, width: int, **overrides) -> SPADEConfig:
    """SPADE's configuration for `height x width` label maps; both sides must be multiples of 32."""
    cfg = SPADEConfig(label_nc=label_nc, **overrides)
    _check_divisible("SPADE", height, width, cfg.latent_factor)
    return cfg
