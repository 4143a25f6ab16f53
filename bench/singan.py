"""SinGAN training-speed benchmark: jaxinterp (JAX) vs the official PyTorch release, side by side.

For every scale of the pyramid of a bundled image (paper defaults: longest side 250 px, 3 critic + 3
generator steps per iteration), the JAX trainer's per-scale program (`pyramid_train.compiled_chunk`) is
compiled once (timed separately), warmed up, and then timed over `--iters` iterations. With `--official-path`
(a checkout of tamarott/SinGAN), upstream's `train_single_scale` is timed on the same image, pyramid and
machine in a subprocess (`bench/_torch_official.py`), scale by scale, interleaved with the JAX runs so
that both see the same machine load. Writes `bench/results/singan-<device>.json` and prints a markdown
table with seconds/iteration per scale, speed-ups (official / JAX), the projected full training time
(niter x s/it summed over scales, plus compile time for JAX), peak memory and the device.

    python bench/singan.py                                   # JAX only, all scales, 20 iterations each
    python bench/singan.py --official-path /tmp/official_singan --iters 10
    python bench/singan.py --scales 0,5,9 --iters 5 --chunk 5  # quick look

Targets (the project's issue): full default training no slower than the official release on the same
CPU; on a GPU at least 2x faster per iteration.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.data.images import load_rgb, unit_to_uint8
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.pyramid import build_pyramid
from jaxinterp.gen.singan import train as singan_train
from jaxinterp.gen.singan.config import PRESETS, SinGANConfig
from jaxinterp.gen.singan.sampling import draw_noise, random_prev
from jaxinterp.mesh import models_mesh, models_sharding, shard_models

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402  (shared bench helpers)

OFFICIAL_RUNNER = HERE / "_torch_official.py"


# --------------------------------------------------------------------------------------------- helpers
def parse_scales(text: str | None, num_scales: int) -> list[int]:
    """'all' / None -> every scale; '0,3,5-7' -> those; negative indices count from the finest."""
    if text in (None, "", "all"):
        return list(range(num_scales))
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"-?\d+-\d+", part) and not part.startswith("-"):
            lo, hi = (int(x) for x in part.split("-"))
            out.update(range(lo, hi + 1))
        else:
            n = int(part)
            out.add(n + num_scales if n < 0 else n)
    bad = [n for n in out if not 0 <= n < num_scales]
    if bad:
        raise SystemExit(f"--scales {text}: {bad} outside 0..{num_scales - 1}")
    return sorted(out)


# ------------------------------------------------------------------------------------------- JAX side
def frozen_record(cfg: SinGANConfig, spec: singan_train.ScaleSpec, key) -> dict:
    """A stand-in for a finished scale: fresh generator weights, z_opt and noise_amp of the right shape
    (the speed of later scales depends only on these shapes)."""
    state = singan_train.init_state(cfg, spec, key, None)
    z_opt = draw_noise(key, 0, 1, spec.hw)[0] if spec.scale == 0 else jnp.zeros((*spec.hw, 3))
    return {"g": state["g"], "z_opt": z_opt, "noise_amp": jnp.asarray(1.0 if spec.scale == 0 else 0.1)}


def default_chunk(cfg: SinGANConfig) -> int:
    """Iterations per compiled call as the trainer runs them on this backend."""
    return pyramid_train.iterations_per_call(cfg)


class JaxBench:
    """Times jaxinterp's per-scale training program, scale by scale."""

    def __init__(self, cfg: SinGANConfig, reals: list, shapes, scale_factor: float, seed: int, quiet: common.Quiet):
        self.cfg, self.reals, self.shapes, self.scale_factor = cfg, reals, tuple(shapes), scale_factor
        self.quiet = quiet
        self.mesh = models_mesh(1)
        self.sharding = models_sharding(self.mesh)
        self.root = jax.random.PRNGKey(seed)
        self.records: list[dict] = []  # stacked (models axis of 1) frozen views of scales 0..k

    def spec(self, n: int) -> singan_train.ScaleSpec:
        return singan_train.ScaleSpec(n, self.shapes[: n + 1], self.scale_factor)

    def _frozen_up_to(self, n: int) -> list:
        while len(self.records) < n:
            k = len(self.records)
            rec = frozen_record(self.cfg, self.spec(k), jax.random.fold_in(self.root, 1000 + k))
            self.records.append(pyramid_train.stack([singan_train.SinGANRecipe.frozen_view(rec)]))
        return shard_models(self.records[:n], self.mesh)

    def time_scale(self, n: int, iters: int, chunk: int, warmup_chunks: int, cfg: SinGANConfig | None = None) -> dict:
        cfg = cfg or self.cfg
        spec = self.spec(n)
        key = jax.random.fold_in(self.root, n)
        frozen = self._frozen_up_to(n)
        real = shard_models(np.asarray(self.reals[n])[None], self.mesh)
        setup_keys = shard_models(np.asarray(jax.random.split(key, 1)), self.mesh)

        # What the trainer does once per scale: scale data (reconstruction input, noise_amp) on device.
        t = time.perf_counter()
        recipe = singan_train.SinGANRecipe(cfg)
        data = pyramid_train.compiled_scale_data(recipe, spec, self.sharding)(real, frozen, setup_keys)
        jax.block_until_ready(data)
        setup_s = time.perf_counter() - t

        state = shard_models(singan_train.stack([singan_train.init_state(cfg, spec, key, None)]), self.mesh)
        model_keys = shard_models(np.asarray(jax.random.fold_in(key, 7))[None], self.mesh)

        fn = pyramid_train.compiled_chunk(recipe, spec, chunk, self.mesh)
        t = time.perf_counter()
        compiled = fn.lower(state, data, frozen, model_keys).compile()
        compile_s = time.perf_counter() - t

        for _ in range(warmup_chunks):
            state, metrics = compiled(state, data, frozen, model_keys)
            jax.block_until_ready((state, metrics))
        calls = max(1, math.ceil(iters / chunk))

        def measure() -> dict:
            nonlocal state, metrics  # every attempt goes on training from where the last one stopped
            per_call = []
            before = common.cpu_now()
            for _ in range(calls):
                t = time.perf_counter()
                state, metrics = compiled(state, data, frozen, model_keys)
                jax.block_until_ready((state, metrics))
                per_call.append(time.perf_counter() - t)
            after = common.cpu_now()
            return {
                "per_call": per_call,
                "cpu_s": after[1] - before[1],
                "foreign_cores": common.foreign_cores(before, after, sum(per_call)),
            }

        best, attempts = self.quiet.best_of(measure)
        per_call, cpu_s = best["per_call"], best["cpu_s"]
        finite = bool(all(np.isfinite(np.asarray(v)).all() for v in metrics.values()))
        per_iter = np.asarray(per_call) / chunk
        return {
            "scale": n,
            "hw": list(spec.hw),
            "channels": cfg.channels(n),
            "iters": calls * chunk,
            "chunk": chunk,
            "compile_s": compile_s,
            "setup_s": setup_s,
            "s_per_iter": float(np.sum(per_call) / (calls * chunk)),
            "s_per_iter_min_chunk": float(per_iter.min()),
            "cpu_s_per_iter": cpu_s / (calls * chunk),
            "s_per_iter_per_chunk": [float(x) for x in per_iter],
            "losses_finite": finite,
            "foreign_cores": best["foreign_cores"],
            "attempts": len(attempts),
            "foreign_cores_per_attempt": [a["foreign_cores"] for a in attempts],
            "peak_rss_mb_so_far": common.peak_rss_mb(),
        }

    def time_pyramid(self, n: int, reps: int = 5) -> float:
        """Seconds for one random sample of the frozen scales 0..n-1 upsampled to scale n (what every
        critic step re-runs), jitted alone."""
        if n == 0:
            return 0.0
        frozen = [jax.tree_util.tree_map(lambda x: x[0], r) for r in self._frozen_up_to(n)]
        fn = jax.jit(lambda k: random_prev(self.cfg, frozen, self.shapes[: n + 1], self.scale_factor, k))
        jax.block_until_ready(fn(jax.random.PRNGKey(0)))
        t = time.perf_counter()
        for i in range(reps):
            jax.block_until_ready(fn(jax.random.PRNGKey(i)))
        return (time.perf_counter() - t) / reps


# -------------------------------------------------------------------------------------- official side
def run_official(
    args,
    image_npy: Path,
    scales: list[int],
    workdir: Path,
    d_steps: int = 3,
    g_steps: int = 3,
    iters: int | None = None,
) -> dict:
    """One subprocess of bench/_torch_official.py; returns its JSON (or {'error': ...})."""
    out = workdir / f"official_{'_'.join(map(str, scales))}_{d_steps}{g_steps}.json"
    cmd = [
        sys.executable,
        str(OFFICIAL_RUNNER),
        "--official-path",
        str(args.official_path),
        "--image-npy",
        str(image_npy),
        "--scales",
        ",".join(map(str, scales)),
        "--iters",
        str(iters or args.official_iters or args.iters),
        "--warmup",
        str(args.official_warmup),
        "--threads",
        str(args.torch_threads),
        "--variant",
        args.official_variant,
        "--device",
        args.official_device,
        "--d-steps",
        str(d_steps),
        "--g-steps",
        str(g_steps),
        "--json",
        str(out),
    ]
    log = workdir / (out.stem + ".log")
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=workdir)
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text()[-2000:]
        return {"error": f"official runner exited {proc.returncode}", "log_tail": tail}
    return json.loads(out.read_text())


# --------------------------------------------------------------------------------------------- report
def fmt(x, sig: int = 3) -> str:
    if x is None:
        return "–"
    return f"{x:.{sig}g}" if abs(x) < 1000 else f"{x:.0f}"


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def markdown_table(result: dict) -> str:
    jax_rows = {r["scale"]: r for r in result["jax"]["scales"]}
    off = result.get("official") or {}
    off_rows = {r["scale"]: r for r in off.get("scales", [])}
    has_off = bool(off_rows)
    head = "| scale | size | ch | JAX s/it | JAX compile s |"
    sep = "|---:|---|---:|---:|---:|"
    if has_off:
        head += " official s/it | speed-up (official/JAX) | CPU-time ratio |"
        sep += "---:|---:|---:|"
    lines = [head, sep]
    for n in sorted(jax_rows):
        j = jax_rows[n]
        size = f"{j['hw'][0]}×{j['hw'][1]}"
        row = f"| {n} | {size} | {j['channels']} | {fmt(j['s_per_iter'])} | {j['compile_s']:.1f} |"
        if has_off:
            o = off_rows.get(n)
            speedup = fmt(o["s_per_iter"] / j["s_per_iter"], 2) + "×" if o else "–"
            cpu_ratio = fmt(o["cpu_s_per_iter"] / j["cpu_s_per_iter"], 2) + "×" if o else "–"
            row += f" {fmt(o['s_per_iter']) if o else '–'} | {speedup} | {cpu_ratio} |"
        lines.append(row)
    tot = result["projection"]
    row = (
        f"| **total** (niter={result['config']['niter']}) | | | {hms(tot['jax_train_s'])} train "
        f"+ {tot['jax_compile_s']:.0f} s compile = **{hms(tot['jax_total_s'])}** | |"
    )
    if has_off:
        ratio = tot.get("speedup_total")
        row += f" **{hms(tot.get('official_total_s'))}** | **{fmt(ratio, 2) + '×' if ratio else '–'}** | |"
    lines.append(row)
    dev = result["device"]
    mem = f"peak RSS: JAX {result['jax']['peak_rss_mb']:.0f} MB"
    if result["jax"].get("device_peak_bytes"):
        mem += f" (device peak {result['jax']['device_peak_bytes'] / 2**20:.0f} MiB)"
    if has_off:
        mem += f", official {off.get('peak_rss_mb', 0):.0f} MB"
    notes = [
        f"device: {dev['str']} ({dev['device_kind']}), host {result['host']['cpu']}, "
        f"{result['host']['cores_usable']} cores; {mem}",
    ]
    if tot.get("partial"):
        notes.append(
            f"projection covers only the measured scales {tot['scales']} of {result['geometry']['num_scales']}"
        )
    if has_off:
        notes.append(
            f"official: torch {off.get('torch_version')} "
            f"({off.get('threads')} threads, {off.get('device')}), "
            f"variant '{off.get('variant')}'"
        )
    else:
        notes.append(f"official: {result.get('official_status', 'not run')}")
    return common.markdown_report(lines, notes, result.get("load_warning"))


# ----------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="SinGAN training speed: jaxinterp vs the official PyTorch code, per scale.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--image", default="builtin:hubble", help="builtin:<name> or an RGB image file")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS), help="SinGANConfig preset")
    p.add_argument("--scales", default="all", help="scales to time, e.g. 'all', '0,4,9', '7-9', '-1' (finest)")
    p.add_argument("--iters", type=int, default=20, help="timed iterations per scale (JAX; rounded up to --chunk)")
    p.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="iterations fused in one compiled call (lax.scan length); default: as the trainer does on "
        "this backend (pyramid_train.iterations_per_call)",
    )
    p.add_argument(
        "--warmup-chunks",
        type=int,
        default=None,
        help="untimed calls after compiling (default: enough for 2 iterations)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--official-path",
        type=Path,
        default=None,
        help="checkout of tamarott/SinGAN; enables the side-by-side comparison",
    )
    p.add_argument("--official-iters", type=int, default=None, help="timed official iterations (default: --iters)")
    p.add_argument("--official-warmup", type=int, default=2, help="untimed official iterations per scale")
    p.add_argument(
        "--official-variant",
        choices=("recompute", "stale"),
        default="recompute",
        help="how the torch>=1.5 G-step bug is worked around (see bench/_torch_official.py)",
    )
    common.add_official_device_args(p)
    p.add_argument(
        "--breakdown-scales",
        default="",
        help="scales to split into critic-step / generator-step / frozen-pyramid costs "
        "(extra runs with 6 D or 6 G steps; both sides)",
    )
    common.Quiet.add_args(
        p, "on a shared machine: CPU cores other processes may use during a measurement before it is retried"
    )
    p.add_argument("--out", type=Path, default=HERE / "results", help="folder for singan-<device>.json")
    p.add_argument("--tag", default="", help="suffix for the JSON file name")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = PRESETS[args.preset]
    dev = common.device_info()
    host = common.host_info()
    common.resolve_official_args(args, dev, host)

    image = load_rgb(args.image)
    geometry = singan_train.geometry_for(cfg, image.shape[:2])
    reals = [np.asarray(r) for r in build_pyramid(image, geometry)]
    scales = parse_scales(args.scales, geometry.num_scales)
    breakdown = parse_scales(args.breakdown_scales, geometry.num_scales) if args.breakdown_scales else []
    print(
        f"device {dev['str']} ({dev['device_kind']}); image {args.image} {image.shape[:2]} -> "
        f"{geometry.num_scales} scales {geometry.shapes}",
        flush=True,
    )

    has_official, official_note = common.official_status(args.official_path, "SinGAN/training.py")
    if not has_official:
        print(f"official: {official_note}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="singan_bench_"))
    image_npy = workdir / "image.npy"
    # The exact pixels the JAX side loaded (uint8 round trip is lossless for 8-bit inputs).
    np.save(image_npy, unit_to_uint8(image))

    quiet = common.Quiet.from_args(args)
    bench = JaxBench(cfg, reals, geometry.shapes, geometry.scale_factor, args.seed, quiet)
    chunk = max(1, min(args.chunk or default_chunk(cfg), args.iters))
    if args.warmup_chunks is None:
        args.warmup_chunks = max(1, math.ceil(2 / chunk))
    load_before = os.getloadavg()
    jax_rows, off_rows, official, breakdown_rows = [], [], None, []

    def write_result(final: bool):
        """Assembles and writes the JSON (also after every scale, so an interrupted run keeps its data)."""
        done = [r["scale"] for r in jax_rows]
        partial = len(done) < geometry.num_scales
        projection = {"niter": cfg.niter, **common.project_training(cfg.niter, jax_rows, off_rows), "partial": partial}
        per_scale = projection.pop("per_scale", None)
        comparison = None
        if per_scale:
            worst = min(p["speedup"] for p in per_scale)
            if dev["platform"] == "cpu":
                target = "CPU: projected full training (incl. compile) no slower than official (speed-up >= 1)"
                met = projection["speedup_total"] >= 1.0
            else:
                target = "GPU: every scale at least 2x faster per iteration than official"
                met = worst >= 2.0
            comparison = {
                "per_scale": per_scale,
                "speedup_total": projection["speedup_total"],
                "worst_scale_speedup": worst,
                "target": target,
                "target_met": bool(met),
            }

        load_after = os.getloadavg()
        load_warning = common.load_note(load_before, load_after, host["cores_usable"], "compare ratios")
        result = {
            **common.result_header("singan-train-speed", final, scales, argv, dev, host),
            "config": {
                "preset": args.preset,
                "image": args.image,
                "niter": cfg.niter,
                "d_steps": cfg.d_steps,
                "g_steps": cfg.g_steps,
                "max_size": cfg.max_size,
                "min_size": cfg.min_size,
            },
            "settings": {
                "iters": args.iters,
                "chunk": chunk,
                "warmup_chunks": args.warmup_chunks,
                "official_iters": args.official_iters or args.iters,
                "official_warmup": args.official_warmup,
                "torch_threads": args.torch_threads,
            },
            "geometry": {
                "input_hw": list(geometry.input_hw),
                "num_scales": geometry.num_scales,
                "scale_factor": geometry.scale_factor,
                "shapes": [list(s) for s in geometry.shapes],
            },
            "load_avg_before": load_before,
            "load_avg_after": load_after,
            "load_warning": load_warning,
            "jax": {
                "scales": jax_rows,
                "peak_rss_mb": common.peak_rss_mb(),
                "device_peak_bytes": common.device_peak_bytes(),
            },
            "official_status": "measured" if off_rows else official_note,
            "official": (official | {"scales": off_rows}) if official else None,
            "projection": projection,
            "comparison": comparison,
            "breakdown": breakdown_rows or None,
        }
        if official and off_rows and official.get("shapes") != result["geometry"]["shapes"]:
            result["shape_mismatch"] = {"jax": result["geometry"]["shapes"], "official": official.get("shapes")}
        path = common.write_json(args.out, f"singan-{dev['slug']}{('-' + args.tag) if args.tag else ''}.json", result)
        return result, path

    for n in scales:
        row = bench.time_scale(n, args.iters, chunk, args.warmup_chunks)
        jax_rows.append(row)
        print(
            f"jax scale {n} {tuple(row['hw'])}: {row['s_per_iter']:.4f} s/it, compile {row['compile_s']:.1f} s, "
            f"others used {fmt(row['foreign_cores'], 2)} cores",
            flush=True,
        )
        if has_official:  # interleaved, so that both sides see the same machine load
            res, tries = quiet.best_of(
                functools.partial(run_official, args, image_npy, [n], workdir),
                row=lambda r: r["scales"][0],
            )
            if tries:
                res["scales"][0]["foreign_cores_per_attempt"] = [r["scales"][0].get("foreign_cores") for r in tries]
            if "error" in res:
                print(f"official scale {n} failed: {res['error']}\n{res['log_tail']}", flush=True)
                official = res
                has_official = False
                official_note = res["error"]
                continue
            official = {k: v for k, v in res.items() if k != "scales"} | {
                "peak_rss_mb": max(res["peak_rss_mb"], (official or {}).get("peak_rss_mb", 0))
            }
            off_rows.extend(res["scales"])
            o = res["scales"][0]
            print(
                f"official scale {n}: {o['s_per_iter']:.4f} s/it -> "
                f"speed-up {o['s_per_iter'] / row['s_per_iter']:.2f}x, "
                f"others used {fmt(o.get('foreign_cores'), 2)} cores",
                flush=True,
            )
        write_result(final=False)

    # Optional split of one iteration into critic step, generator step and the rest (differences of
    # runs with 6 instead of 3 critic or generator steps), and the frozen pyramid alone.
    for n in breakdown:
        base = next((r for r in jax_rows if r["scale"] == n), None) or bench.time_scale(
            n, args.iters, chunk, args.warmup_chunks
        )
        more_d = bench.time_scale(n, args.iters, chunk, args.warmup_chunks, cfg.replace(d_steps=2 * cfg.d_steps))
        more_g = bench.time_scale(n, args.iters, chunk, args.warmup_chunks, cfg.replace(g_steps=2 * cfg.g_steps))
        d_step = (more_d["s_per_iter"] - base["s_per_iter"]) / cfg.d_steps
        g_step = (more_g["s_per_iter"] - base["s_per_iter"]) / cfg.g_steps
        entry = {
            "scale": n,
            "jax": {
                "s_per_iter": base["s_per_iter"],
                "critic_step_s": d_step,
                "generator_step_s": g_step,
                "rest_s": base["s_per_iter"] - cfg.d_steps * d_step - cfg.g_steps * g_step,
                "frozen_pyramid_sample_s": bench.time_pyramid(n),
            },
        }
        if has_official:
            b_off = next((r for r in off_rows if r["scale"] == n), None)
            if b_off is None:
                b_off = run_official(args, image_npy, [n], workdir)["scales"][0]
            d_off = run_official(args, image_npy, [n], workdir, d_steps=2 * cfg.d_steps)
            g_off = run_official(args, image_npy, [n], workdir, g_steps=2 * cfg.g_steps)
            if "error" not in d_off and "error" not in g_off:
                od = (d_off["scales"][0]["s_per_iter"] - b_off["s_per_iter"]) / cfg.d_steps
                og = (g_off["scales"][0]["s_per_iter"] - b_off["s_per_iter"]) / cfg.g_steps
                entry["official"] = {
                    "s_per_iter": b_off["s_per_iter"],
                    "critic_step_s": od,
                    "generator_step_s": og,
                    "rest_s": b_off["s_per_iter"] - cfg.d_steps * od - cfg.g_steps * og,
                }
        breakdown_rows.append(entry)
        print(f"breakdown scale {n}: {json.dumps(entry)}", flush=True)

    result, path = write_result(final=True)
    table = markdown_table(result)
    print("\n" + table)
    print(f"wrote {path}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
