"""Head x position activation-patching sweep: jaxinterp vs a PyTorch hook loop on the same weights.

Two modes.

`--model PATH` (a LLaMA-like HF folder, e.g. SmolLM2-135M-Instruct): IOI prompts (4 prompts, clean vs the
subject's second mention replaced by a third name; metric logit(IO) - logit(S) at the last position), every
head at every position patched from clean into corrupt:
  * hook loop: transformers' model, one forward pass per component with an `o_proj` forward pre-hook that
    writes that head's cached clean value at that position (`logits_to_keep=1`), torch with
    `--torch-threads` threads;
  * jaxinterp: `mech.scanned.activation_patching` (blocks under one compiled loop, components packed two
    per row; see its docstring), compile included.
Each side runs in its own worker process (this script with `--worker`), so each one's peak RSS is its own
(loading the checkpoint included); the parent asks them in turn, layer group by layer group (`--rounds`,
who goes first alternating), so that both see the same load on a shared machine. `--hook-sample N` runs
only N components of the hook loop, spread evenly over the grid, and scales its time to the full grid (a
hook-loop component always costs one forward pass); results are compared on the components it ran. Then,
in the jaxinterp worker: exact patching of each head at every position vs EAP-IG (`mech.attribution`,
`--attribution-steps` points): correlation over the heads and the exact top-`--top` heads that EAP-IG's
top-`--top` misses. Writes `bench/results/patching-<device>-<model folder name>.json`.

`--sizes` (default, without `--model`): random LLaMA-style models made with transformers (or penzai when
torch is absent), in one process: the hook loop vs `mech.patching.activation_patching` for several
`position_buckets` values and vs `mech.scanned.activation_patching`; the FLOP bound (components x FLOPs of
one forward pass / measured matmul rate). Writes `bench/results/patching-<device>.json`.

    python bench/patching.py --model ~/.cache/jaxinterp/smollm2-hf                 # the real model
    python bench/patching.py --model ~/.cache/jaxinterp/smollm2-hf --hook-sample 378   # busy machine
    python bench/patching.py                 # two random sizes
    python bench/patching.py --sizes tiny --batch 2 --seq 4 --position-buckets 1,2   # smoke test

JAX is imported only where it runs (not in the PyTorch worker), so that the hook loop's RSS is torch's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _torch_official import busy_cpu_seconds, peak_rss_mb  # noqa: E402  (stdlib only: no JAX in the torch worker)

SIZES = {
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4),  # smoke test
    "small": dict(hidden_size=128, intermediate_size=344, num_hidden_layers=4, num_attention_heads=8),
    "medium": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=8),
}


def make_checkpoint(folder: Path, size: str, vocab: int, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=128, **SIZES[size])
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    return model, config


def make_jax_checkpoint(folder: Path, size: str, vocab: int, seed: int) -> types.SimpleNamespace:
    """The same architecture built and initialised by penzai and saved as a HF checkpoint (no PyTorch needed);
    returns the config fields the FLOP count reads."""
    import jax
    from penzai.models.transformer.variants import llamalike_common as llc

    from jaxinterp.mech.models.hf_export import save_llamalike

    shape = SIZES[size]
    d, heads = shape["hidden_size"], shape["num_attention_heads"]
    cfg = llc.LlamalikeTransformerConfig(
        num_kv_heads=heads,
        query_head_multiplier=1,
        embedding_dim=d,
        projection_dim=d // heads,
        mlp_hidden_dim=shape["intermediate_size"],
        num_decoder_blocks=shape["num_hidden_layers"],
        vocab_size=vocab,
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )
    model = llc.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(seed), name="transformer")
    save_llamalike(model, cfg, folder)
    return types.SimpleNamespace(vocab_size=vocab, **shape)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def forward_flops(config, batch: int, seq: int) -> float:
    """Multiply-adds x 2 of one forward pass: the linear layers plus attention scores and mixing."""
    d, f, layers, vocab = config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.vocab_size
    per_token = layers * (4 * d * d + 3 * d * f) + d * vocab
    attention = layers * 2 * seq * seq * d
    return 2.0 * (batch * seq * per_token + batch * attention)


def matmul_gflops() -> float:
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(5):
        f(a).block_until_ready()
    return 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def torch_hook_loop(model, config, clean, corrupt, correct, wrong):
    import torch

    device = clean.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    layers, heads = config.num_hidden_layers, config.num_attention_heads
    head_dim = config.hidden_size // heads
    seq = clean.shape[1]
    cached = {}

    def cache_hook(layer):
        def hook(module, args):
            cached[layer] = args[0].detach().clone()

        return hook

    handles = [model.model.layers[i].self_attn.o_proj.register_forward_pre_hook(cache_hook(i)) for i in range(layers)]
    with torch.no_grad():
        model(clean)
    for h in handles:
        h.remove()
    rows = torch.arange(clean.shape[0], device=device)
    results = np.zeros((layers, seq, heads, clean.shape[0]), np.float32)
    sync()
    start = time.perf_counter()
    with torch.no_grad():
        for layer in range(layers):
            for pos in range(seq):
                for head in range(heads):
                    cut = slice(head * head_dim, (head + 1) * head_dim)

                    def patch(module, args, layer=layer, pos=pos, cut=cut):
                        x = args[0].clone()
                        x[:, pos, cut] = cached[layer][:, pos, cut]
                        return (x,)

                    handle = model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(patch)
                    logits = model(corrupt).logits[:, -1]
                    handle.remove()
                    # .cpu() waits for the device, as a hook loop that collects its metric must
                    results[layer, pos, head] = (logits[rows, correct] - logits[rows, wrong]).cpu().numpy()
    sync()
    return results, time.perf_counter() - start


def resolve_hook_loop(choice: str, jax_platform: str) -> tuple[str | None, str]:
    """(torch device for the hook loop or None for jaxinterp only, a note for the report)."""
    if choice == "off":
        return None, "off (--hook-loop off): jaxinterp only"
    if not torch_available():
        if choice != "auto":
            raise SystemExit(f"--hook-loop {choice}: torch or transformers is not installed")
        return None, "torch/transformers not installed: jaxinterp only"
    import torch

    if choice == "auto":
        choice = "cuda" if jax_platform == "gpu" and torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--hook-loop cuda: torch sees no CUDA device")
    return choice, f"torch {torch.__version__} on {choice}"


def jax_sweep(model, clean, corrupt, correct, wrong, chunk, buckets):
    """`buckets` an int: `patching.activation_patching` with that many position buckets; "scanned":
    `mech.scanned.activation_patching`. Returns (result, seconds, seconds of the first call incl. compile)."""
    import jax

    from jaxinterp.mech import patching, scanned

    metric = functools.partial(patching.logit_difference, correct=correct, wrong=wrong)
    if buckets == "scanned":
        sweep = functools.partial(scanned.activation_patching, model, "head_out", clean, corrupt, metric, chunk=chunk)
    else:
        sweep = functools.partial(
            patching.activation_patching,
            model,
            "head_out",
            clean,
            corrupt,
            metric,
            chunk=chunk,
            position_buckets=buckets,
        )
    start = time.perf_counter()
    jax.block_until_ready(sweep().data_array)
    with_compile = time.perf_counter() - start
    start = time.perf_counter()
    result = sweep()
    jax.block_until_ready(result.data_array)
    return result, time.perf_counter() - start, with_compile


def run_size(
    size: str, batch: int, seq: int, chunk: int, peak: float, bucket_choices: list[int], torch_device: str | None
) -> dict:
    """One model size; `torch_device` None: jaxinterp only (no PyTorch)."""
    import jax.numpy as jnp
    from penzai import pz

    from jaxinterp.mech.models.load import load_pretrained

    vocab = 512
    with tempfile.TemporaryDirectory() as folder:
        if torch_device is None:
            torch_model, config = None, make_jax_checkpoint(Path(folder), size, vocab, seed=0)
        else:
            torch_model, config = make_checkpoint(Path(folder), size, vocab, seed=0)
        jax_model = load_pretrained(folder)
    rng = np.random.default_rng(0)
    clean_np = rng.integers(0, vocab, (batch, seq))
    corrupt_np = clean_np.copy()
    corrupt_np[:, seq // 2] = rng.integers(0, vocab, batch)
    correct_np, wrong_np = rng.integers(0, vocab, batch), rng.integers(0, vocab, batch)

    variants = {}
    for buckets in [*bucket_choices, "scanned"]:
        ours, jax_s, jax_with_compile = jax_sweep(
            jax_model,
            pz.nx.wrap(jnp.asarray(clean_np)).tag("batch", "seq"),
            pz.nx.wrap(jnp.asarray(corrupt_np)).tag("batch", "seq"),
            jnp.asarray(correct_np),
            jnp.asarray(wrong_np),
            chunk,
            buckets,
        )
        variants[buckets] = (np.asarray(ours.unwrap("layer", "seq", "heads", "batch")), jax_s, jax_with_compile)
    theirs, torch_s = None, None
    if torch_model is not None:
        import torch

        on = functools.partial(torch.as_tensor, device=torch_device)
        theirs, torch_s = torch_hook_loop(
            torch_model.to(torch_device), config, on(clean_np), on(corrupt_np), on(correct_np), on(wrong_np)
        )
    components = config.num_hidden_layers * seq * config.num_attention_heads
    bound_s = components * forward_flops(config, batch, seq) / (peak * 1e9)
    row = {
        "size": size,
        "config": SIZES[size] | {"vocab_size": vocab},
        "batch": batch,
        "seq": seq,
        "components": components,
        "chunk": chunk,
        "torch_device": torch_device,
        "torch_hook_loop_s": torch_s,
        "flop_bound_s": bound_s,
        "torch_fraction_of_flop_bound": bound_s / torch_s if torch_s else None,
        "jax_by_position_buckets": {},
    }
    for buckets, (ours_np, jax_s, jax_with_compile) in variants.items():
        row["jax_by_position_buckets"][str(buckets)] = {
            "jax_s": jax_s,
            "jax_with_compile_s": jax_with_compile,
            "speedup": torch_s / jax_s if torch_s else None,
            "speedup_incl_compile": torch_s / jax_with_compile if torch_s else None,
            "max_abs_diff": float(np.abs(ours_np - theirs).max()) if theirs is not None else None,
            "jax_fraction_of_flop_bound": bound_s / jax_s,
        }
    return row


# --- The real model (--model PATH): two worker processes, interleaved --------------------------------------

# IOI prompts (Wang et al. 2022's BABA template), all 14 tokens with SmolLM2's tokenizer: clean, corrupt (the
# subject's second mention replaced by a third name, as in the paper's ABC distribution), indirect object,
# subject. Metric: logit(IO) - logit(S) at the last position.
IOI_PROMPTS = (
    ("When Mary and John went to the store, John gave a drink to", "Tom", " Mary", " John"),
    ("When Anna and David went to the park, David gave a ball to", "Mark", " Anna", " David"),
    ("When Sarah and James went to the school, James gave a book to", "Peter", " Sarah", " James"),
    ("When Emma and Paul went to the office, Paul gave a pen to", "Kate", " Emma", " Paul"),
)
REPLY = "@@reply "  # worker stdout lines carrying a reply start with this (libraries may print too)


def ioi_batch(folder: Path) -> dict:
    """Token ids of the clean and corrupt prompts and of the two names (lists, for the workers)."""
    from jaxinterp.errors import InputError
    from jaxinterp.hf import load_tokenizer

    tokenizer = load_tokenizer(folder)

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False).input_ids

    clean = [ids(text) for text, *_ in IOI_PROMPTS]
    corrupt = [ids(text.replace(f", {s.strip()} gave", f", {c} gave")) for text, c, _, s in IOI_PROMPTS]
    names = [(ids(io), ids(s)) for *_, io, s in IOI_PROMPTS]
    if len({len(row) for row in clean + corrupt}) != 1 or any(len(a) != 1 or len(b) != 1 for a, b in names):
        raise InputError(f"{folder}: the IOI prompts do not tokenise to equal lengths with single-token names")
    return {
        "clean": clean,
        "corrupt": corrupt,
        "correct": [a[0] for a, _ in names],
        "wrong": [b[0] for _, b in names],
    }


class TorchSide:
    """The hook loop on transformers' model: one forward pass per component, an `o_proj` pre-hook writing
    the cached clean value of that head at that position. `logits_to_keep=1` (only the last position is
    unembedded): 0.114 instead of 0.131 s per pass on SmolLM2-135M (2 threads, quiet machine)."""

    def __init__(self, folder: str, batch: dict):
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        config = self.model.config
        self.heads = config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.clean, self.corrupt = torch.tensor(batch["clean"]), torch.tensor(batch["corrupt"])
        self.rows = torch.arange(self.clean.shape[0])
        self.correct, self.wrong = torch.tensor(batch["correct"]), torch.tensor(batch["wrong"])
        self.cached = None

    def _o_proj(self, layer: int):
        return self.model.model.layers[layer].self_attn.o_proj

    def _cache_clean(self) -> None:
        cached = {}
        handles = [
            self._o_proj(i).register_forward_pre_hook(lambda m, a, i=i: cached.__setitem__(i, a[0].detach().clone()))
            for i in range(len(self.model.model.layers))
        ]
        with self.torch.no_grad():
            self.model(self.clean, logits_to_keep=1)
        for h in handles:
            h.remove()
        self.cached = cached

    def sweep(self, components: list[list[int]], threads: int) -> tuple[np.ndarray, dict]:
        """components: (layer, position, head) triples -> ([n, batch] metric values, timing)."""
        self.torch.set_num_threads(threads)
        start, cpu = time.perf_counter(), time.process_time()
        if self.cached is None:  # the clean run's cache is part of the loop's work: timed with its first call
            self._cache_clean()
        out = np.zeros((len(components), self.clean.shape[0]), np.float32)
        with self.torch.no_grad():
            for n, (layer, pos, head) in enumerate(components):
                cut = slice(head * self.head_dim, (head + 1) * self.head_dim)

                def patch(module, args, layer=layer, pos=pos, cut=cut):
                    x = args[0].clone()
                    x[:, pos, cut] = self.cached[layer][:, pos, cut]
                    return (x,)

                handle = self._o_proj(layer).register_forward_pre_hook(patch)
                logits = self.model(self.corrupt, logits_to_keep=1).logits[:, -1]
                handle.remove()
                out[n] = (logits[self.rows, self.correct] - logits[self.rows, self.wrong]).numpy()
        return out, {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


class JaxSide:
    """`mech.scanned.activation_patching` on the model loaded by `load_pretrained` (stacked once)."""

    def __init__(self, folder: str, batch: dict, chunk: int):
        import jax
        import jax.numpy as jnp
        from penzai import pz

        from jaxinterp.mech import patching, scanned
        from jaxinterp.mech.models.load import load_pretrained

        self.jax, self.scanned, self.folder, self.chunk = jax, scanned, folder, chunk
        self.compile_s = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._on_event)
        self.lm = scanned.from_penzai(load_pretrained(folder))  # the penzai model is dropped: only `lm` is kept
        tokens = {k: pz.nx.wrap(jnp.asarray(batch[k], jnp.int32)).tag("batch", "seq") for k in ("clean", "corrupt")}
        self.clean, self.corrupt = tokens["clean"], tokens["corrupt"]
        self.metric = functools.partial(
            patching.logit_difference, correct=jnp.asarray(batch["correct"]), wrong=jnp.asarray(batch["wrong"])
        )

    def _on_event(self, event: str, duration: float, **_) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            self.compile_s += duration

    def sweep(self, layers: list[int], _threads: None = None) -> tuple[np.ndarray, dict]:
        """The metric {layer (these), seq, head_groups, query_heads, batch} for these layers, and timing."""
        start, cpu, compiled = time.perf_counter(), time.process_time(), self.compile_s
        result = self.scanned.activation_patching(
            self.lm,
            "head_out",
            self.clean,
            self.corrupt,
            self.metric,
            chunk=self.chunk,
            layers=layers,
            metric_position=-1,
        )
        values = np.asarray(result.unwrap("layer", "seq", *self.lm.head_axes, "batch"))
        return values, {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "compile_seconds": self.compile_s - compiled,
        }

    def attribution(self, steps: int) -> tuple[dict[str, np.ndarray], dict]:
        """EAP-IG (`mech.attribution.attribution_patching`, `steps` points) on the penzai model, and exact
        patching of each head at every position (`scanned`, over layer x heads), both as changes of the
        metric from the corrupt run; plus the clean and corrupt metrics."""
        from jaxinterp.mech import attribution
        from jaxinterp.mech.models.load import load_pretrained

        start = time.perf_counter()
        exact = self.scanned.activation_patching(
            self.lm,
            "head_out",
            self.clean,
            self.corrupt,
            self.metric,
            over=("layer", *self.lm.head_axes),
            metric_position=-1,
        )
        exact_s = time.perf_counter() - start
        base = {
            name: np.asarray(self.metric(self.scanned.logits(self.lm, tokens)).unwrap("batch"))
            for name, tokens in (("clean", self.clean), ("corrupt", self.corrupt))
        }
        model = load_pretrained(self.folder)
        start = time.perf_counter()
        eap = attribution.attribution_patching(model, "head_out", self.clean, self.corrupt, self.metric, steps=steps)
        heads = tuple(self.lm.head_axes)
        arrays = {
            "eap_ig": np.asarray(eap.unwrap("layer", "seq", *heads, "batch")),
            "exact_head": np.asarray(exact.unwrap("layer", *heads, "batch")) - base["corrupt"],
            "clean": base["clean"],
            "corrupt": base["corrupt"],
        }
        return arrays, {"eap_ig_seconds": time.perf_counter() - start, "exact_head_seconds": exact_s}


def worker(kind: str, config: dict) -> int:
    """A worker process: builds its side, then answers JSON commands on stdin (one per line)."""
    start = time.perf_counter()
    if kind == "torch":
        side = TorchSide(config["model"], config["batch"])
    else:
        side = JaxSide(config["model"], config["batch"], config["chunk"])
    out = Path(config["scratch"])

    def reply(**fields) -> None:
        peak = peak_rss_mb() * 2**20  # VmHWM: getrusage's ru_maxrss would include the parent's before exec
        print(REPLY + json.dumps(fields | {"peak_rss_bytes": peak}), flush=True)

    reply(setup_seconds=time.perf_counter() - start)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "stop":
            return 0
        if command["op"] == "sweep":
            values, timing = side.sweep(command["what"], command.get("threads"))
            path = out / f"{kind}-{command['tag']}.npy"
            np.save(path, values)
            reply(path=str(path), **timing)
        elif command["op"] == "attribution":
            arrays, timing = side.attribution(command["steps"])
            path = out / f"{kind}-attribution.npz"
            np.savez(path, **arrays)
            reply(path=str(path), **timing)
    return 0


class Worker:
    """The parent's handle on a worker subprocess (this script with --worker)."""

    def __init__(self, kind: str, config: dict):
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--worker-config", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self._read()

    def _read(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY) :])
        raise RuntimeError(f"the {self.kind} worker exited with code {self.process.wait()}")

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        self.process.stdin.write(json.dumps({"op": "stop"}) + "\n")
        self.process.stdin.close()
        self.process.wait()


def sampled_components(layers: int, seq: int, heads: int, sample: int | None) -> list[tuple[int, int, int]]:
    """Every (layer, position, head), or `sample` of them spread evenly over that layer-major order."""
    every = [(layer, pos, head) for layer in range(layers) for pos in range(seq) for head in range(heads)]
    if sample is None or sample >= len(every):
        return every
    return [every[i] for i in np.unique(np.linspace(0, len(every) - 1, sample).round().astype(int))]


def attribution_summary(arrays: dict[str, np.ndarray], top: int) -> dict:
    """EAP-IG vs exact patching per (layer, head): correlations and the exact top-`top` heads it misses.

    Per head, EAP-IG's estimate of patching the head at every position is the sum of its per-position
    estimates (a first-order estimate is additive); exact is that patch. Effects are batch means.
    """
    exact = arrays["exact_head"].mean(axis=-1)  # [layer, *heads]
    eap = arrays["eap_ig"].sum(axis=1).mean(axis=-1)
    layers = exact.shape[0]
    exact, eap = exact.reshape(layers, -1), eap.reshape(layers, -1)
    flat_exact, flat_eap = exact.ravel(), eap.ravel()
    ranks = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    top_exact = np.argsort(-np.abs(flat_exact))[:top]
    top_eap = set(np.argsort(-np.abs(flat_eap))[:top].tolist())
    heads = exact.shape[1]

    def head(i: int) -> dict:
        return {
            "layer": int(i // heads),
            "head": int(i % heads),
            "exact": float(flat_exact[i]),
            "eap_ig": float(flat_eap[i]),
            "eap_ig_rank": int(np.argsort(np.argsort(-np.abs(flat_eap)))[i]) + 1,
        }

    return {
        "pearson": float(np.corrcoef(flat_exact, flat_eap)[0, 1]),
        "spearman": float(np.corrcoef(ranks(flat_exact), ranks(flat_eap))[0, 1]),
        "top_k": top,
        "exact_top": [head(i) for i in top_exact],
        "missed": [head(i) for i in top_exact if i not in top_eap],
        "clean_metric": float(arrays["clean"].mean()),
        "corrupt_metric": float(arrays["corrupt"].mean()),
    }


def run_real(args) -> dict:
    """jaxinterp vs the hook loop on a pretrained checkpoint, interleaved layer group by layer group."""
    from jaxinterp.hf import read_config

    config = read_config(args.model)
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    batch = ioi_batch(args.model)
    seq = len(batch["clean"][0])
    threads = [int(t) for t in str(args.torch_threads).split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="patching-bench-"))
    shared = {"model": str(args.model), "batch": batch, "scratch": str(scratch), "chunk": args.chunk}
    jax_worker = Worker("jax", shared)
    torch_worker = Worker("torch", shared) if args.hook_loop != "off" and torch_available() else None
    components = sampled_components(layers, seq, heads, args.hook_sample)
    groups = [list(map(int, g)) for g in np.array_split(np.arange(layers), args.rounds)]
    ours = np.zeros((layers, seq, heads, len(batch["clean"])), np.float32)
    theirs = {t: np.full_like(ours, np.nan) for t in threads}
    timing = {"jax": [], **{f"torch-{t}": [] for t in threads}}
    for i, group in enumerate(groups):
        todo = [list(map(int, c)) for c in components if group[0] <= c[0] <= group[-1]]
        sides = ["jax", *(f"torch-{t}" for t in threads if torch_worker is not None and todo)]
        for side in sides if i % 2 == 0 else sides[::-1]:  # alternate who goes first
            load, busy = os.getloadavg()[0], busy_cpu_seconds()
            if side == "jax":
                r = jax_worker.ask(op="sweep", what=group, tag=i)
                ours[group] = np.load(r["path"]).reshape(len(group), seq, heads, -1)
            else:
                t = int(side.split("-")[1])
                r = torch_worker.ask(op="sweep", what=todo, threads=t, tag=f"{i}-{t}")
                theirs[t][tuple(np.array(todo).T)] = np.load(r["path"])
                r["components"] = len(todo)
            after = busy_cpu_seconds()
            if busy is not None and after is not None:  # cores the rest of the machine used meanwhile
                r["foreign_cores"] = max(0.0, after - busy - r["cpu_seconds"]) / r["seconds"]
            timing[side].append(r | {"layers": group, "load_before": load})
            print(
                f"round {i} {side}: {r['seconds']:.1f} s, others used {r.get('foreign_cores', 0):.1f} cores", flush=True
            )
    jax_peak = jax_worker.ready["peak_rss_bytes"] if not timing["jax"] else timing["jax"][-1]["peak_rss_bytes"]
    attribution = None
    if args.attribution_steps:
        r = jax_worker.ask(op="attribution", steps=args.attribution_steps)
        attribution = attribution_summary(dict(np.load(r["path"])), args.top) | {
            "steps": args.attribution_steps,
            "eap_ig_seconds": r["eap_ig_seconds"],
            "exact_head_seconds": r["exact_head_seconds"],
            "peak_rss_bytes_after": r["peak_rss_bytes"],
        }
    jax_worker.stop()

    def mean_foreign(rounds: list[dict]) -> float | None:
        seen = [(t["foreign_cores"], t["seconds"]) for t in rounds if "foreign_cores" in t]
        return sum(f * s for f, s in seen) / sum(s for _, s in seen) if seen else None

    result = {
        "model": str(args.model),
        "layers": layers,
        "seq": seq,
        "heads": heads,
        "batch": len(batch["clean"]),
        "components": layers * seq * heads,
        "prompts": [p[0] for p in IOI_PROMPTS],
        "jax": {
            "setup_seconds": jax_worker.ready["setup_seconds"],
            "sweep_seconds": sum(t["seconds"] for t in timing["jax"]),
            "sweep_cpu_seconds": sum(t["cpu_seconds"] for t in timing["jax"]),
            "compile_seconds": sum(t["compile_seconds"] for t in timing["jax"]),
            "peak_rss_bytes": jax_peak,
            "foreign_cores": mean_foreign(timing["jax"]),
            "rounds": timing["jax"],
        },
        "attribution": attribution,
        "hook_loops": {},
    }
    if torch_worker is None:
        return result
    torch_worker.stop()
    for t in threads:
        rounds = timing[f"torch-{t}"]
        done = sum(r["components"] for r in rounds)
        scale = result["components"] / done
        measured = ~np.isnan(theirs[t])
        loop = {
            "threads": t,
            "components_run": done,
            "extrapolated": done < result["components"],
            "loop_seconds_measured": sum(r["seconds"] for r in rounds),
            "loop_seconds": sum(r["seconds"] for r in rounds) * scale,
            "loop_cpu_seconds": sum(r["cpu_seconds"] for r in rounds) * scale,
            "foreign_cores": mean_foreign(rounds),
            "max_abs_diff": float(np.abs(ours[measured] - theirs[t][measured]).max()),
            "max_abs_metric": float(np.abs(theirs[t][measured]).max()),
            "rounds": rounds,
        }
        loop["speedup_incl_compile"] = loop["loop_seconds"] / result["jax"]["sweep_seconds"]
        loop["cpu_time_ratio"] = loop["loop_cpu_seconds"] / result["jax"]["sweep_cpu_seconds"]
        result["hook_loops"][str(t)] = loop
    result["torch"] = {
        "setup_seconds": torch_worker.ready["setup_seconds"],
        "peak_rss_bytes": max(r["peak_rss_bytes"] for t in threads for r in timing[f"torch-{t}"]),
    }
    return result


def num(v, spec: str, unit: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{unit}"


def real_table(r: dict) -> str:
    gb = 1 / 2**30
    ours = r["jax"]
    lines = [
        f"{r['model']}: {r['layers']} layers x {r['seq']} positions x {r['heads']} heads = {r['components']} "
        f"components, batch {r['batch']}",
        f"jaxinterp (scanned): {ours['sweep_seconds']:.1f} s incl. {ours['compile_seconds']:.1f} s compile (CPU "
        f"{ours['sweep_cpu_seconds']:.1f} s), peak RSS {ours['peak_rss_bytes'] * gb:.2f} GiB, others used "
        f"{num(ours['foreign_cores'], '.1f')} cores meanwhile",
    ]
    for t, loop in r["hook_loops"].items():
        sampled = f", {loop['components_run']} components run and scaled" if loop["extrapolated"] else ""
        lines.append(
            f"hook loop, torch {t} thread(s): {loop['loop_seconds']:.1f} s{sampled} (CPU {loop['loop_cpu_seconds']:.1f}"
            f" s), others used {num(loop['foreign_cores'], '.1f')} cores; speed-up incl. compile "
            f"{loop['speedup_incl_compile']:.2f}x (CPU time {loop['cpu_time_ratio']:.2f}x); max |diff| "
            f"{loop['max_abs_diff']:.1e} (metric up to {loop['max_abs_metric']:.1f})"
        )
    if "torch" in r:
        lines.append(f"hook loop peak RSS {r['torch']['peak_rss_bytes'] * gb:.2f} GiB")
    a = r.get("attribution")
    if a:
        missed = (
            ", ".join(
                f"L{m['layer']}H{m['head']} (exact {m['exact']:+.2f}, EAP-IG {m['eap_ig']:+.2f}, "
                f"rank {m['eap_ig_rank']})"
                for m in a["missed"]
            )
            or "none"
        )
        lines.append(
            f"EAP-IG ({a['steps']} steps, {a['eap_ig_seconds']:.1f} s) vs exact patching of each head at every "
            f"position: Pearson {a['pearson']:.3f}, Spearman {a['spearman']:.3f} over the heads (metric clean "
            f"{a['clean_metric']:.2f}, corrupt {a['corrupt_metric']:.2f}); of the exact top {a['top_k']}, not in "
            f"EAP-IG's top {a['top_k']}: {missed}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a LLaMA-like HF folder: the real-model comparison")
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument(
        "--position-buckets", default="1,4,16", help="activation_patching position_buckets values to time (4 = default)"
    )
    parser.add_argument(
        "--hook-loop",
        choices=("auto", "cpu", "cuda", "off"),
        default="auto",
        help="where the PyTorch hook loop runs; auto: cuda when JAX runs on a GPU and torch sees one, else cpu, "
        "and off (jaxinterp only) when torch or transformers is not installed (--model: cpu or off)",
    )
    parser.add_argument(
        "--torch-threads", default="2", help="--model: torch.set_num_threads values, each timed (e.g. 1,2)"
    )
    parser.add_argument("--hook-sample", type=int, help="--model: run this many hook-loop components and scale")
    parser.add_argument("--rounds", type=int, default=6, help="--model: layer groups the two sides alternate on")
    parser.add_argument("--attribution-steps", type=int, default=4, help="--model: EAP-IG steps (0: skip)")
    parser.add_argument("--top", type=int, default=10, help="--model: top heads checked for EAP-IG misses")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, json.loads(args.worker_config))

    import jax
    from _header import run_header

    from jaxinterp.errors import InputError

    device = jax.devices()[0]
    if args.model is not None:
        args.model = args.model.expanduser()
        try:
            result = run_real(args)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        versions = {"jax": jax.__version__}
        if "torch" in result:
            import torch

            versions["torch"] = torch.__version__
        result = run_header("head-position-activation-patching-real", argv) | {"versions": versions} | result
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"patching-{device.platform}-{args.model.name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(real_table(result) + f"\n{path}")
        return 0

    torch_device, torch_note = resolve_hook_loop(args.hook_loop, device.platform)
    print(f"device {device} ({getattr(device, 'device_kind', '')}); hook loop: {torch_note}", flush=True)

    peak = matmul_gflops()
    rows = []
    for size in args.sizes.split(","):
        buckets = [int(b) for b in args.position_buckets.split(",")]
        rows.append(run_size(size, args.batch, args.seq, args.chunk, peak, buckets, torch_device))
        print(json.dumps(rows[-1]), flush=True)
    versions = {"jax": jax.__version__}
    if torch_device is not None:
        import torch

        versions["torch"] = torch.__version__
    result = run_header("head-position-activation-patching", argv) | {
        "versions": versions,
        "hook_loop": torch_note,
        "torch_threads": torch.get_num_threads() if torch_device is not None else None,
        "matmul_gflops": peak,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"patching-{device.platform}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "| size | components | hook loop s | engine | jaxinterp s | speed-up | incl. compile "
        "| JAX % of FLOP bound | max diff |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for buckets, v in r["jax_by_position_buckets"].items():
            engine = "scanned" if buckets == "scanned" else f"{buckets} buckets"
            lines.append(
                f"| {r['size']} | {r['components']} | {num(r['torch_hook_loop_s'], '.2f')} | {engine} | "
                f"{v['jax_s']:.2f} | {num(v['speedup'], '.1f', 'x')} | {num(v['speedup_incl_compile'], '.1f', 'x')} | "
                f"{100 * v['jax_fraction_of_flop_bound']:.0f}% | {num(v['max_abs_diff'], '.1e')} |"
            )
    print(
        "\n".join(lines) + f"\n\ndevice: {device.platform} x{jax.device_count()}, matmul {peak:.0f} GFLOP/s; "
        f"hook loop: {torch_note}; {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
