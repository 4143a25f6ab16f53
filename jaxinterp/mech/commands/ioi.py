"""`jaxinterp mech ioi --model PATH --out DIR`: the IOI circuit of a pretrained model (`jaxinterp.mech.ioi`)."""

from __future__ import annotations

from jaxinterp.cli_options import add_out, add_quiet


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ioi",
        help="the IOI circuit (Wang et al. 2022) of a pretrained model by path patching; faithfulness; HTML report",
    )
    p.add_argument("--model", required=True, help="Hugging Face checkpoint folder (config.json, weights, tokenizer)")
    add_out(p, "report folder (index.html, numbers.json, heatmaps)")
    p.add_argument("--seeds", type=int, default=3, help="prompt seeds (default 3)")
    p.add_argument("--n", type=int, default=5, help="discovery prompts per template and order (default 5)")
    p.add_argument(
        "--candidates",
        type=int,
        default=32,
        help="senders measured exactly per round, picked by a first-order estimate (default 32; 0 = all)",
    )
    p.add_argument(
        "--relative",
        type=float,
        default=0.2,
        help="a head joins a class when |its score| >= this x the round's strongest (default 0.2)",
    )
    add_quiet(p, "no progress output")
    p.set_defaults(func=_ioi)


def _ioi(args) -> None:
    import dataclasses
    from pathlib import Path

    from jaxinterp.errors import InputError
    from jaxinterp.mech.ioi.study import IOIStudyConfig, run_study

    if not (Path(args.model) / "config.json").is_file():
        raise InputError(f"{args.model} is not a Hugging Face checkpoint folder (no config.json)")
    if args.seeds < 1 or args.candidates < 0 or not 0 <= args.relative <= 1:
        raise InputError("--seeds must be at least 1, --candidates at least 0 and --relative in [0, 1]")
    base = IOIStudyConfig()
    cfg = dataclasses.replace(
        base,
        selection=dataclasses.replace(base.selection, relative=args.relative),
        seeds=tuple(range(args.seeds)),
        n_discovery=args.n,
        candidates=args.candidates or None,
    )
    page = run_study(args.model, args.out, cfg, log=(lambda *_: None) if args.quiet else print)
    print(f"wrote {page}")
