"""FIND with the offline interpreter: code accuracy and seconds per function, per category, on a fixed sample.

Builds our FIND benchmark (seed 0; `--numeric` numeric and `--strings` string functions, the numeric split
scaled from the release's: MLP approximations, clean, noised and corrupted), runs `find.run.run_benchmark` with
the offline interpreter (one function at a time) and reports, per category and per numeric kind, the share of
functions whose code is correct (numeric: NMSE < 0.1 on FIND's 256 test points; string: exact match on the held-out
items) and the seconds per function (interpreting and scoring, from each record). The issue's targets:

  * >= 0.6 of the clean numeric functions correct;
  * >= 0.5 of the string functions correct;
  * < 2 s per function on this machine (mean per category and over all functions).

Writes `bench/results/find-<platform>.json` with the run header and prints a markdown table.

    python bench/find.py                           # 50 numeric + 50 string
    python bench/find.py --numeric 10 --strings 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax

from jaxinterp.agent.find import numeric_functions, string_functions, write_benchmark
from jaxinterp.agent.find.run import run_benchmark

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _header import run_header  # noqa: E402

TARGETS = {"numeric/clean": 0.6, "string": 0.5}
SECONDS_TARGET = 2.0


def _row(name: str, records: list[dict]) -> dict:
    scored = [r["code_score"] for r in records if r.get("code_score") is not None]
    seconds = [r["seconds"] for r in records if "seconds" in r]
    return {
        "group": name,
        "n": len(records),
        "accuracy": statistics.fmean(scored) if scored else None,
        "mean_s": statistics.fmean(seconds) if seconds else None,
        "max_s": max(seconds) if seconds else None,
        "errors": sum(bool(r.get("error")) for r in records),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numeric", type=int, default=50)
    parser.add_argument("--strings", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        functions = numeric_functions(args.seed, args.numeric) if args.numeric else []
        functions += string_functions(args.seed, args.strings) if args.strings else []
        folder = write_benchmark(functions, Path(tmp) / "bench")
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        result = run_benchmark(folder, Path(tmp) / "run", show_progress=False)
        run_s = time.perf_counter() - start
        records = [json.loads(line) for line in result.results.read_text().splitlines()]

    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["category"], []).append(r)
        if r["category"] == "numeric" and r.get("kind"):
            groups.setdefault(f"numeric/{r['kind']}", []).append(r)
    rows = [_row(name, groups[name]) for name in sorted(groups)] + [_row("all", records)]
    by_group = {row["group"]: row for row in rows}
    targets = []
    for group, goal in TARGETS.items():
        acc = by_group.get(group, {}).get("accuracy")
        targets.append({"target": f"{group} accuracy >= {goal}", "value": acc, "met": acc is not None and acc >= goal})
    for group in ("numeric", "string", "all"):
        mean_s = by_group.get(group, {}).get("mean_s")
        met = mean_s is not None and mean_s < SECONDS_TARGET
        targets.append({"target": f"{group}: mean s per function < {SECONDS_TARGET}", "value": mean_s, "met": met})

    device = jax.devices()[0]
    result_json = run_header("find-offline-interpreter", argv) | {
        "versions": {"jax": jax.__version__},
        "settings": {"numeric": args.numeric, "strings": args.strings, "seed": args.seed, "workers": 1},
        "build_s": build_s,
        "run_s": run_s,
        "rows": rows,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"find-{device.platform}.json"
    path.write_text(json.dumps(result_json, indent=2) + "\n")

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = ["| group | n | code accuracy | mean s / function | max s | errors |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['group']} | {r['n']} | {num(r['accuracy'], '.2f')} | {num(r['mean_s'], '.2f')} | "
            f"{num(r['max_s'], '.2f')} | {r['errors']} |"
        )
    lines += ["", "| target | value | met |", "|---|---:|---|"]
    lines += [f"| {t['target']} | {num(t['value'], '.2f')} | {'met' if t['met'] else 'not met'} |" for t in targets]
    print("\n".join(lines))
    print(
        f"\ndevice: {device.platform} x{jax.device_count()}; build {build_s:.0f} s (incl. MLP training), "
        f"run {run_s:.0f} s; {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
