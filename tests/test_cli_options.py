"""The shared command-line options (jaxinterp/cli_options.py) and the configs' own checks and rescaling."""

import argparse
import dataclasses

import pytest

from jaxinterp.cli_options import ConfigOptions, add_model_options, option, output_folder
from jaxinterp.errors import InputError
from jaxinterp.gen.blendgan.config import PRESETS as BLENDGAN
from jaxinterp.gen.blendgan.config import BlendGANConfig
from jaxinterp.gen.caw.config import PRESETS as CAW
from jaxinterp.gen.caw.config import CAWConfig
from jaxinterp.gen.idc.config import PRESETS as IDC
from jaxinterp.gen.singan.config import PRESETS as SINGAN
from jaxinterp.gen.singan.config import SinGANConfig


@dataclasses.dataclass(frozen=True)
class Toy:
    steps: int = option(10, "training steps (default {default})")
    rate: float | None = None
    kind: str = option("a", "which kind", choices=("a", "b"))
    loud: bool = False
    names: tuple[str, ...] = ()

    def with_steps(self, steps: int) -> "Toy":
        return dataclasses.replace(self, steps=steps, rate=steps / 10)


def _parse(options: ConfigOptions, argv: list[str], base=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_to(parser, base)
    return parser.parse_args(argv)


def test_options_take_type_help_and_choices_from_the_fields():
    parser = argparse.ArgumentParser()
    ConfigOptions(Toy, ("steps", "rate", "kind", "loud"), helps={"rate": "the rate"}).add_to(parser, Toy())
    text = parser.format_help()
    assert "--steps STEPS" in text and "training steps (default 10)" in text and "the rate" in text
    assert "{a,b}" in text and "--loud" in text
    args = parser.parse_args(["--steps", "3", "--rate", "0.5", "--kind", "b", "--loud"])
    assert (args.steps, args.rate, args.kind, args.loud) == (3, 0.5, "b", True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--kind", "c"])


def test_only_given_options_replace_and_with_methods_rescale():
    options = ConfigOptions(Toy, ("steps", "kind", "loud"))
    base = Toy(steps=20, kind="b")
    assert options.apply(base, _parse(options, [])) == base  # a preset's values stay
    assert options.given(_parse(options, ["--loud"])) == {"loud": True}
    assert options.apply(base, _parse(options, ["--steps", "5", "--loud"])) == Toy(5, 0.5, "b", True)


def test_unknown_fields_and_unsupported_types_are_refused():
    with pytest.raises(TypeError, match="no field"):
        ConfigOptions(Toy, ("nope",))
    with pytest.raises(TypeError, match="no command-line option"):
        _parse(ConfigOptions(Toy, ("names",)), [])


def test_model_options_and_output_folder():
    parser = argparse.ArgumentParser()
    add_model_options(parser, "singan", "samples")
    args = parser.parse_args(["--model", "run"])
    assert args.seed == 0 and str(output_folder(args, "samples")) == "run/samples"
    assert str(output_folder(parser.parse_args(["--model", "run", "--out", "x"]), "samples")) == "x"


def test_with_niter_moves_the_schedule_alike():
    assert SINGAN["paper"].with_niter(500).lr_milestone == 400
    idc = IDC["fast"].with_niter(100)  # niter 200 -> 100 halves every iteration count of the schedule
    assert (idc.niter, idc.lr_milestone, idc.niter_masked, idc.lr_milestone_masked) == (100, 80, 150, 175)
    assert IDC["tiny"].with_niter(1).niter_masked == 2 and SINGAN["tiny"].with_niter(1).lr_milestone == 1
    with pytest.raises(InputError, match="niter must be at least 1"):
        SINGAN["paper"].with_niter(0)


def test_caw_with_iterations_keeps_checkpoints_within_the_run():
    cfg = CAW["paper"].with_iterations(77)
    assert (cfg.iterations, cfg.iters_per_call, cfg.checkpoint_every) == (77, 50, 50)
    cfg = CAW["tiny"].with_iterations(5)
    assert (cfg.iterations, cfg.iters_per_call, cfg.checkpoint_every) == (5, 5, 5)
    with pytest.raises(InputError, match="iterations must be at least 1"):
        CAW["tiny"].with_iterations(0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"niter": 0}, "niter must be at least 1"),
        ({"scale_factor_init": 1.0}, "scale_factor_init"),
        ({"max_size": 10}, "max_size"),
        ({"checkpoint_every": 75}, "multiple of iters_per_call"),
        ({"kernel_size": 4}, "odd"),
    ],
)
def test_singan_config_checks_itself(changes, message):
    with pytest.raises(InputError, match=message):
        SinGANConfig(**changes)


def test_subclass_and_caw_checks():
    with pytest.raises(InputError, match="dip_iters"):
        IDC["tiny"].replace(dip_iters=0)
    with pytest.raises(InputError, match="redraw"):
        BlendGANConfig(redraw_coarsest_rec_noise=True)
    with pytest.raises(InputError, match="iterations"):
        CAWConfig(iterations=0)
    with pytest.raises(InputError, match="above 1"):
        SINGAN["paper"].for_super_resolution(1.0)


def test_presets_built_from_singans_keep_their_values():
    tiny = BLENDGAN["tiny"]
    assert (tiny.max_size, tiny.min_size, tiny.scale_factor_init, tiny.nfc_init, tiny.nfc_max) == (36, 22, 0.5, 8, 16)
    assert (tiny.d_steps, tiny.g_steps, tiny.niter, tiny.lr_milestone, tiny.iters_per_call) == (3, 3, 40, 32, 10)
    assert (tiny.checkpoint_every, tiny.unroll_steps) == (40, False)
    assert BLENDGAN["fast"] == BlendGANConfig(
        max_size=64, scale_factor_init=0.6, niter=300, lr_milestone=240, checkpoint_every=100
    )
    assert IDC["tiny"].nfc_init == 8 and IDC["tiny"].d_steps == 1 and IDC["tiny"].max_size == 32
