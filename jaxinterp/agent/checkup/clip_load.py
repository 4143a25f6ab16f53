"""Load a local Hugging Face CLIP folder into the JAX port (`clip_model.py`), without PyTorch.

The folder is what `CLIPModel.save_pretrained` + `CLIPProcessor.save_pretrained` write (e.g. a download of
`openai/clip-vit-base-patch32`): `config.json` (`model_type` "clip", with `text_config` and `vision_config`),
`model.safetensors` (or a sharded index), tokenizer files (`tokenizer.json`, or `vocab.json` + `merges.txt`)
and optionally `preprocessor_config.json` (`clip_image.py`). Config and tensors are read with
`jaxinterp/hf.py`; a field a config leaves out takes transformers' default (transformers writes only
the fields that differ from its defaults), which are `ClipConfig`'s. Text is tokenised by transformers'
`CLIPTokenizer` (the tokenizers library; no PyTorch) loaded from the same folder, padded to the model's
context length so one compiled text function serves every caption list.

Every problem a user can fix (no folder, no config, another model type, missing or misshapen tensors, no
tokenizer files, a tokenizer that does not fit the model's vocabulary or end-of-text id) raises `InputError`
with one line naming it. Only safetensors are read: a folder with just `pytorch_model.bin` needs converting.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float, UInt8

from jaxinterp.agent.checkup.clip_image import ImageSettings, preprocess
from jaxinterp.agent.checkup.clip_model import Clip, ClipConfig, TowerConfig, unit
from jaxinterp.errors import InputError
from jaxinterp.hf import field, load_tokenizer, read_config, read_tensors, take


def _tower(raw: dict[str, Any], default: TowerConfig) -> TowerConfig:
    return TowerConfig(
        width=int(raw.get("hidden_size", default.width)),
        layers=int(raw.get("num_hidden_layers", default.layers)),
        heads=int(raw.get("num_attention_heads", default.heads)),
        mlp=int(raw.get("intermediate_size", default.mlp)),
        act=str(raw.get("hidden_act", default.act)),
        eps=float(raw.get("layer_norm_eps", default.eps)),
    )


def _tower_fields(config: dict[str, Any], tower: str) -> dict[str, Any]:
    """A tower's raw fields. As in transformers, a legacy `{tower}_config_dict` (in early transformers 4.x
    configs, such as openai/clip-vit-large-patch14's) overrides `{tower}_config` in every field: the fields it
    leaves out take their defaults, not `{tower}_config`'s values."""
    legacy = config.get(f"{tower}_config_dict")
    return legacy if legacy is not None else (config.get(f"{tower}_config") or {})


def config_from_hf(config: dict[str, Any]) -> ClipConfig:
    """`ClipConfig` from a raw CLIP `config.json` dict (transformers 4.x or 5.x).

    Raises:
      InputError: a `model_type` other than "clip", or an unsupported activation / size.
    """
    if config.get("model_type") != "clip":
        raise InputError(f"config.json has model_type {config.get('model_type')!r}, expected 'clip' (a CLIPModel)")
    d = ClipConfig()
    text, vision = _tower_fields(config, "text"), _tower_fields(config, "vision")
    eos = text.get("eos_token_id", d.eos_token_id)
    if not isinstance(eos, int):
        raise InputError(f"config.json text_config.eos_token_id must be one integer, got {eos!r}")
    return ClipConfig(
        text=_tower(text, d.text),
        vision=_tower(vision, d.vision),
        vocab=int(text.get("vocab_size", d.vocab)),
        context=int(text.get("max_position_embeddings", d.context)),
        image_size=int(vision.get("image_size", d.image_size)),
        patch=int(vision.get("patch_size", d.patch)),
        channels=int(vision.get("num_channels", d.channels)),
        projection=int(field(config, "projection_dim", d.projection)),
        eos_token_id=eos,
    )


def _dense(t: dict, name: str, n_in: int, n_out: int, bias: bool = True) -> dict[str, np.ndarray]:
    out = {"kernel": take(t, f"{name}.weight", (n_out, n_in)).T}
    return out | ({"bias": take(t, f"{name}.bias", (n_out,))} if bias else {})


def _norm(t: dict, name: str, width: int) -> dict[str, np.ndarray]:
    return {"scale": take(t, f"{name}.weight", (width,)), "bias": take(t, f"{name}.bias", (width,))}


def _encoder(t: dict, prefix: str, tower: TowerConfig) -> dict[str, Any]:
    layers = {}
    for i in range(tower.layers):
        p, w = f"{prefix}.encoder.layers.{i}", tower.width
        layers[f"layers_{i}"] = {
            "self_attn": {k: _dense(t, f"{p}.self_attn.{k}", w, w) for k in ("q_proj", "k_proj", "v_proj", "out_proj")},
            "layer_norm1": _norm(t, f"{p}.layer_norm1", w),
            "layer_norm2": _norm(t, f"{p}.layer_norm2", w),
            "fc1": _dense(t, f"{p}.mlp.fc1", w, tower.mlp),
            "fc2": _dense(t, f"{p}.mlp.fc2", tower.mlp, w),
        }
    return layers


def params_from_hf(t: dict[str, np.ndarray], cfg: ClipConfig) -> dict[str, Any]:
    """Flax parameters of `Clip(cfg)` from transformers' CLIPModel tensors (PyTorch layouts transposed)."""
    v, x = cfg.vision.width, cfg.text.width
    conv = take(t, "vision_model.embeddings.patch_embedding.weight", (v, cfg.channels, cfg.patch, cfg.patch))
    vision = {
        "patch_embedding": {"kernel": conv.transpose(2, 3, 1, 0)},  # (out, in, kh, kw) -> (kh, kw, in, out)
        "class_embedding": take(t, "vision_model.embeddings.class_embedding", (v,)),
        "position_embedding": take(t, "vision_model.embeddings.position_embedding.weight", (cfg.grid**2 + 1, v)),
        "pre_layrnorm": _norm(t, "vision_model.pre_layrnorm", v),
        "encoder": _encoder(t, "vision_model", cfg.vision),
        "post_layernorm": _norm(t, "vision_model.post_layernorm", v),
    }
    text = {
        "token_embedding": take(t, "text_model.embeddings.token_embedding.weight", (cfg.vocab, x)),
        "position_embedding": take(t, "text_model.embeddings.position_embedding.weight", (cfg.context, x)),
        "encoder": _encoder(t, "text_model", cfg.text),
        "final_layer_norm": _norm(t, "text_model.final_layer_norm", x),
    }
    return {
        "vision_model": vision,
        "text_model": text,
        "visual_projection": _dense(t, "visual_projection", v, cfg.projection, bias=False),
        "text_projection": _dense(t, "text_projection", x, cfg.projection, bias=False),
        "logit_scale": take(t, "logit_scale", ()),
    }


@dataclasses.dataclass(frozen=True)
class LoadedClip:
    """A CLIP checkpoint ready to embed: config, parameters, tokenizer and image settings.

    `embed_images` / `embed_texts` return unit-length embeddings in the joint space (cosine = dot product);
    `logit_scale` is exp(learned log scale), the factor transformers applies to cosines for its logits.
    """

    cfg: ClipConfig
    params: dict
    tokenizer: Any
    image: ImageSettings
    batch: int = 32  # images per compiled call (the last batch is padded, so one compilation serves all)

    @functools.cached_property
    def _fns(self):
        model = Clip(self.cfg)

        def images(p, pixels):
            return unit(model.apply({"params": p}, pixels, method=Clip.image_features))

        def texts(p, tokens):
            return unit(model.apply({"params": p}, tokens, method=Clip.text_features))

        return jax.jit(images), jax.jit(texts)

    @property
    def logit_scale(self) -> float:
        return float(np.exp(self.params["logit_scale"]))

    def tokenize(self, texts: list[str]) -> np.ndarray:
        """Token ids (k, context), right-padded with the tokenizer's pad token, truncated to the context."""
        ids = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.cfg.context)
        return np.asarray(ids["input_ids"], np.int32)

    def embed_texts(self, texts: list[str]) -> Float[np.ndarray, "k p"]:
        return np.asarray(self._fns[1](self.params, jnp.asarray(self.tokenize(texts))))

    def embed_images(self, images: UInt8[np.ndarray, "n h w 3"]) -> Float[np.ndarray, "n p"]:
        if len(images) == 0:
            return np.zeros((0, self.cfg.projection), np.float32)
        pixels = preprocess(images, self.image)
        out = []
        for start in range(0, len(pixels), self.batch):
            chunk = pixels[start : start + self.batch]
            padded = np.concatenate([chunk, np.zeros((self.batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            out.append(np.asarray(self._fns[0](self.params, jnp.asarray(padded)))[: len(chunk)])
        return np.concatenate(out)


def load(folder: str | Path) -> LoadedClip:
    """Read a local CLIP folder (see the module docstring); raises InputError on any missing piece."""
    folder = Path(folder).expanduser()
    cfg = config_from_hf(read_config(folder))
    tokenizer = load_tokenizer(folder, "CLIPTokenizer")
    if len(tokenizer) > cfg.vocab:
        raise InputError(f"the tokenizer in {folder} has {len(tokenizer)} tokens, the model only {cfg.vocab}")
    if cfg.eos_token_id != 2 and tokenizer.eos_token_id != cfg.eos_token_id:
        raise InputError(f"config.json text_config.eos_token_id {cfg.eos_token_id} is not the tokenizer's "
                         f"end-of-text id {tokenizer.eos_token_id}: pooling would read the wrong position")  # fmt: skip
    params = jax.tree.map(jnp.asarray, params_from_hf(read_tensors(folder, np.float32), cfg))
    return LoadedClip(cfg, params, tokenizer, ImageSettings.from_folder(folder, cfg.image_size))
