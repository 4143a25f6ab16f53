"""Head x position activation-patching sweep: jaxinterp's batched engine vs a PyTorch hook loop.

Both sides patch the same weights: a random LLaMA-style model is made with transformers (PyTorch),
saved, and loaded into penzai with `jaxinterp.mech.models.load.load_pretrained`. The sweep patches every
(layer, position, head) output of the attention (the input of `o_proj`) from the clean run into the
corrupted run and records the logit difference at the last position.

  * hook loop: one forward pass per component with a forward pre-hook on `o_proj` that overwrites that
    head's slice at that position with the cached clean value (how hook-based libraries run such sweeps);
  * jaxinterp: `mech.patching.activation_patching`, one vectorised, jit-compiled pass per chunk of
    components (compile time reported separately), timed for several `position_buckets` values (1 = every
    component runs all positions from its layer on; n = positions split into n ranges, each running only
    from its start).
The two result grids are compared (max abs difference) and the speed-up is reported, together with how
close each side comes to the FLOP bound (components x FLOPs of one forward pass / measured time, against
the measured matmul throughput of this machine). Writes `bench/results/patching-<device>.json` and a table.

The hook loop runs on CUDA when JAX runs on a GPU and torch sees one (`--hook-loop auto`). Without torch and
transformers (or with `--hook-loop off`) only the jaxinterp side is timed: the random model is then built
with penzai and written as a HF checkpoint (`mech.models.hf_export`), so the same loader runs.

    python bench/patching.py                 # two sizes
    python bench/patching.py --sizes small   # quick
    python bench/patching.py --sizes tiny --batch 2 --seq 4 --position-buckets 1,2   # smoke test
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz
from penzai.models.transformer.variants import llamalike_common as llc

from jaxinterp.mech import patching
from jaxinterp.mech.models.hf_export import save_llamalike
from jaxinterp.mech.models.load import load_pretrained

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _header import run_header  # noqa: E402

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
    metric = functools.partial(patching.logit_difference, correct=correct, wrong=wrong)
    sweep = functools.partial(
        patching.activation_patching, model, "head_out", clean, corrupt, metric, chunk=chunk, position_buckets=buckets
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
    for buckets in bucket_choices:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        "and off (jaxinterp only) when torch or transformers is not installed",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
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
        "| size | components | hook loop s | position buckets | jaxinterp s | speed-up | incl. compile "
        "| JAX % of FLOP bound | max diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(v, spec: str, unit: str = "") -> str:
        return "-" if v is None else f"{v:{spec}}{unit}"

    for r in rows:
        for buckets, v in r["jax_by_position_buckets"].items():
            lines.append(
                f"| {r['size']} | {r['components']} | {num(r['torch_hook_loop_s'], '.2f')} | {buckets} | "
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
