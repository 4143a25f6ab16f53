"""`jaxinterp mech ...`: argument parsing only; the work is done by train.py, task_patching.py and tasks/."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxinterp.cli_options import ConfigOptions, add_command_group, add_out, add_quiet, add_seed, add_training_options
from jaxinterp.mech.commands import add_parsers

HELP = "model surgery: train small transformers on synthetic tasks, activation patching"
DESCRIPTION = "Train small LLaMA-style transformers on synthetic tasks and take them apart."


def _train_options() -> ConfigOptions:
    """The `TrainConfig` fields `jaxinterp mech train` exposes (mech.train is imported only when needed)."""
    from jaxinterp.mech.tasks import TASKS
    from jaxinterp.mech.train import SIZES, TrainConfig

    helps = {
        "task": f"task name ({', '.join(TASKS)}; default {{default}})",
        "size": f"model size ({', '.join(SIZES)}; default {{default}})",
        "steps": "training steps (default {default})",
        "batch_size": "prompts per step (default {default})",
        "learning_rate": "peak AdamW learning rate (default {default})",
        "seed": "random seed (default {default})",
        "layers": "override the size preset's number of layers",
        "d_model": "override the size preset's residual width",
        "heads": "override the size preset's number of attention heads",
        "stop_at_accuracy": "stop once the evaluation accuracy reaches it",
    }
    return ConfigOptions(TrainConfig, tuple(helps), helps)


def add_parser(subparsers) -> None:
    from jaxinterp.mech.train import TrainConfig

    sub = add_command_group(subparsers, "mech", HELP, DESCRIPTION)

    p = sub.add_parser("train", help="train a small transformer on a task; the output folder is a HF checkpoint")
    add_out(p, "run folder (becomes a Hugging Face LLaMA checkpoint folder)")
    p.add_argument("--num-boxes", type=int, help="boxes per prompt (task boxes; default 3, the paper uses 7)")
    add_training_options(p, _train_options(), base=TrainConfig())
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
    add_seed(p, 0, "seed of the prompt pairs")
    add_out(p, "output folder (default: <model>/patching)", required=False)
    p.set_defaults(func=_patch)

    _add_study_parsers(sub)
    add_parsers(sub)


def _add_study_parsers(sub) -> None:
    p = sub.add_parser(
        "entity-tracking",
        help="the entity-tracking study (Prakash et al. 2024): circuit, faithfulness, DCM, CMAP; HTML report",
    )
    add_out(p, "study folder (models, per-seed results, index.html)")
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
    p.add_argument(
        "--model",
        help="a pretrained Hugging Face checkpoint folder (with its tokenizer): study it instead of training models; "
        "the accuracy table by number of boxes comes first and the study stops there if the model is at chance",
    )
    p.add_argument(
        "--finetune-steps",
        type=int,
        help="trained study: training steps of each fine-tune (default 400); with --model: fine-tune the model on "
        "boxes prompts for N steps first (default: no fine-tune)",
    )
    p.add_argument(
        "--finetune-method",
        choices=("lora", "full"),
        default="lora",
        help="with --model --finetune-steps: LoRA of every block matrix (default) or a full fine-tune",
    )
    p.add_argument("--smoke", action="store_true", help="a seconds-long run of every step on a tiny model")
    add_quiet(p, "no progress output")
    p.set_defaults(func=_entity_tracking)

    p = sub.add_parser(
        "variable-binding",
        help="the variable-binding study (Davies et al. 2023): DCM over all final-token heads and MLPs; report",
    )
    add_out(p, "study folder (model, index.html)")
    p.add_argument(
        "--model",
        help="a pretrained Hugging Face checkpoint folder (with its tokenizer): its accuracy on the paper's prompts, "
        "stopping where it is at chance, instead of training a model",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds per sparsity (default 3)")
    p.add_argument("--steps", type=int, default=800, help="training steps of the arithmetic model (800)")
    add_quiet(p, "no progress output")
    p.set_defaults(func=_variable_binding)


def _entity_tracking(args) -> None:
    from jaxinterp.mech.entity_tracking.models import ModelRecipe
    from jaxinterp.mech.entity_tracking.study import StudyConfig, run_study

    if args.model:
        _pretrained_entity_tracking(args)
        return
    if args.smoke:
        cfg = StudyConfig.smoke()
    else:
        recipe = ModelRecipe(
            num_boxes=args.num_boxes,
            base_steps=args.base_steps,
            base_stop_at_accuracy=None if args.base_stop_at >= 1 else args.base_stop_at,
            finetune_steps=400 if args.finetune_steps is None else args.finetune_steps,
        )
        cfg = StudyConfig(
            recipe=recipe,
            replicates=args.seeds,
            min_base_accuracy=args.min_base_accuracy,
            max_seeds=2 * args.seeds,
        )
    page = run_study(cfg, args.out, show_progress=not args.quiet)
    print(f"wrote {page}")


def _pretrained_entity_tracking(args) -> None:
    from jaxinterp.mech.entity_tracking.pretrained import PretrainedStudyConfig, run_pretrained_study
    from jaxinterp.mech.finetune import FinetuneConfig

    tune = None
    if args.finetune_steps:  # None or 0: study the model as it is
        tune = FinetuneConfig(steps=args.finetune_steps, method=args.finetune_method)
    cfg = PretrainedStudyConfig(study_boxes=args.num_boxes, finetune=tune)
    page = run_pretrained_study(args.model, args.out, cfg, show_progress=not args.quiet)
    print(f"wrote {page}")


def _variable_binding(args) -> None:
    from jaxinterp.mech.variable_binding import VariableBindingConfig, run_study

    if args.model:
        from jaxinterp.mech.variable_binding_pretrained import run_pretrained_binding

        print(f"wrote {run_pretrained_binding(args.model, args.out)}")
        return

    base = VariableBindingConfig()
    cfg = dataclasses.replace(
        base, model=dataclasses.replace(base.model, steps=args.steps), seeds=tuple(range(args.seeds))
    )
    page = run_study(cfg, args.out, show_progress=not args.quiet)
    print(f"wrote {page}")


def config_from_args(args):
    """The `TrainConfig` of `jaxinterp mech train` arguments (unset flags keep the defaults)."""
    from jaxinterp.mech.train import TrainConfig

    settings = {"num_boxes": args.num_boxes} if args.num_boxes is not None else {}
    return _train_options().apply(TrainConfig(task_settings=settings), args)


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
