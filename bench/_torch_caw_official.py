"""Times the official PyTorch Catch-A-Waveform (galgreshler/Catch-A-Waveform) per scale, for `bench/caw.py`.

Nothing of the official code lives here: it is imported from `--official-path` (a checkout of the
upstream repository; use 6abb81e: the tip's PR #9 warm start loads 16-channel weights into the 96-channel
scale 1) and its `training.train_single_scale` is run as it is. Modules upstream imports only for
plotting or for loading files (librosa, bokeh) are stubbed when missing (recorded in the JSON). Runs in
its own process (threads, imports and peak RSS apart from JAX). One runtime patch: upstream's ResizeRight
copy calls `.cuda()` unconditionally, which is made a no-op on CPU-only torch. Reads the pyramid from `--spec` (JSON +
an .npz of the levels) and writes one JSON file (`--json`).

What is timed: `train_single_scale` for scale n with `num_epochs = warmup + iters + 1`, freshly
initialised frozen generators for scales 0..n-1 (only their shapes matter for speed), and, for the warm
start from scale 2 on, fresh weights of scale n-1 saved where upstream loads them. The end of each
iteration is stamped by the generator's per-epoch `MultiStepLR.step()`; the first `warmup` iterations
(the first also draws the reconstruction input) and the last one are left out.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path

from _torch_official import peak_rss_mb


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    return module


def _stub_optional_modules() -> list[str]:
    stubbed = []
    try:
        import librosa  # noqa: F401
    except ImportError:
        sys.modules["librosa"] = _module("librosa")
        stubbed.append("librosa")
    try:
        import bokeh.plotting  # noqa: F401
    except ImportError:
        noop = lambda *a, **k: None  # noqa: E731
        sys.modules["bokeh"] = _module("bokeh")
        sys.modules["bokeh.plotting"] = _module("bokeh.plotting", figure=noop, output_file=noop, show=noop)
        sys.modules["bokeh.palettes"] = _module("bokeh.palettes", Category20={20: ["#000000"] * 20})
        sys.modules["bokeh.layouts"] = _module("bokeh.layouts", column=noop)
        stubbed.append("bokeh")
    return stubbed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--official-path", required=True)
    p.add_argument("--spec", required=True, help="JSON: rates, config; levels in <spec>.npz")
    p.add_argument("--scales", required=True, help="comma-separated scale indices")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)

    stubbed = _stub_optional_modules()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    patches = []
    if not torch.cuda.is_available():
        # Upstream's utils/resize_right.py calls `.cuda()` unconditionally (scales >= 1 cannot run on a CPU).
        torch.Tensor.cuda = lambda self, *a, **k: self
        patches.append("Tensor.cuda is a no-op (upstream resize_right.py calls .cuda() unconditionally)")
    official = Path(args.official_path).resolve()
    sys.path.insert(0, str(official))
    spec = json.loads(Path(args.spec).read_text())
    levels = np.load(Path(args.spec).with_suffix(".npz"))
    signals = [torch.tensor(levels[f"l{i}"], dtype=torch.float32) for i in range(len(spec["rates"]))]

    stamps: list[float] = []
    real_scheduler = torch.optim.lr_scheduler.MultiStepLR

    class StampedScheduler(real_scheduler):
        def step(self, *a, **k):
            stamps.append(time.perf_counter())
            return super().step(*a, **k)

    torch.optim.lr_scheduler.MultiStepLR = StampedScheduler
    import training  # noqa: E402
    from models import CAW  # noqa: E402  (upstream)
    from params import Params  # noqa: E402
    from utils.utils import calc_pad_size  # noqa: E402

    out_dir = Path(tempfile.mkdtemp(prefix="caw_official_"))
    cfg = spec["config"]
    results = []
    for n in (int(s) for s in args.scales.split(",")):
        params = Params()
        params.device, params.is_cuda = torch.device("cpu"), False
        params.output_folder = str(out_dir)
        params.fs_list = list(spec["rates"])
        params.Fs = params.fs_list[-1]
        params.scales = [params.Fs / f for f in params.fs_list]
        params.inputs_lengths = [len(s) for s in signals]
        params.num_layers, params.filter_size = cfg["num_layers"], cfg["filter_size"]
        params.dilation_factors = [2**i for i in range(params.num_layers)]
        params.hidden_channels_init = cfg["channels_init"]
        params.growing_hidden_channels_factor = cfg["channels_factor"]
        params.alpha1, params.alpha2 = cfg["alpha1"], cfg["alpha2"]
        params.add_cond_noise = cfg["cond_noise"]
        params.speech, params.run_mode = cfg["speech"], cfg["mode"]
        params.num_epochs = args.warmup + args.iters + 1
        params.scheduler_milestones = [int(params.num_epochs * 2 / 3)]
        params.plot_losses = False

        def fresh(cls, scale, params=params):
            growth = 1 if scale == 0 else params.growing_hidden_channels_factor
            params.hidden_channels = params.hidden_channels_init * growth
            params.current_fs = params.fs_list[scale]
            net = cls(params)
            net.apply(CAW.weights_init)
            return net

        generators = []
        for k in range(n):
            g = fresh(CAW.Generator, k).eval()
            for q in g.parameters():
                q.requires_grad_(False)
            generators.append(g)
        if n > 1:  # upstream's warm start reads scale n-1's weights from the output folder
            torch.save(fresh(CAW.Generator, n - 1).state_dict(), out_dir / f"netGScale{n - 1}.pth")
            torch.save(fresh(CAW.Discriminator, n - 1).state_dict(), out_dir / f"netDScale{n - 1}.pth")
        pad = calc_pad_size(params)
        rec_noises = [torch.zeros(1, 1, len(signals[k]) + 2 * pad) for k in range(n)]
        energies = [float((s**2).mean()) for s in signals]
        stamps.clear()
        torch.manual_seed(0)
        start = time.perf_counter()
        training.train_single_scale(
            params, signals, params.fs_list, generators, [1.0] + [0.01] * (n - 1), energies, rec_noises
        )
        total = time.perf_counter() - start
        g_stamps = stamps[1::2]  # D's scheduler steps first, then G's, once per epoch
        per_iter = (g_stamps[args.warmup + args.iters - 1] - g_stamps[args.warmup - 1]) / args.iters
        results.append(
            {
                "scale": n,
                "rate": params.fs_list[n],
                "samples": len(signals[n]),
                "s_per_iter": per_iter,
                "scale_total_s": total,
            }
        )
        print(f"official scale {n}: {per_iter:.4f} s/it", file=sys.stderr)
    Path(args.json).write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": args.threads,
                "stubbed": stubbed,
                "patches": patches,
                "peak_rss_mb": peak_rss_mb(),
                "scales": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
