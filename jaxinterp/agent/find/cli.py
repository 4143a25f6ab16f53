"""`jaxinterp find build|run|score`: argument parsing only; the work is done by benchmark.py and run.py.

jaxinterp find build --out find-bench --numeric 50 --strings 50      # `generate` is an alias
jaxinterp find run --benchmark find-bench --out runs/find             # offline interpreter
jaxinterp find run ... --interpreter openai:gpt-4o                    # or anthropic:MODEL, or llm (env)
jaxinterp find run ... --interpreter llm --neuron-model openai:MODEL  # synthetic neurons need a model
jaxinterp find score --run runs/find                                  # re-read results.jsonl, no interpreting
"""

from __future__ import annotations

import argparse

from jaxinterp.cli_options import add_command_group, add_llm_options, add_out, add_quiet, add_seed

HELP = "FIND benchmark: generate functions, let an interpreter describe them, score the answers"
DESCRIPTION = "FIND (Function INterpretation and Description): generate the benchmark and run it end to end."
PROVIDERS = ("openai", "anthropic")


def parse_interpreter(value: str) -> tuple[str, str | None, str | None]:
    """`offline`, `llm` or `PROVIDER:MODEL` -> (interpreter, provider, model); provider/model None = from env."""
    value = value.strip()
    if value in ("offline", "llm"):
        return value, None, None
    provider, sep, model = value.partition(":")
    provider = provider.strip().lower()
    if not sep or provider not in PROVIDERS or not model.strip():
        raise argparse.ArgumentTypeError(
            f"--interpreter must be offline, llm, openai:MODEL or anthropic:MODEL, got {value!r}"
        )
    return "llm", provider, model.strip()


def add_parser(subparsers) -> None:
    from jaxinterp.agent.find.interpreter import MAX_ROUNDS, VARIANTS
    from jaxinterp.agent.find.run import INTERPRETERS

    sub = add_command_group(subparsers, "find", HELP, DESCRIPTION)

    p = sub.add_parser(
        "build", aliases=["generate"], help="write our numeric and string functions in the release's layout"
    )
    add_out(p, "benchmark folder to write")
    add_seed(p, 0, "random seed (default 0)")
    p.add_argument("--numeric", type=int, default=1000, help="numeric functions (default 1000, as released)")
    p.add_argument("--strings", type=int, default=1000, help="string functions (default 1000)")
    p.add_argument("--mlp-steps", type=int, default=300, help="training steps of the MLP approximations (300)")
    p.add_argument(
        "--entities", type=int, default=68, help="entity neurons: 48 single concepts then unions (default 68)"
    )
    p.add_argument("--relations", type=int, default=75, help="relation neurons (default 75, the most we have)")
    p.set_defaults(func=_generate)

    p = sub.add_parser("run", help="interpret and score a benchmark folder (ours or the release); resumes")
    p.add_argument("--benchmark", required=True, help="FIND folder (from `find build` or FIND-dataset.zip)")
    add_out(p, "run folder; a rerun skips the functions already in it")
    p.add_argument(
        "--interpreter",
        type=parse_interpreter,
        default=("offline", None, None),
        metavar="{offline,openai:MODEL,anthropic:MODEL,llm}",
        help="offline (default), openai:MODEL, anthropic:MODEL, or llm (provider and model from --provider/--model "
        f"or JAXINTERP_LLM_PROVIDER/JAXINTERP_LLM_MODEL); one of {', '.join(INTERPRETERS)} underneath",
    )
    p.add_argument("--variant", choices=VARIANTS, default="plain", help="interpreter variant (default plain)")
    p.add_argument("--categories", help="comma-separated categories, e.g. numeric,string (default all)")
    p.add_argument("--limit", type=int, help="at most N functions per category")
    p.add_argument("--max-rounds", type=int, default=MAX_ROUNDS, help=f"replies per function (default {MAX_ROUNDS})")
    p.add_argument("--workers", type=int, default=1, help="functions interpreted at once (default 1)")
    add_llm_options(p)
    p.add_argument("--judge", action="store_true", help="score descriptions with the same model as 3-way judge")
    p.add_argument(
        "--neuron-model",
        help="model that computes the synthetic neurons: openai:MODEL (needs log-probabilities for entities), "
        "anthropic:MODEL (relations only), llm (from the environment) or standin (offline keyword table, not FIND); "
        "without it neuron categories are skipped",
    )
    add_quiet(p)
    p.set_defaults(func=_run)

    p = sub.add_parser("score", help="re-score a finished run from its results.jsonl (no interpreting)")
    p.add_argument("--run", required=True, help="run folder written by `find run`")
    p.set_defaults(func=_score)


def _generate(args) -> None:
    from jaxinterp.agent.find import numeric_functions, string_functions, write_benchmark
    from jaxinterp.agent.find.neuron_data import CONCEPTS
    from jaxinterp.agent.find.neurons import entity_neurons, relation_neurons
    from jaxinterp.errors import InputError

    counts = (args.numeric, args.strings, args.entities, args.relations)
    if min(counts) < 0 or sum(counts) == 0:
        raise InputError("--numeric, --strings, --entities and --relations must be non-negative and not all 0")
    functions: list = []
    if args.numeric:
        functions += numeric_functions(args.seed, args.numeric, mlp_steps=args.mlp_steps)
    if args.strings:
        functions += string_functions(args.seed, args.strings)
    single = min(args.entities, len(CONCEPTS))
    functions += entity_neurons(args.seed, n_single=single, n_union=args.entities - single)
    functions += relation_neurons(args.seed)[: args.relations]
    folder = write_benchmark(functions, args.out)
    print(
        f"wrote {args.numeric} numeric and {args.strings} string functions, {args.entities} entity and "
        f"{min(args.relations, 75)} relation neurons to {folder}"
    )


def _run(args) -> None:
    from jaxinterp.agent.backends import backend_from_env
    from jaxinterp.agent.find.run import accuracy_table, run_benchmark

    interpreter, provider, model = args.interpreter
    backend = judge = neuron_model = None
    if args.neuron_model:
        neuron_model = _neuron_model(args.neuron_model, args.base_url)
    if interpreter == "llm" or args.judge:
        backend = backend_from_env(
            provider=provider or args.provider, model=model or args.model, base_url=args.base_url
        )
        judge = backend if args.judge else None
    categories = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None
    result = run_benchmark(
        args.benchmark,
        args.out,
        interpreter=interpreter,
        categories=categories,
        limit=args.limit,
        variant=args.variant,
        backend=backend if interpreter == "llm" else None,
        max_rounds=args.max_rounds,
        workers=args.workers,
        judge=judge,
        show_progress=not args.quiet,
        neuron_model=neuron_model,
    )
    s = result.summary
    print(accuracy_table(s))
    for category, why in s["skipped"].items():
        print(f"{category}: not run, {why}")
    print(f"{s['elapsed_seconds']} s; wrote {result.summary_json}, {result.html}")


def _neuron_model(value: str, base_url: str | None):
    from jaxinterp.agent.backends import backend_from_env
    from jaxinterp.agent.find.neurons import StandInNeuronModel

    if value.strip() == "standin":
        return StandInNeuronModel()
    _, provider, model = parse_interpreter(value)
    return backend_from_env(provider=provider, model=model, base_url=base_url)


def _score(args) -> None:
    from jaxinterp.agent.find.run import accuracy_table, rescore

    result = rescore(args.run)
    counts = result.summary["counts"]
    print(accuracy_table(result.summary))
    print(f"{counts['functions']} functions, {counts['errors']} errors; wrote {result.summary_json}, {result.html}")
