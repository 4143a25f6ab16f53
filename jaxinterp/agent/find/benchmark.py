"""FIND's on-disk layout: write our functions as the release lays them out, and read either back.

The released dataset (`FIND-dataset.zip`, repo `src/find-dataset/`) has one folder per category
(`numeric`, `strings`, `neurons_entities`, `neurons_relations`) holding `data.json` and one folder per function
`fNNNNN/` with a script. A script answers `python function_code.py x1 x2 ...` by printing
`Function input - output pairs: (x1, y1) (x2, y2) ` (each argument echoed as given, the output through `str`,
a space after each pair). Numeric folders hold several scripts (`function_code.py`, `noised_function_code.py`,
`corrupted_function_code.py`, `load_mlp.py`) and `func_name_dict.json` says which is the ground truth; the
release's strings keep descriptions and held-out items in `test_data.json`.

`write_benchmark` writes the same layout (our ground-truth script is always `function_code.py`, and
`func_name_dict.json` says so), with the release's data.json fields where they apply (`dir`, `name`, `type`,
`params`, `domain`, `noise_type`, `corruption_type`, `corruption_params`) plus ours (`id`, `description`,
`kind`, `corruption`, `test_inputs`, `spec`). `read_benchmark` reads both into `BenchmarkEntry`s, so ours and
the downloaded release run through the same code path.

Synthetic neurons (`neurons_entities`, `neurons_relations`) are computed by a language model, so our neuron
folders hold `neuron.json` (the `neurons.Neuron` definition) instead of a script. The release's neuron scripts
call the authors' Vicuna server and cannot run here; its neuron folders are listed but only ours are runnable.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from jaxinterp.agent.find.functions import FindFunction

FOLDERS = {"numeric": "numeric", "string": "strings"}  # category -> the release's folder name
CATEGORIES = {v: k for k, v in FOLDERS.items()}
SCRIPT = "function_code.py"
NEURON_FILE = "neuron.json"  # our synthetic neurons (`neurons.Neuron`), computed by a language model
NEURON_FOLDERS = ("neurons_entities", "neurons_relations")
_ID = re.compile(r"^f\d{5}$")

_MAIN = {
    "numeric": "float(arg)",
    "string": "str(arg)",
}


@dataclasses.dataclass(frozen=True)
class BenchmarkEntry:
    """One function as found on disk (ours or the release's).

    Attributes:
      id: folder name, "f00042".
      category: "numeric", "string", or the folder name for other categories.
      description: ground-truth description ("" when the release has none; numeric falls back to `name`).
      script: path of the ground-truth script.
      domain: numeric domain or None.
      corruption: {"type", "interval", "mean", "std"} for corrupted numeric functions, else None.
      test_inputs: held-out inputs ([] when unknown).
      meta: the raw data.json / test_data.json entry.
    """

    id: str
    category: str
    description: str
    script: Path
    domain: tuple | None
    corruption: dict | None
    test_inputs: list
    meta: dict


def script_source(fn: FindFunction) -> str:
    """`fn.code` plus the release's command-line protocol."""
    convert = _MAIN[fn.category]
    main = (
        '\n\nif __name__ == "__main__":\n'
        "    import sys\n\n"
        '    outputs = ""\n'
        "    for arg in sys.argv[1:]:\n"
        f'        outputs += f"({{arg}}, {{f({convert})}}) "\n'
        '    print(f"Function input - output pairs: {outputs}")\n'
    )
    return fn.code.rstrip() + "\n" + main


def format_pairs(args: Sequence[str], outputs: Sequence) -> str:
    """The line a script prints for `args` (as typed) and the function's `outputs`."""
    return "Function input - output pairs: " + "".join(f"({a}, {y}) " for a, y in zip(args, outputs, strict=True))


def _release_fields(fn: FindFunction) -> dict:
    spec = fn.spec
    if fn.category != "numeric":
        return {}
    fields = {
        "type": "simple" if spec["type"] == "simple" else spec["family"],
        "params": spec["params"],
        "domain": list(fn.domain) if fn.domain else None,
        "noise_type": spec["noise"]["type"] if "noise" in spec else None,
        "noise_params": 1 if "noise" in spec else None,
        "corruption_type": None,
        "corruption_params": None,
        "GPT_description": "",
    }
    if fn.corruption:
        lo, hi = fn.corruption["interval"]
        fields["corruption_type"] = fn.corruption["type"]
        fields["corruption_params"] = {"std": fn.corruption["mean"], "boundary": [b for b in (lo, hi) if b is not None]}
    return fields


def write_benchmark(functions: Sequence, folder: str | Path) -> Path:
    """Writes `<folder>/<category>/data.json` and `<folder>/<category>/fNNNNN/function_code.py`; returns folder.

    `functions` are `FindFunction`s and `neurons.Neuron`s; a neuron's folder holds `neuron.json` (its definition)
    instead of a script, because a language model computes it.
    """
    folder = Path(folder)
    by_cat: dict[str, list[FindFunction]] = {}
    for fn in functions:
        by_cat.setdefault(fn.category, []).append(fn)
    for category, fns in by_cat.items():
        cat_dir = folder / FOLDERS.get(category, category)
        entries = []
        for fn in fns:
            (cat_dir / fn.id).mkdir(parents=True, exist_ok=True)
            if category in NEURON_FOLDERS:  # a neuron is computed by a model: its folder holds its definition
                (cat_dir / fn.id / NEURON_FILE).write_text(json.dumps(fn.to_json(), indent=1))
                entries.append(fn.to_json() | {"dir": fn.id})
                continue
            (cat_dir / fn.id / SCRIPT).write_text(script_source(fn))
            entry = {"dir": fn.id, "id": fn.id, "name": fn.name, "category": category, "kind": fn.kind}
            entry |= _release_fields(fn)
            entry |= {"description": fn.description, "corruption": fn.corruption, "test_inputs": fn.test_inputs}
            entry["spec"] = fn.spec
            entries.append(entry)
        (cat_dir / "data.json").write_text(json.dumps(entries))
        if category == "numeric":
            (cat_dir / "func_name_dict.json").write_text(json.dumps({fn.id: SCRIPT for fn in fns}))
        if category == "string":
            test_data = [{"name": fn.id, "description": fn.description, "test_inputs": fn.test_inputs} for fn in fns]
            (cat_dir / "test_data.json").write_text(json.dumps(test_data))
    return folder


def _is_category(path: Path) -> bool:
    return path.is_dir() and (
        (path / "data.json").exists()
        or (path / "test_data.json").exists()
        or any(_ID.match(p.name) for p in path.iterdir() if p.is_dir())
    )


def _parse_items(raw) -> list:
    """Held-out items; the release stores them as one string ': "a", "b", c'."""
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, str):
        return []
    text = raw.strip().removeprefix(":").strip()
    return [t.strip().strip("\"'\u201c\u201d") for t in re.split(r",\s*", text) if t.strip()]


def _release_corruption(entry: dict, script: str) -> dict | None:
    if "corruption" in entry:
        return entry["corruption"]
    if not script.startswith("corrupted") or not entry.get("corruption_type"):
        return None
    kind, params = entry["corruption_type"], entry.get("corruption_params") or {}
    b = params.get("boundary", [])
    interval = {"interval_smaller": [None, b[0]], "interval_larger": [b[0], None]}.get(kind, list(b[:2]))
    return {"type": kind, "interval": interval, "mean": params.get("std"), "std": 0.1}


def _read_category(cat_dir: Path) -> list[BenchmarkEntry]:
    def load(name):
        p = cat_dir / name
        return json.loads(p.read_text()) if p.exists() else None

    data = load("data.json") or []
    test_data = {e["name"]: e for e in (load("test_data.json") or [])}
    gt_scripts = load("func_name_dict.json") or {}
    by_id = {e.get("dir", e.get("id")): e for e in data}
    category = CATEGORIES.get(cat_dir.name, cat_dir.name)
    out = []
    for d in sorted(p for p in cat_dir.iterdir() if p.is_dir() and _ID.match(p.name)):
        fid = d.name
        entry = dict(by_id.get(fid, {}))
        extra = test_data.get(fid, {})
        script = NEURON_FILE if (d / NEURON_FILE).exists() else gt_scripts.get(fid, SCRIPT)
        description = entry.get("description") or extra.get("description") or entry.get("GPT_description") or ""
        if not description and category == "numeric":
            description = entry.get("name", "")
        description = description.strip().removeprefix(":").strip()
        items = entry.get("test_inputs") or extra.get("test_inputs") or []
        domain = entry.get("domain")
        out.append(
            BenchmarkEntry(
                id=fid,
                category=category,
                description=description,
                script=d / script,
                domain=tuple(domain) if domain else None,
                corruption=_release_corruption(entry, script),
                test_inputs=_parse_items(items),
                meta=entry | ({"test_data": extra} if extra else {}),
            )
        )
    return out


def read_benchmark(folder: str | Path) -> list[BenchmarkEntry]:
    """Reads a FIND layout: a category folder, or a folder of category folders (ours or the release)."""
    folder = Path(folder)
    if (folder / "data.json").exists() or (folder / "test_data.json").exists():
        return _read_category(folder)
    return [e for sub in sorted(folder.iterdir()) if _is_category(sub) for e in _read_category(sub)]
