"""Command-line options that several sub-commands share, each defined once, and options derived from the
fields of a frozen config dataclass.

Shared options (the groups add several with one call):

    add_command_group(subparsers, name, help, description)   `jaxinterp NAME COMMAND ...`: a pillar's level
    add_training_options(p, options, presets)   --preset, the config's options, --resume, --quiet
    add_model_options(p, command, out_default)  --model (a trained run), --out (default <model>/...), --seed
    add_llm_options(p)                          --provider, --model, --base-url
    add_out, add_preset, add_seed, add_resume, add_quiet     one option each
    output_folder(args, default)                --out, or <model>/<default> when --out is not given

Config options: `ConfigOptions(SinGANConfig, ("niter", "max_size"))` adds `--niter` and `--max-size`, typed
from the fields' annotations, with the help of the field's metadata (see `option`). Each defaults to None,
so `apply(cfg, args)` replaces only the fields the user gave and a preset's other values stay; a field the
config rescales with others (a `with_<field>` method, e.g. `SinGANConfig.with_niter`) goes through it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PRESET_HELP = "paper defaults or a faster preset"


def option(default: Any, help: str, *, choices: Sequence | None = None) -> Any:
    """A config field with the help text (and the allowed values) of its command-line option:
    `niter: int = option(2000, "iterations per scale")`."""
    metadata = {"help": help} if choices is None else {"help": help, "choices": tuple(choices)}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class ConfigOptions:
    """`--field-name` options for `names`, fields of the dataclass `config`.

    The type comes from the field's annotation (int, float, str, or one of them `| None`; a bool field
    becomes a flag that sets it), the help from `helps`, else the field's metadata, else its name, and
    the choices from the field's metadata. `{default}` in a help text becomes the value in the `base`
    config given to `add_to`.
    """

    config: type
    names: tuple[str, ...]
    helps: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        fields = {f.name for f in dataclasses.fields(self.config)}
        unknown = [name for name in (*self.names, *self.helps) if name not in fields]
        if unknown:
            raise TypeError(f"{self.config.__name__} has no field {', '.join(unknown)}")

    def add_to(self, parser: argparse.ArgumentParser, base: Any = None) -> None:
        hints = typing.get_type_hints(self.config, vars(sys.modules[self.config.__module__]))
        fields = {f.name: f for f in dataclasses.fields(self.config)}
        for name in self.names:
            field = fields[name]
            text = self.helps.get(name) or field.metadata.get("help") or name.replace("_", " ")
            if base is not None:
                text = text.replace("{default}", str(getattr(base, name)))
            flag = "--" + name.replace("_", "-")
            kind = _option_type(hints[name], f"{self.config.__name__}.{name}")
            if kind is bool:
                parser.add_argument(flag, action="store_true", default=None, help=text)
            else:
                parser.add_argument(flag, type=kind, default=None, choices=field.metadata.get("choices"), help=text)

    def given(self, args: argparse.Namespace) -> dict[str, Any]:
        """The options the user gave: {field: value}."""
        return {name: getattr(args, name) for name in self.names if getattr(args, name, None) is not None}

    def apply(self, cfg: Any, args: argparse.Namespace) -> Any:
        """`cfg` with the fields the user gave replaced, through `cfg.with_<field>(value)` where it has one."""
        changes = self.given(args)
        for name in list(changes):
            rescale = getattr(cfg, f"with_{name}", None)
            if callable(rescale):
                cfg = rescale(changes.pop(name))
        return dataclasses.replace(cfg, **changes) if changes else cfg


def _option_type(annotation: Any, where: str) -> type:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
    if annotation in (int, float, str, bool):
        return annotation
    raise TypeError(f"{where}: no command-line option for a field of type {annotation!r}")


def add_command_group(subparsers, name: str, help: str, description: str | None = None):
    """`jaxinterp NAME COMMAND`: the parser of a pillar; returns its sub-commands (dest `NAME_command`)."""
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def add_out(p: argparse.ArgumentParser, help: str = "output folder", *, required: bool = True) -> None:
    p.add_argument("--out", required=required, default=None, help=help)


def add_preset(
    p: argparse.ArgumentParser, presets: Mapping, *, default: str = "paper", help: str = PRESET_HELP
) -> None:
    p.add_argument("--preset", choices=sorted(presets), default=default, help=help)


def add_seed(p: argparse.ArgumentParser, default: int | None = 0, help: str = "random seed") -> None:
    p.add_argument("--seed", type=int, default=default, help=help)


def add_resume(p: argparse.ArgumentParser, help: str = "continue an interrupted run in --out") -> None:
    p.add_argument("--resume", action="store_true", help=help)


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bar") -> None:
    p.add_argument("--quiet", action="store_true", help=help)


def add_training_options(
    p: argparse.ArgumentParser,
    options: ConfigOptions,
    presets: Mapping | None = None,
    *,
    preset_default: str = "paper",
    preset_help: str = PRESET_HELP,
    base: Any = None,
    resume_help: str = "continue an interrupted run in --out",
) -> None:
    """A training command's options: --preset (when there are `presets`), the config's, --resume, --quiet."""
    if presets is not None:
        add_preset(p, presets, default=preset_default, help=preset_help)
    options.add_to(p, base)
    add_resume(p, resume_help)
    add_quiet(p)


def add_model_options(p: argparse.ArgumentParser, command: str, out_default: str, seed_help: str = "random seed"):
    """A command on a trained run: --model (required), --out (default <model>/`out_default`), --seed (0)."""
    p.add_argument("--model", required=True, help=f"run folder written by `jaxinterp {command} train`")
    add_out(p, f"output folder (default: <model>/{out_default})", required=False)
    add_seed(p, 0, seed_help)


def output_folder(args: argparse.Namespace, default: str) -> Path:
    """--out, or <--model>/`default` when it was not given."""
    return Path(args.out) if args.out else Path(args.model) / default


def add_llm_options(p: argparse.ArgumentParser, *, choose_model: bool = True) -> None:
    """--provider and --model (unless `choose_model` is False) and --base-url of a language model."""
    if choose_model:
        p.add_argument("--provider", help="LLM provider, openai or anthropic (default: JAXINTERP_LLM_PROVIDER)")
        p.add_argument("--model", help="LLM model (default: JAXINTERP_LLM_MODEL)")
    p.add_argument("--base-url", help="LLM API URL (default: JAXINTERP_LLM_BASE_URL or the provider's)")
