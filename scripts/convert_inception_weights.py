"""Converts a PyTorch InceptionV3 checkpoint (.pth) to the .safetensors file that SIFID loads.

Usage (needs torch, which jaxinterp itself does not; run it where torch is installed):

    python scripts/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth inception.safetensors

Accepted inputs are state dicts that use torchvision's InceptionV3 names (`Conv2d_1a_3x3.conv.weight`,
`Conv2d_1a_3x3.bn.running_mean`, ...):
* pytorch-fid's `pt_inception-2015-12-05-*.pth` (the TensorFlow FID network), or
* torchvision's `inception_v3_google-*.pth` (ImageNet weights), which is what the official SIFID
  code loads (`models.inception_v3(pretrained=True)`): use it to compare with the SinGAN paper.

Tensors keep their PyTorch names and layouts (OIHW kernels); `jaxinterp.gen.metrics.inception`
converts them to Flax at load time. By default only the layers SIFID uses (up to Conv2d_4a_3x3) are
written, which keeps the file under 1 MB; `--all` keeps every floating-point tensor. A
"module." prefix (DataParallel) and a {"state_dict": ...} wrapper are removed. The output is
checked by loading it back with the jaxinterp loader for dims = 64 and 192.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
from safetensors.numpy import save_file

from jaxinterp.gen.metrics.inception import load_inception_variables, state_dict_shapes


def read_state_dict(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Loads a .pth state dict on the CPU and returns its tensors as NumPy arrays."""
    try:
        import torch
    except ImportError:
        sys.exit("this script needs PyTorch to read .pth files: pip install torch")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    arrays = {}
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            continue  # e.g. bn.num_batches_tracked (int64), not needed for inference
        arrays[name.removeprefix("module.")] = tensor.detach().to(torch.float32).contiguous().numpy()
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=pathlib.Path, help="input .pth state dict")
    parser.add_argument("output", type=pathlib.Path, help="output .safetensors file")
    parser.add_argument("--all", action="store_true", help="keep every tensor, not only SIFID's layers")
    args = parser.parse_args(argv)

    arrays = read_state_dict(args.checkpoint)
    needed = state_dict_shapes(192)
    missing = sorted(set(needed) - set(arrays))
    if missing:
        sys.exit(f"{args.checkpoint} is not an InceptionV3 state dict with torchvision names; missing {missing}")
    if not args.all:
        arrays = {name: arrays[name] for name in needed}
    save_file(arrays, str(args.output), metadata={"source": args.checkpoint.name, "layout": "pytorch OIHW"})
    for dims in (64, 192):
        load_inception_variables(args.output, dims)
    print(f"wrote {len(arrays)} tensors to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
