"""Times the official PyTorch SinGAN (tamarott/SinGAN) per scale, for `bench/singan.py`.

Nothing of the official code lives here: it is imported from `--official-path` (a checkout of the
upstream repository, e.g. tip 1b4906b) and run as it is, except for one runtime patch that modern
PyTorch needs (see `load_training`). Runs in its own process so that its peak RSS, thread settings and
imports stay apart from the JAX measurement; writes one JSON file (`--json`).

What is timed: upstream's `train_single_scale` for scale n, with freshly initialised frozen generators
for scales 0..n-1 (only their shapes matter for speed), `niter = warmup + iters + 1`. The end of each
iteration is stamped by the per-epoch `MultiStepLR.step()` call; the first `warmup` iterations (the
first one also does upstream's one-off `draw_concat(..., 'rec')` and image dump) and the last one (it
saves images and weights) are left out.

Variants of the fix for upstream issue #101 (in-place RuntimeError in the G steps on torch >= 1.5):
  recompute  re-run `fake = netG(noise, prev)` before `netD(fake)` in every G step (the fix proposed in
             the threads of upstream PRs #117/#146; the same work as the JAX trainer does);
  stale      no source change: run under `torch.autograd.graph.allow_mutation_on_saved_tensors()`, which
             reproduces torch <= 1.4 (the adversarial gradient reuses the last critic step's graph,
             so 3 fewer generator forwards per iteration) at the price of a Python dispatch hook.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.machinery
import json
import math
import os
import resource
import sys
import tempfile
import time
import types
from pathlib import Path

# The single line of upstream's G loop that the `recompute` variant changes (and what it becomes).
_G_LOOP_LINE = "            output = netD(fake)\n"
_G_LOOP_PATCH = "            fake = netG(noise.detach(),prev)\n            output = netD(fake)\n"


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo probes specs
    return module


def _stub_optional_modules() -> list[str]:
    """Upstream imports matplotlib and scikit-learn at module level but only uses them for image dumps
    and paint-to-image; stub them when they are not installed (recorded in the JSON)."""
    stubbed = []
    try:
        import matplotlib  # noqa: F401
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        mpl = _module("matplotlib")
        plt = _module("matplotlib.pyplot")
        plt.imsave = lambda *a, **k: None
        patches = _module("matplotlib.patches")
        mpl.pyplot, mpl.patches = plt, patches
        sys.modules.update({"matplotlib": mpl, "matplotlib.pyplot": plt, "matplotlib.patches": patches})
        stubbed.append("matplotlib")
    try:
        import sklearn.cluster  # noqa: F401
    except ImportError:
        sk = _module("sklearn")
        cluster = _module("sklearn.cluster")

        class KMeans:  # only paint2image uses it
            def __init__(self, *a, **k):
                raise RuntimeError("scikit-learn is not installed (stubbed by the benchmark)")

        cluster.KMeans = KMeans
        sk.cluster = cluster
        sys.modules.update({"sklearn": sk, "sklearn.cluster": cluster})
        stubbed.append("sklearn")
    return stubbed


def busy_cpu_seconds() -> float | None:
    """CPU seconds spent busy by the whole machine since boot (Linux /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage: on Linux its ru_maxrss survives
    execve, so a subprocess would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_training(official: Path, variant: str):
    """Imports upstream's `SinGAN.training`; for `recompute`, with the one-line G-loop fix applied to
    the source text in memory (the file on disk is not touched)."""
    import SinGAN  # noqa: F401  (the package from `official`, put on sys.path by main)

    path = official / "SinGAN" / "training.py"
    source = path.read_text()
    if variant == "recompute":
        if source.count(_G_LOOP_LINE) != 1:
            raise SystemExit(f"{path}: expected exactly one G-loop line {_G_LOOP_LINE.strip()!r}; unknown version")
        source = source.replace(_G_LOOP_LINE, _G_LOOP_PATCH)
    module = types.ModuleType("SinGAN.training")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    sys.modules["SinGAN.training"] = module
    return module, hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official-path", required=True, type=Path)
    parser.add_argument("--image-npy", required=True, type=Path, help="uint8 h x w x 3 image")
    parser.add_argument("--scales", required=True, help="comma-separated scale indices")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", choices=("recompute", "stale"), default="recompute")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--d-steps", type=int, default=3)
    parser.add_argument("--g-steps", type=int, default=3)
    parser.add_argument("--json", required=True, type=Path)
    args = parser.parse_args(argv)

    official = args.official_path.resolve()
    if not (official / "SinGAN" / "training.py").is_file():
        raise SystemExit(f"{official} does not look like a tamarott/SinGAN checkout (no SinGAN/training.py)")
    stubbed = _stub_optional_modules()
    sys.path.insert(0, str(official))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import SinGAN.functions as functions
    import SinGAN.models as models
    from config import get_arguments
    from SinGAN.imresize import imresize

    training, training_sha = load_training(official, args.variant)

    # Upstream's option parsing, as main_train.py does it.
    parser_up = get_arguments()
    parser_up.add_argument("--input_dir", default="Input/Images")
    parser_up.add_argument("--input_name", default="bench.png")
    parser_up.add_argument("--mode", default="train")
    up_argv = ["--input_name", "bench.png", "--manualSeed", "0"]
    up_argv += ["--Dsteps", str(args.d_steps), "--Gsteps", str(args.g_steps)]
    if args.device == "cpu":
        up_argv.append("--not_cuda")
    opt = functions.post_config(parser_up.parse_args(up_argv))

    # Same pixels as the JAX side; upstream's read_image = np2torch(imread(...)) -> adjust -> pyramid.
    image = np.load(args.image_npy)
    real_ = functions.np2torch(image, opt)[:, 0:3, :, :]
    functions.adjust_scales2image(real_, opt)
    real = imresize(real_, opt.scale1, opt)
    reals = functions.creat_reals_pyramid(real, [], opt)
    shapes = [tuple(int(s) for s in r.shape[2:]) for r in reals]
    pad = int(((opt.ker_size - 1) * opt.num_layer) / 2)

    # Per-epoch time stamps from the D scheduler (one step() per epoch; one more at construction).
    stamps: list[float] = []
    cpu_stamps: list[float] = []  # process CPU seconds (all threads) at the same moments
    busy_stamps: list[float | None] = []  # machine-wide busy CPU seconds at the same moments
    base_scheduler = torch.optim.lr_scheduler.MultiStepLR

    class StampedMultiStepLR(base_scheduler):
        first = None

        def __init__(self, *a, **k):
            if StampedMultiStepLR.first is None:
                StampedMultiStepLR.first = self
            super().__init__(*a, **k)

        def step(self, *a, **k):
            super().step(*a, **k)
            if StampedMultiStepLR.first is self:
                if opt.device.type == "cuda":
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())
                cpu_stamps.append(time.process_time())
                busy_stamps.append(busy_cpu_seconds())

    torch.optim.lr_scheduler.MultiStepLR = StampedMultiStepLR

    def set_channels(n: int) -> None:  # as upstream's train() does before init_models
        opt.nfc = min(opt.nfc_init * pow(2, math.floor(n / 4)), 128)
        opt.min_nfc = min(opt.min_nfc_init * pow(2, math.floor(n / 4)), 128)

    def fresh_net(cls, n: int):
        set_channels(n)
        net = cls(opt).to(opt.device)
        net.apply(models.weights_init)
        return net

    scales = sorted({int(s) for s in args.scales.split(",")})
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="singan_official_"))
    for n in scales:
        if n >= len(reals):
            raise SystemExit(f"scale {n} out of range: the pyramid has {len(reals)} scales")
        # Frozen coarser scales (upstream freezes them with reset_grads(False) + eval()).
        gs, zs, amps = [], [], []
        for k in range(n):
            g = functions.reset_grads(fresh_net(models.GeneratorConcatSkip2CleanAdd, k), False)
            g.eval()
            gs.append(g)
            h, w = shapes[k]
            z = torch.randn(1, 1, h, w, device=opt.device).expand(1, 3, h, w) if k == 0 else torch.zeros(1, 3, h, w)
            zs.append(torch.nn.functional.pad(z.to(opt.device), (pad,) * 4))
            amps.append(1.0 if k == 0 else 0.1)
        in_s = torch.zeros(1, 3, *shapes[0], device=opt.device)
        net_d = fresh_net(models.WDiscriminator, n)
        net_g = fresh_net(models.GeneratorConcatSkip2CleanAdd, n)
        set_channels(n)
        opt.niter = args.warmup + args.iters + 1
        opt.outf = str(workdir / str(n))
        os.makedirs(opt.outf, exist_ok=True)
        stamps.clear()
        cpu_stamps.clear()
        busy_stamps.clear()
        StampedMultiStepLR.first = None
        guard = (
            torch.autograd.graph.allow_mutation_on_saved_tensors()
            if args.variant == "stale"
            else contextlib.nullcontext()
        )
        t0 = time.perf_counter()
        with guard:
            training.train_single_scale(net_d, net_g, reals, gs, zs, in_s, amps, opt)
        wall = time.perf_counter() - t0
        per_epoch = np.diff(np.asarray(stamps))  # epoch e = stamps[e + 1] - stamps[e]
        timed = per_epoch[args.warmup : args.warmup + args.iters]
        timed_cpu = np.diff(np.asarray(cpu_stamps))[args.warmup : args.warmup + args.iters]
        lo, hi = args.warmup, args.warmup + timed.size  # stamp indices bounding the timed epochs
        foreign = None
        if busy_stamps[lo] is not None and busy_stamps[hi] is not None:
            other = (busy_stamps[hi] - busy_stamps[lo]) - (cpu_stamps[hi] - cpu_stamps[lo])
            foreign = max(0.0, other) / (stamps[hi] - stamps[lo])
        rows.append(
            {
                "scale": n,
                "hw": list(shapes[n]),
                "channels": int(opt.nfc),
                "iters": int(timed.size),
                "s_per_iter": float(timed.mean()),
                "s_per_iter_median": float(np.median(timed)),
                "s_per_iter_min": float(timed.min()),
                "cpu_s_per_iter": float(timed_cpu.mean()),
                "foreign_cores": foreign,
                "first_iter_s": float(per_epoch[0]),
                "call_wall_s": wall,
            }
        )
        print(f"official scale {n} {shapes[n]}: {timed.mean():.4f} s/it", flush=True)

    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(opt.device),
        "variant": args.variant,
        "official_path": str(official),
        "training_py_sha256": training_sha,
        "stubbed_modules": stubbed,
        "shapes": [list(s) for s in shapes],
        "scale_factor": float(opt.scale_factor),
        "scales": rows,
        "peak_rss_mb": peak_rss_mb(),
    }
    if opt.device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(0)
        result["device_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
