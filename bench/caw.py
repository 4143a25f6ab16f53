"""Catch-A-Waveform training-speed benchmark: jaxinterp (JAX) vs the official PyTorch release, side by side.

For every scale of the pyramid of a bundled recording (paper defaults: 16 kHz, up to 25 s, 1 critic + 1
generator step per iteration, 2000 iterations per scale), the JAX trainer's per-scale program
(`pyramid_train.compiled_chunk` with CAW's recipe) is compiled once (timed apart), warmed up, and
timed over `--iters` iterations. With `--official-path` (a checkout of galgreshler/Catch-A-Waveform,
6abb81e), upstream's `train_single_scale` is timed on the same pyramid and machine in a subprocess
(`bench/_torch_caw_official.py`), scale by scale, right after the JAX run of that scale. Writes
`bench/results/caw-<device>.json` and `.md`: seconds/iteration per scale, speed-ups (official / JAX),
and the projected full training time (iterations x s/it summed over scales, plus compile time for JAX).

    python bench/caw.py                                        # JAX only, all scales
    python bench/caw.py --official-path /tmp/caw_official --iters 3
    python bench/caw.py --scales 0,5,-1 --seconds 5            # quick look on a 5 s clip

Target (the project's issue): full default training no slower than the official release on the same CPU.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAXINTERP_XLA_DEFAULTS", "1")  # YNNPACK reductions off (jaxinterp/xla_cpu_flags.py)

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from jaxinterp.gen.caw import train as caw_train
from jaxinterp.gen.caw.config import PRESETS
from jaxinterp.gen.pyramid_train import compiled_chunk, compiled_scale_data, stack
from jaxinterp.mesh import models_mesh, models_sharding, shard_models

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402  (shared bench helpers)
from singan import fmt, hms, parse_scales  # noqa: E402  (table helpers)

OFFICIAL_RUNNER = HERE / "_torch_caw_official.py"


class JaxBench:
    """Times jaxinterp's per-scale CAW training program, scale by scale."""

    def __init__(self, cfg, geometry, reals, seed: int):
        self.cfg, self.geometry, self.reals = cfg, geometry, reals
        self.mesh = models_mesh(1)
        self.root = jax.random.PRNGKey(seed)
        self.frozen: list[dict] = []  # stacked stand-ins for finished scales

    def _frozen_up_to(self, n: int) -> list:
        while len(self.frozen) < n:
            k = len(self.frozen)
            spec = caw_train.spec_for(self.geometry, k)
            state = caw_train.init_state(self.cfg, spec, jax.random.fold_in(self.root, 1000 + k), None)
            length = self.geometry.lengths[k]
            record = {
                "g": state["g"],
                "rec_noise": np.zeros((length, 1), np.float32),
                "noise_amp": np.float32(1.0 if k == 0 else 0.01),
            }
            self.frozen.append(stack([record]))
        return shard_models(self.frozen[:n], self.mesh)

    def time_scale(self, n: int, iters: int, warmup: int) -> dict:
        cfg, spec = self.cfg, caw_train.spec_for(self.geometry, n)
        key = jax.random.fold_in(self.root, n)
        frozen = self._frozen_up_to(n)
        keys = shard_models(np.asarray(key)[None], self.mesh)
        t = time.perf_counter()
        data = compiled_scale_data(caw_train.CAWRecipe(cfg), spec, models_sharding(self.mesh))(
            shard_models(stack([self.reals[n]]), self.mesh), frozen, keys
        )
        jax.block_until_ready(data)
        setup_s = time.perf_counter() - t
        state = shard_models(stack([caw_train.init_state(cfg, spec, key, None)]), self.mesh)
        t = time.perf_counter()
        program = compiled_chunk(caw_train.CAWRecipe(cfg), spec, 1, self.mesh)
        compiled = program.lower(state, data, frozen, keys).compile()
        compile_s = time.perf_counter() - t
        for _ in range(warmup):
            state, metrics = compiled(state, data, frozen, keys)
        jax.block_until_ready(state)
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(iters):
            state, metrics = compiled(state, data, frozen, keys)
        jax.block_until_ready((state, metrics))
        seconds = time.perf_counter() - t
        return {
            "scale": n,
            "rate": self.geometry.rates[n],
            "samples": self.geometry.lengths[n],
            "channels": cfg.channels(n),
            "s_per_iter": seconds / iters,
            "cpu_s_per_iter": (time.process_time() - cpu) / iters,
            "compile_s": compile_s,
            "setup_s": setup_s,
        }


def run_official(args, workdir: Path, n: int) -> dict | None:
    out = workdir / f"official_{n}.json"
    cmd = [
        sys.executable,
        str(OFFICIAL_RUNNER),
        "--official-path",
        str(args.official_path),
        "--spec",
        str(workdir / "spec.json"),
        "--scales",
        str(n),
        "--iters",
        str(args.iters),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.torch_threads),
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    if proc.returncode != 0:
        print(f"official scale {n} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    result = json.loads(out.read_text())
    return result | result.pop("scales")[0]


def markdown_table(result: dict) -> str:
    rows = {r["scale"]: r for r in result["jax"]}
    official = {r["scale"]: r for r in result.get("official", [])}
    table = [
        "| scale | rate (Hz) | samples | ch | JAX s/it | official s/it | speed-up | JAX compile s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, r in rows.items():
        o = official.get(n)
        table.append(
            f"| {n} | {r['rate']} | {r['samples']} | {r['channels']} | {fmt(r['s_per_iter'])} | "
            f"{fmt(o['s_per_iter']) if o else '-'} | {fmt(o['s_per_iter'] / r['s_per_iter']) if o else '-'} | "
            f"{r['compile_s']:.1f} |"
        )
    p = result["projection"]
    notes = [
        f"projected full training ({p['iterations']} it/scale, scales {p['scales']}): JAX {hms(p['jax_total_s'])} "
        f"(of which compile {hms(p['jax_compile_s'])})"
        + (
            f", official {hms(p['official_total_s'])}, speed-up {p['speedup_total']:.2f}x"
            if "official_total_s" in p
            else ""
        ),
        f"{result['config']['source']} ({result['config']['seconds']:.1f} s), preset {result['config']['preset']}; "
        f"{result['settings']['iters']} timed iterations after {result['settings']['warmup']} warm-up per scale",
        f"XLA_FLAGS: `{result['xla_flags'] or '(none)'}`" + ("" if result["complete"] else "; PARTIAL (interrupted)"),
    ]
    return common.markdown_report(table, notes, result.get("load_warning"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio", default="builtin:music", help="recording (default: %(default)s)")
    p.add_argument("--seconds", type=float, help="crop the recording (default: the preset's max_length)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--scales", default="all", help="'all', or e.g. '0,3,-1'")
    p.add_argument("--iters", type=int, default=3, help="timed iterations per scale")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations per scale")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--official-path", type=Path, help="checkout of galgreshler/Catch-A-Waveform (6abb81e)")
    p.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: usable cores)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = PRESETS[args.preset]
    if args.seconds:
        cfg = cfg.replace(max_length=args.seconds)
    dev, host = common.device_info(), common.host_info()
    args.torch_threads = args.torch_threads or host["cores_usable"]
    signal, rate, note = caw_train.load_recording(args.audio, cfg)
    geometry, reals = caw_train.prepare(signal, rate, cfg, source=args.audio)
    scales = parse_scales(args.scales, geometry.num_scales)
    print(f"{note}; {geometry.num_scales} scales at {geometry.rates} Hz", flush=True)
    has_official, official_note = common.official_status(args.official_path, "training.py")
    if not has_official:
        print(f"official: {official_note}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="caw_bench_"))
    alpha1, alpha2 = cfg.loss_weights()
    spec = {
        "rates": list(geometry.rates),
        "config": {
            "num_layers": cfg.num_layers,
            "filter_size": cfg.filter_size,
            "channels_init": cfg.channels_init,
            "channels_factor": cfg.channels_factor,
            "alpha1": alpha1,
            "alpha2": alpha2,
            "cond_noise": cfg.cond_noise,
            "speech": cfg.speech,
            "mode": cfg.mode,
        },
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    np.savez(workdir / "spec.npz", **{f"l{i}": r["signal"][:, 0] for i, r in enumerate(reals)})

    bench = JaxBench(cfg, geometry, reals, args.seed)
    load_before = os.getloadavg()
    jax_rows, off_rows = [], []
    name = f"caw-{dev['slug']}"

    def write_result(final: bool) -> Path:
        """Writes the JSON and table (after every scale too, so an interrupted run keeps its data)."""
        projection = {"iterations": cfg.iterations, **common.project_training(cfg.iterations, jax_rows, off_rows)}
        if "speedup_total" in projection:
            projection["target_met"] = bool(projection["speedup_total"] >= 1.0)
        result = {
            **common.result_header("caw-train-speed", final, scales, argv, dev, host),
            "config": {
                "preset": args.preset,
                "source": args.audio,
                "seconds": geometry.seconds,
                "rates": list(geometry.rates),
                "lengths": list(geometry.lengths),
                "iterations": cfg.iterations,
            },
            "settings": {"iters": args.iters, "warmup": args.warmup, "torch_threads": args.torch_threads},
            "official": off_rows,
            "official_note": official_note if not has_official else None,
            "jax": jax_rows,
            "projection": projection,
            "load_warning": common.load_note(load_before, os.getloadavg(), host["cores_usable"], "compare ratios"),
        }
        path = common.write_json(args.out, f"{name}.json", result)
        (args.out / f"{name}.md").write_text(markdown_table(result))
        return path

    for n in scales:
        jax_rows.append(bench.time_scale(n, args.iters, args.warmup))
        r = jax_rows[-1]
        print(
            f"jax scale {n} ({r['rate']} Hz, {r['samples']} samples): {r['s_per_iter']:.4f} s/it, "
            f"compile {r['compile_s']:.1f} s",
            flush=True,
        )
        if has_official:
            o = run_official(args, workdir, n)
            if o is not None:
                off_rows.append(o)
                print(
                    f"official scale {n}: {o['s_per_iter']:.4f} s/it (x{o['s_per_iter'] / r['s_per_iter']:.2f})",
                    flush=True,
                )
        write_result(final=False)
    path = write_result(final=True)
    print((args.out / f"{name}.md").read_text())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
