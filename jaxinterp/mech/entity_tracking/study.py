"""`jaxinterp mech entity-tracking`: train (or reuse) the models, analyse them over several seeds, report.

Writes `<out>/models/{base,arithmetic,positional}/` (HF checkpoint folders), `<out>/seed_<k>.json` after
each analysis seed (a rerun skips finished seeds, so an interrupted study loses at most one seed), and
`<out>/index.html` + `numbers.json` + figures.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from jaxinterp.mech.circuits.nodes import Circuit
from jaxinterp.mech.entity_tracking import report
from jaxinterp.mech.entity_tracking.analysis import AnalysisSizes, DiscoverySettings, accuracy, analyse_seed
from jaxinterp.mech.entity_tracking.models import ModelRecipe, train_models
from jaxinterp.mech.tasks import boxes_counterfactuals as cf
from jaxinterp.mech.tasks import get_task


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    recipe: ModelRecipe = ModelRecipe()
    sizes: AnalysisSizes = AnalysisSizes()
    settings: DiscoverySettings = DiscoverySettings()
    seeds: tuple[int, ...] = (0, 1, 2)

    @classmethod
    def smoke(cls) -> StudyConfig:
        """Every step on a barely trained 2-layer model with few prompts: for tests, not for findings."""
        recipe = ModelRecipe(size="tiny", base_steps=30, finetune_steps=10)
        sizes = AnalysisSizes(path_patching=16, evaluation=32, mean=32, dcm=64, random_draws=2)
        return cls(recipe, sizes, DiscoverySettings(min_effect=0.0), seeds=(0,))


def _load_seed(path: Path) -> dict | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return {**data, "circuit": Circuit.from_json(data["circuit"])}


def _save_seed(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**result, "circuit": result["circuit"].to_json()}))
    tmp.replace(path)


def run_study(cfg: StudyConfig, out: str | Path, show_progress: bool = True) -> Path:
    start, out = time.time(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = train_models(cfg.recipe, out / "models", show_progress)
    task = get_task("boxes", **cfg.recipe.settings("boxes"))
    evaluation = cf.sample(task, 99_999, cfg.sizes.evaluation)
    accuracies = {name: accuracy(model, evaluation) for name, model in models.items()}
    finetuned = {k: v for k, v in models.items() if k != "base"}
    seeds = []
    for seed in cfg.seeds:
        path = out / f"seed_{seed}.json"
        result = _load_seed(path)
        if result is None:
            result = analyse_seed(models["base"], finetuned, task, seed, cfg.sizes, cfg.settings)
            _save_seed(path, result)
        seeds.append(result)
        if show_progress:
            faith = result["faithfulness"]["base"]["faithfulness"]
            print(
                f"seed {seed}: circuit {result['nodes']} nodes, faithfulness {faith:.3f} ({time.time() - start:.0f} s)"
            )
    settings = {"config": dataclasses.asdict(cfg)}
    return report.write(out, accuracies, seeds, settings, time.time() - start)
