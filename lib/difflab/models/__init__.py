"""The networks of Stable Diffusion 1.x/2.x and Wan 2.1, with diffusers' config fields and state-dict keys.

resnet.py → attention.py → embeddings.py → unet_blocks.py → unet_2d_condition.py: each file builds on the ones before.
"""

from .attention import Attention, BasicTransformerBlock, FeedForward, Transformer2DModel
from .attention_dispatch import BACKENDS, AttentionBackend, attention, set_attention_backend
from .config_schema import UNET_FIELDS, VAE_FIELDS
from .embeddings import TimestepEmbedding, Timesteps, timestep_embedding
from .modeling import ModelMixin
from .resnet import Downsample2D, ResnetBlock2D, Upsample2D
from .unet_2d_condition import UNet2DConditionModel, UNet2DConditionOutput
from .unet_blocks import (
    CrossAttnDownBlock2D,
    CrossAttnUpBlock2D,
    DownBlock2D,
    UNetMidBlock2DCrossAttn,
    UpBlock2D,
    get_down_block,
    get_up_block,
)

# The VAE builds on the blocks above.
from .vae import AutoencoderKL, DiagonalGaussianDistribution
from .vae_blocks import DownEncoderBlock2D, UNetMidBlock2D, UpDecoderBlock2D

# Video: Wan 2.1's diffusion transformer (wan/) and causal 3-D VAE (wan_vae/), one concept per file.
from .wan import WanTransformer3DModel
from .wan_vae import AutoencoderKLWan

__all__ = [
    "BACKENDS",
    "AttentionBackend",
    "attention",
    "set_attention_backend",
    "Attention",
    "AutoencoderKL",
    "AutoencoderKLWan",
    "BasicTransformerBlock",
    "CrossAttnDownBlock2D",
    "CrossAttnUpBlock2D",
    "DiagonalGaussianDistribution",
    "DownBlock2D",
    "DownEncoderBlock2D",
    "Downsample2D",
    "FeedForward",
    "ModelMixin",
    "ResnetBlock2D",
    "TimestepEmbedding",
    "Timesteps",
    "Transformer2DModel",
    "UNet2DConditionModel",
    "UNET_FIELDS",
    "UNet2DConditionOutput",
    "UNetMidBlock2D",
    "UNetMidBlock2DCrossAttn",
    "UpBlock2D",
    "UpDecoderBlock2D",
    "VAE_FIELDS",
    "WanTransformer3DModel",
    "Upsample2D",
    "get_down_block",
    "get_up_block",
    "timestep_embedding",
]
