"""`jaxinterp mech convert FILE.gguf --out DIR`: a GGUF checkpoint as a Hugging Face folder
(`jaxinterp.mech.models.convert.convert_gguf`)."""

from __future__ import annotations

from jaxinterp.cli_options import add_out


def add_parser(sub) -> None:
    """Registers `convert` on the `mech` group."""
    p = sub.add_parser(
        "convert",
        help="write a GGUF checkpoint as a Hugging Face folder (config.json, float32 safetensors, tokenizer)",
    )
    p.add_argument("gguf", metavar="FILE.gguf", help="GGUF file, or a folder holding one")
    add_out(p, "output folder (created; its checkpoint files are overwritten)")
    p.set_defaults(func=_convert)


def _convert(args) -> None:
    from jaxinterp.mech.models.convert import convert_gguf

    out = convert_gguf(args.gguf, args.out)
    print(f"wrote {out}")
