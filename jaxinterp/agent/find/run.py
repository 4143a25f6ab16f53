"""Run the FIND benchmark end to end: interpret every function, score it, write results, a summary and a report.

    run_benchmark("find-bench", "runs/find")                      # offline interpreter, no model needed
    run_benchmark("FIND-dataset", "runs/gpt", interpreter="llm")  # backend_from_env(), cached and metered
    rescore("runs/find")                                          # re-read results.jsonl, rewrite the summary

The benchmark folder is read with `read_benchmark`, so our generated benchmark and the released download take the
same path. Each function is interpreted with `interpreter.interpret` and scored with the paper's scorers:

- code: numeric functions by NMSE < 0.1 against the ground-truth script on FIND's 256 test points; string functions
  by exact match on the held-out items (the ground-truth script gives the expected outputs);
- description: FIND's 3-way unit-test judge, only when a judge backend is given (it needs a chat model; without one
  the result says so instead of giving a number). Each unit test shows the function and two other functions of
  the benchmark (same category, drawn with a fixed seed) on the function's held-out inputs.

Layout of `out`:

    run.json             settings of the run (a rerun with other settings is refused)
    results.jsonl        one JSON line per function, appended as each finishes (resume skips these ids)
    transcripts/<category>/<id>.json
    summary.json         per-category accuracy, counts, token / cost summary (model runs), elapsed seconds
    index.html           the summary as a table
    llm-cache/           replies of the model (interpreter="llm"), so a rerun is free and reproducible

The paper's headline numbers are not in our reference notes (the FIND table could not be recovered; recompute it by
scoring the released `FIND-interpretations.zip`), so the report's paper column says so rather than guess.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import html
import json
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.agent.backends import (
    CachedBackend,
    ChatBackend,
    MeteredBackend,
    UsageLedger,
    backend_from_env,
)
from jaxinterp.agent.find.benchmark import BenchmarkEntry, read_benchmark
from jaxinterp.agent.find.interpreter import MAX_ROUNDS, VARIANTS, interpret
from jaxinterp.agent.find.neurons import (
    ENTITIES,
    NEEDS_MODEL,
    NEURON_CATEGORIES,
    Neuron,
    NeuronFunction,
    expected_output,
)
from jaxinterp.agent.find.offline import OfflineInterpreter
from jaxinterp.agent.find.scoring import (
    CODE_LIMITS,
    NUMERIC_TEST_POINTS,
    UnitTest,
    category_accuracy,
    function_outputs,
    judge_accuracy,
    judge_prompt,
    parse_string_pairs,
    score_numeric_code,
    score_string_code,
    selectivity_prompt,
)
from jaxinterp.agent.sandbox import run_script
from jaxinterp.errors import InputError

INTERPRETERS = ("offline", "llm")
NUMERIC_EXEMPLARS = (-128, -64, -16, -4, -1, 0, 1, 4, 16, 64, 128)  # search initialisation inputs
STRING_EXEMPLARS = ("hello", "World", "abc123", "a b c", "Mississippi")
UNIT_TESTS_PER_FUNCTION = 3
UNIT_TEST_PAIRS = 5  # input/output pairs shown per candidate
PAPER_NOTE = (
    "not in our reference notes: the FIND paper's table could not be recovered; recompute it by scoring the "
    "released FIND-interpretations.zip with these scorers"
)
DESCRIPTION_NEEDS_MODEL = "description score needs a judge model (pass a judge backend / --judge)"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What `run_benchmark` returns: the summary dict (as in summary.json) and the paths it wrote."""

    summary: dict[str, Any]
    results: Path
    summary_json: Path
    html: Path


def task_category(entry: BenchmarkEntry) -> str:
    """The interpreter prompt's category: "numeric_mlp" for MLP approximations, else the entry's category."""
    if entry.category == "numeric" and (entry.meta.get("kind") == "mlp" or "mlp" in entry.script.name):
        return "numeric_mlp"
    return entry.category


def _helpers(entry: BenchmarkEntry) -> list[Path]:
    """Files beside the script that it may import (the release's MLP scripts load weights)."""
    return [p for p in entry.script.parent.iterdir() if p.is_file() and p != entry.script]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _string_truth(entry: BenchmarkEntry, inputs: Sequence[str]) -> list[tuple[str, str]]:
    """(input, ground-truth output) for `inputs`, from the ground-truth script."""
    inputs = [str(x) for x in inputs]
    result = run_script(entry.script, inputs, limits=CODE_LIMITS, helpers=_helpers(entry))
    if not result.ok:
        raise RuntimeError(f"ground-truth script {entry.script} failed: {result.text()[-300:]}")
    outputs = parse_string_pairs(result.stdout, inputs)
    return [(x, y) for x, y in zip(inputs, outputs, strict=True) if y is not None]


def _unit_tests(entry: BenchmarkEntry, pool: Sequence[BenchmarkEntry], seed: int) -> list[UnitTest]:
    """Three-candidate unit tests: the function and two others of its category, shown on the same inputs."""
    others = [e for e in pool if e.category == entry.category and e.id != entry.id]
    if len(others) < 2:
        return []
    rng = np.random.default_rng([seed, int(entry.id[1:])])
    if entry.category == "string":
        inputs = [str(x) for x in entry.test_inputs[:UNIT_TEST_PAIRS]] or list(STRING_EXEMPLARS)
    else:
        inputs = [float(x) for x in np.round(rng.uniform(-100, 100, UNIT_TEST_PAIRS), 1)]

    def shown(e: BenchmarkEntry) -> tuple[tuple[str, str], ...]:
        if e.category == "string":
            return tuple(_string_truth(e, inputs))
        ys = function_outputs(e.script, inputs, helpers=_helpers(e))
        return tuple((repr(x), f"{y:.4g}") for x, y in zip(inputs, ys, strict=True))

    truth = shown(entry)
    tests = []
    for _ in range(UNIT_TESTS_PER_FUNCTION):
        picks = rng.choice(len(others), 2, replace=False)
        candidates = [shown(others[i]) for i in picks]
        correct = int(rng.integers(3))
        candidates.insert(correct, truth)
        tests.append(UnitTest(tuple(candidates), correct))
    return tests


def _neuron(entry: BenchmarkEntry) -> Neuron:
    return Neuron.from_json(entry.meta if entry.meta.get("category") else json.loads(entry.script.read_text()))


def _neuron_unit_tests(entry: BenchmarkEntry, pool: Sequence[BenchmarkEntry], seed: int) -> list[UnitTest]:
    """Entities: three words, one of the neuron's concept(s) (FIND: "which one is it most selective for?").
    Relations: the neuron's table answers beside two other relations' (ground truth from `neuron_data`)."""
    neuron = _neuron(entry)
    others = [_neuron(e) for e in pool if e.category == entry.category and e.id != entry.id]
    if neuron.category == ENTITIES:
        others = [n for n in others if not set(n.concepts) & set(neuron.concepts)]
    else:
        others = [n for n in others if n.relation != neuron.relation]
    if len(others) < 2:
        return []
    rng = np.random.default_rng([seed, int(entry.id[1:])])
    tests = []
    for k in range(UNIT_TESTS_PER_FUNCTION):
        picks = [others[i] for i in rng.choice(len(others), 2, replace=False)]
        if neuron.category == ENTITIES:
            truth = ((neuron.test_inputs[k % len(neuron.test_inputs)], ""),)
            candidates = [((str(rng.choice(n.test_inputs)), ""),) for n in picks]
        else:
            truth = tuple((x, expected_output(neuron, x)) for x in neuron.test_inputs[:UNIT_TEST_PAIRS])
            candidates = [tuple((x, expected_output(n, x)) for x in n.test_inputs[:UNIT_TEST_PAIRS]) for n in picks]
        correct = int(rng.integers(3))
        candidates.insert(correct, truth)
        tests.append(UnitTest(tuple(candidates), correct))
    return tests


def _score_code(entry: BenchmarkEntry, code: str) -> dict[str, Any]:
    if entry.category == "numeric":
        y_true = function_outputs(entry.script, NUMERIC_TEST_POINTS, helpers=_helpers(entry))
        s = score_numeric_code(code, y_true)
        return {"code_score": s.score, "nmse": _finite(s.value), "code_error": s.error}
    if entry.category == "string":
        items = _string_truth(entry, entry.test_inputs)
        if not items:
            return {"code_score": None, "code_error": "no held-out items to score the code on"}
        s = score_string_code(code, items)
        return {"code_score": s.score, "exact_match": s.value, "code_error": s.error}
    return {"code_score": None, "code_error": f"no code scorer for category {entry.category!r}"}


def _interpret_one(
    entry: BenchmarkEntry,
    make_backend,
    variant: str,
    max_rounds: int,
    judge: ChatBackend | None,
    pool: Sequence[BenchmarkEntry],
    transcripts: Path,
    neuron_model: ChatBackend | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    task = task_category(entry)
    ledger = UsageLedger()
    backend = MeteredBackend(make_backend(task), ledger)
    exemplars = STRING_EXEMPLARS if task == "string" else NUMERIC_EXEMPLARS
    function: Any = entry.script
    is_neuron = entry.category in NEURON_CATEGORIES
    if is_neuron:
        neuron = _neuron(entry)
        assert neuron_model is not None
        function, exemplars = NeuronFunction(neuron, neuron_model), neuron.exemplars
    record: dict[str, Any] = {
        "id": entry.id,
        "category": entry.category,
        "task": task,
        "kind": entry.meta.get("kind"),
        "true_description": entry.description,
    }
    if is_neuron:
        record["true_domain"] = neuron.domain
    result = interpret(
        function,
        backend,
        task,
        variant=variant,
        exemplars=[str(x) for x in exemplars],
        max_rounds=max_rounds,
        helpers=_helpers(entry),
    )
    path = transcripts / entry.category / f"{entry.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=1))
    record |= {
        "description": result.description,
        "domain": result.domain,
        "code": result.code,
        "rounds": result.rounds,
        "stopped_reason": result.stopped_reason,
        "transcript": str(path.relative_to(transcripts.parent)),
    }
    try:
        if is_neuron:
            record |= {"code_score": None, "code_error": "neurons are described in words only"}
        elif result.code:
            record |= _score_code(entry, result.code)
        else:
            record |= {"code_score": 0.0, "code_error": "no code"}
    except RuntimeError as err:  # the ground-truth script itself failed
        record |= {"code_score": None, "code_error": str(err)}
    if judge is None:
        record |= {"description_score": None, "description_note": DESCRIPTION_NEEDS_MODEL}
    else:
        tests = _neuron_unit_tests(entry, pool, seed=0) if is_neuron else _unit_tests(entry, pool, seed=0)
        prompt = selectivity_prompt if entry.category == ENTITIES else judge_prompt
        if tests:
            record["description_score"] = judge_accuracy(judge, result.description, tests, prompt=prompt)
        else:
            record |= {"description_score": None, "description_note": "too few functions for unit tests"}
    usage = ledger.summary()["total"]
    record["usage"] = {k: usage[k] for k in ("calls", "prompt_tokens", "completion_tokens")}
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _read_results(path: Path) -> dict[tuple[str, str], dict]:
    """Finished records by (category, id); a line cut by an interruption is ignored (and redone)."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not r.get("error"):  # failed functions are tried again
                done[(r["category"], r["id"])] = r
    return done


def _drop_partial_line(path: Path) -> None:
    """Cuts a last line left unfinished by a killed run, so new records start on a line of their own."""
    if path.exists():
        text = path.read_text()
        if text and not text.endswith("\n"):
            path.write_text(text[: text.rfind("\n") + 1])


def summarize(records: Sequence[dict], seconds: float, usage: dict | None, settings: dict) -> dict[str, Any]:
    """Per-category code (and, when judged, description) accuracy, counts, usage and time."""
    scored = [(r["category"], r["code_score"]) for r in records if r.get("code_score") is not None]
    kinds = [
        (f"{r['category']}/{r['kind']}", r["code_score"])
        for r in records
        if r.get("code_score") is not None and r.get("kind")
    ]
    judged = [(r["category"], r["description_score"]) for r in records if r.get("description_score") is not None]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    tokens = {
        k: sum(r.get("usage", {}).get(k, 0) for r in records) for k in ("calls", "prompt_tokens", "completion_tokens")
    }
    return {
        "settings": settings,
        "code_accuracy": category_accuracy(scored),
        "code_accuracy_by_kind": category_accuracy(kinds),
        "description_accuracy": category_accuracy(judged) if judged else None,
        "description_note": None if judged else DESCRIPTION_NEEDS_MODEL,
        "counts": {
            "functions": len(records),
            "per_category": counts,
            "code_scored": len(scored),
            "answered": sum(r.get("stopped_reason") == "answer" for r in records),
            "errors": sum(bool(r.get("error")) for r in records),
        },
        "tokens_all_functions": tokens if settings["interpreter"] == "llm" else None,
        "usage_this_run": usage,
        "elapsed_seconds": round(seconds, 2),
        "paper": PAPER_NOTE,
    }


def write_html(out: Path, summary: dict) -> Path:
    """A self-contained index.html: per-category accuracy beside the paper's column."""
    rows = []
    for category, n, code, judged in _table_rows(summary):
        rows.append(
            f"<tr><td>{html.escape(category)}</td><td>{n}</td><td>{code}</td><td>{judged}</td><td>n/a*</td></tr>"
        )
    rows += [
        f"<tr><td>{html.escape(c)}</td><td>0</td><td colspan=3>not run: {html.escape(why)}</td></tr>"
        for c, why in (summary.get("skipped") or {}).items()
    ]
    kinds = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v['n']}</td><td>{v['accuracy']:.3f}</td></tr>"
        for k, v in summary["code_accuracy_by_kind"].items()
    )
    s = summary["settings"]
    usage = summary["tokens_all_functions"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>FIND results</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "table{border-collapse:collapse;margin-bottom:1.5em}</style>",
        "<h1>FIND results</h1>",
        f"<p>benchmark {html.escape(str(s['benchmark']))}; interpreter {html.escape(s['interpreter'])} "
        f"({html.escape(str(s.get('model')))}), variant {html.escape(s['variant'])}; "
        f"{summary['counts']['functions']} functions; {summary['elapsed_seconds']} s this run.</p>",
        "<table><tr><th>category</th><th>n</th><th>code accuracy (ours)</th><th>description accuracy (ours)</th>"
        "<th>paper's number</th></tr>" + "".join(rows) + "</table>",
        "<h2>Code accuracy by kind</h2><table><tr><th>kind</th><th>n</th><th>accuracy</th></tr>" + kinds + "</table>",
        f"<p>* The paper's numbers are {html.escape(PAPER_NOTE)}.</p>",
        "<p>Code accuracy: numeric NMSE &lt; 0.1 on 256 test points; string exact match on held-out items.</p>",
    ]
    if usage:
        parts.append(f"<p>Tokens: {usage['prompt_tokens']} prompt, {usage['completion_tokens']} completion.</p>")
    path = out / "index.html"
    path.write_text("\n".join(parts) + "\n")
    return path


def run_benchmark(
    folder: str | Path,
    out: str | Path,
    interpreter: str = "offline",
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    variant: str = "plain",
    backend: ChatBackend | None = None,
    max_rounds: int = MAX_ROUNDS,
    workers: int = 1,
    judge: ChatBackend | None = None,
    show_progress: bool = True,
    neuron_model: ChatBackend | None = None,
) -> RunSummary:
    """Interpret and score every function of a FIND benchmark folder; resumes a run already in `out`.

    Args:
        folder: A FIND layout (ours from `write_benchmark` or the release).
        out: Run folder (see the module docstring for its layout).
        interpreter: "offline" (`OfflineInterpreter`) or "llm" (`backend`, else `backend_from_env()`).
        categories: Benchmark categories to run ("numeric", "string", ...); None for all.
        limit: At most this many functions per category (the first ids).
        variant: "plain", "search_init" or "one_shot".
        backend: The interpreter model for interpreter="llm"; wrapped in a cache under out/llm-cache.
        max_rounds: Model replies per function before giving up (FIND: 20).
        workers: Functions interpreted at once (threads; the work happens in sandbox processes and the model).
        judge: A chat model for the description judge; None records that the description score needs one.
        show_progress: A rich progress bar.
        neuron_model: The language model that computes synthetic neurons (entities need log-probabilities), or
            `neurons.StandInNeuronModel()`. Without one, or with the offline interpreter (it describes functions,
            not neurons), neuron categories are left out and the summary says why under "skipped"; naming one
            in `categories` is then an error.

    Raises:
        InputError: Missing / empty folder, unknown category or interpreter, a run with other settings in `out`,
            or (interpreter="llm") no model configured, as a `BackendError`.
    """
    start = time.perf_counter()
    folder, out = Path(folder), Path(out)
    if interpreter not in INTERPRETERS:
        raise InputError(f"interpreter must be one of {', '.join(INTERPRETERS)}, got {interpreter!r}")
    if variant not in VARIANTS:
        raise InputError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if not folder.is_dir():
        raise InputError(f"no benchmark folder at {folder}")
    if workers < 1 or (limit is not None and limit < 1):
        raise InputError("workers and limit must be at least 1")
    entries = all_entries = read_benchmark(folder)
    if not entries:
        raise InputError(f"no FIND functions in {folder} (expected category folders with fNNNNN/ folders)")
    available = sorted({e.category for e in entries})
    if categories:
        unknown = [c for c in categories if c not in available]
        if unknown:
            raise InputError(f"unknown category {', '.join(unknown)}; {folder} has {', '.join(available)}")
        entries = [e for e in entries if e.category in categories]
    skipped = {}
    if neuron_model is None or interpreter == "offline":
        why = NEEDS_MODEL if neuron_model is None else "the offline interpreter does not describe neurons"
        asked = [c for c in categories or () if c in NEURON_CATEGORIES]
        if asked:
            raise InputError(f"{', '.join(asked)}: {why}")
        skipped = {c: why for c in available if c in NEURON_CATEGORIES}
        entries = [e for e in entries if e.category not in NEURON_CATEGORIES]
        if not entries:
            raise InputError(f"{folder} holds only synthetic neurons: {why}")
    if limit is not None:
        entries = [e for c in available for e in [x for x in entries if x.category == c][:limit]]

    run_ledger = UsageLedger()
    if interpreter == "llm":
        inner = backend if backend is not None else backend_from_env()
        shared = MeteredBackend(CachedBackend(inner, out / "llm-cache"), run_ledger)

        def make_backend(task: str) -> ChatBackend:
            return shared
    else:

        def make_backend(task: str) -> ChatBackend:
            return OfflineInterpreter(category=task)

    if judge is not None:  # judge replies are cached and counted like the interpreter's
        judge = MeteredBackend(CachedBackend(judge, out / "llm-cache"), run_ledger)
    if neuron_model is not None and not skipped:
        neuron_model = MeteredBackend(CachedBackend(neuron_model, out / "llm-cache"), run_ledger)
    model = None if interpreter == "offline" else getattr(backend or shared, "model", None)
    settings = {
        "benchmark": str(folder.resolve()),
        "interpreter": interpreter,
        "model": model or "offline-fit",
        "variant": variant,
        "max_rounds": max_rounds,
    }
    if neuron_model is not None and not skipped:
        settings["neuron_model"] = f"{neuron_model.provider}:{neuron_model.model}"
    out.mkdir(parents=True, exist_ok=True)
    run_json = out / "run.json"
    if run_json.exists() and json.loads(run_json.read_text()) != settings:
        raise InputError(f"{out} holds a run with other settings ({run_json}); choose another --out")
    run_json.write_text(json.dumps(settings, indent=1))

    results_path = out / "results.jsonl"
    _drop_partial_line(results_path)
    done = _read_results(results_path)
    todo = [e for e in entries if (e.category, e.id) not in done]
    lock = threading.Lock()
    new: list[dict] = []

    def work(entry: BenchmarkEntry) -> dict:
        if not entry.script.is_file():  # e.g. a release folder missing the script func_name_dict.json names
            return {"id": entry.id, "category": entry.category, "code_score": None, "error": f"no {entry.script}"}
        try:
            return _interpret_one(
                entry, make_backend, variant, max_rounds, judge, all_entries, out / "transcripts", neuron_model
            )
        except InputError:  # a configuration problem (BackendError: no key, a 4xx): stop the run
            raise
        except (RuntimeError, OSError, ValueError) as err:  # this function only; recorded, redone on a rerun
            return {"id": entry.id, "category": entry.category, "code_score": None, "error": str(err)[-500:]}

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("FIND"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    ]
    with (
        Progress(*columns, disable=not show_progress, transient=True) as progress,
        concurrent.futures.ThreadPoolExecutor(workers) as pool,
        results_path.open("a") as sink,
    ):
        bar = progress.add_task("find", total=len(entries), completed=len(entries) - len(todo), last="")
        futures = {pool.submit(work, e): e for e in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                record = future.result()
                with lock:
                    sink.write(json.dumps(record) + "\n")
                    sink.flush()
                    new.append(record)
                progress.update(bar, advance=1, last=f"{record['category']}/{record['id']}: {record['code_score']}")
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    wanted = {(e.category, e.id) for e in entries}
    records = [r for r in _read_results(results_path).values() if (r["category"], r["id"]) in wanted]
    records += [r for r in new if r.get("error")]
    usage = run_ledger.summary() if interpreter == "llm" or judge is not None else None
    summary = summarize(records, time.perf_counter() - start, usage, settings)
    summary["counts"]["interpreted_this_run"] = len(new)
    summary["counts"]["resumed"] = len(entries) - len(todo)
    summary["skipped"] = skipped
    summary_json = out / "summary.json"
    summary_json.write_text(json.dumps(summary, indent=1))
    return RunSummary(summary, results_path, summary_json, write_html(out, summary))


def rescore(out: str | Path) -> RunSummary:
    """Re-reads a finished run's results.jsonl and rewrites summary.json and index.html; interprets nothing.

    Raises:
        InputError: `out` has no run.json or results.jsonl.
    """
    out = Path(out)
    run_json, results_path = out / "run.json", out / "results.jsonl"
    if not run_json.is_file() or not results_path.is_file():
        raise InputError(f"no FIND run in {out} (expected run.json and results.jsonl from `jaxinterp find run`)")
    start = time.perf_counter()
    settings = json.loads(run_json.read_text())
    done = _read_results(results_path)
    failed = {}
    for line in results_path.read_text().splitlines():  # functions that failed and were not redone since
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a line cut by an interruption
            continue
        if r.get("error") and (r["category"], r["id"]) not in done:
            failed[(r["category"], r["id"])] = r
    records = [*done.values(), *failed.values()]
    summary = summarize(records, time.perf_counter() - start, None, settings)
    summary["counts"]["interpreted_this_run"] = 0
    summary["counts"]["resumed"] = len(records)
    summary_json = out / "summary.json"
    summary_json.write_text(json.dumps(summary, indent=1))
    return RunSummary(summary, results_path, summary_json, write_html(out, summary))


def accuracy_table(summary: dict) -> str:
    """The per-category code (and description) accuracy of a summary as a markdown table."""
    lines = ["| category | n | code accuracy | description accuracy |", "|---|---:|---:|---:|"]
    lines += [f"| {category} | {n} | {code} | {judged} |" for category, n, code, judged in _table_rows(summary)]
    return "\n".join(lines)


def _table_rows(summary: dict) -> list[tuple[str, int, str, str]]:
    """(category, n, code accuracy, description accuracy) per category that has either."""
    code, desc = summary["code_accuracy"], summary.get("description_accuracy") or {}
    rows = []
    for category in sorted({*code, *desc, *(summary["counts"].get("per_category") or {})}):
        c, d = code.get(category), desc.get(category)
        n = summary["counts"]["per_category"].get(category, 0)
        code_text = f"{c['accuracy']:.3f}" if c else "n/a"
        rows.append((category, n, code_text, f"{d['accuracy']:.3f}" if d else "needs a judge model"))
    return rows
