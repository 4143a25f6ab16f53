"""`jaxinterp mech ...`: argument parsing only; the work is done by train.py, task_patching.py and tasks/."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def add_parser(subparsers) -> None:
    from jaxinterp.mech.tasks import TASKS
    from jaxinterp.mech.train import SIZES, TrainConfig

    defaults = TrainConfig()
    mech = subparsers.add_parser(
        "mech",
        help="model surgery: train small transformers on synthetic tasks, activation patching",
        description="Train small LLaMA-style transformers on synthetic tasks and take them apart.",
    )
    sub = mech.add_subparsers(dest="mech_command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a small transformer on a task; the output folder is a HF checkpoint")
    p.add_argument("--task", default=defaults.task, help=f"task name ({', '.join(TASKS)}; default {defaults.task})")
    p.add_argument("--size", default=defaults.size, help=f"model size ({', '.join(SIZES)}; default {defaults.size})")
    p.add_argument("--out", required=True, help="run folder (becomes a Hugging Face LLaMA checkpoint folder)")
    p.add_argument("--steps", type=int, help=f"training steps (default {defaults.steps})")
    p.add_argument("--batch-size", type=int, help=f"prompts per step (default {defaults.batch_size})")
    p.add_argument("--learning-rate", type=float, help=f"peak AdamW learning rate (default {defaults.learning_rate})")
    p.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    p.add_argument("--layers", type=int, help="override the size preset's number of layers")
    p.add_argument("--d-model", type=int, help="override the size preset's residual width")
    p.add_argument("--heads", type=int, help="override the size preset's number of attention heads")
    p.add_argument("--num-boxes", type=int, help="boxes per prompt (task boxes; default 3, the paper uses 7)")
    p.add_argument("--stop-at-accuracy", type=float, help="stop once the evaluation accuracy reaches it")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("tasks", help="list the registered tasks")
    p.set_defaults(func=_tasks)

    p = sub.add_parser("patch", help="activation patching (clean -> corrupted) of a trained model on its task")
    p.add_argument("--model", required=True, help="HF checkpoint folder (e.g. from `jaxinterp mech train`)")
    p.add_argument("--task", help="task name (default: the one in <model>/task.json)")
    p.add_argument("--site", required=True, help="patching site (see jaxinterp.mech.patching.SITES)")
    p.add_argument(
        "--over",
        help="component axes to sweep, comma-separated, e.g. layer,heads (default: all of the site's); "
        "the other axes are patched together",
    )
    p.add_argument("--n", type=int, default=16, help="prompt pairs (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt pairs")
    p.add_argument("--out", help="output folder (default: <model>/patching)")
    p.set_defaults(func=_patch)

    _add_study_parsers(sub)


def _add_study_parsers(sub) -> None:
    p = sub.add_parser(
        "entity-tracking",
        help="the entity-tracking study (Prakash et al. 2024): circuit, faithfulness, DCM, CMAP; HTML report",
    )
    p.add_argument("--out", required=True, help="study folder (models, per-seed results, index.html)")
    p.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="replicates, each with its own trained models (default 3; seeds whose base model stays below "
        "--min-base-accuracy are skipped, up to twice as many tried)",
    )
    p.add_argument("--min-base-accuracy", type=float, default=0.8, help="a seed's base model must reach it (0.8)")
    p.add_argument("--num-boxes", type=int, default=3, help="boxes per prompt (default 3; the paper uses 7)")
    p.add_argument("--base-steps", type=int, default=2000, help="training-step budget of the base model (2000)")
    p.add_argument(
        "--base-stop-at",
        type=float,
        default=0.88,
        help="stop the base model's training at this evaluation accuracy (0.88; 1 = train all --base-steps)",
    )
    p.add_argument("--finetune-steps", type=int, default=400, help="training steps of each fine-tune (400)")
    p.add_argument("--smoke", action="store_true", help="a seconds-long run of every step on a tiny model")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_entity_tracking)

    p = sub.add_parser(
        "variable-binding",
        help="the variable-binding study (Davies et al. 2023): DCM over all final-token heads and MLPs; report",
    )
    p.add_argument("--out", required=True, help="study folder (model, index.html)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per sparsity (default 3)")
    p.add_argument("--steps", type=int, default=800, help="training steps of the arithmetic model (800)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_variable_binding)


def _entity_tracking(args) -> None:
    from jaxinterp.errors import InputError
    from jaxinterp.mech.entity_tracking.models import ModelRecipe
    from jaxinterp.mech.entity_tracking.study import StudyConfig, run_study

    if args.seeds < 1 or args.base_steps < 1 or args.finetune_steps < 1:
        raise InputError("--seeds, --base-steps and --finetune-steps must be >= 1")
    if args.smoke:
        cfg = StudyConfig.smoke()
    else:
        recipe = ModelRecipe(
            num_boxes=args.num_boxes,
            base_steps=args.base_steps,
            base_stop_at_accuracy=None if args.base_stop_at >= 1 else args.base_stop_at,
            finetune_steps=args.finetune_steps,
        )
        cfg = StudyConfig(
            recipe=recipe,
            replicates=args.seeds,
            min_base_accuracy=args.min_base_accuracy,
            max_seeds=2 * args.seeds,
        )
    page = run_study(cfg, args.out, show_progress=not args.quiet)
    print(f"wrote {page}")


def _variable_binding(args) -> None:
    from jaxinterp.errors import InputError
    from jaxinterp.mech.variable_binding import VariableBindingConfig, run_study

    if args.seeds < 1 or args.steps < 1:
        raise InputError("--seeds and --steps must be >= 1")
    base = VariableBindingConfig()
    cfg = dataclasses.replace(
        base, model=dataclasses.replace(base.model, steps=args.steps), seeds=tuple(range(args.seeds))
    )
    page = run_study(cfg, args.out, show_progress=not args.quiet)
    print(f"wrote {page}")


def config_from_args(args):
    """The `TrainConfig` of `jaxinterp mech train` arguments (unset flags keep the defaults)."""
    from jaxinterp.mech.train import TrainConfig

    names = ("task", "size", "steps", "batch_size", "learning_rate", "seed", "layers", "d_model", "heads")
    names += ("stop_at_accuracy",)
    changes = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    settings = {"num_boxes": args.num_boxes} if args.num_boxes is not None else {}
    return dataclasses.replace(TrainConfig(), task_settings=settings, **changes)


def _train(args) -> None:
    from jaxinterp.mech.train import train

    result = train(config_from_args(args), args.out, resume=args.resume, show_progress=not args.quiet)
    print(
        f"trained {result.folder} in {result.seconds:.0f} s: eval accuracy {result.eval['accuracy']:.3f}, "
        f"loss {result.eval['loss']:.3f}"
    )


def _tasks(args) -> None:
    from jaxinterp.mech.tasks import TASKS
    from jaxinterp.mech.tasks.base import decode

    for name, task in TASKS.items():
        vocab, example = task.vocabulary(), task.sample(0, 1)
        prompt = " ".join(decode(vocab, example.tokens[0]))
        print(f"{name}  {task.settings()}\n  {prompt}  -> {vocab[example.answers[0]]}")


def _patch(args) -> None:
    from jaxinterp.mech.task_patching import patch_task_model

    out = Path(args.out) if args.out else Path(args.model) / "patching"
    over = tuple(name.strip() for name in args.over.split(",")) if args.over else None
    result = patch_task_model(args.model, args.site, out, task=args.task, n=args.n, seed=args.seed, over=over)
    print(
        f"patched {result['site']} on {result['task']}: clean logit difference {result['clean_logit_difference']:.3f}, "
        f"corrupted {result['corrupted_logit_difference']:.3f}; wrote {result['json']}"
        + "".join(f", {p}" for p in result["heatmaps"])
    )
