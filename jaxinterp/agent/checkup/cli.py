"""`jaxinterp checkup generate|correct|pretrain`: argument parsing only; the work is in run.py and pretrain.py.

jaxinterp checkup generate --out runs/draw                             # offline drawer, all groups, 3 samples
jaxinterp checkup generate --out runs/draw --drawer openai:gpt-4o --groups shapes,objects
jaxinterp checkup correct --out runs/fix --drawer anthropic:MODEL --concepts bicycle,lamp --rounds 3
jaxinterp checkup generate --out runs/draw --clip ~/models/clip-vit-base-patch32   # CLIP scores every group
jaxinterp checkup pretrain --out runs/checkup-ssl                      # SimCLR: code images vs noise, 3 seeds
jaxinterp checkup pretrain --out runs/x --images 1000 --steps 150 --seeds 0
"""

from __future__ import annotations

import dataclasses

from jaxinterp.cli_options import add_command_group, add_llm_options, add_out, add_quiet, add_seed

HELP = "vision check-up: LLMs draw concepts as code; learn representations from the drawings"
DESCRIPTION = (
    "A vision check-up for language models (Sharma et al. 2024): drawing code, its correction "
    "from text feedback, fidelity / diversity, and self-supervised learning on code-rendered images."
)


def _seeds(value: str) -> tuple[int, ...]:
    import argparse

    try:
        seeds = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be comma-separated integers, got {value!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return seeds


def _drawer(value: str) -> tuple[str, str | None, str | None]:
    """`offline`, `llm` or `PROVIDER:MODEL` -> (kind, provider, model), as FIND's --interpreter."""
    import argparse

    from jaxinterp.agent.find.cli import parse_interpreter

    try:
        return parse_interpreter(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--drawer must be offline, llm, openai:MODEL or anthropic:MODEL, got {value!r}"
        ) from None


def _common(p, default_temperature: float) -> None:
    from jaxinterp.agent.checkup.concepts import GROUPS
    from jaxinterp.agent.checkup.llm import LANGUAGES

    add_out(p, "output folder (drawings/, records.jsonl, summary.json, index.html)")
    p.add_argument("--groups", default=",".join(GROUPS), help="comma-separated concept groups (all)")
    p.add_argument("--concepts", help="comma-separated concept names within the groups (default all)")
    p.add_argument(
        "--drawer",
        type=_drawer,
        default=("offline", None, None),
        metavar="{offline,openai:MODEL,anthropic:MODEL,llm}",
        help="who writes the programs: the offline template drawer (default) or a language model",
    )
    p.add_argument("--language", choices=tuple(LANGUAGES), default="matplotlib", help="drawing library")
    p.add_argument("--temperature", type=float, default=default_temperature, help="sampling temperature")
    add_seed(p, 0, "seed of the offline drawer (0)")
    add_llm_options(p)
    p.add_argument(
        "--recogniser",
        default="~/.cache/jaxinterp/checkup-shape-classifier",
        help="folder of the offline shapes recogniser (trained there on first use, a few minutes); "
        "maia:FOLDER for a MAIA subject classifier (shapes and objects); 'none' to skip",
    )
    p.add_argument(
        "--clip",
        metavar="PATH",
        help="local Hugging Face CLIP folder (config.json, model.safetensors, tokenizer): scores every chosen "
        "group, as the paper does; replaces --recogniser",
    )
    add_quiet(p)


def add_parser(subparsers) -> None:
    from jaxinterp.agent.checkup.pretrain import PretrainConfig

    defaults = PretrainConfig()
    sub = add_command_group(subparsers, "checkup", HELP, DESCRIPTION)

    p = sub.add_parser("generate", help="draw concepts as code, render in the sandbox, measure fidelity/diversity")
    _common(p, default_temperature=1.0)
    p.add_argument("--samples", type=int, default=3, help="programs per concept (3)")
    p.set_defaults(func=_draw)

    p = sub.add_parser("correct", help="text-feedback correction loop: improve the drawing code round by round")
    _common(p, default_temperature=0.0)
    p.add_argument("--rounds", type=int, default=3, help="feedback rounds after the first program (3)")
    p.set_defaults(func=_draw)

    p = sub.add_parser("pretrain", help="SimCLR on code-rendered images vs random noise, linear probe on digits")
    add_out(p, "output folder (results.json, PNGs, index.html)")
    p.add_argument("--images", type=int, default=defaults.n_images, help=f"training images ({defaults.n_images})")
    p.add_argument("--steps", type=int, default=defaults.ssl.steps, help=f"SimCLR steps ({defaults.ssl.steps})")
    p.add_argument("--batch-size", type=int, default=defaults.ssl.batch_size, help="images per step")
    p.add_argument("--seeds", type=_seeds, default=defaults.seeds, help="comma-separated seeds (0,1,2)")
    p.add_argument("--data-seed", type=int, default=defaults.data_seed, help="seed of the drawing programs (0)")
    add_quiet(p)
    p.set_defaults(func=_pretrain)


def _pretrain(args) -> None:
    from jaxinterp.agent.checkup.pretrain import PretrainConfig, run_pretrain, table

    base = PretrainConfig()
    cfg = PretrainConfig(
        n_images=args.images,
        data_seed=args.data_seed,
        seeds=args.seeds,
        ssl=dataclasses.replace(base.ssl, steps=args.steps, batch_size=args.batch_size),
    )
    result = run_pretrain(cfg, args.out, show_progress=not args.quiet)
    print(table(result))
    print(f"{result['seconds']} s; wrote {args.out}/results.json and {args.out}/index.html")


def _setup(args, incremental: bool):
    """(concepts, backend, recognisers, ledger) from the common arguments."""
    from pathlib import Path

    from jaxinterp.agent.backends import CachedBackend, MeteredBackend, UsageLedger, backend_from_env
    from jaxinterp.agent.checkup.concepts import concepts
    from jaxinterp.agent.checkup.llm import OfflineDrawer
    from jaxinterp.agent.checkup.recognise import MaiaRecogniser, ShapeClassifier

    names = [n.strip() for n in args.concepts.split(",") if n.strip()] if args.concepts else None
    chosen = concepts(args.groups, names)
    kind, provider, model = args.drawer
    ledger = None
    if kind == "offline":
        from jaxinterp.agent.checkup.drawer import KNOWN
        from jaxinterp.errors import InputError

        unknown = [c.name for c in chosen if c.name not in KNOWN]
        if unknown:
            raise InputError(f"the offline drawer cannot draw {', '.join(unknown)}")
        if args.language != "matplotlib":
            raise InputError("the offline drawer writes matplotlib only; --language needs a model (--drawer)")
        backend = OfflineDrawer(seed=args.seed, incremental=incremental)
    else:
        inner = backend_from_env(provider=provider or args.provider, model=model or args.model, base_url=args.base_url)
        ledger = UsageLedger()
        backend = MeteredBackend(CachedBackend(inner, Path(args.out) / "llm-cache"), ledger)
    recognisers = {}
    if args.clip:
        from jaxinterp.agent.checkup.recognise import ClipStyleRecogniser

        groups = list(dict.fromkeys(c.group for c in chosen))
        recognisers = ClipStyleRecogniser.for_groups(Path(args.clip).expanduser(), groups)
    elif args.recogniser.startswith("maia:"):
        recognisers = MaiaRecogniser.for_groups(Path(args.recogniser[5:]).expanduser())
    elif args.recogniser != "none" and any(c.group == "shapes" for c in chosen):
        recognisers["shapes"] = ShapeClassifier.cached(Path(args.recogniser).expanduser())
    return chosen, backend, recognisers, ledger


def _report(summary: dict, ledger, out: str) -> None:
    import json
    from pathlib import Path

    if ledger is not None:
        summary["usage"] = ledger.summary()
        (Path(out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = summary.get("per_round") or [summary]
    for row in rows:
        head = f"round {row['round']}: " if "round" in row else ""
        parts = [f"rendered {row['render_rate']:.2f}"]
        for group, m in row["measures"].items():
            div = "n/a" if m["diversity"] is None else f"{m['diversity']:.3f}"
            parts.append(f"{group} fidelity top-1 {m['fidelity']['top1']:.2f}, percentile "
                         f"{m['fidelity']['percentile']:.2f}, diversity {div} ({m['recogniser']})")  # fmt: skip
        print(head + "; ".join(parts))
    print(f"{summary['seconds']} s; wrote {out}/summary.json and {out}/index.html")


def _draw(args) -> None:
    from jaxinterp.agent.checkup.run import correct, generate
    from jaxinterp.errors import InputError

    fixing = args.checkup_command == "correct"
    if (args.rounds < 0) if fixing else (args.samples < 1):
        raise InputError("--rounds must be 0 or more" if fixing else "--samples must be at least 1")
    chosen, backend, recognisers, ledger = _setup(args, incremental=fixing)
    common = {"language": args.language, "temperature": args.temperature, "recognisers": recognisers,
              "show_progress": not args.quiet}  # fmt: skip
    if fixing:
        summary = correct(chosen, backend, args.out, rounds=args.rounds, **common)
    else:
        summary = generate(chosen, backend, args.out, samples=args.samples, **common)
    _report(summary, ledger, args.out)
