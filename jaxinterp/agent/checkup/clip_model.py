"""CLIP (Radford et al. 2021) in Flax linen: a vision transformer and a text transformer mapped into one space.

The vision check-up scores drawings with CLIP (fidelity: retrieval of the drawing's caption among its group's
captions; diversity: spread of the image embeddings). This is a port of Hugging Face transformers'
`CLIPModel`, so its checkpoints load unchanged (`clip_load.py`):

- both towers are stacks of pre-LayerNorm encoder layers: `x + attn(ln1(x))`, then `x + fc2(act(fc1(ln2(x))))`,
  with `act` the config's `hidden_act` (`quick_gelu` = `x * sigmoid(1.702 x)` in OpenAI's weights, or `gelu`);
- vision: non-overlapping `patch x patch` convolution without bias, a learned class token in front, learned
  position embeddings, `pre_layrnorm` (transformers' spelling) before the layers, `post_layernorm` on the class
  token's final state, then `visual_projection` (no bias);
- text: token + learned position embeddings, a causal mask, `final_layer_norm`, the state at the end-of-text
  token, then `text_projection` (no bias). The end-of-text position follows transformers 5: with the legacy
  `eos_token_id == 2` of the original OpenAI configs it is the argmax of the token ids (EOT is the largest id
  in CLIP's vocabulary), otherwise the first position holding `eos_token_id`;
- `logit_scale` is stored as a log: logits are `exp(logit_scale) * cosine(image, text)`.

Parameter names follow transformers' (Dense `kernel` = the transposed PyTorch `weight`), so the loader's
mapping reads one to one. Images enter as float NHWC already normalised (`clip_image.py` does CLIP's resize,
crop and mean/std); tokens as int ids padded on the right.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from jaxinterp.errors import InputError
from jaxinterp.hf import ACTIVATIONS, activation_fn


@dataclasses.dataclass(frozen=True)
class TowerConfig:
    """One transformer stack; the defaults are CLIP ViT-B/32's text tower (Radford et al. 2021, Table 20)."""

    width: int = 512
    layers: int = 12
    heads: int = 8
    mlp: int = 2048  # 4 x width
    act: str = "quick_gelu"  # OpenAI's weights; transformers' CLIPTextConfig/CLIPVisionConfig default
    eps: float = 1e-5  # LayerNorm epsilon (transformers' `layer_norm_eps` default)

    def __post_init__(self):
        if self.act not in ACTIVATIONS:
            raise InputError(f"hidden_act {self.act!r} is not supported ({', '.join(sorted(ACTIVATIONS))})")
        if self.width % self.heads:
            raise InputError(f"hidden_size {self.width} is not divisible by num_attention_heads {self.heads}")


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    """CLIP's sizes; defaults are ViT-B/32 (Radford et al. 2021, Table 20; transformers' CLIPConfig defaults)."""

    text: TowerConfig = TowerConfig()
    vision: TowerConfig = TowerConfig(width=768, layers=12, heads=12, mlp=3072)
    vocab: int = 49408  # OpenAI's tokenizer ids (Sec. 2.4: lower-cased BPE, 49,152 vocab) incl. SOT/EOT
    context: int = 77  # text positions (Sec. 2.4: 76 tokens between the SOT and EOT brackets)
    image_size: int = 224  # input resolution of ViT-B/32
    patch: int = 32
    channels: int = 3
    projection: int = 512  # joint embedding width
    eos_token_id: int = 49407  # transformers 5's default; 2 = legacy argmax pooling (see module docstring)
    logit_scale_init: float = math.log(1 / 0.07)  # temperature initialised to 0.07 (Sec. 2.5)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch


class _Attention(nn.Module):
    cfg: TowerConfig

    @nn.compact
    def __call__(self, x: Float[Array, "b t d"], mask: jax.Array | None) -> Float[Array, "b t d"]:
        b, t, d = x.shape
        head = d // self.cfg.heads

        def split(name):
            return nn.Dense(d, name=name)(x).reshape(b, t, self.cfg.heads, head)

        q, k, v = split("q_proj"), split("k_proj"), split("v_proj")
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * head**-0.5
        if mask is not None:
            logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
        out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v).reshape(b, t, d)
        return nn.Dense(d, name="out_proj")(out)


class _Layer(nn.Module):
    cfg: TowerConfig

    @nn.compact
    def __call__(self, x, mask):
        cfg = self.cfg
        x = x + _Attention(cfg, name="self_attn")(nn.LayerNorm(cfg.eps, name="layer_norm1")(x), mask)
        h = nn.Dense(cfg.mlp, name="fc1")(nn.LayerNorm(cfg.eps, name="layer_norm2")(x))
        return x + nn.Dense(cfg.width, name="fc2")(activation_fn(cfg.act)(h))


class _Encoder(nn.Module):
    cfg: TowerConfig

    @nn.compact
    def __call__(self, x, mask=None):
        for i in range(self.cfg.layers):
            x = _Layer(self.cfg, name=f"layers_{i}")(x, mask)
        return x


def _table(module: nn.Module, name: str, shape: tuple[int, ...]) -> jax.Array:
    return module.param(name, nn.initializers.normal(0.02), shape)


class VisionTower(nn.Module):
    """Pixels -> the class token's final state after `post_layernorm` (transformers' `pooler_output`)."""

    cfg: ClipConfig

    @nn.compact
    def __call__(self, pixels: Float[Array, "b s s c"]) -> Float[Array, "b d"]:
        cfg, tower = self.cfg, self.cfg.vision
        if pixels.shape[1:] != (cfg.image_size, cfg.image_size, cfg.channels):
            raise InputError(f"CLIP wants {cfg.image_size}x{cfg.image_size}x{cfg.channels} pixels, got {pixels.shape}")
        patches = nn.Conv(tower.width, (cfg.patch, cfg.patch), cfg.patch, "VALID", use_bias=False,
                          name="patch_embedding")(pixels)  # fmt: skip
        patches = patches.reshape(len(pixels), -1, tower.width)  # row-major grid, as torch's flatten(2)
        cls = jnp.broadcast_to(_table(self, "class_embedding", (tower.width,)), (len(pixels), 1, tower.width))
        x = jnp.concatenate([cls, patches], axis=1) + _table(self, "position_embedding", (cfg.grid**2 + 1, tower.width))
        x = _Encoder(tower, name="encoder")(nn.LayerNorm(tower.eps, name="pre_layrnorm")(x))
        return nn.LayerNorm(tower.eps, name="post_layernorm")(x[:, 0])


class TextTower(nn.Module):
    """Token ids -> the end-of-text token's final state after `final_layer_norm` (`pooler_output`)."""

    cfg: ClipConfig

    @nn.compact
    def __call__(self, tokens: Int[Array, "b t"]) -> Float[Array, "b d"]:
        cfg, tower = self.cfg, self.cfg.text
        t = tokens.shape[1]
        if t > cfg.context:
            raise InputError(f"CLIP's text tower takes at most {cfg.context} tokens, got {t}")
        x = _table(self, "token_embedding", (cfg.vocab, tower.width))[tokens]
        x = x + _table(self, "position_embedding", (cfg.context, tower.width))[:t]
        causal = jnp.tril(jnp.ones((t, t), bool))
        x = nn.LayerNorm(tower.eps, name="final_layer_norm")(_Encoder(tower, name="encoder")(x, causal))
        is_end = tokens if cfg.eos_token_id == 2 else (tokens == cfg.eos_token_id).astype(jnp.int32)
        end = jnp.argmax(is_end, axis=1)  # the first maximum
        return x[jnp.arange(len(tokens)), end]


class Clip(nn.Module):
    """Both towers, their projections into the joint space and the learned logit scale."""

    cfg: ClipConfig

    def setup(self):
        self.vision_model = VisionTower(self.cfg)
        self.text_model = TextTower(self.cfg)
        self.visual_projection = nn.Dense(self.cfg.projection, use_bias=False)
        self.text_projection = nn.Dense(self.cfg.projection, use_bias=False)
        self.logit_scale = self.param("logit_scale", nn.initializers.constant(self.cfg.logit_scale_init), ())

    def image_features(self, pixels: Float[Array, "b s s c"]) -> Float[Array, "b p"]:
        """Projected image embeddings, not normalised (transformers' `get_image_features`)."""
        return self.visual_projection(self.vision_model(pixels))

    def text_features(self, tokens: Int[Array, "b t"]) -> Float[Array, "b p"]:
        """Projected text embeddings, not normalised (transformers' `get_text_features`)."""
        return self.text_projection(self.text_model(tokens))

    def __call__(self, pixels: Float[Array, "n s s c"], tokens: Int[Array, "k t"]) -> dict[str, jax.Array]:
        """Unit image / text embeddings and `logits_per_image` = exp(logit_scale) x their cosines, (n, k)."""
        image, text = unit(self.image_features(pixels)), unit(self.text_features(tokens))
        return {"image_embeds": image, "text_embeds": text,
                "logits_per_image": jnp.exp(self.logit_scale) * image @ text.T}  # fmt: skip


def unit(x: Float[Array, "n d"]) -> Float[Array, "n d"]:
    """Rows scaled to unit length (CLIP's normalisation before the cosine)."""
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)
