"""Times the official PyTorch ASAPNet generator (tamarott/ASAPNet) at inference, for `bench/asapnet.py`.

Nothing of the official code lives here: it is imported from `--official-path` (a checkout of the
upstream repository, e.g. tip f27f202) and run as it is. Runs in its own process so that its peak RSS,
thread settings and imports stay apart from the JAX measurement; writes one JSON file (`--json`).

Setting: upstream's `test_cityscapes.sh` (`--dataset_mode cityscapes --load_size 512 --crop_size 512
--batchSize 1 --phase test`), parsed by upstream's own `TestOptions`, with `--crop_size = --load_size =`
the output width: the Cityscapes options fix `aspect_ratio = 2`, so crop 512 / 1024 / 2048 gives
256x512 / 512x1024 / 1024x2048 outputs, with total downsampling S = crop // 32 = 16 / 32 / 64 (the last
two pre-downsample the input by 2 / 4 with upstream's tent filter). Cityscapes' options also set
`label_nc = 35` and feed the instance-edge map as a 36th input channel to the low-resolution stream only
(`lr_instance`); the pixel-wise MLPs see the 35 one-hot channels plus the sinusoidal coordinates. The
generator is built by upstream's `networks.define_G` (random xavier init, gain 0.02: speed does not
depend on the weights) and put in eval mode, as `test.py` does after loading a checkpoint.

Timing follows `test.py`: one image per call (batch 1), the first image(s) not timed (`--warmup`),
a device synchronise after each image on CUDA, mean (and median) time per image. What `test.py` times is
`Pix2PixModel.forward(data, 'inference')` = `preprocess_input` (label ids -> one-hot by scatter, instance
edges, host-to-device copies) + `generate_fake` (the generator under `torch.no_grad()`); both parts are
run through upstream's own methods on a `Pix2PixModel` whose networks are set directly instead of being
loaded from a checkpoint, and stamped apart: `generator_ms` is the generator alone (what the JAX side
times: its input is the one-hot map already on the device), `test_call_ms` the whole `test.py` call.

What had to change for this environment (all at run time; no upstream file is edited):
  * `models/networks/sync_batchnorm` is a git submodule in NVlabs/SPADE that this repository does not
    ship; `normalization.py` imports it at module level. Stubbed (only `norm_G='sync_batch'` uses it).
  * torchvision (only the VGG perceptual loss and data transforms) and dill (checkpoint pickling) are
    stubbed when not installed. Recorded in the JSON (`stubbed_modules`).
  * `test.py` is CUDA-only (`torch.cuda.synchronize`, `reset_max_memory_allocated`); on CPU there is
    nothing to synchronise, and on CUDA the peak is reset with `reset_peak_memory_stats` (the old name is
    deprecated).
Nothing else: the official generator runs unchanged on torch 2.13.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.machinery
import io
import json
import pickle
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from _torch_official import busy_cpu_seconds, peak_rss_mb  # stdlib-only helpers shared with bench/singan.py

# Cityscapes in upstream's options (data/cityscapes_dataset.py): the output is crop_size wide and
# crop_size / aspect_ratio high.
CITYSCAPES_LABEL_NC = 35
CITYSCAPES_ASPECT = 2


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'256x512,512x1024' -> [(256, 512), (512, 1024)] (height x width)."""
    sizes = []
    for part in text.split(","):
        h, w = (int(x) for x in part.lower().strip().split("x"))
        sizes.append((h, w))
    return sizes


def random_label_maps(h: int, w: int, label_nc: int, count: int, seed: int, cell: int = 16) -> np.ndarray:
    """`count` random segmentation maps, uint8 [count, h, w]: one class per `cell` x `cell` block (so the
    maps have regions and boundaries like real ones). Shared by both sides of the benchmark, so that they
    see the same inputs; the instance map is the label map itself (as Cityscapes' instanceIds are for
    "stuff" classes), which gives instance edges at the class boundaries."""
    rng = np.random.default_rng(seed)
    ch, cw = -(-h // cell), -(-w // cell)
    coarse = rng.integers(0, label_nc, size=(count, ch, cw), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, cell, axis=1), cell, axis=2)[:, :h, :w]


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo probes specs
    module.__dict__.update(attrs)
    return module


def _stub_missing_modules() -> list[str]:
    """Stubs for imports that upstream makes at module level but that inference does not use."""
    stubbed = []

    class _Unavailable:
        def __init__(self, *a, **k):
            raise RuntimeError("stubbed by bench/_torch_asapnet_official.py: not available here")

    # Not in the repository at all (a submodule of NVlabs/SPADE); only norm 'sync_batch' uses it.
    sys.modules["models.networks.sync_batchnorm"] = _module(
        "models.networks.sync_batchnorm", SynchronizedBatchNorm2d=_Unavailable, DataParallelWithCallback=_Unavailable
    )
    stubbed.append("models.networks.sync_batchnorm")
    try:
        import torchvision  # noqa: F401
        import torchvision.transforms  # noqa: F401
    except ImportError:
        transforms = _module("torchvision.transforms")
        models = _module("torchvision.models", vgg19=_Unavailable)
        sys.modules.update(
            {
                "torchvision": _module("torchvision", transforms=transforms, models=models),
                "torchvision.transforms": transforms,
                "torchvision.models": models,
            }
        )
        stubbed.append("torchvision")
    try:
        import dill  # noqa: F401
    except ImportError:
        # upstream uses it as a drop-in pickle for checkpoints only; torch probes `dill.extend`
        funcs = {name: getattr(pickle, name) for name in ("dump", "dumps", "load", "loads")}
        sys.modules["dill"] = _module("dill", extend=lambda *a, **k: None, **funcs)
        stubbed.append("dill")
    return stubbed


def official_options(crop: int, device: str, workdir: Path):
    """Upstream's TestOptions for test_cityscapes.sh at crop size `crop` (its argv, parsed by its code)."""
    from options.test_options import TestOptions

    argv = ["test.py", "--name", "bench", "--dataset_mode", "cityscapes", "--load_size", str(crop)]
    argv += ["--crop_size", str(crop), "--batchSize", "1", "--phase", "test"]
    argv += ["--gpu_ids", "0" if device == "cuda" else "-1"]
    argv += ["--checkpoints_dir", str(workdir), "--dataroot", str(workdir), "--results_dir", str(workdir)]
    saved = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # parse() prints every option
            opt = TestOptions().parse()
    finally:
        sys.argv = saved
    return opt, argv[1:]


def build_model(opt):
    """Upstream's generator (define_G: build, move, xavier init) inside a Pix2PixModel that skips the
    checkpoint loading of `Pix2PixModel.__init__` (the only part of it inference needs is the networks)."""
    import torch
    from models import networks
    from models.pix2pix_model import Pix2PixModel

    with contextlib.redirect_stdout(io.StringIO()):  # define_G prints the parameter count and the network
        net_g = networks.define_G(opt)
    model = Pix2PixModel.__new__(Pix2PixModel)
    torch.nn.Module.__init__(model)
    model.opt = opt
    model.FloatTensor = torch.cuda.FloatTensor if model.use_gpu() else torch.FloatTensor
    model.ByteTensor = torch.cuda.ByteTensor if model.use_gpu() else torch.ByteTensor
    model.netG, model.netD, model.netE = net_g, None, None
    model.eval()  # as test.py
    return model


def time_size(args, h: int, w: int, workdir: Path) -> dict:
    import torch

    if w % CITYSCAPES_ASPECT or h * CITYSCAPES_ASPECT != w:
        raise SystemExit(f"size {h}x{w}: the Cityscapes setting needs width = 2 x height")
    opt, up_argv = official_options(w, args.device, workdir)
    if (int(opt.crop_size / opt.aspect_ratio), opt.crop_size) != (h, w) or opt.label_nc != args.label_nc:
        raise SystemExit(f"upstream options give {opt.crop_size / opt.aspect_ratio}x{opt.crop_size}, {opt.label_nc}")
    model = build_model(opt)
    net_g = model.netG
    cuda = args.device == "cuda"

    n_images = args.warmup + args.repeats
    labels = random_label_maps(h, w, opt.label_nc, min(n_images, args.distinct_inputs), args.seed)

    def data_for(i: int) -> dict:
        """What upstream's dataloader yields for one image (CPU tensors; label ids as floats)."""
        lab = torch.from_numpy(labels[i % len(labels)].astype(np.float32))[None, None]
        return {"label": lab, "instance": lab.clone(), "image": torch.zeros(1, 3, h, w), "path": [f"bench_{i}"]}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    gen_s, call_s, cpu_s = [], [], []
    first_ms = []
    out_shape = None
    budget_hit = False
    busy0 = cpu0 = t_start = None
    for i in range(n_images):
        timed = i >= args.warmup
        if timed and busy0 is None:
            busy0, cpu0, t_start = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        if timed and gen_s and time.perf_counter() - t_start > args.budget_s:
            budget_hit = True
            break
        data = data_for(i)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        c0 = time.process_time()
        t0 = time.perf_counter()
        # = Pix2PixModel.forward(data, mode='inference'), stamped between its two steps
        input_semantics, real_image = model.preprocess_input(data)
        sync()
        t1 = time.perf_counter()
        with torch.no_grad():
            fake, _, _ = model.generate_fake(input_semantics, real_image)
        sync()
        t2 = time.perf_counter()
        out_shape = list(fake.shape)
        if timed:
            gen_s.append(t2 - t1)
            call_s.append(t2 - t0)
            cpu_s.append(time.process_time() - c0)
        else:
            first_ms.append(1e3 * (t2 - t0))
    t_end, busy1, cpu1 = time.perf_counter(), busy_cpu_seconds(), time.process_time()
    foreign = None
    if busy0 is not None and busy1 is not None and gen_s:
        foreign = max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / (t_end - t_start)

    if out_shape != [1, opt.output_nc, h, w]:
        raise SystemExit(f"official generator returned {out_shape}, expected {[1, opt.output_nc, h, w]}")
    hr = net_g.highres_stream
    row = {
        "size": [h, w],
        "upstream_argv": up_argv,
        "crop_size": int(opt.crop_size),
        "aspect_ratio": float(opt.aspect_ratio),
        "label_nc": int(opt.label_nc),
        "input_channels_lr": int(net_g.num_inputs),
        "input_channels_hr": int(hr.channels[0]),
        "downsampling_total": int(net_g.downsampling),
        "downsampling_learned": int(net_g.learned_ds_factor),
        "mlp_params_per_cell": int(hr.num_params),
        "generator_params": int(sum(p.numel() for p in net_g.parameters())),
        "norm_G": opt.norm_G,
        "warmup_images": args.warmup,
        "timed_images": len(gen_s),
        "repeats_requested": args.repeats,
        "budget_s": args.budget_s,
        "budget_hit": budget_hit,
        "first_image_ms": first_ms,
        "generator_ms": 1e3 * statistics.fmean(gen_s),
        "generator_ms_median": 1e3 * statistics.median(gen_s),
        "generator_ms_min": 1e3 * min(gen_s),
        "generator_ms_per_image": [1e3 * s for s in gen_s],
        "test_call_ms": 1e3 * statistics.fmean(call_s),
        "test_call_ms_median": 1e3 * statistics.median(call_s),
        "cpu_ms_per_image": 1e3 * statistics.fmean(cpu_s),
        "foreign_cores": foreign,
        "peak_rss_mb": peak_rss_mb(),
    }
    if cuda:
        row["device_peak_bytes"] = int(torch.cuda.max_memory_allocated())  # of the last image, as test.py
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official-path", required=True, type=Path)
    parser.add_argument("--sizes", default="256x512", help="output sizes HxW (width = 2 x height)")
    parser.add_argument("--repeats", type=int, default=10, help="timed images per size")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first images (test.py skips one)")
    parser.add_argument("--budget-s", type=float, default=300.0, help="stop timing a size after this (>= 1 image)")
    parser.add_argument("--distinct-inputs", type=int, default=4, help="different label maps, cycled")
    parser.add_argument("--label-nc", type=int, default=CITYSCAPES_LABEL_NC)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", required=True, type=Path)
    args = parser.parse_args(argv)

    official = args.official_path.resolve()
    gen_py = official / "models" / "networks" / "generator.py"
    if not gen_py.is_file() or "ASAPNetsGenerator" not in gen_py.read_text():
        raise SystemExit(f"{official} does not look like a tamarott/ASAPNet checkout (no ASAPNetsGenerator)")
    sys.path.insert(0, str(official))
    stubbed = _stub_missing_modules()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="asapnet_official_"))
    rows = []
    for h, w in parse_sizes(args.sizes):
        row = time_size(args, h, w, workdir)
        rows.append(row)
        print(
            f"official ASAPNet {h}x{w}: generator {row['generator_ms']:.1f} ms/image "
            f"(test.py call {row['test_call_ms']:.1f} ms), {row['timed_images']} timed",
            flush=True,
        )
    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "official_path": str(official),
        "generator_py_sha256": hashlib.sha256(gen_py.read_bytes()).hexdigest(),
        "stubbed_modules": stubbed,
        "sizes": rows,
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.device == "cuda":
        result["device_name"] = torch.cuda.get_device_name(0)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
