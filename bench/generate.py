"""Text generation speed: jaxinterp's KV-cached decoding vs transformers' `generate`, same CPU, one run.

Both sides load the same Hugging Face folder (default SmolLM2-135M-Instruct, `~/.cache/jaxinterp/smollm2-hf`)
in float32 and continue the same prompt greedily for `--new-tokens` (128) tokens. Neither side stops at EOS
(jaxinterp: no EOS ids; transformers: `eos_token_id=None`), so both generate exactly that many tokens.

  * transformers: `model.generate(do_sample=False)` with torch limited to `--torch-threads` threads (2, the
    reference of the ratios, and 1: on a machine other processes load, torch's 2 threads lose much of their
    time waiting for each other, and 1 thread was 4x faster there); a streamer records when each token
    arrives, so one call gives the time to first token (prefill) and the decode rate (the other tokens over
    the time after the first);
  * jaxinterp: `mech.generate.Generator`, which reports the same two times from its two programs (prefill,
    then the decode `while_loop`). Its first call compiles both: the compile time (tracing, lowering and XLA,
    from JAX's monitoring events) is reported alone and inside the "first call" figure.

The sides alternate (`--repeats` times each after a warm-up call) so that other processes on a shared machine
load both alike; each figure is the median, and the cores that other processes used during each side's calls
are recorded. Greedy agreement: the length of the common prefix of the two token sequences.
Writes `bench/results/generate-<device>.json` and `.md`.

    python bench/generate.py                              # SmolLM2, 128 tokens, 3 repeats
    python bench/generate.py --new-tokens 16 --repeats 1  # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxinterp.mech.generate import Generator, SamplingConfig
from jaxinterp.mech.models.load import load_pretrained

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import cpu_now, device_info, foreign_cores, load_note, markdown_report, versions, write_json  # noqa: E402
from _header import run_header  # noqa: E402

DEFAULT_MODEL = Path(os.environ.get("JAXINTERP_SMOLLM2_HF", "~/.cache/jaxinterp/smollm2-hf")).expanduser()
PROMPT = "The history of the printing press begins"
_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]


def _on_event(event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_event)


def _timed(run):
    """(result, wall seconds, cores other processes used meanwhile, this process's CPU seconds)."""
    before, start = cpu_now(), time.perf_counter()
    result = run()
    seconds, after = time.perf_counter() - start, cpu_now()
    return result, seconds, foreign_cores(before, after, seconds), after[1] - before[1]


def transformers_side(folder: Path, ids: list[int], new_tokens: int):
    """A `run(threads)` returning (new token ids, time to first token, whole call) with transformers' generate."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    class Clock(transformers.generation.BaseStreamer):
        """Records when generate hands over each chunk: the prompt first, then one token per step."""

        def __init__(self):
            self.times = []

        def put(self, value):
            self.times.append(time.perf_counter())

        def end(self):
            pass

    def run(threads: int):
        torch.set_num_threads(threads)
        clock, start = Clock(), time.perf_counter()
        tensor = torch.tensor([ids])
        with torch.no_grad():
            out = model.generate(
                tensor,
                attention_mask=torch.ones_like(tensor),
                do_sample=False,
                max_new_tokens=new_tokens,
                eos_token_id=None,
                streamer=clock,
            )
        total = time.perf_counter() - start
        return out[0, len(ids) :].tolist(), clock.times[1] - start, total

    return run, torch.__version__, transformers.__version__


def jaxinterp_side(folder: Path, ids: list[int], new_tokens: int):
    """A `run()` like `transformers_side`'s, with `mech.generate` (no EOS ids, so every token is generated)."""
    generator = Generator.from_model(load_pretrained(folder))
    config = SamplingConfig(max_new_tokens=new_tokens)

    def run():
        result = generator([ids], config)
        return list(result.tokens[0]), result.first_token_seconds, result.seconds

    return run


def summarise(calls: list, new_tokens: int) -> dict:
    """Medians of TTFT, decode tokens/s, whole-call seconds and CPU time per token of `_timed` calls."""
    ttft = [c[0][1] for c in calls]
    decode = [(new_tokens - 1) / (c[0][2] - c[0][1]) for c in calls]
    foreign = [c[2] for c in calls if c[2] is not None]
    return {
        "ttft_s": statistics.median(ttft),
        "decode_tokens_per_s": statistics.median(decode),
        "call_s": statistics.median(c[0][2] for c in calls),
        "ttft_s_all": ttft,
        "decode_tokens_per_s_all": decode,
        "foreign_cores_mean": statistics.mean(foreign) if foreign else None,
        "cpu_ms_per_token": 1e3 * statistics.median(c[3] for c in calls) / new_tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="HF checkpoint folder with tokenizer")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per side after the first")
    parser.add_argument(
        "--torch-threads",
        default="2,1",
        help="torch thread counts, comma-separated; the first is the reference of the ratios (default 2,1: on a "
        "loaded machine 2 threads can lose more to waiting for each other than they gain)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        gguf = "~/.cache/jaxinterp/SmolLM2-135M-Instruct.Q4_1.gguf"
        parser.error(
            f"no checkpoint folder at {args.model}; make the default one with: bash scripts/fetch_smollm2.sh && "
            f"jaxinterp mech convert {gguf} --out ~/.cache/jaxinterp/smollm2-hf"
        )
    from jaxinterp.hf import load_tokenizer

    ids = list(load_tokenizer(args.model)(args.prompt)["input_ids"])
    load_before = os.getloadavg()
    threads = [int(t) for t in args.torch_threads.split(",")]
    hf_run, torch_version, hf_version = transformers_side(args.model, ids, args.new_tokens)
    jax_run = jaxinterp_side(args.model, ids, args.new_tokens)

    hf_firsts = {t: _timed(lambda t=t: hf_run(t)) for t in threads}
    _compile_seconds[0] = 0.0
    jax_first = _timed(jax_run)
    compile_s = _compile_seconds[0]
    hf_calls, jax_calls = {t: [] for t in threads}, []
    for _ in range(args.repeats):
        for t in threads:
            hf_calls[t].append(_timed(lambda t=t: hf_run(t)))
        jax_calls.append(_timed(jax_run))
    load_after = os.getloadavg()

    hfs = {t: summarise(hf_calls[t], args.new_tokens) | {"first_call_s": hf_firsts[t][1]} for t in threads}
    hf, hf_first, jx = hfs[threads[0]], hf_firsts[threads[0]], summarise(jax_calls, args.new_tokens)
    jx["first_call_s"] = jax_first[1]
    jx["compile_s"] = compile_s
    jx["first_call_ttft_s"] = jax_first[0][1]
    hf_tokens, jax_tokens = hf_first[0][0], jax_first[0][0]
    agree = next((i for i, (a, b) in enumerate(zip(hf_tokens, jax_tokens, strict=True)) if a != b), len(hf_tokens))
    dev = device_info()
    result = run_header("text-generation", argv) | {
        "versions": versions("penzai") | {"torch": torch_version, "transformers": hf_version},
        "model": str(args.model),
        "prompt": args.prompt,
        "prompt_tokens": len(ids),
        "new_tokens": args.new_tokens,
        "torch_threads": threads,
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [load_before[0], load_after[0]],
        "transformers": hf,
        "transformers_by_torch_threads": hfs,
        "jaxinterp": jx,
        "decode_speedup": jx["decode_tokens_per_s"] / hf["decode_tokens_per_s"],
        "ttft_speedup": hf["ttft_s"] / jx["ttft_s"],
        "greedy_agreement_tokens": agree,
    }
    name = f"generate-{dev['slug']}"
    path = write_json(args.out, f"{name}.json", result)
    table = [
        "| side | decode tokens/s | time to first token | whole call | first call (compile incl.) | compile |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| transformers {hf_version} (torch {t} thread{'s' * (t > 1)}) | {h['decode_tokens_per_s']:.1f} | "
            f"{1e3 * h['ttft_s']:.0f} ms | {h['call_s']:.2f} s | {h['first_call_s']:.2f} s | - |"
            for t, h in hfs.items()
        ),
        f"| jaxinterp (XLA CPU) | {jx['decode_tokens_per_s']:.1f} | {1e3 * jx['ttft_s']:.0f} ms | "
        f"{jx['call_s']:.2f} s | {jx['first_call_s']:.2f} s | {compile_s:.2f} s |",
        *(
            f"| jaxinterp / transformers ({t} thread{'s' * (t > 1)}) | "
            f"{jx['decode_tokens_per_s'] / h['decode_tokens_per_s']:.2f}x | {h['ttft_s'] / jx['ttft_s']:.2f}x faster | "
            f"{h['call_s'] / jx['call_s']:.2f}x faster | | |"
            for t, h in hfs.items()
        ),
    ]
    notes = [
        f"{args.model.name}, float32, prompt {args.prompt!r} ({len(ids)} tokens), {args.new_tokens} new tokens greedy, "
        f"no EOS stop; medians of {args.repeats} alternating calls per side after a first call",
        f"greedy agreement: the first {agree} of {args.new_tokens} tokens are identical",
        f"device: {dev['str']} ({os.cpu_count()} cores); other processes used on average "
        f"{_fmt(hf['foreign_cores_mean'])} cores during transformers' calls ({threads[0]} threads), "
        f"{_fmt(jx['foreign_cores_mean'])} during jaxinterp's",
        "CPU time per generated token (this process, all threads; less sensitive to other processes than wall "
        "time, but threads that spin while waiting count): "
        + ", ".join(f"transformers {t} threads {h['cpu_ms_per_token']:.0f} ms" for t, h in hfs.items())
        + f", jaxinterp {jx['cpu_ms_per_token']:.0f} ms",
    ]
    warning = load_note(load_before, load_after, os.cpu_count() or 1, "the ratios are measured side by side")
    (args.out / f"{name}.md").write_text(
        f"# Text generation, {dev['str']}\n\n" + markdown_report(table, notes, warning)
    )
    print("\n".join(table) + "\n\n" + "\n".join(notes) + (f"\n{warning}" if warning else "") + f"\n{path}")
    return 0


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    raise SystemExit(main())
