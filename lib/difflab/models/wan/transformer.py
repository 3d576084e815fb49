"""The Wan2.1 denoiser: a diffusion transformer over video latents (Wan team 2025; diffusers' WanTransformer3DModel).

    v̂ = Transformer(z_t, t, text[, image])     z_t: (B, 16, F, H, W) video latents, v̂: the flow-matching velocity

Data flow, shapes for Wan2.1-T2V-1.3B at 480×832, 81 frames (latents (1, 16, 21, 60, 104); D = 1536):

    z_t  → patch_embedding: Conv3d, kernel = stride = (1, 2, 2)   (B, D, 21, 30, 52)
         → tokens                                                 (B, 21·30·52 = 32,760, D)
    z_t's grid → rope: angles per (f, h, w)                       cos, sin (1, 32,760, 1, head_dim/2)
    t, text → condition_embedder                                 temb (B, D), timestep_proj (B, 6, D), text (B, 512, D)
    tokens → 30 × WanTransformerBlock (block.py)                  (B, 32,760, D)
         → LN·(1 + scale) + shift, with (shift, scale) = scale_shift_table + temb   (fp32)
         → proj_out: D → 16·1·2·2, then unpatchify               (B, 16, 21, 60, 104)

The constructor takes diffusers' config fields with diffusers' defaults (the 14B model's), so
`WanTransformer3DModel(**config)` builds a diffusers transformer/config.json and diffusers' state dicts load
with strict=True.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from ...schedulers.base import SchedulerConfig
from ..config_schema import BOOL, CHANNELS, NONE, Either, Float, Int, ListOf, check_fields
from ..modeling import ModelMixin
from .block import WanTransformerBlock
from .embeddings import FP32LayerNorm, WanTimeTextImageEmbedding
from .rope import WanRotaryPosEmbed


@dataclass(frozen=True)
class NameOrNone:
    def accepts(self, value) -> bool:
        return value is None or isinstance(value, str)

    def __str__(self):
        return "a string or None"


MAX_POSITIONS = 65_536  # rope_max_seq_len, pos_embed_seq_len; Wan2.1: 1,024 and 514 (FLF2V)
WAN_FIELDS = {  # WanTransformer3DModel: every constructor field, its type and range
    "patch_size": ListOf(Int(1, 16), 3, 3),
    "num_attention_heads": CHANNELS,
    "attention_head_dim": CHANNELS,
    "in_channels": CHANNELS,
    "out_channels": Either((NONE, CHANNELS)),
    "text_dim": CHANNELS,
    "freq_dim": CHANNELS,
    "ffn_dim": Int(1, 4 * 16_384),
    "num_layers": Int(1, 128),
    "cross_attn_norm": BOOL,
    "qk_norm": NameOrNone(),
    "eps": Float(0, 1, above_low=True),
    "image_dim": Either((NONE, CHANNELS)),
    "added_kv_proj_dim": Either((NONE, CHANNELS)),
    "rope_max_seq_len": Int(1, MAX_POSITIONS),
    "pos_embed_seq_len": Either((NONE, Int(1, MAX_POSITIONS))),
}


@dataclass
class Transformer2DModelOutput:
    sample: torch.Tensor  # (B, out_channels, F, H, W): the prediction, at the input's shape


class WanTransformer3DModel(ModelMixin, nn.Module):
    # Kept in float32 by from_pretrained whatever dtype asks (diffusers' and difflab's loaders alike): the timestep
    # MLP, the modulation tables and the norms. model.to(dtype) casts them too; the sums stay fp32 either way.
    _keep_in_fp32_modules = ["rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"]
    _skip_layerwise_casting_patterns = ["patch_embedding", "condition_embedder", "norm"]  # as diffusers

    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        # Accepted and stored like diffusers, which ignores it: every WanAttention has RMSNorm over all heads·d.
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
    ):
        super().__init__()
        self.config = SchedulerConfig({k: v for k, v in locals().items() if k not in ("self", "__class__")})
        self.ignored_config = {}  # keys from_config set aside (_class_name, _diffusers_version, …)
        check_config(self.config)
        inner_dim = num_attention_heads * attention_head_dim  # D
        out_channels = out_channels or in_channels

        # 1. Patches and their positions: (B, C, F, H, W) → (B, D, F/p_t, H/p_h, W/p_w); RoPE from the grid
        self.rope = WanRotaryPosEmbed(attention_head_dim, patch_size, rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(in_channels, inner_dim, kernel_size=patch_size, stride=patch_size)

        # 2. Timestep, text and image conditions (embeddings.py)
        self.condition_embedder = WanTimeTextImageEmbedding(
            dim=inner_dim,
            time_freq_dim=freq_dim,
            time_proj_dim=6 * inner_dim,
            text_embed_dim=text_dim,
            image_embed_dim=image_dim,
            pos_embed_seq_len=pos_embed_seq_len,
        )

        # 3. The blocks (block.py)
        self.blocks = nn.ModuleList(
            [
                WanTransformerBlock(inner_dim, ffn_dim, num_attention_heads, cross_attn_norm, eps, added_kv_proj_dim)
                for _ in range(num_layers)
            ]
        )

        # 4. Output: modulated LayerNorm, then each token back to a p_t×p_h×p_w patch of out_channels
        self.norm_out = FP32LayerNorm(inner_dim, eps, elementwise_affine=False)
        self.proj_out = nn.Linear(inner_dim, out_channels * math.prod(patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, inner_dim) / inner_dim**0.5)
        self._context_parallel = None  # set by enable_parallelism while the tokens are split across ranks

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        text_log_counts: torch.Tensor | None = None,
    ):
        """hidden_states (B, C, F, H, W); timestep a number or (B,); encoder_hidden_states (B, L, text_dim);
        encoder_hidden_states_image (B, n, image_dim) for image-to-video models (n = 257 CLIP tokens in Wan2.1).

        text_log_counts (L,) or (B, L), difflab only (training's shortcut): text row l stands for
        exp(text_log_counts[l]) identical rows. The pipeline pads every prompt with zero rows to 512, and equal rows
        give equal keys and values, so 512 - L zero rows can be passed as one zero row with log(512 - L): the same
        output for a fraction of the cross-attention work."""
        check_inputs(hidden_states, timestep)
        batch, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        grid = dict(f=num_frames // p_t, h=height // p_h, w=width // p_w)  # patches per axis

        rotary_emb = self.rope(hidden_states)  # cos, sin: (1, N, 1, head_dim/2), N = F'·H'·W'
        x = self.patch_embedding(hidden_states)  # (B, D, F', H', W')
        x = rearrange(x, "b d f h w -> b (f h w) d").contiguous()  # (B, N, D), frame-major like the RoPE grid

        timesteps = torch.as_tensor(timestep, device=hidden_states.device).reshape(-1).expand(batch)  # (B,)
        temb, timestep_proj, context, image = self.condition_embedder(
            timesteps, encoder_hidden_states, encoder_hidden_states_image
        )
        timestep_proj = rearrange(timestep_proj, "b (six d) -> b six d", six=6)  # (B, 6, D)

        # Image tokens go first in the context, as in diffusers; the blocks are told how many there are.
        num_image_tokens = 0
        if image is not None:
            context = torch.cat([image, context], dim=1)  # (B, n_img + L, D)
            if self.config.added_kv_proj_dim is not None:  # without an image branch they are read as text
                num_image_tokens = image.shape[1]

        for block in self.blocks:
            x = block(x, context, timestep_proj, rotary_emb, num_image_tokens, text_log_counts)  # (B, N, D)

        shift, scale = (self.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)  # (B, 1, D) each
        x = (self.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        x = self.proj_out(x)  # (B, N, p_t·p_h·p_w·C_out)
        out = rearrange(
            x, "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)", **grid, pt=p_t, ph=p_h, pw=p_w
        )  # unpatchify: (B, C_out, F'·p_t, H'·p_h, W'·p_w)
        return Transformer2DModelOutput(sample=out) if return_dict else (out,)

    def enable_parallelism(self, config, group=None):
        """Split the video tokens across torch.distributed's ranks (diffusers' method of the same name): Ulysses
        or ring self-attention, as `config`, a difflab.parallel.ContextParallelConfig, says; returns the handle
        whose .log counts the bytes sent and whose .remove() undoes it (parallel/context.py)."""
        from ...parallel import enable_parallelism  # parallel/ imports the models: imported when asked for

        return enable_parallelism(self, config, group)


def check_config(config: Mapping):
    """Types and ranges of every field (WAN_FIELDS), then the fields that must agree with each other."""
    check_fields(WanTransformer3DModel, config, WAN_FIELDS)
    head_dim, inner_dim = config.attention_head_dim, config.num_attention_heads * config.attention_head_dim
    if head_dim % 2:
        raise ValueError(
            f"attention_head_dim: got {head_dim}; RoPE rotates channel pairs, so use an even head width (Wan: 128)."
        )
    if config.added_kv_proj_dim is not None and config.added_kv_proj_dim != inner_dim:
        raise ValueError(
            f"added_kv_proj_dim: got {config.added_kv_proj_dim}; the image tokens reach attention already at the "
            f"model's width, num_attention_heads·attention_head_dim = {inner_dim}. Fix: set it to {inner_dim} "
            "(image-to-video) or None (text-to-video)."
        )


def check_inputs(hidden_states: torch.Tensor, timestep):
    if hidden_states.ndim != 5:
        raise ValueError(f"hidden_states: got shape {tuple(hidden_states.shape)}; pass video latents (B, C, F, H, W).")
    t = torch.as_tensor(timestep)
    if t.ndim > 1 or (t.ndim == 1 and t.numel() not in (1, hidden_states.shape[0])):
        raise ValueError(
            f"timestep: got shape {tuple(t.shape)}; pass a number or one timestep per sample, "
            f"({hidden_states.shape[0]},). Per-token timesteps (Wan2.2 TI2V) are not supported."
        )
