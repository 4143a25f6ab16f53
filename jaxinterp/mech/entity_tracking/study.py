"""`jaxinterp mech entity-tracking`: per seed, train (or reuse) the models and analyse them; then report.

A seed is a whole replicate: the base model is trained from that seed's initialisation and data, its
fine-tunes continue from it, and the analyses draw their prompts from it, so the spread the report gives
covers training as well as analysis. Training `boxes` is not reliable across seeds (3 boxes, 2000 steps:
seeds 0, 1, 2 reached 0.93, 1.00 and 0.37), and a circuit study of a model at chance is meaningless, so
a seed whose base model scores below `min_base_accuracy` is recorded as skipped (the report lists it
with its accuracy) and the study moves on to the next seed, until `replicates` seeds are analysed or
`max_seeds` have been tried. Writes `<out>/models/seed_<k>/{base,arithmetic,positional}/` (HF
checkpoint folders), `<out>/seed_<k>.json` after each seed (with every model's accuracy on 2 .. 7 boxes,
the paper's count, whatever count the study trains on) (a rerun skips finished seeds and reuses
trained models, so an interrupted study loses at most the model being trained), and `<out>/index.html` +
`numbers.json` + figures.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from jaxinterp.errors import InputError
from jaxinterp.mech.circuits.nodes import Circuit
from jaxinterp.mech.entity_tracking import report
from jaxinterp.mech.entity_tracking.analysis import AnalysisSizes, DiscoverySettings, accuracy, analyse_seed
from jaxinterp.mech.entity_tracking.models import ModelRecipe, train_base, train_models
from jaxinterp.mech.tasks import boxes_counterfactuals as cf
from jaxinterp.mech.tasks import get_task

BOX_COUNTS = (2, 3, 4, 5, 6, 7)  # the paper's prompts have 7 boxes


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    recipe: ModelRecipe = ModelRecipe()
    sizes: AnalysisSizes = AnalysisSizes()
    settings: DiscoverySettings = DiscoverySettings()
    replicates: int = 3  # seeds to analyse; seed k replaces `recipe.seed`
    min_base_accuracy: float = 0.8  # "solves the task well"; below it a seed is skipped
    max_seeds: int = 6  # seeds 0 .. max_seeds - 1 may be tried
    box_counts: tuple[int, ...] = BOX_COUNTS  # every model's accuracy is also reported on these

    def __post_init__(self):
        if self.replicates < 1 or self.max_seeds < self.replicates:
            raise InputError(f"need 1 <= replicates <= max_seeds, got {self.replicates} and {self.max_seeds}")

    @classmethod
    def smoke(cls) -> StudyConfig:
        """Every step on a barely trained 2-layer model with few prompts: for tests, not for findings."""
        recipe = ModelRecipe(size="tiny", base_steps=30, finetune_steps=10)
        sizes = AnalysisSizes(path_patching=16, evaluation=32, mean=32, dcm=64, random_draws=2)
        settings = DiscoverySettings(min_effect=0.0)
        return cls(recipe, sizes, settings, replicates=1, min_base_accuracy=0.0, box_counts=(3, 4))


def _load_seed(path: Path) -> dict | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data if data.get("skipped") else {**data, "circuit": Circuit.from_json(data["circuit"])}


def _save_seed(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    circuit = {} if result.get("skipped") else {"circuit": result["circuit"].to_json()}
    tmp.write_text(json.dumps({**result, **circuit}))
    tmp.replace(path)


def accuracy_by_boxes(models: dict, cfg: StudyConfig, seed: int) -> dict[str, dict[str, float]]:
    """model name -> {boxes: accuracy} on the paper's format with each of `cfg.box_counts` boxes (by default
    2 .. 7, the paper's count), whatever number of boxes the models were trained and analysed on."""
    out: dict[str, dict[str, float]] = {name: {} for name in models}
    for boxes in cfg.box_counts:
        task = get_task("boxes", **{**cfg.recipe.settings("boxes"), "num_boxes": boxes})
        examples = cf.sample(task, 30_000 + seed, cfg.sizes.evaluation)
        for name, model in models.items():
            out[name][str(boxes)] = accuracy(model, examples)
    return out


def run_study(cfg: StudyConfig, out: str | Path, show_progress: bool = True) -> Path:
    start, out = time.time(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task("boxes", **cfg.recipe.settings("boxes"))
    evaluation = cf.sample(task, 99_999, cfg.sizes.evaluation)
    seeds, skipped = [], []
    for seed in range(cfg.max_seeds):
        if len(seeds) == cfg.replicates:
            break
        path = out / f"seed_{seed}.json"
        result = _load_seed(path)
        if result is None:
            recipe, folder = dataclasses.replace(cfg.recipe, seed=seed), out / "models" / f"seed_{seed}"
            base_accuracy = accuracy(train_base(recipe, folder, show_progress), evaluation)
            if base_accuracy < cfg.min_base_accuracy:
                result = {"seed": seed, "skipped": True, "accuracies": {"base": base_accuracy}}
            else:
                models = train_models(recipe, folder, show_progress)
                finetuned = {k: v for k, v in models.items() if k != "base"}
                result = analyse_seed(models["base"], finetuned, task, seed, cfg.sizes, cfg.settings)
                result["accuracies"] = {name: accuracy(model, evaluation) for name, model in models.items()}
                result["accuracy_by_boxes"] = accuracy_by_boxes(models, cfg, seed)
            _save_seed(path, result)
        elif not result.get("skipped") and "accuracy_by_boxes" not in result:  # from an earlier version
            folder = out / "models" / f"seed_{seed}"
            models = train_models(dataclasses.replace(cfg.recipe, seed=seed), folder, show_progress)
            result["accuracy_by_boxes"] = accuracy_by_boxes(models, cfg, seed)
            _save_seed(path, result)
        (skipped if result.get("skipped") else seeds).append(result)
        if show_progress and result.get("skipped"):
            base_accuracy = result["accuracies"]["base"]
            print(f"seed {seed}: base model accuracy {base_accuracy:.3f} < {cfg.min_base_accuracy}, skipped")
        elif show_progress:
            faith = result["faithfulness"]["base"]["faithfulness"]
            print(
                f"seed {seed}: circuit {result['nodes']} nodes, faithfulness {faith:.3f} ({time.time() - start:.0f} s)"
            )
    if not seeds:
        raise InputError(
            f"no base model reached accuracy {cfg.min_base_accuracy} in {cfg.max_seeds} seeds; "
            "train longer (--base-steps) or lower the bar"
        )
    settings = {"config": dataclasses.asdict(cfg)}
    return report.write(out, seeds, settings, time.time() - start, skipped, cfg.recipe.num_boxes)
