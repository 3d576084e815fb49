"""Config arithmetic: what a model's config.json says about shapes, tokens, parameters and bytes, before any
weight exists.

Every function takes the plain dicts of `difflab.configs.load_config` (diffusers field names) and returns plain
numbers. The chain a pipeline follows, and the worked example of Wan2.1 at 81 frames of 480×832:

    pixels   (3, 81, 480, 832)                      frames = 1 + 4k, sides multiples of 8
      │ VAE: ×4 in time (first frame alone), ×8 per side
    latents  (16, 21, 60, 104)                      latent_shape()
      │ patchify (1, 2, 2)
    tokens   21 · 30 · 52 = 32,760                  num_tokens()
      │ self-attention
    scores   32,760² per head = 2.0 GiB in bf16     attention_matrix_bytes()
"""

import math

BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}

# The size in each model's name, as its authors publish it (model cards), to compare the counts below with.
NOMINAL_PARAMS = {
    "sd15": 0.86e9,  # "an 860M UNet" (SD v1 model card)
    "sdxl": 2.6e9,  # "2.6B UNet" (SDXL report)
    "sd3-medium": 2e9,  # "2 billion parameter MMDiT"
    "flux1-dev": 12e9,  # "12 billion parameter rectified flow transformer"
    "wan2.1-t2v-1.3b": 1.3e9,
    "wan2.1-t2v-14b": 14e9,
    "hunyuanvideo": 13e9,  # "over 13 billion parameters"
    "cogvideox-5b": 5e9,
    "ltx-video": 2e9,  # ltx-video-2b
}

# A resolution each model is typically run at: (frames, height, width); frames None for image models.
TYPICAL_SIZES = {
    "sd15": (None, 512, 512),
    "sdxl": (None, 1024, 1024),
    "sd3-medium": (None, 1024, 1024),
    "flux1-dev": (None, 1024, 1024),
    "wan2.1-t2v-1.3b": (81, 480, 832),
    "wan2.1-t2v-14b": (81, 720, 1280),
    "hunyuanvideo": (129, 720, 1280),
    "cogvideox-5b": (49, 480, 720),
    "ltx-video": (161, 480, 704),
}


def weight_bytes(num_params: int, dtype: str = "bf16") -> int:
    """Bytes to hold `num_params` weights in `dtype` (fp32 4, fp16/bf16 2, fp8 1 byte each)."""
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype: got {dtype!r}; valid values are {', '.join(BYTES_PER_PARAM)}.")
    return num_params * BYTES_PER_PARAM[dtype]


# ── The VAE: how much it compresses ─────────────────────────────────────────────────────────────────────────


def latent_channels(vae_config: dict) -> int:
    """Channels of one latent pixel: `latent_channels`, which Wan's VAE calls `z_dim`."""
    return vae_config["z_dim"] if "z_dim" in vae_config else vae_config["latent_channels"]


def spatial_factor(vae_config: dict) -> int:
    """Pixels per latent pixel, per side. No config states it; each VAE family implies it differently."""
    if "dim_mult" in vae_config:  # Wan: one ×2 downsample between consecutive levels
        return 2 ** (len(vae_config["dim_mult"]) - 1)
    if "spatio_temporal_scaling" in vae_config:  # LTX: a patch_size² pixel-unshuffle, then a ×2 per True level
        return vae_config["patch_size"] * 2 ** sum(vae_config["spatio_temporal_scaling"])
    if "spatial_compression_ratio" in vae_config:  # HunyuanVideo writes it down
        return vae_config["spatial_compression_ratio"]
    return 2 ** (len(vae_config["block_out_channels"]) - 1)  # SD-style: every level but the last halves H and W


def temporal_factor(vae_config: dict) -> int | None:
    """Frames per latent frame (after the first, which is encoded alone); None for an image VAE."""
    if "temperal_downsample" in vae_config:  # Wan (diffusers keeps the original "temperal" spelling)
        return 2 ** sum(vae_config["temperal_downsample"])
    if "spatio_temporal_scaling" in vae_config:  # LTX: the same ×2 levels halve time too
        return vae_config["patch_size_t"] * 2 ** sum(vae_config["spatio_temporal_scaling"])
    return vae_config.get("temporal_compression_ratio")  # HunyuanVideo, CogVideoX; absent for images


def nearest_valid(value: int, step: int, offset: int = 0) -> list[int]:
    """The valid values (offset + k·step, k ≥ 0) just below and just above `value`."""
    below = offset + (value - offset) // step * step
    return [v for v in (below, below + step) if v >= offset]


def check_size(name: str, value: int, step: int, offset: int, why: str):
    if value < max(offset, 1) or (value - offset) % step:
        valid = " or ".join(str(v) for v in nearest_valid(value, step, offset))
        raise ValueError(f"{name}: got {value}; {why}. The nearest valid values are {valid}: resize or trim to one.")


def latent_shape(vae_config: dict, height: int, width: int, frames: int | None = None) -> tuple[int, ...]:
    """(C, H/f, W/f) for an image, (C, 1 + (frames-1)/t, H/f, W/f) for a video; ValueError for sizes that don't fit."""
    f = spatial_factor(vae_config)
    for name, value in (("height", height), ("width", width)):
        check_size(name, value, f, 0, f"it must be a multiple of {f}, the VAE's spatial factor")
    shape = (height // f, width // f)
    if frames is None:
        return (latent_channels(vae_config), *shape)
    t = temporal_factor(vae_config)
    if t is None:
        raise ValueError("frames: got a frame count for an image VAE (no temporal factor). Fix: pass frames=None.")
    check_size("frames", frames, t, 1, f"this causal video VAE takes 1 + {t}·k frames (the first frame alone)")
    return (latent_channels(vae_config), 1 + (frames - 1) // t, *shape)


# ── The denoiser: how many tokens it attends over ───────────────────────────────────────────────────────────


def patch_size(transformer_config: dict, vae_config: dict) -> tuple[int, int, int]:
    """(pt, ph, pw): latent pixels per token in time, height and width.

    FLUX's config says patch_size 1, but in_channels 64 = 16 latent channels × 2×2: its pipeline packs 2×2 latent
    pixels into one vector before the transformer sees them, so a token still covers 2×2 latent pixels.
    """
    p = transformer_config["patch_size"]
    pt, ph, pw = p if isinstance(p, list) else (transformer_config.get("patch_size_t") or 1, p, p)
    packed = transformer_config["in_channels"] // latent_channels(vae_config)
    pack = math.isqrt(packed) if packed > 1 and math.isqrt(packed) ** 2 == packed else 1
    return pt, ph * pack, pw * pack


def num_tokens(latent: tuple[int, ...], patch: tuple[int, int, int]) -> int:
    """Sequence length of a DiT: latent frames × rows × columns, each divided by its patch size."""
    *frames, height, width = latent[1:]  # drop the channels; frames is [] for an image
    pt, ph, pw = patch
    return (frames[0] // pt if frames else 1) * (height // ph) * (width // pw)


def unet_attention_tokens(unet_config: dict, latent: tuple[int, ...]) -> int:
    """A UNet's longest self-attention: the latent pixels at its first level with attention (each level halves)."""
    level = next(i for i, block in enumerate(unet_config["down_block_types"]) if block.startswith("CrossAttn"))
    return (latent[-2] >> level) * (latent[-1] >> level)


def attention_matrix_bytes(tokens: int, dtype: str = "bf16") -> int:
    """The scores softmax(QKᵀ/√d) of one head for one sample, if materialised: tokens × tokens entries."""
    return weight_bytes(tokens * tokens, dtype)


# ── Parameters: exact where difflab has the class, estimated where it has not ──────────────────────────────


def meta_param_count(model_class, config: dict) -> int:
    """Build the model on the meta device (shapes only: no memory, no init) and count its parameters."""
    from ..loading import build_on_meta

    model = build_on_meta(model_class, config)
    return sum(p.numel() for p in model.parameters())


TEXT_TIME_FIELDS = ("addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim")


def text_time_embedding_params(unet_config: dict) -> int:
    """SDXL's add_embedding, an MLP from (pooled text ⊕ 6 size numbers × 256) = 2816 to temb: two Linear layers."""
    temb = 4 * unet_config["block_out_channels"][0]  # 1280 for SDXL, as for SD 1.5
    return unet_config["projection_class_embeddings_input_dim"] * temb + temb + temb * temb + temb


def unet_param_count(unet_config: dict) -> int:
    """Exact count with difflab's UNet on meta. difflab refuses SDXL's addition_embed_type "text_time", so for it
    we build the UNet without those fields and add the one MLP they create (the time projection has no weights)."""
    from ..models import UNet2DConditionModel

    if unet_config.get("addition_embed_type") != "text_time":
        return meta_param_count(UNet2DConditionModel, unet_config)
    base = {k: v for k, v in unet_config.items() if k not in TEXT_TIME_FIELDS}
    return meta_param_count(UNet2DConditionModel, base) + text_time_embedding_params(unet_config)


def hidden_size(c: dict) -> int:
    return c["num_attention_heads"] * c["attention_head_dim"]  # d = heads × head dim


def wan_estimate(c: dict) -> int:
    """Per block: self- and cross-attention (q, k, v, out: 4 d×d each) and the FFN (d×ffn_dim twice)."""
    d = hidden_size(c)
    return c["num_layers"] * (2 * 4 * d * d + 2 * d * c["ffn_dim"])


def mmdit_estimate(d: int, double_blocks: int, single_blocks: int, mlp_ratio: float) -> int:
    """Double-stream blocks: image and text streams, each with q, k, v, out, an MLP (d → m → d) and an adaLN
    modulation d → 6d. Single-stream blocks: fused q, k, v and MLP-in (d → 3d + m), one out (d + m → d), d → 3d."""
    m = int(mlp_ratio * d)
    double = 2 * (4 * d * d + 2 * d * m + 6 * d * d)
    single = 3 * d * d + d * m + (d + m) * d + 3 * d * d
    return double_blocks * double + single_blocks * single


def cogvideox_estimate(c: dict) -> int:
    """Per block: one attention over text and video tokens (4 d×d), the FFN (d → 4d → d), and two adaLN
    modulations from the time embedding (time_embed_dim → 6d each)."""
    d = hidden_size(c)
    return c["num_layers"] * (4 * d * d + 8 * d * d + 2 * c["time_embed_dim"] * 6 * d)


def ltx_estimate(c: dict) -> int:
    """Per block: self-attention (4 d×d), cross-attention (q and out d×d; k and v cross_attention_dim × d) and
    the FFN (d → 4d → d)."""
    d = hidden_size(c)
    return c["num_layers"] * (4 * d * d + 2 * d * d + 2 * c["cross_attention_dim"] * d + 8 * d * d)


DIT_ESTIMATES = {  # _class_name → estimate from the config; FLUX and SD3 fix their MLP ratio at 4 in code
    "WanTransformer3DModel": wan_estimate,
    "FluxTransformer2DModel": lambda c: mmdit_estimate(hidden_size(c), c["num_layers"], c["num_single_layers"], 4),
    "SD3Transformer2DModel": lambda c: mmdit_estimate(hidden_size(c), c["num_layers"], 0, 4),
    "HunyuanVideoTransformer3DModel": lambda c: mmdit_estimate(
        hidden_size(c), c["num_layers"], c["num_single_layers"], c["mlp_ratio"]
    ),
    "CogVideoXTransformer3DModel": cogvideox_estimate,
    "LTXVideoTransformer3DModel": ltx_estimate,
}


def dit_param_estimate(transformer_config: dict) -> int:
    """An estimate: the big weight matrices of the transformer blocks only (no biases, norms, embeddings, heads)."""
    name = transformer_config.get("_class_name")
    if name not in DIT_ESTIMATES:
        raise ValueError(
            f"transformer_config: _class_name {name!r} has no estimate; known: {', '.join(DIT_ESTIMATES)}."
        )
    return DIT_ESTIMATES[name](transformer_config)
