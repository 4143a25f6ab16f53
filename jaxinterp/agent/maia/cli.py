"""`jaxinterp maia describe|benchmark|train`: argument parsing only; the work is in run.py, benchmark.py, subject.py.

jaxinterp maia benchmark --out runs/maia                                  # offline describer, synthetic neurons
jaxinterp maia benchmark --out runs/gpt --agent openai:gpt-4o --judge     # the MAIA agent, judged by the model
jaxinterp maia describe --out runs/unit --unit star_boat                  # a synthetic neuron, offline describer
jaxinterp maia describe --out runs/unit --subject runs/cnn --layer conv3 --index 5 --agent openai:gpt-4o
jaxinterp maia train --out runs/cnn --kind cnn                            # a subject model on the concept scenes
"""

from __future__ import annotations

from jaxinterp.cli_options import add_command_group, add_llm_options, add_out

HELP = "MAIA: describe vision units with experiments (offline describer or an LLM agent); synthetic benchmark"
DESCRIPTION = "MAIA (multimodal automated interpretability agent) on JAX subject models and synthetic neurons."


def parse_agent(value: str) -> tuple[str, str | None, str | None]:
    """`offline` (describer), `offline-agent` (scripted agent, no model), `llm` or `PROVIDER:MODEL`."""
    from jaxinterp.agent.find.cli import parse_interpreter

    if value.strip() == "offline-agent":
        return "offline-agent", None, None
    return parse_interpreter(value)


def add_parser(subparsers) -> None:
    from jaxinterp.agent.maia.agent import MAX_ROUNDS
    from jaxinterp.agent.maia.prompts import PROTOCOLS

    sub = add_command_group(subparsers, "maia", HELP, DESCRIPTION)

    def common(p) -> None:
        add_out(p)
        p.add_argument(
            "--agent",
            type=parse_agent,
            default=("offline", None, None),
            metavar="{offline,offline-agent,openai:MODEL,anthropic:MODEL,llm}",
            help="offline (NetDissect-style describer, default), offline-agent (the MAIA loop with a scripted "
            "agent, no model) or the MAIA agent on a vision-language model",
        )
        p.add_argument("--protocol", choices=PROTOCOLS, default="v1", help="agent code protocol (default v1)")
        p.add_argument("--max-rounds", type=int, default=MAX_ROUNDS, help=f"agent replies per unit ({MAX_ROUNDS})")
        p.add_argument("--num-images", type=int, default=1000, help="exemplar pool size (default 1000)")
        p.add_argument("--data-dir", help="TFDS folder of the pool (default OUT/data)")
        add_llm_options(p, choose_model=False)
        p.add_argument("--image-endpoint", help="HTTP text2image/edit server (default: procedural renderer)")

    p = sub.add_parser("benchmark", help="describe every synthetic neuron; label accuracy and predictive evaluation")
    common(p)
    p.add_argument("--judge", action="store_true", help="also let the agent's model judge each description")
    p.add_argument("--llm-prompts", action="store_true", help="the model writes the predictive prompts")
    p.add_argument("--limit", type=int, help="at most N neurons per mode")
    p.add_argument(
        "--detector-error",
        type=float,
        default=0.0,
        help="neurons miss this share of images (and fire spuriously on half as many); default 0: exact",
    )
    p.set_defaults(func=_benchmark)

    p = sub.add_parser("describe", help="describe one unit: a synthetic neuron or a subject model's unit")
    common(p)
    p.add_argument("--unit", help="synthetic neuron: red (mono), red_circle (OR), boat|water (AND)")
    p.add_argument("--subject", help="subject folder from `maia train` (or a Flax checkpoint, see --help)")
    p.add_argument("--layer", default="conv3", help="subject layer (conv1..conv3, block1.., last)")
    p.add_argument("--index", type=int, default=0, help="unit index in the layer")
    p.set_defaults(func=_describe)

    p = sub.add_parser("train", help="train a small subject model (cnn or vit) on the concept scenes")
    add_out(p, "subject folder to write")
    p.add_argument("--kind", choices=("cnn", "vit"), default="cnn")
    p.add_argument(
        "--steps", type=int, default=1500, help="training steps (default 1500: CNN test accuracy 0.54, 400: 0.21)"
    )
    p.add_argument("--num-images", type=int, default=1000)
    p.add_argument("--data-dir", help="TFDS folder (default OUT/data)")
    p.set_defaults(func=_train)


_LEDGERS: dict = {}


def _backend(args):
    """The agent's model, cached under OUT/llm-cache (free, reproducible reruns) and metered; None offline."""
    from pathlib import Path

    from jaxinterp.agent.backends import CachedBackend, MeteredBackend, UsageLedger, backend_from_env
    from jaxinterp.agent.maia.offline_agent import OfflineAgent

    kind, provider, model = args.agent
    if kind == "offline":
        return None
    if kind == "offline-agent":
        if args.protocol != "v1":
            from jaxinterp.errors import InputError

            raise InputError("the offline agent speaks protocol v1 only; drop --protocol v2")
        return OfflineAgent()
    ledger = _LEDGERS.setdefault(args.out, UsageLedger())
    inner = backend_from_env(provider=provider, model=model, base_url=args.base_url)
    return MeteredBackend(CachedBackend(inner, Path(args.out) / "llm-cache"), ledger)


def _report_usage(args) -> None:
    """Writes OUT/usage.json and prints the total when a model was used."""
    import json
    from pathlib import Path

    ledger = _LEDGERS.pop(args.out, None)
    if ledger is None:
        return
    summary = ledger.summary()
    (Path(args.out) / "usage.json").write_text(json.dumps(summary, indent=2))
    total = summary["total"]
    cost = "unknown cost" if total["cost_usd"] is None else f"${total['cost_usd']:.4f}"
    print(
        f"model calls: {total['calls']} ({total['cached_calls']} cached), {total['prompt_tokens']} prompt + "
        f"{total['completion_tokens']} completion tokens, {cost}"
    )


def _benchmark(args) -> None:
    from jaxinterp.agent.maia import benchmark, run

    backend = _backend(args)
    describe_unit, method = benchmark.offline_describe_unit, "offline describer"
    if backend is not None:
        describe_unit = run.agent_describe_unit(
            backend, args.out, args.protocol, args.max_rounds, image_endpoint=args.image_endpoint
        )
        method = f"MAIA agent ({backend.model}, {args.protocol})"
    if args.agent[0] == "offline-agent" and (args.judge or args.llm_prompts):
        backend = None  # a scripted agent cannot judge or write prompts
    if backend is None and (args.judge or args.llm_prompts):
        from jaxinterp.errors import InputError

        raise InputError("--judge and --llm-prompts need a model: pass --agent openai:MODEL (or anthropic:, llm)")
    result = benchmark.run_benchmark(
        args.out,
        data_dir=args.data_dir,
        num_images=args.num_images,
        describe_unit=describe_unit,
        method=method,
        judge=backend if args.judge else None,
        prompt_writer=backend if args.llm_prompts else None,
        limit=args.limit,
        detector_error=args.detector_error,
    )
    print(benchmark.table(result.summary))
    print(f"{result.summary['elapsed_seconds']} s; wrote {result.summary_json}, {result.html}")
    _report_usage(args)


def _describe(args) -> None:
    from jaxinterp.agent.maia import run

    result = run.describe_unit(
        args.out,
        unit=args.unit,
        subject_path=args.subject,
        layer=args.layer,
        index=args.index,
        backend=_backend(args),
        protocol=args.protocol,
        max_rounds=args.max_rounds,
        num_images=args.num_images,
        data_dir=args.data_dir,
        image_endpoint=args.image_endpoint,
    )
    print(f"[LABEL]: {result['label']}\n[DESCRIPTION]: {result['description']}\nwrote {result['html']}")
    _report_usage(args)


def _train(args) -> None:
    from pathlib import Path

    from jaxinterp.agent.maia import dataset, subject

    data_dir = args.data_dir or Path(args.out) / "data"
    source = dataset.load_source(data_dir, "train", num_train=args.num_images, num_test=200)
    test = dataset.load_source(data_dir, "test", num_train=args.num_images, num_test=200)
    model, losses = subject.train(subject.SubjectConfig(args.kind), source, steps=args.steps)
    subject.save(model, args.out)
    print(
        f"{args.kind}: loss {losses[0]:.3f} -> {sum(losses[-20:]) / min(20, len(losses)):.3f}, test accuracy "
        f"{subject.accuracy(model, test):.2f} (chance {1 / len(subject.CLASSES):.2f}); saved to {args.out}"
    )
