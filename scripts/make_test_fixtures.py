r"""Regenerates tests/fixtures/: the reference outputs of transformers + PyTorch that the parity tests compare with.

The tests themselves need no torch (`pip install -e ".[test]"`); this script does. From the repository root:

    pip install -e ".[test,reference]"        # torch (a CPU build is enough)
    python scripts/make_test_fixtures.py      # every fixture; or name some: clip hf gpt2 train vgg ...
    python -m pytest -n 0 -q tests/agent/checkup/test_clip_load.py tests/agent/checkup/test_clip_model.py \
        tests/gen/asapnet/test_discriminator_losses.py tests/gen/asapnet/test_generator.py \
        tests/gen/asapnet/test_spade.py tests/gen/asapnet/test_vgg.py tests/gen/caw/test_model.py \
        tests/gen/test_audio_metrics.py tests/gen/test_metrics.py tests/mech/test_gpt2.py \
        tests/mech/test_hf_loading.py tests/mech/test_train.py     # the tests that read the fixtures

Each fixture holds a test's inputs (and, where the reference is rebuilt from our own layers, the weights) and
what transformers / torch computed from them: `<name>.npz` files and tiny random Hugging Face checkpoint folders
saved by transformers' `save_pretrained`. `VERSIONS.json` records the torch, transformers and numpy versions
that made them. Regenerate after a change to a test's inputs or to a format the tests pin (for example the
folder `jaxinterp mech train` writes), and look at the diff of VERSIONS.json when transformers or torch change.
Weights are random and tiny (float32), so the whole folder stays well under 5 MB.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import functools
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402

from tests.fixtures import FIXTURES, flatten  # noqa: E402

TNN = torch.nn


def _save(name: str, arrays: dict) -> None:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(FIXTURES / f"{name}.npz", **arrays)
    print(f"  {name}.npz: {len(arrays)} arrays, {(FIXTURES / f'{name}.npz').stat().st_size / 1e3:.0f} kB")


def _fresh_folder(name: str) -> Path:
    path = FIXTURES / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a))


def _perturbed(model, scale: float = 0.2):
    """Every parameter (norm scales and biases included) moved off its init value, seeded."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(scale * torch.randn_like(param))
    return model.eval()


# --- CLIP (tests/agent/checkup) -------------------------------------------------------------------------------


def _clip_config(act: str, eos: int):
    from tests.agent.checkup.clip_vocab import EOT, MODEL_VOCAB

    text = dict(vocab_size=MODEL_VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, hidden_act=act, eos_token_id=eos,
                bos_token_id=EOT - 1, pad_token_id=EOT)  # fmt: skip
    vision = dict(hidden_size=40, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8, hidden_act=act)  # fmt: skip
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)


def _clip_write_tokenizer(folder: Path) -> None:
    """vocab.json + merges.txt of the tiny vocabulary, re-saved by transformers (adds tokenizer.json)."""
    from tests.agent.checkup.clip_vocab import MERGES, VOCAB

    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    transformers.CLIPTokenizer.from_pretrained(str(folder)).save_pretrained(folder)


def _clip_image_processor(folder=None):
    cls = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
    if folder is None:
        return cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return cls.from_pretrained(str(folder))


def _clip_features(out) -> np.ndarray:
    """transformers 4 returns the projected tensor, 5 an output whose pooler_output is it."""
    return (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()


def make_clip() -> None:
    """clip_<act>/ (a tiny random CLIPModel per hidden_act / pooling case) and clip.npz (its outputs)."""
    from tests.agent.checkup.clip_vocab import CASES, EOT, MODEL_VOCAB

    ref = {"captions": np.array(["red star", "circle", "a star", "square"])}
    shapes = [(45, 37, 3), (30, 50, 3), (32, 32, 3), (20, 20, 3)]  # taller, wider, exact size, upsampled
    images = [np.random.default_rng(k).integers(0, 256, size=s, dtype=np.uint8) for k, s in enumerate(shapes)]
    ref |= {f"image_{k}": im for k, im in enumerate(images)}
    pixels = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype(np.float32)
    ref["pixels"] = pixels
    for act, eos in CASES.items():
        torch.manual_seed(0)
        model = _perturbed(transformers.CLIPModel(_clip_config(act, eos)))
        folder = _fresh_folder(f"clip_{act}")
        model.save_pretrained(folder)
        _clip_write_tokenizer(folder)
        _clip_image_processor().save_pretrained(folder)
        processor = _clip_image_processor(folder)
        if act == "quick_gelu":  # preprocessing (the same settings in both folders)
            for k, image in enumerate(images):
                out = processor(images=[image], return_tensors="np")["pixel_values"]
                ref[f"preprocessed_{k}"] = out.transpose(0, 2, 3, 1)
        # The recogniser: transformers' tokenizer and processor, logits over the logit scale.
        tokenizer = transformers.CLIPTokenizer.from_pretrained(str(folder))
        text = tokenizer([str(c) for c in ref["captions"]], padding=True, return_tensors="pt")
        crops = [im[:20, :20] for im in images]
        with torch.no_grad():
            inputs = processor(images=crops, return_tensors="pt")["pixel_values"]
            out = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=inputs)
            ref[f"scores_{act}"] = out.logits_per_image.numpy() / model.logit_scale.exp().item()
            ref[f"image_embeds_{act}"] = out.image_embeds.numpy()
        # The model: random ids with EOT at positions 4, 7, 11 (when pooling at EOT); ids above EOT in every row.
        tokens = np.random.default_rng(1).integers(0, EOT, size=(3, 12))
        tokens[:, 1] = MODEL_VOCAB - 1
        if eos != 2:
            tokens[[0, 1, 2], [4, 7, 11]] = EOT
        ref[f"tokens_{act}"] = tokens
        with torch.no_grad():
            pixels_t, tokens_t = torch.tensor(pixels.transpose(0, 3, 1, 2)), torch.tensor(tokens)
            ref[f"image_features_{act}"] = _clip_features(model.get_image_features(pixel_values=pixels_t))
            ref[f"text_features_{act}"] = _clip_features(model.get_text_features(input_ids=tokens_t))
            ref[f"logits_{act}"] = model(input_ids=tokens_t, pixel_values=pixels_t).logits_per_image.numpy()
    _save("clip", ref)


# --- local HF checkpoints (tests/mech/test_hf_loading.py) -----------------------------------------------------

HF_VOCAB = 101
# Small enough that the 11 folders take about 1 MB: LLaMA-likes with head_dim 8 (4 heads, 2 or 1 KV heads);
# GPT-NeoX with 2 heads of 16 dims, so that rotary_pct 0.25 rotates 4 of them (2 frequencies: the half-split
# and interleaved conventions differ).
HF_SIZES = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                vocab_size=HF_VOCAB, max_position_embeddings=64)  # fmt: skip
NEOX_SIZES = HF_SIZES | dict(num_attention_heads=2)


def _hf_configs() -> dict:
    return {
        "llama_gqa": transformers.LlamaConfig(**HF_SIZES, num_key_value_heads=2),
        "llama_rope_theta_500k": transformers.LlamaConfig(**HF_SIZES, num_key_value_heads=4, rope_theta=500_000.0),
        "llama_mqa_tied_head_dim": transformers.LlamaConfig(
            **HF_SIZES, num_key_value_heads=1, head_dim=24, tie_word_embeddings=True
        ),
        "mistral_sliding_window_4": transformers.MistralConfig(**HF_SIZES, num_key_value_heads=2, sliding_window=4),
        "qwen2_qkv_bias": transformers.Qwen2Config(**HF_SIZES, num_key_value_heads=2),
        "gpt_neox_parallel": transformers.GPTNeoXConfig(**NEOX_SIZES, rotary_pct=0.25, use_parallel_residual=True),
        "gpt_neox_sequential": transformers.GPTNeoXConfig(**NEOX_SIZES, rotary_pct=0.25, use_parallel_residual=False),
    }


def _hf_random_model(config):
    torch.manual_seed(0)
    return _perturbed(transformers.AutoModelForCausalLM.from_config(config))


def _hf_logits(model, tokens) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(tokens)).logits.float().numpy()


def make_hf() -> None:
    """hf_<case>/ (tiny random causal LMs saved by transformers) and hf.npz (their logits on `tokens`)."""
    tokens = np.random.default_rng(0).integers(0, HF_VOCAB, size=(2, 11))
    ref = {"tokens": tokens}
    configs = _hf_configs()
    for case, config in configs.items():
        model = _hf_random_model(config)
        model.save_pretrained(_fresh_folder(f"hf_{case}"))
        ref[case] = _hf_logits(model, tokens)
    # The llama_gqa model again, sharded by transformers into files of at most 10 kB.
    model = _hf_random_model(configs["llama_gqa"])
    model.save_pretrained(_fresh_folder("hf_llama_gqa_sharded"), max_shard_size="10KB")
    # The llama_gqa model saved in half precision; its reference is the float32 model holding the rounded weights.
    for name in ("bfloat16", "float16"):
        model, dtype = _hf_random_model(configs["llama_gqa"]), getattr(torch, name)
        with torch.no_grad():
            for param in model.parameters():
                param.copy_(param.to(dtype).float())
        copy.deepcopy(model).to(dtype).save_pretrained(_fresh_folder(f"hf_llama_gqa_{name}"))  # `.to` rounds RoPE
        ref[f"llama_gqa_{name}"] = _hf_logits(model, tokens)
    # Only the config.json transformers writes for GPT-NeoX with rotary_emb_base 20000 (the weights are those
    # of hf_gpt_neox_parallel: the base is no parameter).
    config = transformers.GPTNeoXConfig(**NEOX_SIZES, rotary_pct=0.25, rotary_emb_base=20_000.0)
    with tempfile.TemporaryDirectory() as tmp:
        _hf_random_model(config).save_pretrained(tmp)
        shutil.copy(Path(tmp) / "config.json", _fresh_folder("hf_gpt_neox_rope_20k_config") / "config.json")
    _save("hf", ref)


# --- GPT-2 (tests/mech/test_gpt2.py) --------------------------------------------------------------------------


def make_gpt2() -> None:
    """gpt2_tiny/ (a tiny random GPT2LMHeadModel at its init) and gpt2.npz (its logits on `tokens`)."""
    tokens = np.random.default_rng(0).integers(0, 97, size=(2, 9))
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=32, vocab_size=97)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(_fresh_folder("gpt2_tiny"))
    _save("gpt2", {"tokens": tokens, "logits": _hf_logits(model, tokens)})


# --- the folder `jaxinterp mech train` writes (tests/mech/test_train.py) -------------------------------------

TRAIN_SMALL = dict(size="tiny", layers=2, d_model=32, heads=2, mlp_hidden=48, batch_size=32, eval_size=64)


def make_train() -> None:
    """train_boxes/ (a 5-step run's folder, as tests/mech/test_train.py's `trained` fixture writes it) and
    train.npz (transformers' logits of it, loaded by AutoModelForCausalLM, on `tokens`)."""
    from jaxinterp.mech.tasks import get_task
    from jaxinterp.mech.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        result = train(TrainConfig(task="boxes", steps=5, **TRAIN_SMALL), Path(tmp) / "boxes", show_progress=False)
        out = _fresh_folder("train_boxes")
        for path in sorted(result.folder.iterdir()):
            if path.is_file():
                shutil.copyfile(path, out / path.name)
    tokens = get_task("boxes").sample(12, 4).tokens
    model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(tokens, dtype=torch.long)).logits.numpy()
    _save("train", {"tokens": tokens, "logits": logits})


# --- VGG19 (tests/gen/asapnet/test_vgg.py) --------------------------------------------------------------------

VGG_WIDTHS = (4, 6, 8, 10, 12)  # narrow stand-ins for (64, 128, 256, 512, 512)
VGG_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))  # the official VGG19 slices -> relu1_1 ... relu5_1


def _torch_vgg19(widths):
    """torchvision's `vgg19().features` layout (cfg "E"), built from torch.nn, under `.features`."""
    layers, in_ch = [], 3
    for block, width in enumerate(widths):
        for _ in range(2 if block < 2 else 4):
            layers += [TNN.Conv2d(in_ch, width, 3, padding=1), TNN.ReLU()]
            in_ch = width
        layers.append(TNN.MaxPool2d(2, 2))
    model = TNN.Module()
    model.features = TNN.Sequential(*layers)
    return model


def _vgg_features(model, x_nhwc):
    h, out = torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy()), []
    with torch.no_grad():
        for start, stop in VGG_SLICES:
            h = model.features[start:stop](h)
            out.append(h.numpy().transpose(0, 2, 3, 1))
    return out


def make_vgg() -> None:
    """vgg_tiny_state.npz (a narrow random VGG19 state dict, torchvision names) and vgg.npz (its relu features
    on `x` and on the ImageNet-normalised `x`, and the tensor shapes of torchvision's full-width VGG19)."""
    from jaxinterp.gen.asapnet.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG19_WIDTHS

    torch.manual_seed(0)
    model = _torch_vgg19(VGG_WIDTHS).eval()
    _save("vgg_tiny_state", {k: v.numpy() for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 48, 3)).astype(np.float32)
    ref = {"x": x} | {f"features_{i}": f for i, f in enumerate(_vgg_features(model, x))}
    normalised = ((x + 1) / 2 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    ref["normalised_features_4"] = _vgg_features(model, normalised)[-1]
    with torch.device("meta"):
        full = _torch_vgg19(VGG19_WIDTHS)
    ref |= {f"shape|{k}": np.array(v.shape) for k, v in full.state_dict().items() if int(k.split(".")[1]) < 30}
    _save("vgg", ref)


# --- ASAPNet / SPADE layers (tests/gen/asapnet) ---------------------------------------------------------------


ASAPNET_TINY = dict(lr_width=8, lr_max_width=16, lr_depth=2, hr_width=8, hr_depth=3)  # test_generator.py's TINY
SPADE_TINY = dict(ngf=2, spade_hidden=8)  # test_spade.py's TINY


def _normal(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _one_hot(seed: int, b: int, h: int, w: int, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[np.random.default_rng(seed).integers(0, n, size=(b, h, w))]


def _nchw(a) -> torch.Tensor:
    return _t(a).permute(0, 3, 1, 2)


def _nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def _torch_tent(x_nchw, stride):
    """Upstream's MySeparableBilinearDownsample, rebuilt with torch.nn.functional."""
    ramp = np.arange(1, 2 * stride + 1, 2)
    k = np.concatenate([ramp, ramp[::-1]]).astype(np.float64)
    k = torch.tensor(k / k.sum(), dtype=torch.float32)
    c = x_nchw.shape[1]
    x = F.pad(x_nchw, (stride // 2,) * 4, mode="reflect")
    x = F.conv2d(x, k[None, None, None, :].repeat(c, 1, 1, 1), stride=(1, stride), groups=c)
    return F.conv2d(x, k[None, None, :, None].repeat(c, 1, 1, 1), stride=(stride, 1), groups=c)


def _torch_lr_stream(x, p, lr_depth, reflection_pad):
    """The LR stream as upstream builds it: conv-IN-ReLU (two of them strided), then a 1 x 1 conv."""
    t = _nchw(x)
    names = sorted((k for k in p if k.startswith("_ConvNormReLU_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    assert len(names) == 1 + 2 + lr_depth
    for i, name in enumerate(names):
        kernel = _t(p[name]["Conv_0"]["kernel"]).permute(3, 2, 0, 1)
        stride = 2 if 1 <= i <= 2 else 1
        if reflection_pad:
            t = F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), kernel, stride=stride)
        else:
            t = F.conv2d(t, kernel, stride=stride, padding=1)
        norm = p[name]["InstanceNorm_0"]
        t = F.relu(F.instance_norm(t, weight=_t(norm["scale"]), bias=_t(norm["bias"]), eps=1e-5))
    final = p["Conv_0"]
    return _nhwc(F.conv2d(t, _t(final["kernel"]).permute(3, 2, 0, 1), _t(final["bias"])))


def make_asapnet_generator() -> None:
    """asapnet_generator.npz: the tent filter and the LR stream (inputs, weights, torch outputs)."""
    from jaxinterp.gen.asapnet.config import asapnet_config
    from jaxinterp.gen.asapnet.generator import LowResStream
    from tests.gen.asapnet.helpers import random_variables

    ref = {}
    for stride in (2, 4):
        x = _normal(stride, (2, 16, 24, 3))
        ref[f"tent_x_{stride}"], ref[f"tent_{stride}"] = x, _nhwc(_torch_tent(_nchw(x), stride))
    x = _normal(0, (1, 32, 48, 4))
    ref["lr_x"] = x
    for pad in (False, True):
        cfg = asapnet_config(4, 32, 48, reflection_pad=pad, **ASAPNET_TINY, downsampling=4, learned_downsampling=4)
        variables = random_variables(LowResStream(cfg), x, scale=0.3)
        ref |= flatten(variables["params"], f"lr_params_{pad}")
        ref[f"lr_{pad}"] = _torch_lr_stream(x, variables["params"], cfg.lr_depth, pad)
    _save("asapnet_generator", ref)


def _torch_conv(x, p, padding):
    bias = _t(p["bias"]) if "bias" in p else None
    return F.conv2d(x, _t(p["kernel"]).permute(3, 2, 0, 1), bias, padding=padding)


def _torch_spade(x, seg, p, features):
    """norm(x) * (1 + gamma) + beta with upstream's ops; our fused gamma|beta kernel is split in two."""
    normalized = F.instance_norm(x, eps=1e-5)
    seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
    actv = F.relu(_torch_conv(seg, p["shared"], 1))
    gb = {k: np.asarray(v) for k, v in p["gamma_beta"].items()}
    gamma = _torch_conv(actv, {"kernel": gb["kernel"][..., :features], "bias": gb["bias"][:features]}, 1)
    beta = _torch_conv(actv, {"kernel": gb["kernel"][..., features:], "bias": gb["bias"][features:]}, 1)
    return normalized * (1 + gamma) + beta


def make_spade() -> None:
    """spade.npz: nearest resizing, SPADE normalisation and a SPADE residual block (inputs, weights, outputs)."""
    from jaxinterp.gen.asapnet.config import spade_config
    from jaxinterp.gen.asapnet.spade import SPADENorm, SPADEResBlock
    from tests.gen.asapnet.helpers import random_variables

    ref = {}
    for k, (src, dst) in enumerate([((16, 24), (4, 6)), ((10, 14), (4, 6)), ((3, 5), (6, 10))]):
        x = _normal(k, (1, *src, 2))
        ref[f"resize_x_{k}"] = x
        ref[f"nearest_{k}"] = _nhwc(F.interpolate(_nchw(x), size=dst, mode="nearest"))
        ref[f"upsample2_{k}"] = _nhwc(F.interpolate(_nchw(x), scale_factor=2))
    features, hidden = 4, 6
    x, seg = _normal(0, (2, 6, 10, features)) * 3 + 1, _one_hot(1, 2, 12, 20, 3)
    variables = random_variables(SPADENorm(features, hidden=hidden), x, seg, scale=0.3)
    ref |= {"norm_x": x, "norm_seg": seg} | flatten(variables["params"], "norm_params")
    ref["norm"] = _nhwc(_torch_spade(_nchw(x), _nchw(seg), variables["params"], features))
    cfg = spade_config(3, 32, 32, **SPADE_TINY)
    fin, fout = 6, 4
    x, seg = _normal(2, (1, 8, 8, fin)), _one_hot(3, 1, 32, 32, 3)
    variables = random_variables(SPADEResBlock(fin, fout, cfg), x, seg, scale=0.3)
    p, tx, ts = variables["params"], _nchw(x), _nchw(seg)
    shortcut = _torch_conv(_torch_spade(tx, ts, p["norm_s"], fin), p["conv_s"], 0)
    dx = _torch_conv(F.leaky_relu(_torch_spade(tx, ts, p["norm_0"], fin), 0.2), p["conv_0"], 1)
    dx = _torch_conv(F.leaky_relu(_torch_spade(dx, ts, p["norm_1"], fout), 0.2), p["conv_1"], 1)
    ref |= {"block_x": x, "block_seg": seg} | flatten(p, "block_params")
    ref["block"] = _nhwc(shortcut + dx)
    _save("spade", ref)


def _torch_patch_d(in_nc, ndf, n_layers):
    """One PatchGAN D with the official layout: spectral-normed, instance-normed middle convs."""
    blocks = [TNN.Sequential(TNN.Conv2d(in_nc, ndf, 4, 2, 2), TNN.LeakyReLU(0.2))]
    nf = ndf
    for n in range(1, n_layers):
        prev, nf = nf, min(2 * nf, 512)
        conv = TNN.utils.spectral_norm(TNN.Conv2d(prev, nf, 4, 1 if n == n_layers - 1 else 2, 2, bias=False))
        blocks.append(TNN.Sequential(conv, TNN.InstanceNorm2d(nf, affine=False), TNN.LeakyReLU(0.2)))
    blocks.append(TNN.Sequential(TNN.Conv2d(nf, 1, 4, 1, 2)))
    return blocks


def make_discriminator() -> None:
    """asapnet_discriminator.npz: a two-scale PatchGAN's variables and inputs, and torch's per-layer outputs and
    power-iterated spectral vectors u (training mode: one power iteration per forward)."""
    from jaxinterp.gen.asapnet.discriminator import SPECTRAL, MultiscaleDiscriminator

    k = 3
    rng = np.random.default_rng(1)
    labels = np.eye(k, dtype=np.float32)[rng.integers(0, k, size=(2, 16, 32))]
    image = rng.uniform(-1, 1, size=(2, 16, 32, 3)).astype(np.float32)
    disc = MultiscaleDiscriminator(num_d=2, n_layers=4, ndf=4)
    variables = jax.jit(disc.init)(jax.random.PRNGKey(1), jnp.asarray(labels), jnp.asarray(image))
    ref = {"labels": labels, "image": image}
    ref |= flatten(variables["params"], "params") | flatten(variables[SPECTRAL], SPECTRAL)
    x = torch.from_numpy(np.concatenate([labels, image], -1).transpose(0, 3, 1, 2).copy())
    for i in range(2):
        params, spectral = variables["params"][f"d{i}"], variables[SPECTRAL][f"d{i}"]
        blocks = _torch_patch_d(k + 3, 4, 4)
        with torch.no_grad():
            for j, block in enumerate(blocks):
                conv = block[0]
                kernel = torch.from_numpy(np.asarray(params[f"Conv_{j}"]["kernel"]).transpose(3, 2, 0, 1).copy())
                if j in (0, 4):
                    conv.weight.copy_(kernel)
                    conv.bias.copy_(torch.from_numpy(np.array(params[f"Conv_{j}"]["bias"])))
                else:
                    conv.weight_orig.copy_(kernel)
                    u = spectral[f"SpectralNorm_{j - 1}"][f"Conv_{j}/kernel/u"][0]
                    conv.weight_u.copy_(torch.from_numpy(np.array(u)))
        h = x
        for j, block in enumerate(blocks):
            h = block(h)
            ref[f"pred_{i}_{j}"] = h.detach().numpy().transpose(0, 2, 3, 1)
            if 0 < j < 4:
                ref[f"u_{i}_{j}"] = block[0].weight_u.numpy()
        x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    _save("asapnet_discriminator", ref)


# --- CAW (tests/gen/caw/test_model.py) and audio metrics (tests/gen/test_audio_metrics.py) ------------------


def make_caw() -> None:
    """caw_block.npz: one ConvBlock1D's variables and input, and torch's weight-norm conv + BatchNorm1d +
    LeakyReLU output (training mode) and running statistics."""
    from jaxinterp.gen.caw.model import ConvBlock1D

    block = ConvBlock1D(6, 9, dilation=4)
    x = _normal(9, (1, 300, 5))
    variables = jax.jit(functools.partial(block.init, train=False))(jax.random.PRNGKey(0), jnp.asarray(x))
    p = variables["params"]
    conv = TNN.utils.parametrizations.weight_norm(TNN.Conv1d(5, 6, 9, dilation=4), dim=0)
    bn = TNN.BatchNorm1d(6)  # momentum 0.1, eps 1e-5
    with torch.no_grad():
        conv.parametrizations.weight.original0.copy_(_t(p["conv"]["g"]).reshape(6, 1, 1))
        conv.parametrizations.weight.original1.copy_(_t(np.asarray(p["conv"]["v"]).transpose(2, 1, 0)))
        conv.bias.copy_(_t(p["conv"]["bias"]))
        bn.weight.copy_(_t(p["norm"]["scale"]))
        bn.bias.copy_(_t(p["norm"]["bias"]))
    net = TNN.Sequential(conv, bn, TNN.LeakyReLU(0.2)).train()
    with torch.no_grad():
        out = net(torch.tensor(x.transpose(0, 2, 1))).numpy().transpose(0, 2, 1)
    ref = {"x": x, "out": out, "running_mean": bn.running_mean.numpy(), "running_var": bn.running_var.numpy()}
    _save("caw_block", ref | flatten(variables, "variables"))


def make_audio() -> None:
    """audio_stft.npz: torch.stft magnitudes (periodic Hann, centred, reflect padding) at CAW's resolutions."""
    from jaxinterp.gen.metrics.audio import CAW_RESOLUTIONS

    x = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    ref = {"x": x}
    for n_fft, hop, win in CAW_RESOLUTIONS:
        spec = torch.stft(torch.from_numpy(x), n_fft, hop, win_length=win, window=torch.hann_window(win),
                          center=True, pad_mode="reflect", return_complex=True)  # fmt: skip
        ref[f"magnitude_{n_fft}_{hop}_{win}"] = spec.abs().numpy().T
    _save("audio_stft", ref)


MAKERS = {
    "clip": make_clip,
    "hf": make_hf,
    "gpt2": make_gpt2,
    "train": make_train,
    "vgg": make_vgg,
    "asapnet_generator": make_asapnet_generator,
    "spade": make_spade,
    "discriminator": make_discriminator,
    "caw": make_caw,
    "audio": make_audio,
}


def write_versions() -> None:
    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "jax": jax.__version__,
        "python": platform.python_version(),
        "written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "command": "python scripts/make_test_fixtures.py",
    }
    (FIXTURES / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"fixtures to write (default: all): {', '.join(MAKERS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(MAKERS))
    if unknown:
        parser.error(f"unknown fixture {', '.join(unknown)}; known: {', '.join(MAKERS)}")
    torch.set_num_threads(1)
    for name in args.names or MAKERS:
        print(f"{name}:")
        MAKERS[name]()
    write_versions()
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"tests/fixtures: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
